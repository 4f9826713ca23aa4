"""The runner: every (learning rate, seed) run of each task, resumable.

A run fine-tunes (`finetune_fn`), scores its dev and test splits on every
language (`predict_fn` through evaluation.scoring) and writes its
results.json; a run whose results.json exists is not run again, so an
interrupted sweep resumes where it stopped. `run_xtreme` then selects,
aggregates (selection.summarize) and writes the tables (tables.py).

What a run trains depends on the setting (benchmarks.SETTINGS):
  zero-shot, translate-train-all  one model (English, or English and every
      translation), scored on every language, in <run>/;
  translate-train  one model per language L, trained on L's translated
      training set (the source language on its own) and scored on L only,
      each in <run>/lang=<L>/ with its own results.json, so an interrupted
      run resumes at the language it stopped at. Each language's model is
      also scored on the source-language dev set ("source_dev"), which
      --select_on=en selects by.

The two callables are the runner's only contact with a model:
  finetune_fn(task, learning_rate, seed, model_dir, train_task) -> record
      trains (or resumes) the model of folder `model_dir` on the seqio
      task or mixture `train_task`; returns a JSON-able record of the
      checkpoint its predictions use (stored as results["checkpoint"]), or
      None;
  predict_fn(model_dir, task_name, split) -> prediction dicts
so tests drive it with fakes; backend.TrainerBackend is the real pair.
"""

import functools
import os
from typing import Callable, Mapping, Optional, Sequence

from absl import logging

from rembert_mtf import errors
from rembert_mtf.data import registry
from rembert_mtf.evaluation import scoring
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import files
from rembert_mtf.evaluation.xtreme import selection
from rembert_mtf.evaluation.xtreme import tables

FinetuneFn = Callable[[str, float, int, str, str], Optional[Mapping]]
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


def _score_task(task: str, predict, split: str, out_dir: str):
  path = os.path.join(out_dir, f"{task}.{split}.json")
  return scoring.evaluate_task(task, predict(task, split), split,
                               output_path=path)


def _finished(path: str, settings: Mapping) -> Optional[dict]:
  """A results.json written with `settings`, None if there is none.

  Raises:
    errors.UserError: it was written with other settings (never reused).
  """
  done = files.read_results(path)
  if done is not None and done.get("settings", {}) != settings:
    raise errors.UserError(
        f"{path} was written with settings {done.get('settings')}, not "
        f"{settings}; pass another --output_dir or delete it.")
  return done


def _one_model(benchmark, learning_rate, seed, directory, finetune_fn,
               predict_fn, settings, setting):
  """A run of one model scored on every language (zero-shot, -all)."""
  train_task = benchmark.train_task_for(setting)
  record = finetune_fn(benchmark.name, learning_rate, seed, directory,
                       train_task)
  predict = functools.partial(predict_fn, directory)
  out_dir = os.path.join(directory, "predictions")
  dev = score_split(benchmark, predict, "validation", out_dir)
  # TyDiQA's test set is its dev set: score it once.
  test = (dev if benchmark.test_split == "validation" else
          score_split(benchmark, predict, benchmark.test_split, out_dir))
  return {"task": benchmark.name, "learning_rate": learning_rate,
          "seed": seed, "train_task": train_task, "dev": dev, "test": test,
          "checkpoint": record, "settings": settings}


def language_tasks(benchmark: benchmarks.Benchmark) -> dict:
  """{language: evaluation task} of a benchmark's test split."""
  return {scoring.task_language(name): name
          for name in scoring.eval_task_names(benchmark.mixture,
                                              benchmark.test_split)}


def source_dev_task(benchmark: benchmarks.Benchmark) -> str:
  """The task whose validation split is the source-language dev set."""
  if benchmark.dev_task:
    return benchmark.dev_task
  return language_tasks(benchmark)[benchmark.source_language]


def _model_per_language(benchmark, learning_rate, seed, directory,
                        finetune_fn, predict_fn, settings):
  """A translate-train run: one model per language, each scored on its own.

  Returns:
    the run's results: "dev", "test" and "source_dev" keyed by language
    (each language's own model), "train_tasks" and "checkpoint" likewise.
  """
  source_task = source_dev_task(benchmark)
  merged = {"dev": {}, "test": {}, "source_dev": {}, "train_tasks": {},
            "checkpoint": {}}
  for language, eval_task in sorted(language_tasks(benchmark).items()):
    model_dir = os.path.join(directory, f"lang={language}")
    path = os.path.join(model_dir, files.RESULTS_FILE)
    done = _finished(path, settings)
    if done is None:
      train_task = benchmark.train_task_for(benchmarks.TRANSLATE_TRAIN,
                                            language)
      logging.info("%s translate-train %s: %s", benchmark.name, language,
                   train_task)
      record = finetune_fn(benchmark.name, learning_rate, seed, model_dir,
                           train_task)
      predict = functools.partial(predict_fn, model_dir)
      out_dir = os.path.join(model_dir, "predictions")
      splits = registry.get_task_or_mixture(eval_task).splits
      dev = (_score_task(eval_task, predict, "validation", out_dir)
             if "validation" in splits else None)
      test = (dev if benchmark.test_split == "validation" else
              _score_task(eval_task, predict, benchmark.test_split, out_dir))
      source = (dev if source_task == eval_task else
                _score_task(source_task, predict, "validation", out_dir))
      done = {"language": language, "train_task": train_task, "dev": dev,
              "test": test, "source_dev": source, "checkpoint": record,
              "settings": settings}
      files.write_json(path, done)
    if done["dev"] is not None:
      merged["dev"][language] = done["dev"]
    merged["test"][language] = done["test"]
    merged["source_dev"][language] = done["source_dev"]
    merged["train_tasks"][language] = done["train_task"]
    merged["checkpoint"][language] = done["checkpoint"]
  return {"task": benchmark.name, "learning_rate": learning_rate,
          "seed": seed, **merged, "settings": settings}


