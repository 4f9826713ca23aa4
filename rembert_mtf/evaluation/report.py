"""Training curves and per-language results as PNGs (`rembert-mtf report`).

`make_report(DIR)` reads
  * the TensorBoard event files in DIR and every folder below it (the
    trainer's scalars: loss, learning_rate, mlm_accuracy, gradient_norm,
    examples_per_second);
  * the zero-shot results of `rembert-mtf xtreme` in DIR/xtreme: its
    summary.json, or, for an unfinished sweep, whatever results.json files
    exist (selected and averaged as the runner does);
and writes to DIR/report/
  loss.png                the loss of the run in DIR itself (pre-training);
  training.png            its other scalars, one panel each;
  loss_<name>.png         one per group of other runs: the fine-tuning runs
                          of one training task (a line per lr/seed), or a
                          single other run (e.g. finetune/<mixture>);
  results_<task>.png      per-language test score (mean over seeds, error
                          bar: standard deviation) of each XTREME task;
  results_overview.png    per-task averages, the XTREME group average
                          (Table 16's) and the paper's ablation average;
and returns the results table (results.md of the runner) for the command
to print.

A run that was resumed wrote several event files with overlapping steps;
the later file's value wins, as TensorBoard shows the resumed run.
"""

import io
import os
import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import matplotlib
matplotlib.use("Agg")  # files only, never a display
from matplotlib import figure as figure_lib  # noqa: E402

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import files
from rembert_mtf.evaluation.xtreme import selection
from rembert_mtf.evaluation.xtreme import tables

tf = compat.tf
EVENT_PREFIX = "events.out.tfevents."
TRAINING_SCALARS = ("learning_rate", "mlm_accuracy", "gradient_norm",
                    "examples_per_second")
Curve = List[Tuple[int, float]]


# ---------------------------------------------------------------- events ----


def event_dirs(model_dir: str) -> List[str]:
  """Folders at or below model_dir holding event files, sorted."""
  found = []
  for directory, _, names in tf.io.gfile.walk(model_dir):
    if any(n.startswith(EVENT_PREFIX) for n in names):
      found.append(directory)
  return sorted(found)


def _scalar(value) -> Optional[float]:
  if value.HasField("simple_value"):
    return float(value.simple_value)
  if value.HasField("tensor"):  # TF2-style summaries
    array = tf.make_ndarray(value.tensor)
    return float(array) if array.size == 1 else None
  return None


def read_scalars(directory: str) -> Dict[str, Curve]:
  """The scalars of the event files directly in `directory`.

  Args:
    directory: a run folder.
  Returns:
    {tag: [(step, value)] by increasing step}; for a step written by
    several files (a resumed run), the value from the last file by name.
  """
  by_tag = {}
  names = sorted(f for f in tf.io.gfile.listdir(directory)
                 if f.startswith(EVENT_PREFIX))
  for name in names:
    try:
      for event in tf.compat.v1.train.summary_iterator(
          os.path.join(directory, name)):
        for value in event.summary.value:
          scalar = _scalar(value)
          if scalar is not None:
            by_tag.setdefault(value.tag, {})[int(event.step)] = scalar
    except tf.errors.DataLossError:
      # A run killed mid-write leaves a truncated last record.
      pass
  return {tag: sorted(points.items()) for tag, points in by_tag.items()}


def curve_groups(model_dir: str, directories: Sequence[str]):
  """{file stem: {line label: folder}} for the loss figures.

  The run in model_dir itself is "loss"; runs under an "lr=..." folder are
  grouped by the folder above it (a training task, each line lr/seed); any
  other run is its own group named after its path.
  """
  groups = {}
  for directory in directories:
    relative = os.path.relpath(directory, model_dir)
    parts = [] if relative == "." else relative.split(os.sep)
    rate = next((i for i, p in enumerate(parts) if p.startswith("lr=")), None)
    if not parts:
      stem, label = "loss", "pre-training"
    elif rate:
      stem = "loss_" + parts[rate - 1]
      label = "/".join(parts[rate:])
    else:
      stem, label = "loss_" + "_".join(parts), relative
    groups.setdefault(_safe(stem), {})[label] = directory
  return groups


def _safe(name):
  return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


# ---------------------------------------------------------------- figures ---


