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
import sys

from rembert_mtf import compat  # (must come first)
from rembert_mtf.cli import gin_config
from rembert_mtf.model import partitioning

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
  shape, layout, _ = partitioning.mesh_spec()
  if args.mesh_shape is not None:
    shape = args.mesh_shape
  if args.mesh_layout is not None:
    layout = args.mesh_layout
  return shape, layout


# ----------------------------------------------------------------------------
# Commands: each lives in the module that does the work, which provides
# add_arguments(parser) and main(args); main.py only dispatches.
# ----------------------------------------------------------------------------

# name -> (module, one-line help, shared flag groups)
COMMANDS = {
    "params": ("rembert_mtf.planning.accounting",
               "parameter counts and bytes per device", ("gin", "mesh")),
    "plan": ("rembert_mtf.planning.planner", "memory, FLOPs and step time per core of "
             "a pod run, and whether it fits", ("gin", "mesh")),
    "tasks": ("rembert_mtf.data.registry", "list registered tasks and mixtures",
              ("gin",)),
    "vocab": ("rembert_mtf.data.vocab_training", "train a SentencePiece "
              "vocabulary on a mixture", ("gin",)),
    "train": ("rembert_mtf.training.trainer", "pre-train (or train any head) on a "
              "task or mixture", ("gin", "mesh")),
    "finetune": ("rembert_mtf.training.trainer", "fine-tune from a pre-trained "
                 "checkpoint", ("gin", "mesh")),
    "predict": ("rembert_mtf.training.trainer", "write predictions of a task",
                ("gin", "mesh")),
    "xtreme": ("rembert_mtf.evaluation.xtreme", "the zero-shot XTREME protocol: sweep, "
               "select on dev, evaluate every language", ("gin", "mesh")),
    "report": ("rembert_mtf.evaluation.report", "loss curves and per-language results "
               "as PNG files", ()),
    "demo": ("rembert_mtf.cli.demo", "the end-to-end miniature (no download)",
             ("gin",)),
    "import-hf": ("rembert_mtf.cli.interop", "convert a transformers "
                  "RemBERT/BERT folder into a model_dir", ()),
    "import-tf": ("rembert_mtf.cli.interop", "convert an original TF "
                  "RemBERT checkpoint into a model_dir", ()),
    "export-hf": ("rembert_mtf.cli.interop", "write a model_dir as a "
                  "transformers folder", ()),
    "embed": ("rembert_mtf.interop.embed", "final hidden states of lines of text", ()),
    "server": ("rembert_mtf.training.cluster", "serve one task of a TF cluster for "
               "`train --cluster` (see README)", ("gin",)),
}
FLAG_GROUPS = {"gin": _gin_flags, "mesh": _mesh_flags}


def build_parser():
  parser = argparse.ArgumentParser(
      prog="rembert-mtf",
      description="RemBERT in Mesh TensorFlow: pre-training, fine-tuning, "
      "interop and accounting.")
  subparsers = parser.add_subparsers(dest="command", required=True)
  for name, (module_name, help_text, groups) in COMMANDS.items():
    sub = subparsers.add_parser(
        name, help=help_text, parents=[FLAG_GROUPS[g]() for g in groups])
    module = importlib.import_module(module_name)
    module.add_arguments(sub, name)
    sub.set_defaults(fn=module.main)
  return parser


def run(argv=None):
  """Console entry point."""
  args = build_parser().parse_args(argv)
  # TensorFlow's deprecation warnings (tf.estimator, tf.compat.v1) would
  # bury our progress lines and one-line errors; its errors still show.
  compat.tf.get_logger().setLevel("ERROR")
  run_reporting_user_errors(args.fn, args)


def run_reporting_user_errors(fn, args):
  """Runs fn(args); a user error becomes one line on stderr and exit 2."""
  try:
    fn(args)
  except USER_ERRORS as e:
    message = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    print(f"rembert-mtf: error: {message.strip(chr(34) + chr(39))}",
          file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  run()
