"""The real finetune_fn / predict_fn: training.loop over derived Runs.

The pre-trained model's Run (from its operative config and the flags) is
the base; each fine-tuning run is `run.replace(...)` of it: the training
task and its head, the protocol's batch size, the seed, the number of
steps, the sequence length (QA's is longer: the qa_windows preprocessor
cuts windows of the `input_ids` length seqio passes it) and a linear
schedule peaking at the run's learning rate. Global gin is never rebound,
so runs do not leak into each other, and each fine-tuned model's
operative_config.gin is its own Run's bindings.
"""

import math
import os

from rembert_mtf import errors
from rembert_mtf.data import registry
from rembert_mtf.evaluation import scoring
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.training import config as config_lib


class TrainerBackend:
  """finetune_fn / predict_fn over training.loop.train and loop.predict."""

  def __init__(self, output_dir, run, init_checkpoint, protocol="xtreme",
               batch_size=None, epochs=benchmarks.DEFAULT_EPOCHS,
               max_train_steps=None,
               warmup_fraction=benchmarks.DEFAULT_WARMUP_FRACTION,
               max_seq_length=benchmarks.DEFAULT_MAX_SEQ_LENGTH,
               qa_max_seq_length=benchmarks.DEFAULT_QA_MAX_SEQ_LENGTH):
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
    """
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
    self._runs = {}  # run_dir -> (checkpoint dir, fine-tuning Run)

  def settings(self):
    """What, besides the learning rate and seed, defines a run."""
    return {"batch_size": self.batch_size, "epochs": self.epochs,
            "max_train_steps": self.max_train_steps,
            "warmup_fraction": self.warmup_fraction,
            "max_seq_length": self.max_seq_length,
            "qa_max_seq_length": self.qa_max_seq_length,
            "init_checkpoint": self.init_checkpoint}

  def batch_size_for(self, benchmark):
    return self.batch_size or benchmarks.sweep_for(benchmark,
                                                   self.protocol)[1]

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

  def finetuning_run(self, task_name, learning_rate, batch_size, seed,
                     steps):
    """The Run that fine-tunes on `task_name` (its head and classes).

    Args:
      task_name: the seqio training task.
      learning_rate: the schedule's peak.
      batch_size, seed, steps: the trainer's.
    Returns:
      a config.Run derived from the base run; nothing global changes.
    """
    task = registry.get_task_or_mixture(task_name)
    head = scoring.task_head(task)
    length = (self.qa_max_seq_length if head == "span"
              else self.max_seq_length)
    return self.run.replace(
        mixture_or_task_name=task_name, head=head,
        num_classes=scoring.num_classes(task), split="train",
        batch_size=batch_size, seed=seed, train_steps=steps,
        sequence_length=length,
        # No task head reads masked positions, but validation checks the
        # pre-training count against the (maybe shorter) length.
        mlm_predictions=min(self.run.trainer.mlm_predictions or length,
                            length),
        # Selection is on dev after training; evaluating the pre-training
        # mixture during fine-tuning would only cost time.
        eval_every_steps=0,
        init_checkpoint=self.init_checkpoint, keep_checkpoint_max=1,
        save_checkpoints_steps=min(steps, 1000),
        schedule=config_lib.ScheduleConfig(
            peak_learning_rate=float(learning_rate),
            warmup_steps=int(self.warmup_fraction * steps),
            total_steps=steps, final_learning_rate=0.0))

  def checkpoint_dir(self, benchmark, learning_rate, seed):
    # Keyed by the training task: XQuAD and MLQA share SQuAD models.
    return os.path.join(self.output_dir, "checkpoints", benchmark.train_task,
                        f"lr={benchmarks.format_rate(learning_rate)}",
                        f"seed={seed}")

  def finetune(self, task, learning_rate, seed, directory):
    """finetune_fn: trains (or resumes) the run's model."""
    from rembert_mtf.training import loop  # pylint: disable=g-import-not-at-top
    benchmark = benchmarks.get_benchmark(task)
    run = self.finetuning_run(benchmark.train_task, learning_rate,
                              self.batch_size_for(benchmark), seed,
                              self.train_steps(benchmark))
    checkpoints = self.checkpoint_dir(benchmark, learning_rate, seed)
    self._runs[directory] = (checkpoints, run)
    loop.train(checkpoints, run)

  def predict(self, directory, task_name, split):
    """predict_fn: prediction dicts of the run's model on a task."""
    from rembert_mtf.training import loop  # pylint: disable=g-import-not-at-top
    if directory not in self._runs:
      # runner.run_once always fine-tunes (or resumes) first.
      raise ValueError(f"{directory}: predict before finetune.")
    checkpoints, run = self._runs[directory]
    run = run.replace(
        mixture_or_task_name=task_name,
        head=scoring.task_head(registry.get_task_or_mixture(task_name)))
    return loop.predict(checkpoints, run, task_name, split)
