"""`rembert-mtf embed`: final hidden states of lines of text.

  rembert-mtf embed --model_dir=DIR --input=lines.txt --out=x.npy
      [--batch_size=16] [--max_length=N]

What is written (x.npy, x.pooled.npy): rembert_mtf/interop/embed.py.
"""

from rembert_mtf.cli import flags


def add_arguments(parser, unused_command="embed"):
  parser.add_argument("--model_dir", required=True,
                      help="model_dir to read (checkpoint, operative config, "
                      "vocabulary)")
  parser.add_argument("--input", required=True,
                      help="UTF-8 text file, one input per line")
  parser.add_argument("--out", required=True,
                      help="output .npy: object array of [tokens x H] "
                      "float32 arrays; pooled outputs go to <out>.pooled.npy")
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
                              args.batch_size, args.max_length)
  print(f"embedded {count} lines -> {args.out}" +
        (f" (pooled: {pooled})" if pooled else " (no pooler: no pooled "
         "outputs)"))
