"""What is registered: the core of `rembert-mtf tasks [--filter=REGEX]`.

`registered_rows()` describes every seqio Task (its data source and splits)
and Mixture (its tasks and normalised mixing rates); `format_rows()` renders
them; `get_task_or_mixture()` looks a name up with a one-line error that
suggests the closest registered names.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import dataclasses
import difflib
import importlib
import pkgutil
import re
import sys
from typing import Optional, Sequence, Tuple

import seqio


@dataclasses.dataclass(frozen=True)
class Row:
  """One registered task or mixture.

  Attributes:
    name: registry name.
    kind: "task" or "mixture".
    source: e.g. "tfds xnli:1.1.0" or "function"; "" for a mixture.
    splits: split names; "name=tfds_split" where the task renames one.
    rates: for a mixture, (task name, rate) with rates summing to 1 (None
      where a rate function cannot be evaluated, e.g. needs cached stats).
  """
  name: str
  kind: str
  source: str = ""
  splits: Tuple[str, ...] = ()
  rates: Tuple[Tuple[str, Optional[float]], ...] = ()


def ensure_registered():
  """Imports every module of `rembert_mtf.tasks`, which registers them."""
  package = importlib.import_module("rembert_mtf.tasks")
  for module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"{package.__name__}.{module.name}")


def registered_rows(filter_regex: Optional[str] = None) -> Sequence[Row]:
  """Rows for the registered tasks and mixtures, sorted by name.

  Args:
    filter_regex: keep names where this regex matches (re.search).
  Returns:
    a list of Row.
  Raises:
    ValueError: one line, if filter_regex is not a valid regex.
  """
  ensure_registered()
  try:
    pattern = re.compile(filter_regex or "")
  except re.error as e:
    raise errors.UserError(f"--filter {filter_regex!r} is not a regex: {e}") from e
  rows = [_task_row(seqio.TaskRegistry.get(n))
          for n in seqio.TaskRegistry.names() if pattern.search(n)]
  rows += [_mixture_row(seqio.MixtureRegistry.get(n))
           for n in seqio.MixtureRegistry.names() if pattern.search(n)]
  return sorted(rows, key=lambda r: r.name)


def format_rows(rows: Sequence[Row]) -> str:
  """Text table: one line per task, a mixture's tasks indented below it."""
  width = max([len(r.name) for r in rows] + [4])
  lines = []
  for row in rows:
    if row.kind == "task":
      lines.append(f"{row.name:<{width}}  task     {row.source}  "
                   f"[{', '.join(row.splits)}]")
      continue
    lines.append(f"{row.name:<{width}}  mixture  {len(row.rates)} tasks")
    for task_name, rate in row.rates:
      shown = "?" if rate is None else f"{rate:.4f}"
      lines.append(f"  {task_name:<{width}}  {shown}")
  return "\n".join(lines)


def print_registered(filter_regex: Optional[str] = None, out=None):
  """Prints `format_rows(registered_rows(filter_regex))` (stdout default)."""
  print(format_rows(registered_rows(filter_regex)), file=out or sys.stdout)


def get_task_or_mixture(name: str):
  """The registered seqio Task or Mixture called `name`.

  Raises:
    ValueError: one line naming the closest registered names.
  """
  ensure_registered()
  if name in seqio.TaskRegistry.names():
    return seqio.TaskRegistry.get(name)
  if name in seqio.MixtureRegistry.names():
    return seqio.MixtureRegistry.get(name)
  names = list(seqio.TaskRegistry.names()) + list(
      seqio.MixtureRegistry.names())
  close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
  hint = (f"closest: {', '.join(close)}" if close else
          f"no close match among {len(names)} registered names")
  raise errors.UserError(f"unknown task or mixture {name!r}; {hint} "
                         "(`rembert-mtf tasks` lists them)")


def is_mixture(provider) -> bool:
  """True for a seqio.Mixture, False for a seqio.Task."""
  return isinstance(provider, seqio.Mixture)


def tasks_of(provider):
  """The tasks a Task or Mixture reads: its sub-tasks, or itself."""
  return list(provider.tasks) if is_mixture(provider) else [provider]


def _task_row(task) -> Row:
  source, splits = _describe_source(task.source)
  return Row(task.name, "task", source, splits)


def _describe_source(source) -> Tuple[str, Tuple[str, ...]]:
  """("tfds NAME" | "function" | class name, split descriptions)."""
  if isinstance(source, seqio.TfdsDataSource):
    kind = f"tfds {source.tfds_dataset.name}"
  elif isinstance(source, seqio.FunctionDataSource):
    kind = "function"
  else:
    kind = type(source).__name__
  try:
    splits = source.splits
  except Exception:  # pylint: disable=broad-except
    # Listing must not need the data: tfds may not know splits offline.
    return kind, ("?",)
  # seqio keeps a TfdsDataSource's split renaming only on its loader and
  # offers no public accessor for it.
  renamed = getattr(getattr(source, "tfds_dataset", None), "_split_map", None)
  renamed = renamed if isinstance(renamed, dict) else {}
  return kind, tuple(
      f"{s}={renamed[s]}" if isinstance(renamed.get(s), str) and
      renamed[s] != s else s for s in splits)


def _mixture_row(mixture) -> Row:
  rates = []
  for task in mixture.tasks:
    try:
      rates.append((task.name, float(mixture.get_rate(task))))
    except Exception:  # pylint: disable=broad-except
      # Rate functions such as mixing_rate_num_examples need cached stats.
      rates.append((task.name, None))
  total = sum(r for _, r in rates if r is not None)
  return Row(mixture.name, "mixture", rates=tuple(
      (n, None if r is None or not total else r / total) for n, r in rates))
