"""The runner: every (learning rate, seed) run of each task, resumable.

A run fine-tunes (`finetune_fn`), scores its dev and test splits on every
language (`predict_fn` through evaluation.scoring) and writes its
results.json; a run whose results.json exists is not run again, so an
interrupted sweep resumes where it stopped. `run_xtreme` then selects,
aggregates (selection.summarize) and writes the tables (tables.py).

The two callables are the runner's only contact with a model:
  finetune_fn(task, learning_rate, seed, run_dir) -> None
  predict_fn(run_dir, task_name, split) -> prediction dicts
so tests drive it with fakes; backend.TrainerBackend is the real pair.
"""

import functools
import os
from typing import Callable, Mapping, Optional, Sequence

from absl import logging

from rembert_mtf import errors
from rembert_mtf.evaluation import scoring
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import files
from rembert_mtf.evaluation.xtreme import selection
from rembert_mtf.evaluation.xtreme import tables

FinetuneFn = Callable[[str, float, int, str], None]
PredictFn = Callable[[str, str, str], object]


def score_split(benchmark: benchmarks.Benchmark,
                predict: Callable[[str, str], object], split: str,
                out_dir: Optional[str] = None):
  """{language: {metric: value}} of one split over a benchmark's languages.

  Args:
    benchmark: the benchmark.
    predict: (task_name, split) -> prediction dicts.
    split: "validation" or "test".
    out_dir: where QA tasks write their answer JSON.
  """
  results = {}
  if scoring.eval_task_names(benchmark.mixture, split):
    results.update(scoring.evaluate_mixture(benchmark.mixture, predict,
                                            split, out_dir))
  if split == "validation":
    for language, task in benchmark.extra_dev_tasks.items():
      path = out_dir and os.path.join(out_dir, f"{task}.{split}.json")
      results[language] = scoring.evaluate_task(
          task, predict(task, split), split, output_path=path)
  return results


def run_once(benchmark: benchmarks.Benchmark, learning_rate: float,
             seed: int, directory: str, finetune_fn: FinetuneFn,
             predict_fn: PredictFn,
             settings: Optional[Mapping] = None) -> dict:
  """One fine-tuning run and its scores; skipped if already finished.

  Args:
    benchmark: what to fine-tune and evaluate.
    learning_rate, seed: this run's.
    directory: the run's folder (results.json goes there).
    finetune_fn: (task, learning_rate, seed, run_dir) -> None.
    predict_fn: (run_dir, task_name, split) -> prediction dicts.
    settings: what else defines the run (protocol, batch size, ...); a
      finished run with other settings is an error, never silently reused.
  Returns:
    the results.json content.
  """
  settings = dict(settings or {})
  path = os.path.join(directory, files.RESULTS_FILE)
  done = files.read_results(path)
  if done is not None:
    if done.get("settings", {}) != settings:
      raise errors.UserError(
          f"{path} was written with settings {done.get('settings')}, not "
          f"{settings}; pass another --output_dir or delete it.")
    logging.info("%s: finished earlier, skipped", path)
    return done
  logging.info("%s: lr %s, seed %d", benchmark.name,
               benchmarks.format_rate(learning_rate), seed)
  finetune_fn(benchmark.name, learning_rate, seed, directory)
  predict = functools.partial(predict_fn, directory)
  out_dir = os.path.join(directory, "predictions")
  dev = score_split(benchmark, predict, "validation", out_dir)
  # TyDiQA's test set is its dev set: score it once.
  test = (dev if benchmark.test_split == "validation" else
          score_split(benchmark, predict, benchmark.test_split, out_dir))
  results = {"task": benchmark.name, "learning_rate": learning_rate,
             "seed": seed, "dev": dev, "test": test, "settings": settings}
  files.write_json(path, results)
  return results


def sweep(benchmark: benchmarks.Benchmark, output_dir: str,
          learning_rates: Sequence[float], seeds: Sequence[int],
          finetune_fn: FinetuneFn, predict_fn: PredictFn,
          settings: Optional[Mapping] = None):
  """Every (learning rate, seed) run of a benchmark, resuming finished ones.

  Returns:
    list of results dicts (run_once's), learning rate major.
  """
  return [run_once(benchmark, rate, seed,
                   files.run_dir(output_dir, benchmark.name, rate, seed),
                   finetune_fn, predict_fn, settings)
          for rate in learning_rates for seed in seeds]


def run_xtreme(output_dir: str, tasks: Sequence[str], finetune_fn: FinetuneFn,
               predict_fn: PredictFn, protocol: str = "xtreme",
               seeds: Sequence[int] = benchmarks.DEFAULT_SEEDS,
               select_on: str = "en",
               learning_rates: Optional[Sequence[float]] = None,
               settings: Optional[Mapping] = None) -> dict:
  """The whole protocol over `tasks`; writes runs and tables.

  Args:
    output_dir: <model_dir>/xtreme by default.
    tasks: benchmark names (benchmarks.BENCHMARKS).
    finetune_fn, predict_fn: see run_once.
    protocol: "xtreme" (Table 10 sweeps) or "rembert" (Table 15).
    seeds: fine-tuning seeds per learning rate.
    select_on: "en" or "average" (selection.dev_score).
    learning_rates: overrides the protocol's sweep for every task.
    settings: recorded in each results.json (with the protocol).
  Returns:
    the summary (also written as summary.json, results.md, results.csv).
  """
  if select_on not in benchmarks.SELECT_ON:
    raise ValueError(f"select_on must be one of "
                     f"{', '.join(benchmarks.SELECT_ON)}, not {select_on!r}.")
  if not seeds:
    raise ValueError("seeds: give at least one seed.")
  # Every name is checked before the first (long) run starts.
  chosen = [benchmarks.get_benchmark(name) for name in tasks]
  run_settings = {"protocol": protocol, **(settings or {})}
  runs = {}
  for benchmark in chosen:
    rates = learning_rates or benchmarks.sweep_for(benchmark, protocol)[0]
    runs[benchmark.name] = sweep(benchmark, output_dir, rates, seeds,
                                 finetune_fn, predict_fn, run_settings)
  summary = selection.summarize(runs, select_on, protocol)
  tables.write_tables(summary, output_dir)
  return summary
