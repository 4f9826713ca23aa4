"""The checkpoint commands: `import-hf`, `import-tf` and `export-hf`.

  rembert-mtf import-hf SRC --model_dir=DST [--overwrite]
  rembert-mtf import-tf CKPT --config=JSON --vocab=SPM --model_dir=DST
      [--overwrite]
  rembert-mtf export-hf --model_dir=SRC --out=DST
      [--head=auto|none|mlm|classification|token|qa] [--max_shard_bytes=N]
      [--overwrite]

main.py's COMMANDS table dispatches all three here; args.command says
which. The conversions: rembert_mtf/interop/hf_convert.py and
original_tf.py. A refused conversion leaves the destination untouched.
"""

from rembert_mtf.cli import flags
from rembert_mtf.interop import hf_config  # pure Python: the --head choices


def _import_hf_arguments(parser):
  parser.add_argument("source", metavar="SRC",
                      help="folder with config.json, model.safetensors (or "
                      "pytorch_model.bin with torch) and sentencepiece.model")
  parser.add_argument("--model_dir", required=True,
                      help="model_dir to create")


def _import_tf_arguments(parser):
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


def _export_hf_arguments(parser):
  parser.add_argument("--model_dir", required=True,
                      help="model_dir to read")
  parser.add_argument("--out", required=True,
                      help="transformers folder to create")
  parser.add_argument("--head", default="auto",
                      choices=("auto",) + hf_config.HEADS,
                      help="model class to export: none (RemBertModel), mlm "
                      "(RemBertForMaskedLM), classification, token, qa; "
                      "auto: the checkpoint's task head, else mlm if it has "
                      "one, else none. Coupled models export as Bert*.")
  parser.add_argument("--max_shard_bytes", type=flags.positive_int,
                      default=hf_config.MAX_SHARD_BYTES,
                      help="bytes per safetensors file (more: shards plus "
                      "model.safetensors.index.json)")


_ARGUMENTS = {"import-hf": _import_hf_arguments,
              "import-tf": _import_tf_arguments,
              "export-hf": _export_hf_arguments}


def add_arguments(parser, command):
  """Flags of `command` (import-hf, import-tf or export-hf)."""
  _ARGUMENTS[command](parser)
  parser.add_argument("--overwrite", action="store_true",
                      help="replace a non-empty destination folder")


def main(args):
  """Runs the conversion args.command names and reports what it wrote."""
  from rembert_mtf.interop import hf_convert  # pylint: disable=g-import-not-at-top
  from rembert_mtf.interop import original_tf  # pylint: disable=g-import-not-at-top
  if args.command == "export-hf":
    arch = hf_convert.export_hf(args.model_dir, args.out, args.head,
                                args.overwrite, args.max_shard_bytes)
    print(f"exported {arch.name} to {args.out}")
    return
  if args.command == "import-hf":
    config, names = hf_convert.import_hf(args.source, args.model_dir,
                                         args.overwrite)
  else:
    config, names = original_tf.import_tf(args.checkpoint, args.config,
                                          args.vocab, args.model_dir,
                                          args.overwrite)
  kind = "coupled (BERT-style)" if config.coupled else "decoupled"
  print(f"imported {len(names)} variables of a {kind} model "
        f"({config.num_layers} layers, H={config.hidden_size}) into "
        f"{args.model_dir}")
