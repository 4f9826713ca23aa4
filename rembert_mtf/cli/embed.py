"""`rembert-mtf embed`: hidden states of lines of text.

  rembert-mtf embed --model_dir=DIR --input=lines.txt --out=x.npy
      [--layer=N] [--pooling=none|mean|cls] [--batch_size=16]
      [--max_length=N]

What is written (x.npy, x.pooled.npy): rembert_mtf/interop/embed.py.
"""

from rembert_mtf.cli import flags

POOLINGS = ("none", "mean", "cls")  # interop.embed.POOLINGS, without TF


def add_arguments(parser, unused_command="embed"):
  parser.add_argument("--model_dir", required=True,
                      help="model_dir to read (checkpoint, operative config, "
                      "vocabulary)")
  parser.add_argument("--input", required=True,
                      help="UTF-8 text file, one input per line")
  parser.add_argument("--out", required=True,
                      help="output .npy: with --pooling=none an object array "
                      "of [tokens x H] float32 arrays (pooler outputs go to "
                      "<out>.pooled.npy), else float32 [lines x H]")
  parser.add_argument("--layer", type=flags.number_in(int, 0), default=None,
                      help="whose hidden states: 0 is the embeddings' output, "
                      "N the N-th Transformer layer's (default: the last)")
  parser.add_argument("--pooling", choices=POOLINGS, default="none",
                      help="none: every token's state; mean: the mean over "
                      "the line's tokens, [CLS] and [SEP] included; cls: the "
                      "[CLS] token's state")
  parser.add_argument("--batch_size", type=flags.positive_int, default=16,
                      help="lines per step")
  parser.add_argument("--max_length", type=flags.positive_int, default=None,
                      help="truncate to this many tokens, [CLS] and [SEP] "
                      "included (default and limit: the model's "
                      "max_position_embeddings)")


def main(args):
  """Embeds the lines and says where the arrays went."""
  from rembert_mtf.interop import embed  # pylint: disable=g-import-not-at-top
  count, pooled = embed.embed(args.model_dir, args.input, args.out,
                              args.batch_size, args.max_length,
                              layer=args.layer, pooling=args.pooling)
  what = ("" if args.layer is None and args.pooling == "none" else
          f" (layer {'last' if args.layer is None else args.layer}, "
          f"pooling {args.pooling})")
  if pooled:
    tail = f" (pooled: {pooled})"
  elif args.pooling == "none" and args.layer is None:
    tail = " (no pooler: no pooled outputs)"
  else:
    tail = ""
  print(f"embedded {count} lines -> {args.out}{what}{tail}")
