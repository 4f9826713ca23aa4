"""The real finetune_fn / predict_fn: training.loop over derived Runs.

The pre-trained model's Run (from its operative config and the flags) is
the base; each fine-tuning run is `run.replace(...)` of it: the training
task and its head, the protocol's batch size, the seed, the number of
steps, the sequence length (QA's is longer: the qa_windows preprocessor
cuts windows of the `input_ids` length seqio passes it) and a linear
schedule peaking at the run's learning rate. Global gin is never rebound,
so runs do not leak into each other, and each fine-tuned model's
operative_config.gin is its own Run's bindings.

Checkpoint selection (`select_checkpoint`):
  best_dev  (default) every `eval_every_steps` steps and at the end, the
            trainer scores the latest checkpoint on the benchmark's
            source-language dev set (Benchmark.dev_task, metric
            Benchmark.selection_metric) and evaluation.best.keep_if_best
            copies it to <checkpoints>/best/ when it beats best.json; all
            predictions then use that copy. This is XTREME's rule for
            classification and tagging (run_classify.py / run_tag.py with
            --save_only_best_checkpoint score the training language's dev
            set every --save_steps and keep only the best); in every
            setting the dev set is the source language's, so no target-
            language label picks a checkpoint. TyDiQA-GoldP has no dev set
            apart from its test set and keeps its last checkpoint.
  last      the final checkpoint, as XTREME's QA script (train_qa.sh:
            --save_steps -1) and this runner before selection existed.
`eval_every_steps` None: every ceil(steps / DEFAULT_EVALS_PER_RUN) steps
(five evaluations, the last at the final step).
"""

import math
import os

from absl import logging

from rembert_mtf import errors
from rembert_mtf.data import registry
from rembert_mtf.evaluation import scoring
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import files
from rembert_mtf.training import config as config_lib

BEST_DIR = "best"  # evaluation.best.BEST_DIR (that module imports TF)
BEST_RECORD = "best.json"  # evaluation.best.RECORD


