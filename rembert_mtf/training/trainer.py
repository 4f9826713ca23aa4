"""Training, evaluation and prediction through an Estimator, as t5's Mesh TF trainer.

  seqio task/mixture --input_fn--> padded batches --model_fn--> mtf graph on a
  mesh (placement mesh over N virtual CPU devices here, or over the tasks of
  a TF cluster with --cluster, see cluster.py; the SIMD mesh on TPU)
  --Lowering--> Estimator step --> checkpoint (master variables by name,
  optimizer slots, global_step) --> eval / predictions.

Everything a run needs is bound in gin under `trainer.*`, `RemBertConfig.*`,
`partitioning.mesh.*`, `learning_rate_schedule.*` and `make_optimizer.*`.
The operative config is written to model_dir/operative_config.gin; a later
run on the same model_dir reads it back before the user's own bindings.
"""

import dataclasses
import os
import re
import time
from typing import Optional

import gin
import numpy as np
import seqio
from tensorflow_estimator.python.estimator import estimator as estimator_lib
from tensorflow_estimator.python.estimator import model_fn as model_fn_lib
from tensorflow_estimator.python.estimator import run_config as run_config_lib

from rembert_mtf.training import cluster as cluster_lib
from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.data import feature_converters
from rembert_mtf.model import heads
from rembert_mtf.model import modeling
from rembert_mtf.training import optimizers
from rembert_mtf.model import partitioning
from rembert_mtf.data import registry

mtf = compat.mtf
tf = compat.tf
ModeKeys = model_fn_lib.ModeKeys

OPERATIVE_CONFIG = "operative_config.gin"
# Marks the examples added to fill the last evaluation batch.
REAL_EXAMPLE = "is_real_example"


class NonFiniteLossError(errors.UserError):
  """The loss became NaN or Inf; the last good checkpoint was kept."""


@gin.configurable("trainer")
@dataclasses.dataclass(frozen=True)
class TrainerConfig:
  """What to train on and how; every field is a `trainer.*` gin binding."""
  mixture_or_task_name: Optional[str] = None
  head: str = "mlm"  # mlm | classification | token | span (heads.HEADS)
  num_classes: int = 2
  split: str = "train"
  batch_size: int = 32
  sequence_length: int = 128
  mlm_predictions: int = 20
  train_steps: int = 1000
  save_checkpoints_steps: int = 500
  keep_checkpoint_max: int = 5
  init_checkpoint: Optional[str] = None  # fine-tuning: a pre-trained ckpt
  log_every_steps: int = 10
  num_devices: int = 8  # virtual CPU devices of the placement mesh
  seed: int = 0
  # Evaluation during training: every eval_every_steps (0: never) the eval
  # tasks of eval_mixture_name are scored on eval_split; the checkpoint with
  # the best mean of best_metric over languages is copied to model_dir/best.
  eval_mixture_name: Optional[str] = None
  eval_split: str = "validation"
  eval_every_steps: int = 0
  best_metric: str = "accuracy"

  def validate(self):
    heads.get_head(self.head)
    if not self.mixture_or_task_name:
      raise errors.UserError("no training data: bind `trainer.mixture_or_task_name`"
                             " (see `rembert-mtf tasks`).")
    if self.eval_every_steps and not self.eval_mixture_name:
      raise errors.UserError("trainer.eval_every_steps needs "
                             "`trainer.eval_mixture_name` (a mixture with *_eval_* "
                             "tasks).")
    for field in ("batch_size", "sequence_length", "train_steps",
                  "save_checkpoints_steps", "num_devices"):
      if getattr(self, field) <= 0:
        raise errors.UserError(f"trainer.{field} must be positive, got "
                               f"{getattr(self, field)}.")

  def feature_lengths(self):
    lengths = {"input_ids": self.sequence_length}
    if self.head == "mlm":
      lengths["masked_lm_positions"] = self.mlm_predictions
    return lengths


# ----------------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------------