def save(fig, path: str) -> str:
  """Writes a figure as PNG (any tf.io.gfile path)."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=100)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())
  return path


def plot_curves(curves: Mapping[str, Curve], title: str,
                ylabel: str = "loss"):
  """One line per run.

  Args:
    curves: {label: [(step, value)]}.
    title, ylabel: axis texts.
  Returns:
    the matplotlib Figure (lines in the order of `curves`).
  """
  fig = figure_lib.Figure(figsize=(8, 5))
  ax = fig.add_subplot()
  for label, points in curves.items():
    steps, values = zip(*points)
    ax.plot(steps, values, label=label,
            marker="." if len(points) < 30 else None)
  ax.set(title=title, xlabel="step", ylabel=ylabel)
  ax.grid(alpha=0.3)
  if 1 < len(curves) <= 20:
    ax.legend(fontsize="small")
  fig.tight_layout()
  return fig


def plot_panels(scalars: Mapping[str, Curve], title: str):
  """One panel per scalar (training.png)."""
  names = list(scalars)
  fig = figure_lib.Figure(figsize=(6 * min(len(names), 2),
                                   3.5 * ((len(names) + 1) // 2)))
  for index, name in enumerate(names):
    ax = fig.add_subplot((len(names) + 1) // 2, min(len(names), 2), index + 1)
    steps, values = zip(*scalars[name])
    ax.plot(steps, values)
    ax.set(title=name, xlabel="step")
    ax.grid(alpha=0.3)
  fig.suptitle(title)
  fig.tight_layout()
  return fig


def plot_bars(labels: Sequence[str], means: Sequence[float],
              stds: Sequence[float], title: str, ylabel: str,
              average: Optional[float] = None):
  """Bars with standard-deviation error bars, and a dashed average line."""
  fig = figure_lib.Figure(figsize=(max(6, 0.45 * len(labels) + 2), 4.5))
  ax = fig.add_subplot()
  positions = range(len(labels))
  ax.bar(positions, means, yerr=stds, capsize=3, color="tab:blue")
  ax.set_xticks(list(positions), labels,
                rotation=90 if len(labels) > 12 else 0)
  if average is not None:
    ax.axhline(average, color="tab:red", linestyle="--",
               label=f"average {average:.1f}")
    ax.legend(fontsize="small")
  ax.set(title=title, ylabel=ylabel)
  ax.grid(axis="y", alpha=0.3)
  fig.tight_layout()
  return fig


def task_bars(task: str, result: Mapping):
  """Per-language scores of one task (a summary.json task entry)."""
  languages = sorted(result["languages"])
  scores = [result["languages"][l]["score"] for l in languages]
  return plot_bars(
      languages, [s["mean"] for s in scores], [s["std"] for s in scores],
      f"{task}: test score by language (lr "
      f"{benchmarks.format_rate(result['learning_rate'])}, "
      f"{len(result['seeds'])} seeds)", "score",
      average=result["average"]["mean"])


def overview_bars(summary: Mapping):
  """Per-task averages plus the paper's two averages when there are any."""
  labels = list(summary["tasks"])
  stats = [summary["tasks"][t]["average"] for t in labels]
  # Names as results.md's (tables.AVERAGE_LABELS), short enough for a bar.
  for key, label in (("xtreme_group_avg", "XTREME group avg"),
                     ("paper_ablation_avg", "paper ablation avg")):
    if key in (summary.get("averages") or {}):
      labels.append(label)
      stats.append(summary["averages"][key])
  setting = summary.get("setting") or "zero-shot"
  return plot_bars(labels, [s["mean"] for s in stats],
                   [s["std"] for s in stats],
                   f"{setting.capitalize()} results by task", "score")


# ---------------------------------------------------------------- report ----


def load_summary(xtreme_dir: str, select_on: str = "en") -> Optional[dict]:
  """summary.json of the runner, else one built from its results.json files.

  Returns:
    the summary (selection.summarize's), or None if there are no results.
  """
  summary = files.read_results(os.path.join(xtreme_dir, files.SUMMARY_FILE))
  if summary is not None:
    return summary
  runs = files.collect(xtreme_dir)
  if not runs:
    return None
  return selection.summarize(runs, select_on)


def curve_figures(model_dir: str, out_dir: str) -> List[str]:
  """Writes loss.png, training.png and loss_<group>.png; returns paths."""
  written = []
  for stem, runs in curve_groups(model_dir, event_dirs(model_dir)).items():
    scalars = {label: read_scalars(d) for label, d in runs.items()}
    losses = {label: s["loss"] for label, s in scalars.items() if "loss" in s}
    if losses:
      title = ("Pre-training loss" if stem == "loss" else
               f"Loss: {stem[len('loss_'):]}")
      written.append(save(plot_curves(losses, title),
                          os.path.join(out_dir, stem + ".png")))
    if stem == "loss":
      others = {t: c for t, c in scalars["pre-training"].items()
                if t in TRAINING_SCALARS}
      if others:
        written.append(save(plot_panels(others, model_dir),
                            os.path.join(out_dir, "training.png")))
  return written


def results_figures(summary: Mapping, out_dir: str) -> List[str]:
  """Writes results_<task>.png and results_overview.png; returns paths."""
  written = [save(task_bars(task, result),
                  os.path.join(out_dir, f"results_{_safe(task)}.png"))
             for task, result in summary["tasks"].items()]
  written.append(save(overview_bars(summary),
                      os.path.join(out_dir, "results_overview.png")))
  return written


def make_report(model_dir: str, out_dir: Optional[str] = None,
                xtreme_dir: Optional[str] = None, select_on: str = "en"):
  """Writes every figure; returns (paths written, results table or "").

  Args:
    model_dir: a training or fine-tuning folder (event files below it).
    out_dir: where the PNGs go (default <model_dir>/report).
    xtreme_dir: the runner's output (default <model_dir>/xtreme).
    select_on: learning-rate selection when there is no summary.json yet.
  Raises:
    FileNotFoundError: model_dir is missing or holds neither event files
      nor results.
  """
  if not tf.io.gfile.isdir(model_dir):
    raise errors.MissingFileError(f"--model_dir {model_dir} does not exist.")
  out_dir = out_dir or os.path.join(model_dir, "report")
  xtreme_dir = xtreme_dir or os.path.join(model_dir, "xtreme")
  tf.io.gfile.makedirs(out_dir)
  written = curve_figures(model_dir, out_dir)
  summary = load_summary(xtreme_dir, select_on)
  table = ""
  if summary:
    written += results_figures(summary, out_dir)
    table = tables.markdown_table(summary)
  if not written:
    raise errors.MissingFileError(
        f"nothing to report: no TensorBoard event files under {model_dir} "
        f"and no results in {xtreme_dir}.")
  return written, table
