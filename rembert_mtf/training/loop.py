"""The training and prediction loops over an Estimator.

  train(model_dir, run):  checks (no graph) -> operative config -> Estimator
      steps to trainer.train_steps, resuming from model_dir's checkpoint,
      with an optional on_eval(model_dir, run, cluster) every
      trainer.eval_every_steps (evaluation.best.keep_if_best)
  predict(model_dir, run, task, split): one prediction dict per real example

Every check that needs no graph runs first, so a configuration that cannot
work fails in a second with one line and nothing written: the run's
configuration, the vocabulary, the checkpoint's variables against the
model's, the task's declared classes against trainer.num_classes, the
mixture's tasks against each other and its mixing rates, and the
first batch of training data (check_first_batch: labels in range, tagging
words and tags of one count, QA answers inside their contexts). Data
errors found later, while training or predicting, stop the run with the
same one line (finetune_preprocessors.data_error).
"""

import contextlib
import dataclasses
import os

import gin

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.data import finetune_preprocessors
from rembert_mtf.data import preprocessors
from rembert_mtf.data import qa_windows
from rembert_mtf.data import registry
from rembert_mtf.model import heads
from rembert_mtf.model import partitioning
from rembert_mtf.training import cluster as cluster_lib
from rembert_mtf.training import estimator as estimator_lib
from rembert_mtf.training import hooks
from rembert_mtf.training import input as input_lib
from rembert_mtf.training import model_dir as model_dir_lib

tf = compat.tf

# The encoder's variables: every fine-tuning head reads all of them, so an
# init checkpoint must hold each one, with nothing of the encoder left over.
ENCODER_PREFIXES = ("bert/embeddings/", "bert/encoder/")


def check_run(run):
  """All configuration checks that need no graph: fail before building."""
  run.validate()
  model, trainer = run.model, run.trainer
  partitioning.check_partitioning(
      partitioning.parse_mesh_shape(run.mesh_shape),
      partitioning.parse_layout(run.layout), run.dimension_sizes(),
      num_devices=trainer.num_devices)
  if trainer.sequence_length > model.max_position_embeddings:
    raise errors.UserError(
        f"trainer.sequence_length = {trainer.sequence_length} exceeds "
        "RemBertConfig.max_position_embeddings = "
        f"{model.max_position_embeddings}.")


def check_vocabulary(model_config, name):
  """The task's vocabulary must have exactly the model's vocab_size pieces."""
  for task in registry.tasks_of(registry.get_task_or_mixture(name)):
    size = task.output_features["input_ids"].vocabulary.vocab_size
    if size != model_config.vocab_size:
      raise errors.UserError(
          f"task {task.name}'s vocabulary has {size} pieces but "
          f"RemBertConfig.vocab_size = {model_config.vocab_size}; bind them "
          "to the same number (or `get_vocabulary.sentencepiece_model_file` "
          "to the model's vocabulary).")


def check_checkpoint_matches(model_dir, run):
  """A checkpoint in model_dir (or the init checkpoint) must fit the model."""
  path = (tf.train.latest_checkpoint(model_dir) if model_dir else None) or (
      run.trainer.init_checkpoint)
  if not path:
    return
  head = heads.get_head(run.trainer.head)
  expected = model_dir_lib.variable_shapes(
      run.model, mlm=head.name == "mlm",
      task_heads=({} if head.name == "mlm"
                  else {head.name: run.trainer.num_classes}))
  stored = dict(tf.train.list_variables(path))
  fix = ("written for another architecture (check the model gin file or "
         "use another --model_dir).")
  for name, shape in expected.items():
    if name in stored and tuple(stored[name]) != tuple(shape):
      if name.startswith(head.variable_prefix) and head.name != "mlm":
        continue  # another task's head of the same kind: checked by restore
      raise errors.UserError(
          f"checkpoint {path} holds {name} with shape {list(stored[name])} "
          f"but the configured model needs {list(shape)}: it was {fix}")
  # Same shapes but other layers: a missing encoder variable would start
  # from random weights, an extra one would be dropped, both silently.
  missing = [n for n in expected
             if n.startswith(ENCODER_PREFIXES) and n not in stored]
  extra = [n for n in stored if n.startswith(ENCODER_PREFIXES)
           and model_dir_lib.is_model_variable(n) and n not in expected]
  if missing:
    raise errors.UserError(
        f"checkpoint {path} lacks {missing[0]} ({len(missing)} encoder "
        f"variables the configured model needs): it was {fix}")
  if extra:
    raise errors.UserError(
        f"checkpoint {path} holds {extra[0]} ({len(extra)} encoder "
        f"variables the configured model does not have): it was {fix}")