def dataset(trainer_config, name, split, training, start_step=0):
  """Fixed-shape batches of a task or mixture.

  Training repeats forever in a seeded order, skipping the batches the
  first `start_step` steps consumed (so a resumed run sees what an
  uninterrupted one would). Evaluation reads one epoch in order and fills
  the last batch with copies marked is_real_example = 0.
  """
  provider = registry.get_task_or_mixture(name)
  converter = feature_converters.EncoderFeatureConverter.for_task(
      provider.tasks[0] if hasattr(provider, "tasks") and provider.tasks
      else provider)
  ds = seqio.get_dataset(
      name, trainer_config.feature_lengths(), dataset_split=split,
      shuffle=training, num_epochs=None if training else 1,
      seed=trainer_config.seed, use_cached=False,
      feature_converter=converter)
  ds = ds.map(lambda ex: {**ex, REAL_EXAMPLE: tf.constant(1, tf.int32)})
  batch = trainer_config.batch_size
  if training:
    return ds.batch(batch, drop_remainder=True).skip(start_step)
  filler = ds.take(1).map(lambda ex: {**ex, REAL_EXAMPLE: tf.constant(
      0, tf.int32)}).repeat(batch - 1)
  # count + batch - 1 examples make exactly ceil(count / batch) full batches.
  return ds.concatenate(filler).batch(batch, drop_remainder=True)


def checkpoint_step(model_dir):
  """global_step of the latest checkpoint in model_dir (0 if none)."""
  path = tf.train.latest_checkpoint(model_dir) if model_dir else None
  if not path:
    return 0
  return int(re.search(r"-(\d+)$", path).group(1))


# ----------------------------------------------------------------------------
# The model function
# ----------------------------------------------------------------------------


def _mtf_features(features, head, mesh, trainer_config):
  """The tf features the model reads, as mtf tensors with named dims."""
  batch, length = features["input_ids"].shape.as_list()
  names = heads.ENCODER_FEATURES + tuple(head.features)
  out = {}
  for name in names:
    dims = heads.feature_dims(name, head, batch, length,
                              trainer_config.mlm_predictions)
    dtype = tf.float32 if name == "masked_lm_weights" else tf.int32
    out[name] = mtf.import_tf_tensor(mesh, tf.cast(features[name], dtype),
                                     mtf.Shape(list(dims)))
  return out


def _restore_from_init_checkpoint(init_checkpoint):
  """Fine-tuning: variables present in the pre-trained checkpoint load from
  it; the pre-training-only parts (cls/...) are never in this graph and the
  step starts at 0."""
  in_checkpoint = {n for n, _ in tf.train.list_variables(init_checkpoint)}
  assignment = {v.op.name: v for v in tf.global_variables()
                if v.op.name in in_checkpoint and v.op.name != "global_step"}
  if not assignment:
    raise errors.UserError(f"{init_checkpoint} shares no variable with this model; "
                           "check `trainer.init_checkpoint`.")
  tf.train.init_from_checkpoint(init_checkpoint, assignment)


