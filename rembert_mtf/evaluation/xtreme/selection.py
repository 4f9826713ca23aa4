"""Model selection and aggregation: from run results to the summary.

A run's results are {"task", "learning_rate", "seed", "dev", "test",
"settings"} with {language: {metric: value}} per split (runner.run_once);
a translate-train run (one model per language) also has "source_dev":
{language: that language's model on the source-language dev set}.
Per task, the learning rate with the best seed-averaged dev score is
selected (on the source language, or the mean over dev languages); its
runs' test scores are reported as mean and sample standard deviation over
seeds, and the paper's two averages over the tasks present
(metrics.xtreme_summary: "xtreme_group_avg", Table 16's; and
"paper_ablation_avg", the ablation tables') with the same statistics over
seeds.
"""

import statistics
from typing import Dict, Mapping, Optional, Sequence, Tuple

from rembert_mtf import errors
from rembert_mtf.evaluation import metrics
from rembert_mtf.evaluation.xtreme import benchmarks

Benchmark = benchmarks.Benchmark


def mean_std(values: Sequence[float]) -> Dict[str, float]:
  """{"mean", "std"}: std is the sample standard deviation (0 for 1 value)."""
  values = [float(v) for v in values]
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return {"mean": statistics.fmean(values), "std": std}


def language_score(scores: Mapping[str, float],
                   benchmark: Benchmark) -> float:
  """One language's score: the primary metric, or (EM + F1) / 2 for QA."""
  if benchmark.primary_metric:
    return scores[benchmark.primary_metric]
  return metrics.language_score(scores)


def dev_score(results: Mapping, select_on: str, benchmark: Benchmark) -> float:
  """The dev score a run is selected by.

  Args:
    results: one run's results.
    select_on: "en" (the benchmark's source language, XTREME's zero-shot
      rule; for translate-train the mean over the language models of each
      one's source-language dev score, so no target-language label is
      used) or "average" (mean over the languages with a dev score; for
      translate-train each language's model on its own dev set).
    benchmark: its source language and primary metric.
  """
  dev = results["dev"]
  if select_on == "en" and results.get("source_dev"):
    return statistics.fmean(language_score(s, benchmark)
                            for s in results["source_dev"].values())
  if select_on == "en":
    if benchmark.source_language not in dev:
      raise errors.UserError(
          f"{results['task']}: no {benchmark.source_language} dev score to "
          "select on; use --select_on=average.")
    return language_score(dev[benchmark.source_language], benchmark)
  if select_on == "average":
    return statistics.fmean(language_score(s, benchmark)
                            for s in dev.values())
  # The CLI offers only SELECT_ON: anything else is a caller's bug.
  raise ValueError(f"select_on must be one of "
                   f"{', '.join(benchmarks.SELECT_ON)}, not {select_on!r}.")


def select_rate(runs: Sequence[Mapping], select_on: str,
                benchmark: Benchmark) -> Tuple[float, Dict[str, float]]:
  """The learning rate with the best seed-averaged dev score.

  Args:
    runs: results dicts of one benchmark.
    select_on: "en" (the benchmark's source language) or "average".
    benchmark: its source language and primary metric.
  Returns:
    (best rate, {format_rate(rate): mean dev score}); ties go to the rate
    listed first.
  """
  by_rate = {}
  for run in runs:
    by_rate.setdefault(run["learning_rate"], []).append(
        dev_score(run, select_on, benchmark))
  means = {rate: statistics.fmean(scores) for rate, scores in by_rate.items()}
  best = max(means, key=means.get)
  return best, {benchmarks.format_rate(r): m for r, m in means.items()}


def aggregate_task(runs: Sequence[Mapping], select_on: str,
                   benchmark: Benchmark) -> dict:
  """Selection and mean/std over seeds of the selected rate's test scores.

  Returns:
    {"learning_rate", "dev_scores" {rate: mean dev score}, "seeds",
     "languages": {lang: {metric or "score": {"mean", "std"}}},
     "average": {"mean", "std"} of the per-seed means over languages,
     "per_seed_scores": {seed: {lang: score}},
     "checkpoints": {seed: the run's "checkpoint" record or None}}.
  """
  rate, dev_scores = select_rate(runs, select_on, benchmark)
  chosen = sorted((r for r in runs if r["learning_rate"] == rate),
                  key=lambda r: r["seed"])
  per_seed_scores = {str(r["seed"]): {
      lang: language_score(s, benchmark) for lang, s in r["test"].items()}
                     for r in chosen}
  languages = {}
  for language in chosen[0]["test"]:
    per_seed = [r["test"][language] for r in chosen]
    stats = {metric: mean_std([s[metric] for s in per_seed])
             for metric in per_seed[0]}
    stats["score"] = mean_std([per_seed_scores[str(r["seed"])][language]
                               for r in chosen])
    languages[language] = stats
  return {"learning_rate": rate, "dev_scores": dev_scores,
          "seeds": [r["seed"] for r in chosen], "languages": languages,
          "average": mean_std([statistics.fmean(s.values())
                               for s in per_seed_scores.values()]),
          "per_seed_scores": per_seed_scores,
          "checkpoints": {str(r["seed"]): r.get("checkpoint")
                          for r in chosen}}


