"""Session hooks of a training run: checkpoints and the progress line.

Why our own instead of tf.estimator's: CheckpointSaverHook serialises the
whole graph into every checkpoint and event file, and a placement-mesh
graph is tens of MB of protobuf (minutes per save here); StepCounterHook
writes a TensorBoard scalar but no line a user reads. The NaN check is the
Estimator's own NanTensorHook; `non_finite_loss` turns what it raises into
one line naming the step and the last good checkpoint.

InputCheckpointHook saves the input pipeline's position (the tf.data
iterator's state: shuffle buffers, the mixture's sampler, the packer's
pending document, the seeds) beside each model checkpoint, so a resumed
run continues the data stream where it stopped instead of re-reading it.
"""

import json
import os
import time

import numpy as np

from absl import logging
# Private, but the only way into an Estimator's iterator: its input_fn's
# iterator is registered in this collection only as a resource, and
# tf.data.experimental.CheckpointInputPipelineHook (which uses the same
# saveable) saves on the RunConfig's schedule, which our runs leave unset.
from tensorflow.python.data.ops import iterator_ops  # pylint: disable=g-direct-tensorflow-import

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.training import model_dir as model_dir_lib

tf = compat.tf

INPUT_CHECKPOINT_PREFIX = "input.ckpt"
# Not "checkpoint": that file lists the model's checkpoints.
INPUT_CHECKPOINT_STATE = "checkpoint_input"


class NonFiniteLossError(errors.UserError):
  """The loss became NaN or Inf; the last good checkpoint was kept."""


# The step being run, for errors raised by other hooks (the Estimator's own
# NanTensorHook) in the same session.run.
RUN_STATE = {"step": None}


def non_finite_loss(model_dir, loss):
  last = tf.train.latest_checkpoint(model_dir) or "none"
  return NonFiniteLossError(
      f"loss is {loss} at step {RUN_STATE['step']}; training stopped, the "
      f"last good checkpoint is {last} (lower "
      "`learning_rate_schedule.peak_learning_rate` or check the data).")


class MeshCheckpointHook(tf.train.SessionRunHook):
  """Saves the master variables every N steps and at the end.

  Checkpoints hold what a restore needs: variables by name, optimizer slots
  and global_step; no graph (see the module docstring).
  """

  def __init__(self, saver, lowering, model_dir, every_steps):
    self._saver = saver
    self._copy_to_masters = lowering.copy_slices_to_masters()
    self._path = os.path.join(model_dir, model_dir_lib.CHECKPOINT_PREFIX)
    self._every = every_steps
    self._last_saved = None

  def after_create_session(self, session, coord):
    # Counted here, not fetched per step: a fetch of global_step races with
    # the increment in the same session.run.
    self._step = int(session.run(tf.train.get_global_step()))

  def after_run(self, run_context, run_values):
    self._step += 1
    if self._step % self._every == 0:
      self._save(run_context.session, self._step)

  def end(self, session):
    self._save(session, self._step)

  def _save(self, session, step):
    if step == self._last_saved:
      return
    session.run(self._copy_to_masters)
    self._saver.save(session, self._path, global_step=step,
                     write_meta_graph=False)
    self._last_saved = step


# The fetched tensor holding a batch's non-pad token count (ProgressHook).
REAL_TOKENS = "real_tokens"