class TrainerBackend:
  """finetune_fn / predict_fn over training.loop.train and loop.predict."""

  def __init__(self, output_dir, run, init_checkpoint, protocol="xtreme",
               batch_size=None, epochs=benchmarks.DEFAULT_EPOCHS,
               max_train_steps=None,
               warmup_fraction=benchmarks.DEFAULT_WARMUP_FRACTION,
               max_seq_length=benchmarks.DEFAULT_MAX_SEQ_LENGTH,
               qa_max_seq_length=benchmarks.DEFAULT_QA_MAX_SEQ_LENGTH,
               select_checkpoint="best_dev", eval_every_steps=None):
    """Fine-tunes copies of `run` from `init_checkpoint`.

    Args:
      output_dir: the protocol's folder; checkpoints go to its checkpoints/.
      run: the pre-trained model's config.Run (model, optimizer, mesh,
        num_devices, logging); fine-tuning fields are replaced per run.
      init_checkpoint: the pre-trained checkpoint every run starts from.
      protocol: "xtreme" or "rembert" (its batch size per benchmark).
      batch_size: overrides the protocol's batch size.
      epochs: passes over the training set.
      max_train_steps: cap on the steps of every run (None: no cap).
      warmup_fraction: share of the steps of linear warm-up.
      max_seq_length, qa_max_seq_length: sequence lengths of
        classification/tagging and of QA runs.
      select_checkpoint: "best_dev" or "last" (see the module docstring).
      eval_every_steps: steps between dev evaluations with best_dev (None:
        a fifth of each run).
    """
    if select_checkpoint not in benchmarks.SELECT_CHECKPOINT:
      raise ValueError(f"select_checkpoint must be one of "
                       f"{', '.join(benchmarks.SELECT_CHECKPOINT)}, not "
                       f"{select_checkpoint!r}.")
    self.output_dir = output_dir
    self.run = run
    self.init_checkpoint = init_checkpoint
    self.protocol = protocol
    self.batch_size = batch_size
    self.epochs = epochs
    self.max_train_steps = max_train_steps
    self.warmup_fraction = warmup_fraction
    self.max_seq_length = max_seq_length
    self.qa_max_seq_length = qa_max_seq_length
    self.select_checkpoint = select_checkpoint
    self.eval_every_steps = eval_every_steps
    # model_dir -> (checkpoint folder, fine-tuning Run, checkpoint to use)
    self._runs = {}

  def settings(self):
    """What, besides the learning rate and seed, defines a run."""
    return {"batch_size": self.batch_size, "epochs": self.epochs,
            "max_train_steps": self.max_train_steps,
            "warmup_fraction": self.warmup_fraction,
            "max_seq_length": self.max_seq_length,
            "qa_max_seq_length": self.qa_max_seq_length,
            "init_checkpoint": self.init_checkpoint,
            "select_checkpoint": self.select_checkpoint,
            "eval_every_steps": self.eval_every_steps}

  def batch_size_for(self, benchmark):
    return self.batch_size or benchmarks.sweep_for(benchmark,
                                                   self.protocol)[1]

  def train_examples(self, benchmark, train_task=None):
    """Training examples of a benchmark's training task or mixture.

    The English set's size (Benchmark.train_examples) times the number of
    training tasks `train_task` reads: a translated training set is the
    English one machine-translated example by example (tfds xtreme_xnli
    has 392,570 of MultiNLI's 392,702), and translate-train-all reads
    English and every translation. None: unknown.
    """
    train_task = train_task or benchmark.train_task
    size = benchmark.train_examples
    if size is None:
      task = registry.get_task_or_mixture(train_task)
      try:
        return task.num_input_examples("train")
      except (KeyError, ValueError, AttributeError):
        return None
    if train_task == benchmark.train_task:
      return size
    provider = registry.get_task_or_mixture(train_task)
    readers = [t for t in registry.tasks_of(provider) if "train" in t.splits]
    return size * len(readers)

  def train_steps(self, benchmark, train_task=None):
    """epochs * training examples / batch, capped by max_train_steps."""
    size = self.train_examples(benchmark, train_task)
    if not size:
      if self.max_train_steps:
        return self.max_train_steps
      raise errors.UserError(
          f"size of {train_task or benchmark.train_task} unknown; pass "
          "--max_train_steps.")
    steps = math.ceil(self.epochs * size / self.batch_size_for(benchmark))
    return min(steps, self.max_train_steps or steps)

  def eval_every(self, steps):
    """Steps between dev evaluations of a run of `steps` steps."""
    return self.eval_every_steps or max(
        1, math.ceil(steps / benchmarks.DEFAULT_EVALS_PER_RUN))

  def selects_best(self, benchmark):
    """Whether runs of `benchmark` keep their best-dev checkpoint."""
    return self.select_checkpoint == "best_dev" and bool(benchmark.dev_task)

  def finetuning_run(self, task_name, learning_rate, batch_size, seed,
                     steps, benchmark=None):
    """The Run that fine-tunes on `task_name` (its head and classes).

    Args:
      task_name: the seqio training task or mixture.
      learning_rate: the schedule's peak.
      batch_size, seed, steps: the trainer's.
      benchmark: with best_dev selection, whose dev task the trainer
        scores every eval_every(steps) steps (None: no evaluation).
    Returns:
      a config.Run derived from the base run; nothing global changes.
    """
    task = registry.get_task_or_mixture(task_name)
    head = scoring.task_head(registry.tasks_of(task)[0])
    length = (self.qa_max_seq_length if head == "span"
              else self.max_seq_length)
    if benchmark is not None and self.selects_best(benchmark):
      evaluation = dict(eval_mixture_name=benchmark.dev_task,
                        eval_split="validation",
                        eval_every_steps=self.eval_every(steps),
                        best_metric=benchmark.selection_metric)
    else:
      # No selection: evaluating (say) the pre-training mixture during
      # fine-tuning would only cost time.
      evaluation = dict(eval_mixture_name=None, eval_every_steps=0)
    return self.run.replace(
        mixture_or_task_name=task_name, head=head,
        num_classes=scoring.num_classes(registry.tasks_of(task)[0]),
        split="train", batch_size=batch_size, seed=seed, train_steps=steps,
        sequence_length=length,
        # No task head reads masked positions, but validation checks the
        # pre-training count against the (maybe shorter) length.
        mlm_predictions=min(self.run.trainer.mlm_predictions or length,
                            length),
        init_checkpoint=self.init_checkpoint, keep_checkpoint_max=1,
        save_checkpoints_steps=min(steps, 1000), **evaluation,
        schedule=config_lib.ScheduleConfig(
            peak_learning_rate=float(learning_rate),
            warmup_steps=int(self.warmup_fraction * steps),
            total_steps=steps, final_learning_rate=0.0))

  def checkpoint_dir(self, benchmark, learning_rate, seed, train_task=None):
    # Keyed by the training task: XQuAD and MLQA share SQuAD models, and
    # each translate-train language has its own.
    return os.path.join(self.output_dir, "checkpoints",
                        train_task or benchmark.train_task,
                        f"lr={benchmarks.format_rate(learning_rate)}",
                        f"seed={seed}")

  def finetune(self, task, learning_rate, seed, directory, train_task=None):
    """finetune_fn: trains (or resumes) the run's model.

    Returns:
      the record of the checkpoint predictions will use: {"rule":
      "best_dev", "selected_on", "metric", "score", "step", "path"} or
      {"rule": "last", "step", "path"} (with "reason" when best_dev was
      asked for but the benchmark has no dev set to select on).
    """
    # pylint: disable=g-import-not-at-top
    from rembert_mtf.evaluation import best
    from rembert_mtf.training import loop
    from rembert_mtf.training import model_dir as model_dir_lib
    # pylint: enable=g-import-not-at-top
    benchmark = benchmarks.get_benchmark(task)
    train_task = train_task or benchmark.train_task
    steps = self.train_steps(benchmark, train_task)
    run = self.finetuning_run(train_task, learning_rate,
                              self.batch_size_for(benchmark), seed, steps,
                              benchmark)
    checkpoints = self.checkpoint_dir(benchmark, learning_rate, seed,
                                      train_task)
    selects = self.selects_best(benchmark)
    loop.train(checkpoints, run, on_eval=best.keep_if_best if selects else None)
    if selects:
      record_path = os.path.join(checkpoints, BEST_DIR, BEST_RECORD)
      kept = files.read_results(record_path)
      if kept is None:
        raise errors.MissingFileError(
            f"no {record_path}: {checkpoints} finished training without "
            "--select_checkpoint=best_dev; delete it or pass another "
            "--output_dir.")
      path = os.path.join(checkpoints, BEST_DIR, kept["checkpoint"])
      record = {"rule": "best_dev", "selected_on": benchmark.dev_task,
                "metric": kept["metric"], "score": kept["score"],
                "step": kept["step"], "path": path}
    else:
      path = loop.checkpoint_path(checkpoints)
      record = {"rule": "last",
                "step": model_dir_lib.checkpoint_step(checkpoints),
                "path": path}
      if self.select_checkpoint == "best_dev":
        record["reason"] = (f"{benchmark.name} has no dev set apart from "
                            "its test set")
        logging.info("%s: last checkpoint kept (%s)", task, record["reason"])
    self._runs[directory] = (checkpoints, run, path)
    return record

  def predict(self, directory, task_name, split):
    """predict_fn: prediction dicts of the run's model on a task."""
    from rembert_mtf.training import loop  # pylint: disable=g-import-not-at-top
    if directory not in self._runs:
      # runner.run_once always fine-tunes (or resumes) first.
      raise ValueError(f"{directory}: predict before finetune.")
    checkpoints, run, path = self._runs[directory]
    run = run.replace(
        mixture_or_task_name=task_name,
        head=scoring.task_head(registry.get_task_or_mixture(task_name)))
    return loop.predict(checkpoints, run, task_name, split,
                        checkpoint_path=path)
