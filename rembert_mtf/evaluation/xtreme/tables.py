"""The summary as tables: results.md, results.csv and summary.json.

results.md: an overview (each task's selected learning rate and average
score, the XTREME group averages and average), then one table per task
with a column per language and a row per metric. results.csv: the same in
long format, one row per (task, language, metric). Cells are mean ± sample
standard deviation over seeds.
"""

import csv
import io
import os
from typing import Dict, Mapping

from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import files

CSV_HEADER = ["task", "language", "metric", "mean", "std", "num_seeds",
              "learning_rate"]
_SELECTION_TEXT = {"en": "the English (training-language) dev score",
                   "average": "the dev score averaged over languages"}


def _cell(stats: Mapping[str, float]) -> str:
  return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


def _task_table(task: str, result: Mapping) -> list:
  """Markdown lines: one column per language, one row per metric."""
  languages = sorted(result["languages"])
  metric_names = list(result["languages"][languages[0]])
  lines = [f"## {task} (lr {benchmarks.format_rate(result['learning_rate'])}"
           f", seeds {', '.join(map(str, result['seeds']))})", "",
           "| metric | " + " | ".join(languages) + " | avg |",
           "|---" * (len(languages) + 2) + "|"]
  for metric in metric_names:
    cells = [_cell(result["languages"][l][metric]) for l in languages]
    average = (_cell(result["average"]) if metric == "score" else "")
    lines.append(f"| {metric} | " + " | ".join(cells) + f" | {average} |")
  dev = ", ".join(f"{r}: {s:.1f}" for r, s in result["dev_scores"].items())
  lines += ["", f"Dev score by learning rate: {dev}.", ""]
  return lines


def markdown_table(summary: Mapping) -> str:
  """results.md: overview, XTREME average, then one table per task."""
  lines = ["# Zero-shot cross-lingual results", "",
           f"Protocol: {summary.get('protocol') or '?'}; learning rate "
           f"selected on {_SELECTION_TEXT[summary['select_on']]}, averaged "
           "over seeds; cells are mean ± sample standard deviation over "
           "seeds. Score: (EM + F1) / 2 for QA, else the task's metric.", "",
           "| task | learning rate | score |", "|---|---|---|"]
  for task, result in summary["tasks"].items():
    lines.append(f"| {task} | "
                 f"{benchmarks.format_rate(result['learning_rate'])} | "
                 f"{_cell(result['average'])} |")
  xtreme = summary.get("xtreme")
  if xtreme:
    for group, stats in xtreme["groups"].items():
      lines.append(f"| *{group}* | | {_cell(stats)} |")
    lines.append(f"| **XTREME avg** | | {_cell(xtreme['avg'])} |")
  lines.append("")
  for task, result in summary["tasks"].items():
    lines += _task_table(task, result)
  return "\n".join(lines)


def csv_rows(summary: Mapping) -> list:
  """Long-format rows: task, language, metric, mean, std, seeds, rate."""
  rows = []
  for task, result in summary["tasks"].items():
    rate = benchmarks.format_rate(result["learning_rate"])
    seeds = len(result["seeds"])
    for language, stats in sorted(result["languages"].items()):
      for metric, value in stats.items():
        rows.append([task, language, metric, value["mean"], value["std"],
                     seeds, rate])
    rows.append([task, "avg", "score", result["average"]["mean"],
                 result["average"]["std"], seeds, rate])
  xtreme = summary.get("xtreme")
  if xtreme:
    seeds = len(xtreme["seeds"])
    for group, stats in xtreme["groups"].items():
      rows.append(["xtreme", "", group, stats["mean"], stats["std"], seeds,
                   ""])
    for key in ("avg", "avg_over_tasks"):
      rows.append(["xtreme", "", key, xtreme[key]["mean"], xtreme[key]["std"],
                   seeds, ""])
  return rows


def csv_text(summary: Mapping) -> str:
  """results.csv: CSV_HEADER, then csv_rows."""
  buffer = io.StringIO()
  writer = csv.writer(buffer)
  writer.writerow(CSV_HEADER)
  writer.writerows(csv_rows(summary))
  return buffer.getvalue()


def write_tables(summary: Mapping, output_dir: str) -> Dict[str, str]:
  """Writes results.md, results.csv and summary.json; returns their paths."""
  paths = {name: os.path.join(output_dir, name)
           for name in ("results.md", "results.csv", files.SUMMARY_FILE)}
  files.write_text(paths["results.md"], markdown_table(summary))
  files.write_text(paths["results.csv"], csv_text(summary))
  files.write_json(paths[files.SUMMARY_FILE], summary)
  return paths