def check_task_classes(run):
  """Each task's declared classes must fit trainer.num_classes.

  The classification and token tasks declare their label feature with a
  seqio.PassThroughVocabulary of the number of classes (tasks/xtreme.py);
  more classes than trainer.num_classes would make every label past the
  last class a silent zero loss.
  """
  trainer = run.trainer
  key = input_lib.LABEL_FEATURES.get(trainer.head)
  if key is None:
    return
  tasks = registry.tasks_of(
      registry.get_task_or_mixture(trainer.mixture_or_task_name))
  # The training tasks first: the message names one of them if it can.
  for task in sorted(tasks, key=lambda t: trainer.split not in t.splits):
    feature = task.output_features.get(key)
    size = getattr(getattr(feature, "vocabulary", None), "vocab_size", None)
    if size and size > trainer.num_classes:
      raise errors.UserError(
          f"task {task.name} has {size} classes (its {key!r} feature) but "
          f"trainer.num_classes = {trainer.num_classes}; bind "
          f"`trainer.num_classes = {size}`.")


def _feature_signature(feature):
  return (feature.dtype.name, feature.rank, feature.vocabulary)


def check_mixture(run):
  """The tasks of the training mixture agree on their features, and every
  mixing rate can be computed (preprocessors.check_mixture_rates), before
  seqio builds anything: its own checks would fail deep in the dataset
  with a traceback."""
  provider = registry.get_task_or_mixture(run.trainer.mixture_or_task_name)
  tasks = registry.tasks_of(provider)
  first = tasks[0]
  want = {k: _feature_signature(f) for k, f in first.output_features.items()}
  for task in tasks[1:]:
    got = {k: _feature_signature(f) for k, f in task.output_features.items()}
    if got == want:
      continue
    differ = sorted(set(want) ^ set(got)) or sorted(
        k for k in want if want[k] != got[k])
    raise errors.UserError(
        f"mixture {provider.name}: task {task.name} and task {first.name} "
        f"give different features ({', '.join(differ)}: names, dtypes, "
        "ranks or vocabularies differ); a mixture's tasks must share their "
        "output_features: mix tasks of one kind (e.g. MLM with MLM), or "
        "give them the same vocabulary.")
  preprocessors.check_mixture_rates(provider)


@contextlib.contextmanager
def reporting_data_errors():
  """A data error raised inside tf.data becomes its one-line UserError."""
  try:
    yield
  except tf.errors.OpError as e:
    error = finetune_preprocessors.data_error(e)
    if error is None:
      raise
    raise error from e


def first_batch(trainer_config, name, split):
  """The first batch of `name`'s `split` in order, as numpy, or None."""
  # A graph of its own: callers may or may not be executing eagerly.
  with tf.Graph().as_default():
    ds = input_lib.dataset(trainer_config, name, split, training=False)
    iterator = tf.data.make_initializable_iterator(ds.take(1))
    batch = iterator.get_next()
    with tf.Session() as session, reporting_data_errors():
      session.run(iterator.initializer)
      try:
        return session.run(batch)
      except tf.errors.OutOfRangeError:
        return None


def check_first_batch(run):
  """Reads the first training batch before anything is written.

  Data errors in it (a label outside trainer.num_classes, a tagging
  sentence whose words and tags differ in count) fail here with one line,
  as does a split without examples. For the span head, a batch none of
  whose examples has its answer at its answer_start in the context is
  refused: with every answer broken (e.g. answer_start counted in bytes)
  there is nothing to learn. A few broken answers are not refused: their
  windows point at [CLS] and qa_windows counts them (BERT's and XTREME's
  run_squad skip such examples in training instead; either way they are
  scored on their answer texts in evaluation). Data errors further on stop
  training with the same line.
  """
  trainer = run.trainer
  if trainer.head == "mlm":
    return  # nothing of the MLM features is the user's to get wrong
  name = trainer.mixture_or_task_name
  examples = qa_windows.STATS["examples"]
  unaligned = qa_windows.STATS["unaligned_answers"]
  batch = first_batch(trainer, name, trainer.split)
  if batch is None:
    raise errors.UserError(f"task {name} has no examples in split "
                           f"{trainer.split!r}; check "
                           "`trainer.mixture_or_task_name` and "
                           "`trainer.split`.")
  read = qa_windows.STATS["examples"] - examples
  if trainer.head == "span" and read and (
      qa_windows.STATS["unaligned_answers"] - unaligned == read):
    raise errors.UserError(
        f"task {name}: none of the {read} QA examples of the first training "
        "batch has its answer text at its answer_start in the context; "
        "answer_start must be the answer's character offset in the context.")