class ProgressHook(tf.train.SessionRunHook):
  """Logs step, loss, examples/s, real tokens/s, learning rate and ETA;
  stops on NaN/Inf.

  Every `trainer.log_every_steps` steps it prints one line and writes the
  same figures as TensorBoard scalars (loss, mlm_accuracy, learning_rate,
  gradient_norm, examples_per_second, real_tokens_per_second: the non-pad
  tokens of every step since the last line, from tensors[REAL_TOKENS]). The NaN/Inf check runs after every
  step, before anything is saved, so the last checkpoint on disk is the
  last good one. (The Estimator's NanTensorHook checks too, but raises
  without the step.)
  """

  def __init__(self, tensors, trainer_config, model_dir):
    self._tensors = tensors
    self._config = trainer_config
    self._model_dir = model_dir
    self._last_time = None
    self._last_step = None
    self._writer = None

  def begin(self):
    # No graph in the event file: see the module docstring.
    self._writer = tf.summary.FileWriter(self._model_dir)

  def after_create_session(self, session, coord):
    self._step = int(session.run(tf.train.get_global_step()))

  def before_run(self, run_context):
    self._step += 1
    RUN_STATE["step"] = self._step
    return tf.train.SessionRunArgs(self._tensors)

  def after_run(self, run_context, run_values):
    values = dict(run_values.results)
    step = self._step
    if not np.isfinite(values["loss"]):
      raise non_finite_loss(self._model_dir, values["loss"])
    now = time.time()
    # Non-pad tokens, counted every step: packing makes examples/s say
    # little about how much text a run reads.
    tokens = float(values.pop(REAL_TOKENS, 0.0))
    if self._last_time is None:  # the first step includes start-up
      self._last_time, self._last_step, self._tokens = now, step, 0.0
      return
    self._tokens += tokens
    if step % self._config.log_every_steps and step != self._config.train_steps:
      return
    seconds = max(now - self._last_time, 1e-9)
    rate = (step - self._last_step) * self._config.batch_size / seconds
    token_rate = self._tokens / seconds
    self._last_time, self._last_step, self._tokens = now, step, 0.0
    self._log(step, values, rate, token_rate)

  def _log(self, step, values, rate, token_rate):
    eta = (self._config.train_steps - step) * self._config.batch_size / max(
        rate, 1e-9)
    extras = "  ".join(f"{k} {float(v):.4g}" for k, v in values.items()
                       if k not in ("loss", "learning_rate"))
    # The progress line is the run's own output (the CLI's, not a log).
    print(f"step {step}/{self._config.train_steps}  loss "
          f"{float(values['loss']):.4f}  {extras}  lr "
          f"{float(values['learning_rate']):.3g}  {rate:.1f} examples/s  "
          f"{token_rate:,.0f} real tokens/s  ETA {duration(eta)}", flush=True)
    scalars = {**values, "examples_per_second": rate,
               "real_tokens_per_second": token_rate}
    self._writer.add_summary(tf.Summary(value=[
        tf.Summary.Value(tag=k, simple_value=float(v))
        for k, v in scalars.items()]), step)

  def end(self, session):
    self._writer.close()


def duration(seconds):
  """'1h05m' or '3m07s'."""
  seconds = int(seconds)
  return (f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600
          else f"{seconds // 60}m{seconds % 60:02d}s")


def input_signature(trainer_config):
  """What the input pipeline is built from: a position saved for another
  pipeline cannot be restored into this one (tf.data refuses), nor mean
  the same place in the data."""
  return {k: getattr(trainer_config, k) for k in (
      "mixture_or_task_name", "split", "batch_size", "sequence_length",
      "mlm_predictions", "seed", "cache_dir")}


def input_checkpoint(model_dir, step, signature):
  """The input position saved at `step` for the pipeline `signature`.

  Returns:
    (path, batches the saving pipeline skipped, None), or (None, 0, why
    there is none to restore).
  """
  path = os.path.join(model_dir, f"{INPUT_CHECKPOINT_PREFIX}-{step}")
  sidecar = path + ".json"
  if not (tf.io.gfile.exists(path + ".index") and
          tf.io.gfile.exists(sidecar)):
    return None, 0, "no input position saved with the checkpoint"
  with tf.io.gfile.GFile(sidecar) as f:
    record = json.load(f)
  if record.get("input") != signature:
    changed = sorted(k for k in signature
                     if (record.get("input") or {}).get(k) != signature[k])
    return None, 0, (f"the input changed since the checkpoint "
                     f"({', '.join('trainer.' + k for k in changed)})")
  return path, int(record["skipped"]), None


