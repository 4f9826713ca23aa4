"""The zero-shot XTREME protocol: fine-tune on English, evaluate every language.

`rembert-mtf xtreme --model_dir=PRETRAINED --tasks=xnli,pawsx,ner,pos,xquad,
mlqa,tydiqa` does, for each task:

  1. fine-tune on the English training task, once per learning rate of the
     sweep and per seed (3 seeds: 0, 1, 2 by default);
  2. score every run on the dev sets and the test sets of all languages;
  3. select the learning rate with the best dev score averaged over seeds;
  4. report the selected runs' test scores per language as mean and sample
     standard deviation over seeds, plus the XTREME average
     (metrics.xtreme_summary).

Protocols (`--protocol`):
  xtreme   the paper's Table 10 sweeps (its baselines): batch 32, 3 epochs,
           PAWS-X {3,4,5}e-5, XNLI {1,2,3}e-5, QA {2,3,4}e-5, NER
           {1,...,5}e-5. Table 10 has no POS row; POS sweeps NER's rates (the
           same kind of task, tagged by the same token head).
  rembert  Table 15 (RemBERT itself): one rate, bigger batches, 3 epochs:
           PAWS-X 8e-6/128, XNLI 1e-5/128, QA 9e-6/128 (SQuAD-trained; used
           for TyDiQA too), POS 3e-5/128, NER 8e-6/64.

Model selection (`--select_on`): "en" (default) is XTREME's zero-shot rule:
the English dev score only, so no target-language label is used. "average"
takes the mean dev score over all languages that have a dev set. Dev sets:
the `validation` split of the evaluation tasks; for XQuAD (no dev split) the
SQuAD v1.1 dev set. TyDiQA-GoldP has no test split: as in XTREME its dev
split is the test set, so its "en" selection looks at the English test set.

Training length: `epochs` (3) over the training set's size (XTREME Table 1
sizes in examples; QA windows and split tagging sentences make the real
number of sequences slightly larger), `--max_train_steps` caps it for small
runs. Learning rate: linear warm-up over `--warmup_fraction` (10%, BERT's
fine-tuning default) of the steps, then linear decay to 0.

Files, under <output_dir> (default <model_dir>/xtreme):
  <task>/lr=<lr>/seed=<seed>/results.json  one per finished run, written
      atomically when it finishes: {"task", "learning_rate", "seed", "dev":
      {lang: {metric: v}}, "test": {lang: {metric: v}}, "settings"}. A run
      with results.json is skipped, so an interrupted sweep resumes where it
      stopped (the fine-tuning itself also resumes from its checkpoint).
  <task>/lr=<lr>/seed=<seed>/predictions/  QA answer JSON per task and split.
  checkpoints/<train task>/lr=<lr>/seed=<seed>/  the default backend's
      fine-tuned model (one checkpoint kept); XQuAD and MLQA share the
      SQuAD-trained models, as XTREME evaluates one SQuAD model on both.
  results.md, results.csv, summary.json  the tables.

The fine-tuning and prediction are callables (`finetune_fn(task,
learning_rate, seed, run_dir)`, `predict_fn(run_dir, task_name, split)`), so
the runner can be driven by fakes; `TrainerBackend` is the real one, over
trainer.train and trainer.predict.
"""

import csv
import dataclasses
import functools
import io
import json
import math
import os
import re
import statistics
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

from rembert_mtf import errors
from rembert_mtf.evaluation import scoring as evaluation
from rembert_mtf.evaluation import metrics
from rembert_mtf.data import registry

