"""Keeping the best checkpoint: score the latest one, copy it if it is best.

`keep_if_best` is what the trainer calls every trainer.eval_every_steps
(`training.loop.train(..., on_eval=keep_if_best)`): it scores the eval tasks
of trainer.eval_mixture_name through their own metrics and, when the mean of
trainer.best_metric over the languages beats model_dir/best/best.json, copies
the checkpoint there.
"""

import json
import os

from absl import logging
import numpy as np

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.evaluation import scoring
from rembert_mtf.training import loop
from rembert_mtf.training import model_dir as model_dir_lib

tf = compat.tf

BEST_DIR = "best"
RECORD = "best.json"


def keep_if_best(model_dir, run, cluster=None):
  """Scores the latest checkpoint; copies it to model_dir/best if best so far.

  Args:
    model_dir: the training run's folder.
    run: training.config.Run (its trainer.eval_* fields say what to score).
    cluster: a training.cluster.Cluster, or None.
  Returns:
    the mean of trainer.best_metric over the eval languages.
  """
  trainer = run.trainer
  latest = tf.train.latest_checkpoint(model_dir)
  scores = scoring.evaluate_mixture(
      trainer.eval_mixture_name,
      lambda task, split: loop.predict(model_dir, run, task, split, latest,
                                       cluster),
      trainer.eval_split)
  metric = trainer.best_metric
  values = [v[metric] for v in scores.values() if metric in v]
  if not values:
    raise errors.UserError(
        f"no eval task reports trainer.best_metric = {metric!r}; they "
        f"report {sorted(next(iter(scores.values())))}.")
  score = float(np.mean(values))
  best_dir = os.path.join(model_dir, BEST_DIR)
  record = os.path.join(best_dir, RECORD)
  previous = (json.load(tf.io.gfile.GFile(record))
              if tf.io.gfile.exists(record) else None)
  step = model_dir_lib.checkpoint_step(model_dir)
  # The run's own progress output, beside its step lines.
  print(f"eval at step {step}: mean {metric} {score:.2f} over "
        f"{len(values)} languages", flush=True)
  if previous is None or score > previous["score"]:
    _replace_folder(best_dir, tf.io.gfile.glob(latest + ".*"), {
        "step": step, "metric": metric, "score": score,
        "checkpoint": os.path.basename(latest), "scores": scores})
    logging.info("new best %s %.4f at step %d: %s", metric, score, step,
                 best_dir)
  return score


def _replace_folder(folder, files, record):
  """folder := a copy of files plus RECORD, swapped in whole at the end."""
  tmp = folder + ".tmp"
  if tf.io.gfile.exists(tmp):
    tf.io.gfile.rmtree(tmp)
  tf.io.gfile.makedirs(tmp)
  for path in files:
    tf.io.gfile.copy(path, os.path.join(tmp, os.path.basename(path)))
  with tf.io.gfile.GFile(os.path.join(tmp, RECORD), "w") as f:
    json.dump(record, f, indent=2)
  if tf.io.gfile.exists(folder):
    tf.io.gfile.rmtree(folder)
  tf.io.gfile.rename(tmp, folder)