def make_model_fn(model_config, trainer_config, mesh_shape, layout, model_dir,
                  cluster=None):
  """An Estimator model_fn running the model on a placement mesh.

  The mesh's devices are this process's virtual CPUs, or with `cluster` (a
  cluster.Cluster) those of every task of the TF cluster.
  """
  head = heads.get_head(trainer_config.head)
  devices = (cluster.devices() if cluster else
             partitioning.cpu_devices(trainer_config.num_devices))
  shape = partitioning.parse_mesh_shape(mesh_shape)
  rules = partitioning.parse_layout(layout)

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    is_training = mode == ModeKeys.TRAIN
    inputs = _mtf_features(features, head, mesh, trainer_config)
    sequence_output, bias = modeling.encode(inputs, model_config, is_training)
    loss, predictions, metrics = head.build(
        inputs, sequence_output, bias, model_config,
        trainer_config.num_classes, is_training)
    if is_training:
      global_step = tf.train.get_or_create_global_step()
      learning_rate = optimizers.learning_rate_schedule(global_step)
      updates, metrics["gradient_norm"] = optimizers.update_ops(
          loss, graph, learning_rate)
    partitioning.check_tensor_layouts(graph, shape, rules)
    impl = partitioning.placement_mesh_impl(shape, rules, devices)
    lowering = partitioning.lower(graph, mesh, impl)
    tf_loss = tf.cast(lowering.export_to_tf_tensor(loss), tf.float32)
    tf_metrics = {k: tf.cast(lowering.export_to_tf_tensor(v), tf.float32)
                  for k, v in metrics.items()}
    restore_hook = mtf.MtfRestoreHook(lowering)
    if mode == ModeKeys.PREDICT:
      outputs = {k: lowering.export_to_tf_tensor(v)
                 for k, v in predictions.items()}
      outputs.update({k: v for k, v in features.items() if k not in outputs})
      return model_fn_lib.EstimatorSpec(mode, predictions=outputs,
                                        prediction_hooks=[restore_hook])
    if mode == ModeKeys.EVAL:
      # Batch means of the training metrics; task metrics are computed from
      # predictions (evaluation.py), which also drop the filler examples.
      ops = {"loss": tf.metrics.mean(tf_loss)}
      ops.update({k: tf.metrics.mean(v) for k, v in tf_metrics.items()})
      return model_fn_lib.EstimatorSpec(mode, loss=tf_loss,
                                        eval_metric_ops=ops,
                                        evaluation_hooks=[restore_hook])
    tf_updates = [lowering.lowered_operation(op) for op in updates]
    # The step advances only after the updates, which read the learning
    # rate from the step: without this order the read races the increment.
    with tf.control_dependencies(tf_updates):
      train_op = tf.assign_add(global_step, 1)
    if trainer_config.init_checkpoint and not checkpoint_step(model_dir):
      _restore_from_init_checkpoint(trainer_config.init_checkpoint)
    saver = tf.train.Saver(tf.global_variables(), sharded=True,
                           max_to_keep=trainer_config.keep_checkpoint_max,
                           save_relative_paths=True)
    tf.add_to_collection(tf.GraphKeys.SAVERS, saver)
    checkpoints = MeshCheckpointHook(
        saver, lowering, model_dir, trainer_config.save_checkpoints_steps)
    progress = ProgressHook(
        {"loss": tf_loss, "learning_rate": learning_rate, **tf_metrics},
        trainer_config, model_dir)
    return model_fn_lib.EstimatorSpec(
        mode, loss=tf_loss, train_op=train_op,
        training_chief_hooks=[restore_hook, checkpoints],
        training_hooks=[progress])

  return model_fn


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

  tf.train.CheckpointSaverHook also serialises the whole graph into every
  checkpoint and event file; a placement-mesh graph is tens of MB of
  protobuf, which took minutes per save here. Checkpoints hold what a
  restore needs: variables by name, optimizer slots and global_step.
  """

  def __init__(self, saver, lowering, model_dir, every_steps):
    self._saver = saver
    self._copy_to_masters = lowering.copy_slices_to_masters()
    self._path = os.path.join(model_dir, "model.ckpt")
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


class ProgressHook(tf.train.SessionRunHook):
  """Logs step, loss, examples/s, learning rate and ETA; stops on NaN/Inf.

  Every `trainer.log_every_steps` steps it prints one line and writes the
  same figures as TensorBoard scalars (loss, mlm_accuracy, learning_rate,
  gradient_norm, examples_per_second). The NaN/Inf check runs after every
  step; the in-memory update of that step is abandoned (nothing saves on an
  exception), so the last checkpoint on disk is the last good one.
  """

  def __init__(self, tensors, trainer_config, model_dir):
    self._tensors = tensors
    self._config = trainer_config
    self._model_dir = model_dir
    self._last_time = None
    self._last_step = None
    self._writer = None

  def begin(self):
    # No graph in the event file: see MeshCheckpointHook.
    self._writer = tf.summary.FileWriter(self._model_dir)

  def after_create_session(self, session, coord):
    self._step = int(session.run(tf.train.get_global_step()))

  def before_run(self, run_context):
    self._step += 1
    RUN_STATE["step"] = self._step
    return tf.train.SessionRunArgs(self._tensors)

  def after_run(self, run_context, run_values):
    values = run_values.results
    step = self._step
    if not np.isfinite(values["loss"]):
      raise non_finite_loss(self._model_dir, values["loss"])
    now = time.time()
    if self._last_time is None:  # the first step includes start-up
      self._last_time, self._last_step = now, step
      return
    if step % self._config.log_every_steps and step != self._config.train_steps:
      return
    rate = ((step - self._last_step) * self._config.batch_size /
            max(now - self._last_time, 1e-9))
    self._last_time, self._last_step = now, step
    self._log(step, values, rate)

  def _log(self, step, values, rate):
    eta = (self._config.train_steps - step) * self._config.batch_size / max(
        rate, 1e-9)
    extras = "  ".join(f"{k} {float(v):.4g}" for k, v in values.items()
                       if k not in ("loss", "learning_rate"))
    print(f"step {step}/{self._config.train_steps}  loss "
          f"{float(values['loss']):.4f}  {extras}  lr "
          f"{float(values['learning_rate']):.3g}  {rate:.1f} examples/s  "
          f"ETA {_duration(eta)}", flush=True)
    scalars = {**values, "examples_per_second": rate}
    self._writer.add_summary(tf.Summary(value=[
        tf.Summary.Value(tag=k, simple_value=float(v))
        for k, v in scalars.items()]), step)

  def end(self, session):
    self._writer.close()


def _duration(seconds):
  seconds = int(seconds)
  return (f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600
          else f"{seconds // 60}m{seconds % 60:02d}s")


# ----------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------


class _MasterRunConfig(run_config_lib.RunConfig):
  """A RunConfig whose sessions run on a given master (a grpc target).

  RunConfig takes a remote master only from TF_CONFIG, and a TF_CONFIG
  cluster would put the Estimator in replicated (chief/worker/ps) training;
  here one client runs one graph, placed on the tasks by the mesh.
  """

  def __init__(self, master, **kwargs):
    super().__init__(**kwargs)
    self._remote_master = master

  @property
  def master(self):
    return self._remote_master

  @property
  def evaluation_master(self):
    return self._remote_master


def make_estimator(model_dir, model_config, trainer_config, mesh_shape,
                   layout, cluster=None):
  """A tf.estimator.Estimator over the placement mesh (of `cluster`'s tasks
  if given: see cluster.py)."""
  kwargs = dict(
      model_dir=model_dir, tf_random_seed=trainer_config.seed,
      # Checkpoints, summaries and step counts come from our own hooks.
      save_checkpoints_steps=None, save_checkpoints_secs=None,
      save_summary_steps=None, log_step_count_steps=None)
  if cluster:
    run_config = _MasterRunConfig(
        cluster_lib.connect(cluster),
        session_config=cluster_lib.session_config(), **kwargs)
  else:
    run_config = run_config_lib.RunConfig(
        session_config=partitioning.cpu_session_config(
            trainer_config.num_devices, optimize_graph=False), **kwargs)
  return estimator_lib.Estimator(
      model_fn=make_model_fn(model_config, trainer_config, mesh_shape, layout,
                             model_dir, cluster),
      config=run_config)


def check_run(model_config, trainer_config, mesh_shape, layout):
  """All configuration checks that need no graph: fail before building."""
  trainer_config.validate()
  shape = partitioning.parse_mesh_shape(mesh_shape)
  partitioning.check_partitioning(
      shape, partitioning.parse_layout(layout),
      {**model_config.dimension_sizes(),
       modeling.BATCH: trainer_config.batch_size,
       modeling.LENGTH: trainer_config.sequence_length,
       modeling.MEMORY_LENGTH: trainer_config.sequence_length,
       modeling.MLM_PREDICTIONS: trainer_config.mlm_predictions,
       modeling.CLASSES: trainer_config.num_classes},
      num_devices=trainer_config.num_devices)
  if trainer_config.sequence_length > model_config.max_position_embeddings:
    raise errors.UserError(
        f"trainer.sequence_length = {trainer_config.sequence_length} exceeds "
        "RemBertConfig.max_position_embeddings = "
        f"{model_config.max_position_embeddings}.")


def check_vocabulary(model_config, name):
  """The task's vocabulary must have exactly the model's vocab_size pieces."""
  provider = registry.get_task_or_mixture(name)
  tasks = provider.tasks if hasattr(provider, "tasks") else [provider]
  for task in tasks:
    size = task.output_features["input_ids"].vocabulary.vocab_size
    if size != model_config.vocab_size:
      raise errors.UserError(
          f"task {task.name}'s vocabulary has {size} pieces but "
          f"RemBertConfig.vocab_size = {model_config.vocab_size}; bind them "
          "to the same number (or `get_vocabulary.sentencepiece_model_file` "
          "to the model's vocabulary).")


def check_checkpoint_matches(model_dir, model_config, trainer_config,
                             mesh_shape, layout):
  """A checkpoint in model_dir (or the init checkpoint) must fit the model."""
  from rembert_mtf.planning import accounting  # pylint: disable=g-import-not-at-top
  path = (tf.train.latest_checkpoint(model_dir) if model_dir else None) or (
      trainer_config.init_checkpoint)
  if not path:
    return
  expected = accounting.account(model_config, mesh_shape, layout,
                                finetuning=trainer_config.head != "mlm")
  stored = dict(tf.train.list_variables(path))
  for name, shape in expected.variables.items():
    if name in stored and list(stored[name]) != shape.to_integer_list:
      raise errors.UserError(
          f"checkpoint {path} holds {name} with shape {list(stored[name])} "
          f"but the configured model needs {shape.to_integer_list}: it was "
          "written for another architecture (check the model gin file or "
          "use another --model_dir).")


def write_operative_config(model_dir):
  """Saves every gin binding of this run beside its checkpoints."""
  tf.io.gfile.makedirs(model_dir)
  path = os.path.join(model_dir, OPERATIVE_CONFIG)
  with tf.io.gfile.GFile(path + ".tmp", "w") as f:
    f.write(gin.config_str())
  tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def train(model_dir, model_config, trainer_config, mesh_shape, layout,
          cluster=None):
  """Trains to trainer.train_steps, resuming from model_dir's checkpoint.

  With `cluster` (a cluster.Cluster) the mesh spans its tasks' devices.
  """
  check_run(model_config, trainer_config, mesh_shape, layout)
  check_checkpoint_matches(model_dir, model_config, trainer_config,
                           mesh_shape, layout)
  check_vocabulary(model_config, trainer_config.mixture_or_task_name)
  start = checkpoint_step(model_dir)
  if cluster and start < trainer_config.train_steps:
    cluster_lib.connect(cluster)  # an unreachable task fails before writing
  write_operative_config(model_dir)
  if start >= trainer_config.train_steps:
    print(f"{model_dir} is already at step {start} >= trainer.train_steps = "
          f"{trainer_config.train_steps}; nothing to do.")
    return
  estimator = make_estimator(model_dir, model_config, trainer_config,
                             mesh_shape, layout, cluster)
  every = trainer_config.eval_every_steps
  stops = (list(range(start - start % every + every,
                      trainer_config.train_steps, every)) if every else [])
  for stop in stops + [trainer_config.train_steps]:
    _train_until(estimator, trainer_config, model_dir, stop)
    if every:
      keep_if_best(model_dir, model_config, trainer_config, mesh_shape,
                   layout, cluster)


def _train_until(estimator, trainer_config, model_dir, stop):
  start = checkpoint_step(model_dir)
  try:
    estimator.train(
        input_fn=lambda params: dataset(
            trainer_config, trainer_config.mixture_or_task_name,
            trainer_config.split, training=True, start_step=start),
        max_steps=stop)
  except tf.train.NanLossDuringTrainingError as e:
    raise non_finite_loss(model_dir, float("nan")) from e


def keep_if_best(model_dir, model_config, trainer_config, mesh_shape, layout,
                 cluster=None):
  """Scores the latest checkpoint; copies it to model_dir/best if best so far.

  Returns:
    the mean of trainer.best_metric over the eval languages.
  """
  from rembert_mtf.evaluation import scoring as evaluation  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  latest = tf.train.latest_checkpoint(model_dir)
  scores = evaluation.evaluate_mixture(
      trainer_config.eval_mixture_name,
      lambda task, split: predict(model_dir, model_config, trainer_config,
                                  mesh_shape, layout, task, split, latest,
                                  cluster),
      trainer_config.eval_split)
  metric = trainer_config.best_metric
  values = [v[metric] for v in scores.values() if metric in v]
  if not values:
    raise errors.UserError(f"no eval task reports trainer.best_metric = {metric!r};"
                           f" they report {sorted(next(iter(scores.values())))}.")
  score = float(np.mean(values))
  best_dir = os.path.join(model_dir, "best")
  record = os.path.join(best_dir, "best.json")
  previous = (json.load(tf.io.gfile.GFile(record)) if tf.io.gfile.exists(record)
              else None)
  step = checkpoint_step(model_dir)
  print(f"eval at step {step}: mean {metric} {score:.2f} over "
        f"{len(values)} languages", flush=True)
  if previous is None or score > previous["score"]:
    tmp = best_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for path in tf.io.gfile.glob(latest + ".*"):
      shutil.copy(path, tmp)
    with open(os.path.join(tmp, "best.json"), "w") as f:
      json.dump({"step": step, "metric": metric, "score": score,
                 "checkpoint": os.path.basename(latest), "scores": scores}, f,
                indent=2)
    shutil.rmtree(best_dir, ignore_errors=True)
    os.rename(tmp, best_dir)
  return score


def predict(model_dir, model_config, trainer_config, mesh_shape, layout,
            name, split, checkpoint_path=None, cluster=None):
  """Yields one prediction dict per real example of task `name`."""
  check_run(model_config, trainer_config, mesh_shape, layout)
  if not (checkpoint_path or tf.train.latest_checkpoint(model_dir)):
    raise errors.MissingFileError(f"no checkpoint in {model_dir}; train first or "
                                  "pass the --model_dir of a trained model.")
  estimator = make_estimator(model_dir, model_config, trainer_config,
                             mesh_shape, layout, cluster)
  for prediction in estimator.predict(
      input_fn=lambda params: dataset(trainer_config, name, split,
                                      training=False),
      checkpoint_path=checkpoint_path, yield_single_examples=True):
    if prediction[REAL_EXAMPLE]:
      yield prediction


# ----------------------------------------------------------------------------
# `rembert-mtf train | finetune | predict`
# ----------------------------------------------------------------------------


def add_arguments(parser, command):
  parser.add_argument("--model_dir", required=True,
                      help="checkpoints, operative config and summaries")
  parser.add_argument("--num_devices", type=int, default=None,
                      help="virtual CPU devices (default trainer.num_devices)")
  cluster_lib.add_cluster_arguments(parser)
  parser.add_argument("--tpu", default=None, help="TPU name (not supported "
                      "in this build: see README)")
  parser.add_argument("--tpu_zone", default=None)
  parser.add_argument("--gcp_project", default=None)
  if command == "finetune":
    parser.add_argument("--init_checkpoint", default=None,
                        help="pre-trained checkpoint or model_dir (default: "
                        "trainer.init_checkpoint)")
  if command == "predict":
    parser.add_argument("--task", required=True, help="seqio task to read")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--out", required=True,
                        help="JSON-lines file of predictions")


def load_run_config(args):
  """Gin for a run on args.model_dir: its operative config, then the flags.

  Returns:
    (RemBertConfig, TrainerConfig, mesh_shape, layout)
  """
  from rembert_mtf.cli import main as cli  # pylint: disable=g-import-not-at-top
  if args.tpu:
    raise errors.UserError("--tpu: TPU execution (TPUEstimator with the SIMD mesh) "
                           "is not implemented in this build; run on CPU devices.")
  operative = os.path.join(args.model_dir, OPERATIVE_CONFIG)
  if tf.io.gfile.exists(operative):
    args.gin_file = [operative] + list(args.gin_file)
  cli.load_gin(args)
  overrides = {}
  if args.num_devices:
    overrides["num_devices"] = args.num_devices
  if getattr(args, "init_checkpoint", None):
    overrides["init_checkpoint"] = _checkpoint_path(args.init_checkpoint)
  trainer_config = dataclasses.replace(TrainerConfig(), **overrides)
  if trainer_config.init_checkpoint:
    trainer_config = dataclasses.replace(
        trainer_config,
        init_checkpoint=_checkpoint_path(trainer_config.init_checkpoint))
  shape, layout = cli.mesh_from(args)
  return modeling.RemBertConfig(), trainer_config, shape, layout


def _checkpoint_path(path):
  """A checkpoint prefix, or the latest checkpoint of a model_dir."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise errors.MissingFileError(f"no checkpoint in {path} "
                                    "(--init_checkpoint / trainer.init_checkpoint).")
    return latest
  if not tf.io.gfile.exists(path + ".index"):
    raise errors.MissingFileError(f"checkpoint {path} does not exist "
                                  "(--init_checkpoint / trainer.init_checkpoint).")
  return path


