"""`rembert-mtf vocab`: train a SentencePiece vocabulary on a mixture."""

from rembert_mtf.cli import flags


_coverage = flags.number_in(float, 0.0, 1.0, low_open=True)


def add_arguments(parser, unused_command="vocab"):
  parser.add_argument("--mixture", required=True,
                      help="registered seqio mixture (or task) to sample")
  parser.add_argument("--vocab_size", type=flags.positive_int, required=True,
                      help="pieces, specials included")
  parser.add_argument("--out", required=True,
                      help="output prefix: writes PREFIX.model, PREFIX.vocab")
  # Defaults of None leave data.vocab_training's own (named in the help).
  parser.add_argument("--num_sentences", type=flags.positive_int,
                      default=None, help="sentences sampled (default 1M)")
  parser.add_argument("--alpha", type=float, default=None,
                      help="smoothing exponent (default: the mixture's rates)")
  parser.add_argument("--text_key", default=None,
                      help="raw-text feature (default: text)")
  parser.add_argument("--split", default="train")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--character_coverage", type=_coverage, default=None,
                      help="SentencePiece character coverage (default "
                      "0.99995)")


def main(args):
  """Gin and --module_import first (user mixtures), then the training."""
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import vocab_training  # pylint: disable=g-import-not-at-top
  flags.load_gin(args)
  # Registers every shipped task and mixture (wiki_104, demo_mlm, ...).
  registry.ensure_registered()
  options = {k: getattr(args, k) for k in ("num_sentences", "text_key",
                                           "character_coverage")
             if getattr(args, k) is not None}
  vocab_training.train_vocabulary(
      args.mixture, args.vocab_size, args.out, alpha=args.alpha,
      split=args.split, seed=args.seed, **options)