QA_RATES = (2e-5, 3e-5, 4e-5)
NER_RATES = (1e-5, 2e-5, 3e-5, 4e-5, 5e-5)


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """One zero-shot benchmark.

  Attributes:
    name: --tasks name, e.g. "xnli".
    mixture: seqio mixture holding the `*_eval_<lang>` tasks.
    train_task: the English training task.
    learning_rates: the Table 10 sweep (protocol "xtreme").
    rembert: (learning rate, batch size) of Table 15 (protocol "rembert").
    train_examples: training set size in examples (None: ask seqio).
    test_split: the split reported as test.
    extra_dev_tasks: {language: task} scored on "validation" besides the
      mixture's evaluation tasks (XQuAD's English dev is SQuAD's).
    source_language: the training language (selection with --select_on=en).
    primary_metric: a language's score; None: (EM + F1) / 2 (QA). Explicit
      because POS reports both pos_f1 and word accuracy, and XTREME's POS
      score is the F1.
  """
  name: str
  mixture: str
  train_task: str
  learning_rates: Tuple[float, ...]
  rembert: Tuple[float, int]
  train_examples: Optional[int]
  test_split: str = "test"
  extra_dev_tasks: Mapping[str, str] = dataclasses.field(default_factory=dict)
  source_language: str = "en"
  primary_metric: Optional[str] = None


BENCHMARKS = {b.name: b for b in (
    Benchmark("xnli", "xnli", "xnli_train_en", (1e-5, 2e-5, 3e-5),
              (1e-5, 128), 392702, primary_metric="accuracy"),
    Benchmark("pawsx", "pawsx", "pawsx_train_en", (3e-5, 4e-5, 5e-5),
              (8e-6, 128), 49401, primary_metric="accuracy"),
    Benchmark("ner", "ner", "ner_train_en", NER_RATES, (8e-6, 64), 20000,
              primary_metric="span_f1"),
    Benchmark("pos", "pos", "pos_train_en", NER_RATES, (3e-5, 128), 21253,
              primary_metric="pos_f1"),
    Benchmark("xquad", "xquad", "squad_train_en", QA_RATES, (9e-6, 128),
              87599, extra_dev_tasks={"en": "squad_train_en"}),
    Benchmark("mlqa", "mlqa", "squad_train_en", QA_RATES, (9e-6, 128),
              87599),
    Benchmark("tydiqa", "tydiqa", "tydiqa_train_en", QA_RATES, (9e-6, 128),
              3696, test_split="validation"),
    # Not XTREME (left out of its average): the synthetic languages of
    # `rembert-mtf demo`, to try the protocol end to end in minutes.
    Benchmark("demo", "demo_cls", "demo_cls_train_lang_a", (1e-4, 3e-4),
              (1e-4, 32), None, source_language="lang_a",
              primary_metric="accuracy"),
)}
XTREME_TASKS = ("xnli", "pawsx", "ner", "pos", "xquad", "mlqa", "tydiqa")
PROTOCOLS = ("xtreme", "rembert")
SELECT_ON = ("en", "average")
DEFAULT_BATCH_SIZE = 32
DEFAULT_EPOCHS = 3
DEFAULT_SEEDS = (0, 1, 2)
RESULTS_FILE = "results.json"

FinetuneFn = Callable[[str, float, int, str], None]
PredictFn = Callable[[str, str, str], object]


def _gfile():
  # TensorFlow only when files are touched: the runner's logic needs none.
  from rembert_mtf import compat  # pylint: disable=g-import-not-at-top
  return compat.tf.io.gfile


def get_benchmark(name: str) -> Benchmark:
  if name not in BENCHMARKS:
    raise errors.UserError(f"unknown task {name!r} for --tasks; choose from "
                           f"{', '.join(BENCHMARKS)}.")
  return BENCHMARKS[name]


def sweep_for(benchmark: Benchmark, protocol: str) -> Tuple[Tuple[float, ...],
                                                            int]:
  """(learning rates, batch size) of a protocol for one benchmark."""
  if protocol == "xtreme":
    return benchmark.learning_rates, DEFAULT_BATCH_SIZE
  if protocol == "rembert":
    rate, batch = benchmark.rembert
    return (rate,), batch
  raise errors.UserError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not "
                         f"{protocol!r}.")


# ----------------------------------------------------------------- runs ----


def format_rate(learning_rate: float) -> str:
  """3e-05 -> "3e-05" (shortest exact form; the folder name lr=<this>)."""
  return repr(float(learning_rate))


def run_dir(output_dir: str, task: str, learning_rate: float,
            seed: int) -> str:
  return os.path.join(output_dir, task, f"lr={format_rate(learning_rate)}",
                      f"seed={seed}")