def benchmark_averages(tasks: Mapping[str, Mapping]) -> Optional[dict]:
  """The paper's two averages of the tasks present, mean/std over seeds.

  The averages of seed s use seed s of every task, so their std is the
  spread of the benchmark average a single seed would give.

  Args:
    tasks: {task: aggregate_task's result}.
  Returns:
    {"xtreme_group_avg": {"mean", "std", "missing"},
     "paper_ablation_avg": {"mean", "std", "missing"} (absent without an
       ablation task),
     "groups": {group: {"mean", "std"}}, "tasks": {task: {"mean", "std"}},
     "seeds"}; "missing" lists the tasks the paper's figure has and these
    results lack (an average with missing tasks is not the paper's
    figure); None without an XTREME task.
  """
  present = [t for t in tasks if t in benchmarks.XTREME_TASKS]
  if not present:
    return None
  seeds = sorted(set.intersection(*(set(tasks[t]["per_seed_scores"])
                                    for t in present)), key=int)
  if not seeds:
    return None
  # Each language as its one score, so xtreme_summary cannot pick another
  # metric (e.g. POS word accuracy instead of its F1).
  summaries = [metrics.xtreme_summary(
      {t: {lang: {"score": v}
           for lang, v in tasks[t]["per_seed_scores"][s].items()}
       for t in present}) for s in seeds]
  first = summaries[0]
  out = {"xtreme_group_avg": {
      **mean_std([s["xtreme_group_avg"] for s in summaries]),
      "missing": first["xtreme_group_missing"]}}
  if first["paper_ablation_avg"] is not None:
    out["paper_ablation_avg"] = {
        **mean_std([s["paper_ablation_avg"] for s in summaries]),
        "missing": first["paper_ablation_missing"]}
  for key in ("groups", "tasks"):
    out[key] = {name: mean_std([s[key][name] for s in summaries])
                for name in first[key]}
  out["seeds"] = [int(s) for s in seeds]
  return out


def summarize(runs_by_task: Mapping[str, Sequence[Mapping]], select_on: str,
              protocol: Optional[str] = None,
              setting: Optional[str] = None) -> dict:
  """The summary.json content from the runs of each task.

  Args:
    runs_by_task: {task: results of its runs}.
    select_on: "en" or "average" (dev_score).
    protocol: recorded as is.
    setting: recorded; None: the one the runs were written with
      (settings["setting"]; zero-shot for runs written before settings).
  Returns:
    {"setting", "protocol", "select_on", "tasks": {task: aggregate_task's},
     "averages": benchmark_averages'}.
  """
  if setting is None:
    written = {run.get("settings", {}).get("setting", benchmarks.ZERO_SHOT)
               for runs in runs_by_task.values() for run in runs}
    setting = ", ".join(sorted(written)) or benchmarks.ZERO_SHOT
  tasks = {task: aggregate_task(runs, select_on,
                                benchmarks.benchmark_of(task))
           for task, runs in runs_by_task.items()}
  return {"setting": setting, "protocol": protocol, "select_on": select_on,
          "tasks": tasks, "averages": benchmark_averages(tasks)}


# What a retrieval benchmark's language score is (evaluation/retrieval.py).
RETRIEVAL_METRICS = {"bucc": "f1", "tatoeba": "accuracy"}


def retrieval_summary(scores: Mapping[str, Mapping[str, float]],
                      settings: Mapping[str, Mapping]) -> dict:
  """summary["retrieval"]: zero-shot BUCC and Tatoeba scores.

  Args:
    scores: {benchmark: {language: score}} (retrieval.run_retrieval's).
    settings: {benchmark: its settings} (layer, pooling, max_length,
      checkpoint), as retrieval.json records them.
  Returns:
    {"benchmarks": {benchmark: {"metric", "languages", "average",
     "settings"}}, "group_avg": XTREME's sentence-retrieval group mean (the
     mean of the benchmarks' averages) or None unless both are present}.
    One deterministic score each: no fine-tuning, so no seeds.
  """
  out = {}
  for name, languages in scores.items():
    out[name] = {"metric": RETRIEVAL_METRICS[name],
                 "languages": dict(sorted(languages.items())),
                 "average": statistics.fmean(languages.values()),
                 "settings": dict(settings.get(name, {}))}
  group = (statistics.fmean(b["average"] for b in out.values())
           if set(out) == set(benchmarks.RETRIEVAL_TASKS) else None)
  return {"benchmarks": out, "group_avg": group}