class InputCheckpointHook(tf.train.SessionRunHook):
  """Saves the input iterator's state with every model checkpoint.

  Saved at the steps MeshCheckpointHook saves (every `every_steps` and at
  the end) as model_dir/input.ckpt-<step>, with input.ckpt-<step>.json
  recording how many batches the pipeline skipped when it was built: a
  resumed run rebuilds the same pipeline (the same skip, whose saved state
  says it is done) and restores into it. If the pipeline cannot be saved
  (a dataset tf.data cannot serialise, e.g. from_generator), training goes
  on and a resume skips batches instead; the log says so once.
  """

  def __init__(self, model_dir, every_steps, keep, skipped, signature,
               restore=None):
    """Args: model_dir; every_steps and keep as the model's checkpoints
    (trainer.save_checkpoints_steps, keep_checkpoint_max); skipped: batches
    the pipeline skips (input.dataset's start_step); signature: the
    pipeline's input_signature; restore: an input.ckpt-<step> path to
    restore before the first step, or None."""
    self._model_dir = model_dir
    self._signature = signature
    self._path = os.path.join(model_dir, INPUT_CHECKPOINT_PREFIX)
    self._every = every_steps
    self._keep = keep
    self._skipped = skipped
    self._restore = restore
    self._saver = None

  def begin(self):
    iterators = tf.get_collection(iterator_ops.GLOBAL_ITERATORS)
    if len(iterators) != 1:  # the Estimator's input_fn makes exactly one
      raise ValueError(f"expected one input iterator, found "
                       f"{len(iterators)}")
    saveable = iterator_ops._IteratorSaveable(  # pylint: disable=protected-access
        iterators[0], "input_iterator",
        external_state_policy=tf.data.experimental.ExternalStatePolicy.IGNORE)
    self._saver = tf.train.Saver([saveable], max_to_keep=self._keep,
                                 save_relative_paths=True)
    self._first = True
    self._last_saved = None

  def after_create_session(self, session, coord):
    self._step = int(session.run(tf.train.get_global_step()))

  def before_run(self, run_context):
    # Here, not in after_create_session: the Estimator initialises the
    # iterator in its own after_create_session, which may run after ours.
    if self._first and self._restore:
      try:
        self._saver.restore(run_context.session, self._restore)
      except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
        # Same configuration, other pipeline: another version's code.
        raise errors.UserError(
            f"{self._restore} does not fit this input pipeline (written by "
            "another version of its code?); delete model_dir/"
            f"{INPUT_CHECKPOINT_PREFIX}-* to resume by skipping batches "
            f"instead ({errors.first_line(e)})") from e
    self._first = False

  def after_run(self, run_context, run_values):
    self._step += 1
    if self._step % self._every == 0:
      self._save(run_context.session)

  def end(self, session):
    self._save(session)

  def _save(self, session):
    if self._saver is None or self._step == self._last_saved:
      return
    try:
      path = self._saver.save(session, self._path, global_step=self._step,
                              latest_filename=INPUT_CHECKPOINT_STATE,
                              write_meta_graph=False)
    except (tf.errors.FailedPreconditionError,
            tf.errors.UnimplementedError) as e:
      logging.warning("the input position cannot be saved (%s); a resumed "
                      "run will skip the batches before it instead",
                      errors.first_line(e))
      self._saver = None
      return
    with tf.io.gfile.GFile(path + ".json", "w") as f:
      json.dump({"skipped": self._skipped, "input": self._signature}, f)
    # The Saver deletes the positions past keep_checkpoint_max; their
    # records go with them.
    for record in tf.io.gfile.glob(self._path + "-*.json"):
      if not tf.io.gfile.exists(record[:-len(".json")] + ".index"):
        tf.io.gfile.remove(record)
    self._last_saved = self._step