def score_split(benchmark: Benchmark, predict: Callable[[str, str], object],
                split: str, out_dir: Optional[str] = None):
  """{language: {metric: value}} of one split over a benchmark's languages.

  Args:
    benchmark: the benchmark.
    predict: (task_name, split) -> trainer.predict dicts.
    split: "validation" or "test".
    out_dir: where QA tasks write their answer JSON.
  """
  results = {}
  if evaluation.eval_task_names(benchmark.mixture, split):
    results.update(evaluation.evaluate_mixture(benchmark.mixture, predict,
                                               split, out_dir))
  if split == "validation":
    for language, task in benchmark.extra_dev_tasks.items():
      path = out_dir and os.path.join(out_dir, f"{task}.{split}.json")
      results[language] = evaluation.evaluate_task(
          task, predict(task, split), split, output_path=path)
  return results


def read_results(path: str) -> Optional[dict]:
  """A results.json, or None if there is none."""
  gfile = _gfile()
  if not gfile.exists(path):
    return None
  with gfile.GFile(path) as f:
    return json.load(f)


def write_json(path: str, value) -> None:
  """Writes JSON atomically: a crash leaves the old file or none."""
  gfile = _gfile()
  gfile.makedirs(os.path.dirname(path))
  with gfile.GFile(path + ".tmp", "w") as f:
    json.dump(value, f, indent=1, sort_keys=True)
  gfile.rename(path + ".tmp", path, overwrite=True)


def run_once(benchmark: Benchmark, learning_rate: float, seed: int,
             directory: str, finetune_fn: FinetuneFn, predict_fn: PredictFn,
             settings: Optional[Mapping] = None) -> dict:
  """One fine-tuning run and its scores; skipped if already finished.

  Args:
    benchmark: what to fine-tune and evaluate.
    learning_rate, seed: this run's.
    directory: the run's folder (results.json goes there).
    finetune_fn: (task, learning_rate, seed, run_dir) -> None.
    predict_fn: (run_dir, task_name, split) -> trainer.predict dicts.
    settings: what else defines the run (protocol, batch size, ...); a
      finished run with other settings is an error, never silently reused.
  Returns:
    the results.json content.
  """
  settings = dict(settings or {})
  path = os.path.join(directory, RESULTS_FILE)
  done = read_results(path)
  if done is not None:
    if done.get("settings", {}) != settings:
      raise errors.UserError(f"{path} was written with settings "
                             f"{done.get('settings')}, not {settings}; pass another"
                             " --output_dir or delete it.")
    return done
  finetune_fn(benchmark.name, learning_rate, seed, directory)
  predict = functools.partial(predict_fn, directory)
  out_dir = os.path.join(directory, "predictions")
  dev = score_split(benchmark, predict, "validation", out_dir)
  # TyDiQA's test set is its dev set: score it once.
  test = (dev if benchmark.test_split == "validation" else
          score_split(benchmark, predict, benchmark.test_split, out_dir))
  results = {"task": benchmark.name, "learning_rate": learning_rate,
             "seed": seed, "dev": dev, "test": test, "settings": settings}
  write_json(path, results)
  return results


def sweep(benchmark: Benchmark, output_dir: str,
          learning_rates: Sequence[float], seeds: Sequence[int],
          finetune_fn: FinetuneFn, predict_fn: PredictFn,
          settings: Optional[Mapping] = None):
  """Every (learning rate, seed) run of a benchmark, resuming finished ones.

  Returns:
    list of results dicts (run_once's), learning rate major.
  """
  return [run_once(benchmark, rate, seed,
                   run_dir(output_dir, benchmark.name, rate, seed),
                   finetune_fn, predict_fn, settings)
          for rate in learning_rates for seed in seeds]


# ------------------------------------------------------------ selection ----


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
  """The dev score a run is selected by (see the module doc)."""
  dev = results["dev"]
  if select_on == "en":
    if benchmark.source_language not in dev:
      raise errors.UserError(f"{results['task']}: no {benchmark.source_language} "
                             "dev score to select on; use --select_on=average.")
    return language_score(dev[benchmark.source_language], benchmark)
  if select_on == "average":
    return statistics.fmean(language_score(s, benchmark)
                            for s in dev.values())
  raise errors.UserError(f"--select_on must be one of {', '.join(SELECT_ON)}, not "
                         f"{select_on!r}.")


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
  return best, {format_rate(r): m for r, m in means.items()}


