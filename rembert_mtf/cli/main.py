"""The `rembert-mtf` command: a table of commands, one parser, one dispatch.

Each command lives in its own module under rembert_mtf/cli/, which provides
`add_arguments(parser, command)` and `main(args)`. Those modules import only
argparse and `cli.flags` when loaded, and their library code (TensorFlow,
seqio, mesh_tensorflow) inside `main`, so building the parser, `--help`
included, loads none of it.

Problems a user can fix raise `errors.UserError` where they are found; they
print one line `rembert-mtf: error: ...` and exit 2. Anything else is a bug
and keeps its traceback.
"""

import argparse
import importlib
import sys

from rembert_mtf.cli import flags

# name -> (module under rembert_mtf.cli, one-line help, shared flag groups)
COMMANDS = {
    "tasks": ("tasks", "list registered tasks and mixtures", ("gin",)),
    "vocab": ("vocab", "train a SentencePiece vocabulary on a mixture",
              ("gin",)),
    "cache": ("cache", "preprocess a mixture once with Apache Beam "
              "(seqio's cache; DirectRunner, Dataflow, Flink, Spark)",
              ("gin",)),
    "params": ("params", "parameter counts and bytes per device",
               ("gin", "mesh")),
    "plan": ("plan", "memory, FLOPs and step time per core of a pod run, "
             "and whether it fits", ("gin", "mesh")),
    "train": ("train", "pre-train (or train any head) on a task or mixture",
              ("gin", "mesh")),
    "finetune": ("train", "fine-tune from a pre-trained checkpoint",
                 ("gin", "mesh")),
    "predict": ("train", "write predictions of a task", ("gin", "mesh")),
    "server": ("server", "serve one task of a TF cluster for `train "
               "--cluster` (see README)", ("gin",)),
    "xtreme": ("xtreme", "the XTREME protocol (zero-shot, translate-train"
               ", retrieval): sweep, select on dev, evaluate every language",
               ("gin", "mesh")),
    "report": ("report", "loss curves and per-language results as PNG "
               "files", ()),
    "demo": ("demo", "the end-to-end miniature (no download)", ("gin",)),
    "import-hf": ("interop", "convert a transformers RemBERT/BERT folder "
                  "into a model_dir", ()),
    "import-tf": ("interop", "convert an original TF RemBERT checkpoint into "
                  "a model_dir", ()),
    "export-hf": ("interop", "write a model_dir as a transformers folder",
                  ()),
    "embed": ("embed", "hidden states of lines of text", ()),
}


def command_module(name):
  """The cli module of command `name` (imports argparse-level code only)."""
  return importlib.import_module(f"rembert_mtf.cli.{COMMANDS[name][0]}")


def build_parser():
  parser = argparse.ArgumentParser(
      prog="rembert-mtf",
      description="RemBERT in Mesh TensorFlow: pre-training, fine-tuning, "
      "interop and accounting.")
  subparsers = parser.add_subparsers(dest="command", required=True,
                                     metavar="COMMAND")
  for name, (_, help_text, groups) in COMMANDS.items():
    sub = subparsers.add_parser(
        name, help=help_text,
        parents=[flags.FLAG_GROUPS[g]() for g in groups])
    command_module(name).add_arguments(sub, name)
  return parser


def run(argv=None):
  """Console entry point."""
  args = build_parser().parse_args(argv)
  # Imported only now that a command runs: TensorFlow comes with it.
  from rembert_mtf import compat  # pylint: disable=g-import-not-at-top
  # TensorFlow's deprecation warnings (tf.estimator, tf.compat.v1) would
  # bury our progress lines and one-line errors; its errors still show.
  compat.tf.get_logger().setLevel("ERROR")
  run_reporting_user_errors(command_module(args.command).main, args)


def run_reporting_user_errors(fn, args):
  """Runs fn(args); a user error becomes one line on stderr and exit 2."""
  from rembert_mtf import errors  # pylint: disable=g-import-not-at-top
  try:
    fn(args)
  except errors.UserError as e:
    message = errors.first_line(e).strip(chr(34) + chr(39))
    print(f"rembert-mtf: error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  run()
