"""The checkpoint commands: `import-hf`, `import-tf` and `export-hf`.

  rembert-mtf import-hf SRC --model_dir=DST [--overwrite]
  rembert-mtf import-tf CKPT --config=JSON --vocab=SPM --model_dir=DST
      [--overwrite]
  rembert-mtf export-hf --model_dir=SRC --out=DST
      [--head=auto|none|mlm|classification|token|qa] [--max_shard_bytes=N]
      [--overwrite]

main.py's COMMANDS table dispatches here with the command's name; this
module also runs on its own (`python -m rembert_mtf.cli.interop ...`,
with `embed` too) with main.py's error handling.
"""

import argparse

from rembert_mtf import compat  # noqa: F401  (must come first)
from rembert_mtf import errors
from rembert_mtf.interop import embed as embed_lib
from rembert_mtf.interop import hf
from rembert_mtf.interop import original_tf

COMMAND_HELP = {
    "import-hf": "convert a transformers RemBERT/BERT folder into a model_dir",
    "import-tf": "convert a checkpoint of the original TF RemBERT release "
                 "into a model_dir",
    "export-hf": "write a model_dir as a transformers folder",
}


def add_arguments(parser, command_name):
  """Flags of `command_name` (one of COMMAND_HELP)."""
  parser.set_defaults(checkpoint_command=command_name)
  if command_name == "import-hf":
    parser.add_argument("source", metavar="SRC",
                        help="folder with config.json, model.safetensors (or "
                        "pytorch_model.bin with torch) and sentencepiece.model")
    parser.add_argument("--model_dir", required=True,
                        help="model_dir to create")
  elif command_name == "import-tf":
    parser.add_argument("checkpoint", metavar="CKPT",
                        help="checkpoint prefix (e.g. .../model.ckpt) or its "
                        "folder")
    parser.add_argument("--config", required=True,
                        help="the release's config JSON (transformers- or "
                        "BERT-style keys)")
    parser.add_argument("--vocab", required=True,
                        help="the release's SentencePiece model")
    parser.add_argument("--model_dir", required=True,
                        help="model_dir to create")
  elif command_name == "export-hf":
    parser.add_argument("--model_dir", required=True,
                        help="model_dir to read")
    parser.add_argument("--out", required=True,
                        help="transformers folder to create")
    parser.add_argument("--head", default="auto",
                        choices=("auto",) + hf.HEADS,
                        help="model class to export: none (RemBertModel), mlm "
                        "(RemBertForMaskedLM), classification, token, qa; "
                        "auto: the checkpoint's task head, else mlm if it has "
                        "one, else none. Coupled models export as Bert*.")
    parser.add_argument("--max_shard_bytes", type=int,
                        default=hf.MAX_SHARD_BYTES,
                        help="bytes per safetensors file (more: shards plus "
                        "model.safetensors.index.json)")
  else:
    raise errors.UserError(f"unknown checkpoint command {command_name!r}.")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace a non-empty destination folder")


def main(args):
  """Runs the command add_arguments set up."""
  command = args.checkpoint_command
  if command == "import-hf":
    config, names = hf.import_hf(args.source, args.model_dir, args.overwrite)
    _report_import(config, names, args.model_dir)
  elif command == "import-tf":
    config, names = original_tf.import_tf(args.checkpoint, args.config,
                                          args.vocab, args.model_dir,
                                          args.overwrite)
    _report_import(config, names, args.model_dir)
  else:
    arch = hf.export_hf(args.model_dir, args.out, args.head, args.overwrite,
                        args.max_shard_bytes)
    print(f"exported {arch.name} to {args.out}")


def _report_import(config, names, model_dir):
  kind = "coupled (BERT-style)" if config.coupled else "decoupled"
  print(f"imported {len(names)} variables of a {kind} model "
        f"({config.num_layers} layers, H={config.hidden_size}) into "
        f"{model_dir}")


def build_parser():
  """A stand-alone parser with these commands and `embed`."""
  parser = argparse.ArgumentParser(prog="rembert-mtf")
  subparsers = parser.add_subparsers(dest="command", required=True)
  for name, help_text in COMMAND_HELP.items():
    sub = subparsers.add_parser(name, help=help_text)
    add_arguments(sub, name)
    sub.set_defaults(fn=main)
  sub = subparsers.add_parser("embed", help="final hidden states of lines of "
                              "text")
  embed_lib.add_arguments(sub, "embed")
  sub.set_defaults(fn=embed_lib.main)
  return parser


def run(argv=None):
  """main.py's error handling: user errors are one line and exit 2."""
  from rembert_mtf.cli import main as cli  # pylint: disable=g-import-not-at-top
  args = build_parser().parse_args(argv)
  cli.run_reporting_user_errors(args.fn, args)


if __name__ == "__main__":
  run()