def aggregate_task(runs: Sequence[Mapping], select_on: str,
                   benchmark: Benchmark) -> dict:
  """Selection and mean/std over seeds of the selected rate's test scores.

  Returns:
    {"learning_rate", "dev_scores" {rate: mean dev score}, "seeds",
     "languages": {lang: {metric or "score": {"mean", "std"}}},
     "average": {"mean", "std"} of the per-seed means over languages,
     "per_seed_scores": {seed: {lang: score}}}.
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
          "per_seed_scores": per_seed_scores}


def xtreme_average(tasks: Mapping[str, Mapping]) -> Optional[dict]:
  """XTREME summary of the tasks present, with mean/std over seeds.

  The averages of seed s use seed s of every task, so their std is the
  spread of the benchmark average a single seed would give.

  Returns:
    {"avg", "avg_over_tasks", "groups": {group: ...}, "tasks": {task: ...},
    each {"mean", "std"}, "seeds"}; None without an XTREME task.
  """
  present = [t for t in tasks if t in XTREME_TASKS]
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
  out = {key: mean_std([s[key] for s in summaries])
         for key in ("avg", "avg_over_tasks")}
  for key in ("groups", "tasks"):
    out[key] = {name: mean_std([s[key][name] for s in summaries])
                for name in summaries[0][key]}
  out["seeds"] = [int(s) for s in seeds]
  return out


def benchmark_of(task: str) -> Benchmark:
  """BENCHMARKS[task], or defaults for a task run by other means."""
  return BENCHMARKS.get(task) or Benchmark(task, task, "", (), (0.0, 0), None)


def summarize(runs_by_task: Mapping[str, Sequence[Mapping]], select_on: str,
              protocol: Optional[str] = None) -> dict:
  """The summary.json content from the runs of each task."""
  tasks = {task: aggregate_task(runs, select_on, benchmark_of(task))
           for task, runs in runs_by_task.items()}
  return {"protocol": protocol, "select_on": select_on, "tasks": tasks,
          "xtreme": xtreme_average(tasks)}


def collect(output_dir: str) -> Dict[str, list]:
  """Every results.json under output_dir, by task (for report and reruns)."""
  gfile = _gfile()
  pattern = os.path.join(output_dir, "*", "lr=*", "seed=*", RESULTS_FILE)
  runs = {}
  for path in sorted(gfile.glob(pattern)):
    results = read_results(path)
    runs.setdefault(results["task"], []).append(results)
  return runs


# --------------------------------------------------------------- tables ----


def _cell(stats: Mapping[str, float]) -> str:
  return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


def _task_table(task: str, result: Mapping) -> list:
  """Markdown lines: one column per language, one row per metric."""
  languages = sorted(result["languages"])
  metric_names = list(result["languages"][languages[0]])
  lines = [f"## {task} (lr {format_rate(result['learning_rate'])}, seeds "
           f"{', '.join(map(str, result['seeds']))})", "",
           "| metric | " + " | ".join(languages) + " | avg |",
           "|---" * (len(languages) + 2) + "|"]
  for metric in metric_names:
    cells = [_cell(result["languages"][l][metric]) for l in languages]
    average = (_cell(result["average"]) if metric == "score" else "")
    lines.append(f"| {metric} | " + " | ".join(cells) + f" | {average} |")
  dev = ", ".join(f"{r}: {s:.1f}" for r, s in result["dev_scores"].items())
  lines += ["", f"Dev score by learning rate: {dev}.", ""]
  return lines


_SELECTION_TEXT = {"en": "the English (training-language) dev score",
                   "average": "the dev score averaged over languages"}


def markdown_table(summary: Mapping) -> str:
  """results.md: overview, XTREME average, then one table per task."""
  lines = ["# Zero-shot cross-lingual results", "",
           f"Protocol: {summary.get('protocol') or '?'}; learning rate "
           f"selected on {_SELECTION_TEXT[summary['select_on']]}, averaged "
           "over seeds; cells are mean ± sample standard deviation over "
           "seeds. Score: (EM + F1) / 2 for QA, else the task's metric.", "",
           "| task | learning rate | score |", "|---|---|---|"]
  for task, result in summary["tasks"].items():
    lines.append(f"| {task} | {format_rate(result['learning_rate'])} | "
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
    rate, seeds = format_rate(result["learning_rate"]), len(result["seeds"])
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


CSV_HEADER = ["task", "language", "metric", "mean", "std", "num_seeds",
              "learning_rate"]


def write_tables(summary: Mapping, output_dir: str) -> Dict[str, str]:
  """Writes results.md, results.csv and summary.json; returns their paths."""
  gfile = _gfile()
  buffer = io.StringIO()
  writer = csv.writer(buffer)
  writer.writerow(CSV_HEADER)
  writer.writerows(csv_rows(summary))
  paths = {name: os.path.join(output_dir, name)
           for name in ("results.md", "results.csv", "summary.json")}
  gfile.makedirs(output_dir)
  for name, text in (("results.md", markdown_table(summary)),
                     ("results.csv", buffer.getvalue())):
    with gfile.GFile(paths[name], "w") as f:
      f.write(text)
  write_json(paths["summary.json"], summary)
  return paths


# ---------------------------------------------------------------- runner ----


def run_xtreme(output_dir: str, tasks: Sequence[str], finetune_fn: FinetuneFn,
               predict_fn: PredictFn, protocol: str = "xtreme",
               seeds: Sequence[int] = DEFAULT_SEEDS, select_on: str = "en",
               learning_rates: Optional[Sequence[float]] = None,
               settings: Optional[Mapping] = None) -> dict:
  """The whole protocol over `tasks`; writes runs and tables.

  Args:
    output_dir: <model_dir>/xtreme by default.
    tasks: benchmark names (BENCHMARKS).
    finetune_fn, predict_fn: see run_once.
    protocol: "xtreme" (Table 10 sweeps) or "rembert" (Table 15).
    seeds: fine-tuning seeds per learning rate.
    select_on: "en" or "average" (module doc).
    learning_rates: overrides the protocol's sweep for every task.
    settings: recorded in each results.json (with the protocol).
  Returns:
    the summary (also written as summary.json, results.md, results.csv).
  """
  if select_on not in SELECT_ON:
    raise errors.UserError(f"--select_on must be one of {', '.join(SELECT_ON)}.")
  if not seeds:
    raise errors.UserError("--seeds: give at least one seed.")
  runs = {}
  for name in tasks:
    benchmark = get_benchmark(name)
    rates = learning_rates or sweep_for(benchmark, protocol)[0]
    run_settings = {"protocol": protocol, **(settings or {})}
    runs[name] = sweep(benchmark, output_dir, rates, seeds, finetune_fn,
                       predict_fn, run_settings)
  summary = summarize(runs, select_on, protocol)
  write_tables(summary, output_dir)
  return summary


# ------------------------------------------------------- default backend ----


class TrainerBackend:
  """finetune_fn / predict_fn over trainer.train and trainer.predict.

  Every run binds its own gin parameters (trainer.*, learning_rate_schedule.*
  and, for QA, qa_windows.max_seq_length), so each fine-tuned model's
  operative_config.gin describes that run.
  """

  def __init__(self, output_dir, model_config, base_config, mesh_shape,
               layout, init_checkpoint, protocol="xtreme", batch_size=None,
               epochs=DEFAULT_EPOCHS, max_train_steps=None,
               warmup_fraction=0.1, max_seq_length=128,
               qa_max_seq_length=384):
    self.output_dir = output_dir
    self.model_config = model_config
    self.base_config = base_config
    self.mesh_shape, self.layout = mesh_shape, layout
    self.init_checkpoint = init_checkpoint
    self.protocol = protocol
    self.batch_size = batch_size
    self.epochs = epochs
    self.max_train_steps = max_train_steps
    self.warmup_fraction = warmup_fraction
    self.max_seq_length = max_seq_length
    self.qa_max_seq_length = qa_max_seq_length
    self._checkpoint_dirs = {}

  def settings(self):
    """What, besides the learning rate and seed, defines a run."""
    return {"batch_size": self.batch_size, "epochs": self.epochs,
            "max_train_steps": self.max_train_steps,
            "warmup_fraction": self.warmup_fraction,
            "max_seq_length": self.max_seq_length,
            "qa_max_seq_length": self.qa_max_seq_length,
            "init_checkpoint": self.init_checkpoint}

  def batch_size_for(self, benchmark):
    return self.batch_size or sweep_for(benchmark, self.protocol)[1]

  def train_steps(self, benchmark):
    """epochs * training examples / batch, capped by max_train_steps."""
    size = benchmark.train_examples
    if size is None:
      task = registry.get_task_or_mixture(benchmark.train_task)
      try:
        size = task.num_input_examples("train")
      except (KeyError, ValueError, AttributeError):
        size = None
    if not size:
      if self.max_train_steps:
        return self.max_train_steps
      raise errors.UserError(f"size of {benchmark.train_task} unknown; pass "
                             "--max_train_steps.")
    steps = math.ceil(self.epochs * size / self.batch_size_for(benchmark))
    return min(steps, self.max_train_steps or steps)

  def trainer_config(self, task_name, batch_size, seed, steps):
    """The TrainerConfig of a run on `task_name` (its head and classes)."""
    task = registry.get_task_or_mixture(task_name)
    head = evaluation.task_head(task)
    return dataclasses.replace(
        self.base_config, mixture_or_task_name=task_name, head=head,
        num_classes=evaluation.num_classes(task), split="train",
        batch_size=batch_size, seed=seed, train_steps=steps,
        sequence_length=(self.qa_max_seq_length if head == "span"
                         else self.max_seq_length),
        init_checkpoint=self.init_checkpoint, keep_checkpoint_max=1,
        save_checkpoints_steps=min(steps, 1000))

  def checkpoint_dir(self, benchmark, learning_rate, seed):
    # Keyed by the training task: XQuAD and MLQA share SQuAD models.
    return os.path.join(self.output_dir, "checkpoints", benchmark.train_task,
                        f"lr={format_rate(learning_rate)}", f"seed={seed}")

  def finetune(self, task, learning_rate, seed, directory):
    """finetune_fn: trains (or resumes) the run's model."""
    from rembert_mtf.training import trainer  # pylint: disable=g-import-not-at-top
    benchmark = get_benchmark(task)
    steps = self.train_steps(benchmark)
    config = self.trainer_config(benchmark.train_task,
                                 self.batch_size_for(benchmark), seed, steps)
    bind_run(config, learning_rate, int(self.warmup_fraction * steps))
    checkpoints = self.checkpoint_dir(benchmark, learning_rate, seed)
    self._checkpoint_dirs[directory] = (checkpoints, config)
    trainer.train(checkpoints, self.model_config, config, self.mesh_shape,
                  self.layout)

  def predict(self, directory, task_name, split):
    """predict_fn: trainer.predict dicts of the run's model on a task."""
    from rembert_mtf.training import trainer  # pylint: disable=g-import-not-at-top
    if directory not in self._checkpoint_dirs:
      raise errors.UserError(f"{directory}: predict before finetune (the runner "
                             "always fine-tunes, or resumes, first).")
    checkpoints, config = self._checkpoint_dirs[directory]
    config = dataclasses.replace(
        config, mixture_or_task_name=task_name,
        head=evaluation.task_head(registry.get_task_or_mixture(task_name)))
    return trainer.predict(checkpoints, self.model_config, config,
                           self.mesh_shape, self.layout, task_name, split)


