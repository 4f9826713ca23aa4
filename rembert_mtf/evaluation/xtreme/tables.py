"""The summary as tables: results.md, results.csv and summary.json.

results.md: the setting and how runs were selected, an overview (each
task's selected learning rate and average score, XTREME's group means and
the paper's two averages), then one table per task with a column per
language and a row per metric. results.csv: the same in long format, one
row per (task, language, metric); the averages are rows of task
"averages" with metric "xtreme_group_avg", "paper_ablation_avg" or
"xtreme_group:<group>". Cells are mean ± sample standard deviation over
seeds. Retrieval (BUCC, Tatoeba; zero-shot, no fine-tuning) comes last, one
score per language with num_seeds 0, and XTREME's retrieval group mean as
"xtreme_group:retrieval" when both are there. Each setting writes to its own folder, so its tables are its own.
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
TITLES = {
    benchmarks.ZERO_SHOT: "Zero-shot cross-lingual results (fine-tuned on "
                          "English only)",
    benchmarks.TRANSLATE_TRAIN: "Translate-train results (one model per "
                                "language, fine-tuned on the English "
                                "training set machine-translated into it; "
                                "English on its own)",
    benchmarks.TRANSLATE_TRAIN_ALL: "Translate-train-all results (one model "
                                    "fine-tuned on English and every "
                                    "translated training set)",
}
# What each average is, as the overview row names it.
AVERAGE_LABELS = {
    "xtreme_group_avg": "XTREME group avg (Table 16: mean of the 3 group "
                        "means; RemBERT 75.4)",
    "paper_ablation_avg": "Paper ablation avg (ablation tables: flat mean "
                          "of XNLI, NER, PAWS-X, XQuAD, MLQA, TyDiQA, QA "
                          "as (EM + F1) / 2; coupled baseline 62.3)",
}


def _cell(stats: Mapping[str, float]) -> str:
  return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


def _checkpoint_text(result: Mapping) -> str:
  """Which checkpoint the task's test scores come from, from its records."""
  rules = set()
  for record in result.get("checkpoints", {}).values():
    # A translate-train run has one record per language's model.
    per_model = ([record] if record and "rule" in record
                 else list((record or {}).values()))
    rules.update(r["rule"] for r in per_model if r)
  rules = sorted(rules)
  if not rules:
    return ""
  text = {"best_dev": "the best-dev checkpoint of each run",
          "last": "the last checkpoint of each run"}
  return ("Test scores from "
          + " / ".join(text.get(r, f"the {r} checkpoint") for r in rules)
          + ".")


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
  lines += ["", f"Dev score by learning rate: {dev}. "
            f"{_checkpoint_text(result)}".rstrip(), ""]
  return lines


def _average_row(key: str, stats: Mapping) -> str:
  label = AVERAGE_LABELS[key]
  if stats["missing"]:
    label += (f"; partial: without {', '.join(stats['missing'])}, so not "
              "the paper's figure")
  return f"| **{label}** | | {_cell(stats)} |"


def _retrieval_tables(retrieval: Mapping) -> list:
  """Markdown lines of summary["retrieval"]: one table per benchmark."""
  lines = ["## Sentence retrieval (zero-shot: the pre-trained encoder, no "
           "fine-tuning)", ""]
  for name, result in retrieval["benchmarks"].items():
    languages = list(result["languages"])
    settings = result["settings"]
    lines += [f"### {name} ({result['metric']}, layer "
              f"{settings.get('layer', '?')}, {settings.get('pooling', '?')} "
              "pooling)", "",
              "| metric | " + " | ".join(languages) + " | avg |",
              "|---" * (len(languages) + 2) + "|",
              f"| {result['metric']} | "
              + " | ".join(f"{result['languages'][l]:.1f}"
                           for l in languages)
              + f" | {result['average']:.1f} |", ""]
  if retrieval.get("group_avg") is not None:
    lines += [f"XTREME sentence-retrieval group (mean of BUCC and Tatoeba): "
              f"{retrieval['group_avg']:.1f}; not part of the two averages "
              "above, which the paper reports without retrieval.", ""]
  return lines


def markdown_table(summary: Mapping) -> str:
  """results.md: overview, the averages, then one table per task."""
  setting = summary.get("setting", benchmarks.ZERO_SHOT)
  lines = [f"# {TITLES.get(setting, setting)}", "",
           f"Setting: {setting}. Protocol: {summary.get('protocol') or '?'}; "
           "learning rate selected on "
           f"{_SELECTION_TEXT[summary['select_on']]}, averaged over seeds; "
           "cells are mean ± sample standard deviation over seeds. Score: "
           "(EM + F1) / 2 for QA, else the task's metric.", ""]
  if summary["tasks"]:
    lines += ["| task | learning rate | score |", "|---|---|---|"]
  for task, result in summary["tasks"].items():
    lines.append(f"| {task} | "
                 f"{benchmarks.format_rate(result['learning_rate'])} | "
                 f"{_cell(result['average'])} |")
  averages = summary.get("averages")
  if averages:
    for group, stats in averages["groups"].items():
      lines.append(f"| *XTREME group {group}* | | {_cell(stats)} |")
    for key in AVERAGE_LABELS:
      if key in averages:
        lines.append(_average_row(key, averages[key]))
  lines.append("")
  for task, result in summary["tasks"].items():
    lines += _task_table(task, result)
  if summary.get("retrieval"):
    lines += _retrieval_tables(summary["retrieval"])
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
  averages = summary.get("averages")
  if averages:
    seeds = len(averages["seeds"])
    for group, stats in averages["groups"].items():
      rows.append(["averages", "", f"xtreme_group:{group}", stats["mean"],
                   stats["std"], seeds, ""])
    for key in AVERAGE_LABELS:
      if key in averages:
        rows.append(["averages", "", key, averages[key]["mean"],
                     averages[key]["std"], seeds, ""])
  # Retrieval: one deterministic score each (no seeds, no learning rate).
  retrieval = summary.get("retrieval") or {"benchmarks": {}}
  for name, result in retrieval["benchmarks"].items():
    for language, score in result["languages"].items():
      rows.append([name, language, result["metric"], score, 0.0, 0, ""])
    rows.append([name, "avg", "score", result["average"], 0.0, 0, ""])
  if retrieval.get("group_avg") is not None:
    rows.append(["averages", "", "xtreme_group:retrieval",
                 retrieval["group_avg"], 0.0, 0, ""])
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
