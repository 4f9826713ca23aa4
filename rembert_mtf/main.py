"""The `rembert-mtf` command: parses flags, loads gin, dispatches.

Flags follow t5's Mesh TF entry point: repeated --gin_file and --gin_param,
--gin_search_path, --module_import (to register a user's own tasks),
--mesh_shape and --mesh_layout (override the gin-bound mesh).

Problems a user can fix (a missing file, a bad binding, a layout that does
not divide) print one line `rembert-mtf: error: ...` and exit 2; anything
else is a bug and keeps its traceback.
"""

import argparse
import importlib
import json
import sys

from rembert_mtf import compat  # noqa: F401  (must come first)
from rembert_mtf import gin_config

# Errors whose message is the whole story for the user.
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def _gin_flags():
  """Flags shared by every command that reads gin."""
  parser = argparse.ArgumentParser(add_help=False)
  parser.add_argument("--gin_file", action="append", default=[],
                      help="gin file (repeatable); shipped ones by relative "
                      "name, e.g. models/rembert.gin, layouts/mesh_2x4.gin")
  parser.add_argument("--gin_param", action="append", default=[],
                      help="gin binding (repeatable), e.g. "
                      "'RemBertConfig.num_layers = 4'")
  parser.add_argument("--gin_search_path", action="append", default=[],
                      help="extra folder for gin files and includes")
  parser.add_argument("--module_import", action="append", default=[],
                      help="module to import first (e.g. your own tasks)")
  return parser


def _mesh_flags():
  parser = argparse.ArgumentParser(add_help=False)
  parser.add_argument("--mesh_shape", default=None,
                      help="Mesh TF mesh shape, e.g. 'batch:2;model:4' "
                      "(default: partitioning.mesh.shape)")
  parser.add_argument("--mesh_layout", default=None,
                      help="Mesh TF layout rules, e.g. "
                      "'batch:batch;vocab:model' (default: "
                      "partitioning.mesh.layout)")
  return parser


def load_gin(args):
  """Imports --module_import modules, then parses gin files and params."""
  for module in args.module_import:
    try:
      importlib.import_module(module)
    except ImportError as e:
      raise ValueError(f"--module_import={module}: {e}") from e
  gin_config.parse(args.gin_file, args.gin_param, args.gin_search_path)


def mesh_from(args):
  """(mesh_shape, layout): flags override the gin-bound partitioning.mesh."""
  from rembert_mtf import partitioning  # pylint: disable=g-import-not-at-top
  shape, layout, _ = partitioning.mesh_spec()
  if args.mesh_shape is not None:
    shape = args.mesh_shape
  if args.mesh_layout is not None:
    layout = args.mesh_layout
  return shape, layout


# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------


def cmd_params(args):
  """Parameters at pre-training and fine-tuning, bytes per device."""
  from rembert_mtf import accounting, modeling  # pylint: disable=g-import-not-at-top
  load_gin(args)
  shape, layout = mesh_from(args)
  result = accounting.report(modeling.RemBertConfig(), shape, layout)
  if args.json:
    print(json.dumps(result, indent=2))
    return
  gib = 2.0 ** 30
  pre, fine = (result["pretraining_bytes_per_device"],
               result["finetuning_bytes_per_device"])
  print(f"parameters at pre-training: {result['pretraining_parameters']:,} "
        f"({result['pretraining_parameters'] / 1e6:.1f}M)")
  print(f"parameters at fine-tuning:  {result['finetuning_parameters']:,} "
        f"({result['finetuning_parameters'] / 1e6:.1f}M)")
  print(f"mesh {result['mesh_shape']}, layout {result['mesh_layout']}")
  for label, part in (("pre-training", pre), ("fine-tuning", fine)):
    print(f"per device, {label}: variables {part['variables'] / gib:.3f} GiB"
          f", Adam slots {part['adam_slots'] / gib:.3f} GiB")


COMMANDS = {
    "params": (cmd_params, "parameter counts and bytes per device",
               [_gin_flags, _mesh_flags]),
}


def build_parser():
  parser = argparse.ArgumentParser(
      prog="rembert-mtf",
      description="RemBERT in Mesh TensorFlow: pre-training, fine-tuning, "
      "interop and accounting.")
  subparsers = parser.add_subparsers(dest="command", required=True)
  for name, (fn, help_text, parents) in COMMANDS.items():
    sub = subparsers.add_parser(name, help=help_text,
                                parents=[p() for p in parents])
    sub.set_defaults(fn=fn)
    if name == "params":
      sub.add_argument("--json", action="store_true",
                       help="print the figures as JSON")
  return parser


def run(argv=None):
  """Console entry point."""
  args = build_parser().parse_args(argv)
  try:
    args.fn(args)
  except USER_ERRORS as e:
    message = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    print(f"rembert-mtf: error: {message.strip(chr(34) + chr(39))}",
          file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  run()