def bind_run(config, learning_rate, warmup_steps):
  """Binds a run's trainer and schedule parameters in gin.

  The trainer reads TrainerConfig from its argument, but the learning-rate
  schedule is gin-configured, and binding everything makes the run's
  operative_config.gin say what it trained with.
  """
  import gin  # pylint: disable=g-import-not-at-top
  bindings = {f"trainer.{f.name}": getattr(config, f.name)
              for f in dataclasses.fields(config)}
  bindings.update({
      "learning_rate_schedule.peak_learning_rate": float(learning_rate),
      "learning_rate_schedule.warmup_steps": warmup_steps,
      "learning_rate_schedule.total_steps": config.train_steps,
      "learning_rate_schedule.final_learning_rate": 0.0,
  })
  if config.head == "span":
    # Windows must fit the sequences the model reads.
    bindings["qa_windows.max_seq_length"] = config.sequence_length
  with gin.unlock_config():
    for name, value in bindings.items():
      gin.bind_parameter(name, value)


# ------------------------------------------------------------------ CLI ----


def _floats(text):
  return tuple(float(v) for v in text.split(",") if v.strip())


def _ints(text):
  return tuple(int(v) for v in text.split(",") if v.strip())


def add_arguments(parser, command_name="xtreme"):
  """Flags of `rembert-mtf xtreme` (gin and mesh flags come from main.py)."""
  del command_name
  parser.add_argument("--model_dir", required=True,
                      help="pre-trained model (its latest checkpoint and "
                      "operative_config.gin)")
  parser.add_argument("--tasks", default=",".join(XTREME_TASKS),
                      help="comma-separated: " + ",".join(BENCHMARKS))
  parser.add_argument("--protocol", default="xtreme", choices=PROTOCOLS,
                      help="xtreme: Table 10 sweeps, batch 32; rembert: "
                      "Table 15 settings")
  parser.add_argument("--seeds", default="0,1,2",
                      help="fine-tuning seeds per learning rate")
  parser.add_argument("--select_on", default="en", choices=SELECT_ON,
                      help="dev score the learning rate is selected on")
  parser.add_argument("--learning_rates", default=None,
                      help="comma-separated; overrides the protocol's sweep")
  parser.add_argument("--batch_size", type=int, default=None,
                      help="overrides the protocol's batch size")
  parser.add_argument("--epochs", type=float, default=DEFAULT_EPOCHS)
  parser.add_argument("--max_train_steps", type=int, default=None,
                      help="cap on fine-tuning steps (small runs)")
  parser.add_argument("--warmup_fraction", type=float, default=0.1)
  parser.add_argument("--max_seq_length", type=int, default=128,
                      help="classification and tagging sequence length")
  parser.add_argument("--qa_max_seq_length", type=int, default=384)
  parser.add_argument("--output_dir", default=None,
                      help="default <model_dir>/xtreme")
  parser.add_argument("--num_devices", type=int, default=None,
                      help="virtual CPU devices (default trainer.num_devices)")
  parser.set_defaults(tpu=None)


