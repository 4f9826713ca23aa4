"""`rembert-mtf params`: parameter counts and bytes per device of a model.

The counts come from the graph the model builds (planning/accounting.py):
pre-training (encoder + MLM head) and fine-tuning (the encoder alone), and
what one device of the --mesh_shape / --mesh_layout holds of them.
"""

import json

from rembert_mtf.cli import flags

GIB = 2.0 ** 30


def add_arguments(parser, unused_command="params"):
  parser.add_argument("--json", action="store_true",
                      help="print the figures as JSON")


def main(args):
  """Prints parameters at pre-training and fine-tuning, bytes per device."""
  from rembert_mtf.model import modeling  # pylint: disable=g-import-not-at-top
  from rembert_mtf.planning import accounting  # pylint: disable=g-import-not-at-top
  flags.load_gin(args)
  shape, layout = flags.mesh_from(args)
  result = accounting.report(modeling.RemBertConfig(), shape, layout)
  if args.json:
    print(json.dumps(result, indent=2))
    return
  print(f"parameters at pre-training: {result['pretraining_parameters']:,} "
        f"({result['pretraining_parameters'] / 1e6:.1f}M)")
  print(f"parameters at fine-tuning:  {result['finetuning_parameters']:,} "
        f"({result['finetuning_parameters'] / 1e6:.1f}M)")
  print(f"mesh {result['mesh_shape']}, layout {result['mesh_layout']}")
  for label in ("pretraining", "finetuning"):
    part = result[f"{label}_bytes_per_device"]
    print(f"per device, {label}: variables "
          f"{part['variables'] / GIB:.3f} GiB, Adam slots "
          f"{part['adam_slots'] / GIB:.3f} GiB")
