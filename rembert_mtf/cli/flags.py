"""Flags shared by several commands, and what every run does with them first.

Flags follow t5's Mesh TF entry point: repeated --gin_file and --gin_param,
--gin_search_path, --module_import (to register a user's own tasks),
--mesh_shape and --mesh_layout (override the gin-bound mesh). This module
imports only argparse at load time: the parser is built without TensorFlow.
"""

import argparse
import importlib


def gin_flags():
  """--gin_file, --gin_param, --gin_search_path, --module_import."""
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


def mesh_flags():
  """--mesh_shape and --mesh_layout (override partitioning.mesh.*)."""
  parser = argparse.ArgumentParser(add_help=False)
  parser.add_argument("--mesh_shape", default=None,
                      help="Mesh TF mesh shape, e.g. 'batch:2;model:4' "
                      "(default: partitioning.mesh.shape)")
  parser.add_argument("--mesh_layout", default=None,
                      help="Mesh TF layout rules, e.g. "
                      "'batch:batch;vocab:model' (default: "
                      "partitioning.mesh.layout)")
  return parser


FLAG_GROUPS = {"gin": gin_flags, "mesh": mesh_flags}


def _parse(kind, text):
  try:
    return kind(text)
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a {'whole number' if kind is int else 'number'}")


def number_in(kind, low, high=None, low_open=False, high_open=False):
  """An argparse type: a `kind` (int or float) within [low, high].

  low_open / high_open exclude the bound; None leaves that side unbounded.
  The error names the range, and argparse adds the flag.
  """
  def check(text):
    value = _parse(kind, text)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else
                                  value > high)
    if below or above:
      if high is None:
        span = (f"greater than {low:g}" if low_open else f"at least {low:g}")
      else:
        span = (f"in {'(' if low_open else '['}{low:g}, {high:g}"
                f"{')' if high_open else ']'}")
      raise argparse.ArgumentTypeError(f"{value:g} must be {span}")
    return value
  return check


# argparse types for counts and sizes: integers >= 1 (or >= 0), numbers > 0.
positive_int = number_in(int, 1)
non_negative_int = number_in(int, 0)
positive_float = number_in(float, 0.0, low_open=True)


def load_gin(args):
  """Imports --module_import modules, then parses gin files and params."""
  from rembert_mtf import errors  # pylint: disable=g-import-not-at-top
  from rembert_mtf.cli import gin_config  # pylint: disable=g-import-not-at-top
  for module in args.module_import:
    try:
      importlib.import_module(module)
    except ImportError as e:
      raise errors.UserError(f"--module_import={module}: {e}") from e
  gin_config.parse(args.gin_file, args.gin_param, args.gin_search_path)


def mesh_from(args):
  """(mesh_shape, layout): flags override the gin-bound partitioning.mesh."""
  from rembert_mtf.model import partitioning  # pylint: disable=g-import-not-at-top
  shape, layout, _ = partitioning.mesh_spec()
  if args.mesh_shape is not None:
    shape = args.mesh_shape
  if args.mesh_layout is not None:
    layout = args.mesh_layout
  return shape, layout