def finetuning_run(model_dir, trainer_config):
  """Where a fine-tuning run writes, and what it starts from.

  `finetune --model_dir=PRETRAINED` (a pre-training run or an imported
  release, whose checkpoint has no task head) starts from PRETRAINED's
  latest checkpoint and writes to PRETRAINED/finetune/<mixture>; a model_dir
  that already holds a fine-tuning checkpoint is resumed in place.
  """
  latest = tf.train.latest_checkpoint(model_dir)
  if not latest:
    return model_dir, trainer_config
  stored = {name for name, _ in tf.train.list_variables(latest)}
  head_prefix = {"classification": "classifier/", "token": "token_classifier/",
                 "span": "qa_outputs/"}[trainer_config.head]
  if any(name.startswith(head_prefix) for name in stored):
    return model_dir, trainer_config
  run_dir = os.path.join(model_dir, "finetune",
                         trainer_config.mixture_or_task_name)
  print(f"fine-tuning from {latest} into {run_dir}")
  return run_dir, dataclasses.replace(trainer_config, init_checkpoint=latest)


def main(args):
  """Dispatches train, finetune and predict."""
  model_config, trainer_config, shape, layout = load_run_config(args)
  cluster = cluster_lib.from_args(args, trainer_config.num_devices, shape)
  if cluster:
    trainer_config = dataclasses.replace(trainer_config,
                                         num_devices=cluster.num_devices)
  if args.command in ("train", "finetune"):
    if args.command == "finetune" and trainer_config.head == "mlm":
      raise errors.UserError("finetune needs a task head: bind `trainer.head` to "
                             "classification, token or span.")
    model_dir = args.model_dir
    if args.command == "finetune":
      model_dir, trainer_config = finetuning_run(model_dir, trainer_config)
    train(model_dir, model_config, trainer_config, shape, layout, cluster)
    return
  import json  # pylint: disable=g-import-not-at-top
  count = 0
  with tf.io.gfile.GFile(args.out + ".tmp", "w") as f:
    for prediction in predict(args.model_dir, model_config, trainer_config,
                              shape, layout, args.task, args.split,
                              cluster=cluster):
      f.write(json.dumps({k: _jsonable(v) for k, v in prediction.items()})
              + "\n")
      count += 1
  tf.io.gfile.rename(args.out + ".tmp", args.out, overwrite=True)
  print(f"wrote {count} predictions to {args.out}")


def _jsonable(value):
  value = np.asarray(value)
  if value.dtype.kind in "SO":
    return (value.item().decode("utf-8", "replace") if value.ndim == 0
            else [v.decode("utf-8", "replace") for v in value.tolist()])
  return value.tolist()