def run_once(benchmark: benchmarks.Benchmark, learning_rate: float,
             seed: int, directory: str, finetune_fn: FinetuneFn,
             predict_fn: PredictFn, settings: Optional[Mapping] = None,
             setting: str = benchmarks.ZERO_SHOT) -> dict:
  """One fine-tuning run and its scores; skipped if already finished.

  Args:
    benchmark: what to fine-tune and evaluate.
    learning_rate, seed: this run's.
    directory: the run's folder (results.json goes there).
    finetune_fn: see the module docstring.
    predict_fn: (model_dir, task_name, split) -> prediction dicts.
    settings: what else defines the run (protocol, setting, batch size,
      ...); a finished run with other settings is an error, never silently
      reused.
    setting: one of benchmarks.SETTINGS.
  Returns:
    the results.json content.
  """
  settings = dict(settings or {})
  path = os.path.join(directory, files.RESULTS_FILE)
  done = _finished(path, settings)
  if done is not None:
    logging.info("%s: finished earlier, skipped", path)
    return done
  logging.info("%s (%s): lr %s, seed %d", benchmark.name, setting,
               benchmarks.format_rate(learning_rate), seed)
  if setting == benchmarks.TRANSLATE_TRAIN:
    results = _model_per_language(benchmark, learning_rate, seed, directory,
                                  finetune_fn, predict_fn, settings)
  else:
    results = _one_model(benchmark, learning_rate, seed, directory,
                         finetune_fn, predict_fn, settings, setting)
  files.write_json(path, results)
  return results


def sweep(benchmark: benchmarks.Benchmark, output_dir: str,
          learning_rates: Sequence[float], seeds: Sequence[int],
          finetune_fn: FinetuneFn, predict_fn: PredictFn,
          settings: Optional[Mapping] = None,
          setting: str = benchmarks.ZERO_SHOT):
  """Every (learning rate, seed) run of a benchmark, resuming finished ones.

  Returns:
    list of results dicts (run_once's), learning rate major.
  """
  return [run_once(benchmark, rate, seed,
                   files.run_dir(output_dir, benchmark.name, rate, seed),
                   finetune_fn, predict_fn, settings, setting)
          for rate in learning_rates for seed in seeds]


def _check_output_setting(output_dir: str, setting: str) -> None:
  """An output folder holds one setting's results only."""
  summary = files.read_results(os.path.join(output_dir, files.SUMMARY_FILE))
  if summary is None:
    return
  written = summary.get("setting", benchmarks.ZERO_SHOT)
  if written != setting:
    raise errors.UserError(
        f"{output_dir} holds {written} results; --setting={setting} writes "
        "to its own folder: pass another --output_dir (default "
        f"<model_dir>/{benchmarks.default_output_folder(setting)}).")


def run_xtreme(output_dir: str, tasks: Sequence[str], finetune_fn: FinetuneFn,
               predict_fn: PredictFn, protocol: str = "xtreme",
               seeds: Sequence[int] = benchmarks.DEFAULT_SEEDS,
               select_on: str = "en",
               learning_rates: Optional[Sequence[float]] = None,
               settings: Optional[Mapping] = None,
               setting: str = benchmarks.ZERO_SHOT) -> dict:
  """The whole protocol over `tasks`; writes runs and tables.

  Args:
    output_dir: <model_dir>/xtreme (zero-shot) or
      <model_dir>/xtreme-<setting> by default; one setting per folder.
    tasks: benchmark names (benchmarks.BENCHMARKS).
    finetune_fn, predict_fn: see the module docstring.
    protocol: "xtreme" (Table 10 sweeps) or "rembert" (Table 15).
    seeds: fine-tuning seeds per learning rate.
    select_on: "en" or "average" (selection.dev_score).
    learning_rates: overrides the protocol's sweep for every task.
    settings: recorded in each results.json (with the protocol and the
      setting).
    setting: zero-shot, translate-train or translate-train-all.
  Returns:
    the summary (also written as summary.json, results.md, results.csv).
  """
  if select_on not in benchmarks.SELECT_ON:
    raise ValueError(f"select_on must be one of "
                     f"{', '.join(benchmarks.SELECT_ON)}, not {select_on!r}.")
  if not seeds:
    raise ValueError("seeds: give at least one seed.")
  # Every name and the setting's data are checked before the first (long)
  # run starts, and so is the folder.
  chosen = [benchmarks.get_benchmark(name) for name in tasks]
  benchmarks.check_setting(setting, tasks)
  _check_output_setting(output_dir, setting)
  run_settings = {"protocol": protocol, "setting": setting,
                  **(settings or {})}
  runs = {}
  for benchmark in chosen:
    rates = learning_rates or benchmarks.sweep_for(benchmark, protocol)[0]
    runs[benchmark.name] = sweep(benchmark, output_dir, rates, seeds,
                                 finetune_fn, predict_fn, run_settings,
                                 setting)
  summary = selection.summarize(runs, select_on, protocol, setting)
  tables.write_tables(summary, output_dir)
  return summary