def _backend(args, output_dir):
  """The TrainerBackend for the pre-trained model in args.model_dir."""
  from rembert_mtf import compat  # pylint: disable=g-import-not-at-top
  from rembert_mtf.training import trainer  # pylint: disable=g-import-not-at-top
  init_checkpoint = compat.tf.train.latest_checkpoint(args.model_dir)
  if not init_checkpoint:
    raise errors.MissingFileError(f"no checkpoint in --model_dir={args.model_dir} "
                                  "to fine-tune from.")
  model_config, base_config, shape, layout = trainer.load_run_config(args)
  return TrainerBackend(
      output_dir, model_config, base_config, shape, layout, init_checkpoint,
      protocol=args.protocol, batch_size=args.batch_size, epochs=args.epochs,
      max_train_steps=args.max_train_steps,
      warmup_fraction=args.warmup_fraction,
      max_seq_length=args.max_seq_length,
      qa_max_seq_length=args.qa_max_seq_length)


def main(args):
  """`rembert-mtf xtreme`: runs the protocol, prints the Markdown table."""
  tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
  for task in tasks:
    get_benchmark(task)
  if not re.fullmatch(r"[\d,\s]+", args.seeds or ""):
    raise errors.UserError(f"--seeds must be comma-separated integers, not "
                           f"{args.seeds!r}.")
  output_dir = args.output_dir or os.path.join(args.model_dir, "xtreme")
  backend = _backend(args, output_dir)
  summary = run_xtreme(
      output_dir, tasks, backend.finetune, backend.predict,
      protocol=args.protocol, seeds=_ints(args.seeds),
      select_on=args.select_on,
      learning_rates=_floats(args.learning_rates or ""),
      settings=backend.settings())
  print(markdown_table(summary))
  print(f"\nwrote {os.path.join(output_dir, 'results.md')}, results.csv and "
        "summary.json")