def train(model_dir, run, cluster=None, on_eval=None):
  """Trains to trainer.train_steps, resuming from model_dir's checkpoint.

  Args:
    model_dir: checkpoints, operative config and summaries.
    run: config.Run.
    cluster: a cluster.Cluster whose tasks' devices the mesh spans, or None.
    on_eval: called as on_eval(model_dir, run, cluster) after every
      trainer.eval_every_steps steps and at the end (when eval_every_steps
      is set), e.g. evaluation.best.keep_if_best.
  """
  run = run.resolved()
  check_run(run)
  check_checkpoint_matches(model_dir, run)
  check_mixture(run)  # first: a task of another vocabulary is named here
  check_vocabulary(run.model, run.trainer.mixture_or_task_name)
  check_task_classes(run)
  trainer = run.trainer
  start = model_dir_lib.checkpoint_step(model_dir)
  if start < trainer.train_steps:
    check_first_batch(run)
  if cluster and start < trainer.train_steps:
    cluster_lib.connect(cluster)  # an unreachable task fails before writing
  if trainer.init_checkpoint and not start:
    print(f"fine-tuning from {trainer.init_checkpoint} into {model_dir}")
  model_dir_lib.write_operative_config(model_dir, gin.config_str(),
                                       run.gin_bindings())
  if start >= trainer.train_steps:
    print(f"{model_dir} is already at step {start} >= trainer.train_steps = "
          f"{trainer.train_steps}; nothing to do.")
    return
  estimator = estimator_lib.make_estimator(model_dir, run, cluster)
  every = trainer.eval_every_steps if on_eval else 0
  stops = (list(range(start - start % every + every, trainer.train_steps,
                      every)) if every else [])
  for stop in stops + [trainer.train_steps]:
    _train_until(estimator, trainer, model_dir, stop)
    if every:
      on_eval(model_dir, run, cluster)


def _train_until(estimator, trainer_config, model_dir, stop):
  """Trains to step `stop`, the data continuing where the checkpoint left
  them: the input position saved with it restored (hooks.
  InputCheckpointHook), or, without one, the batches before it skipped."""
  start = model_dir_lib.checkpoint_step(model_dir)
  signature = hooks.input_signature(trainer_config)
  restore, skip, why = hooks.input_checkpoint(model_dir, start, signature)
  if start and restore:
    print(f"resuming at step {start}: input position restored from "
          f"{os.path.basename(restore)}")
  elif start:
    skip = start
    print(f"resuming at step {start}: {why}; skipping {start} batches of "
          "input (this re-reads them)")
  input_hook = hooks.InputCheckpointHook(
      model_dir, trainer_config.save_checkpoints_steps,
      trainer_config.keep_checkpoint_max, skipped=skip, signature=signature,
      restore=restore)
  try:
    with reporting_data_errors():
      estimator.train(
          input_fn=lambda params: input_lib.dataset(
              trainer_config, trainer_config.mixture_or_task_name,
              trainer_config.split, training=True, start_step=skip),
          max_steps=stop, hooks=[input_hook])
  except tf.train.NanLossDuringTrainingError as e:
    raise hooks.non_finite_loss(model_dir, float("nan")) from e


def predict(model_dir, run, name, split, checkpoint_path=None, cluster=None):
  """Yields one prediction dict per real example of task `name`."""
  run = run.resolved()
  check_run(run)
  if not (checkpoint_path or tf.train.latest_checkpoint(model_dir)):
    raise errors.MissingFileError(f"no checkpoint in {model_dir}; train first "
                                  "or pass the --model_dir of a trained "
                                  "model.")
  estimator = estimator_lib.make_estimator(model_dir, run, cluster)
  with reporting_data_errors():
    for prediction in estimator.predict(
        input_fn=lambda params: input_lib.dataset(run.trainer, name, split,
                                                  training=False),
        checkpoint_path=checkpoint_path, yield_single_examples=True):
      if prediction[input_lib.REAL_EXAMPLE]:
        yield prediction


def checkpoint_path(path, binding="--init_checkpoint / trainer.init_checkpoint"):
  """A checkpoint prefix, or the latest checkpoint of a model_dir."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise errors.MissingFileError(f"no checkpoint in {path} ({binding}).")
    return latest
  if not tf.io.gfile.exists(path + ".index"):
    raise errors.MissingFileError(f"checkpoint {path} does not exist "
                                  f"({binding}).")
  return path


def finetuning_run(model_dir, run):
  """Where a fine-tuning run writes, and the run it starts from.

  `finetune --model_dir=PRETRAINED` (a pre-training run or an imported
  release, whose checkpoint has no task head) starts from PRETRAINED's
  latest checkpoint and writes to PRETRAINED/finetune/<mixture>; a model_dir
  that already holds a fine-tuning checkpoint is resumed in place.

  Returns:
    (model_dir to train in, config.Run)
  """
  latest = tf.train.latest_checkpoint(model_dir)
  if not latest:
    return model_dir, run
  stored = {name for name, _ in tf.train.list_variables(latest)}
  prefix = heads.get_head(run.trainer.head).variable_prefix
  if any(name.startswith(prefix) for name in stored):
    return model_dir, run
  run_dir = os.path.join(model_dir, "finetune",
                         run.trainer.mixture_or_task_name)
  # `train` says "fine-tuning from ... into ..." once its checks pass.
  return run_dir, dataclasses.replace(
      run, trainer=dataclasses.replace(run.trainer, init_checkpoint=latest))
