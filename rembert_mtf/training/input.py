"""Input: fixed-shape batches of a seqio task or mixture for the Estimator.

  seqio task/mixture --get_dataset--> task features --EncoderFeatureConverter
  --> padded model features {input_ids, token_type_ids, input_mask, ...} of
  trainer.sequence_length (and trainer.mlm_predictions) --> batches

Training repeats forever in a seeded order; evaluation and prediction read
one epoch in order and mark the examples that fill the last batch.

Labels are checked on every example the classification and token heads
read: a label >= trainer.num_classes (or below -1, the ignored label) would
otherwise be a one-hot of zeros, a loss of 0 and a silently unlearnt
class. And a batch is refused once the task's preprocessing has dropped a
broken example for it (finetune_preprocessors.broken_examples: a tagging
sentence whose words and tags differ in count). Both fail as data errors
(finetune_preprocessors.assert_data) with one line naming the task and
what is wrong; training/loop.py reports it.
"""

from rembert_mtf import compat
from rembert_mtf.data import feature_converters
from rembert_mtf.data import finetune_preprocessors
from rembert_mtf.data import registry

import seqio  # pylint: disable=g-bad-import-order

tf = compat.tf

# Marks the examples added to fill the last evaluation batch.
REAL_EXAMPLE = "is_real_example"
# The label feature of each fine-tuning head that has classes.
LABEL_FEATURES = {"classification": "label", "token": "labels"}


def check_labels(ds, trainer_config, name):
  """`ds` with every label checked against trainer.num_classes.

  Args:
    ds: task features (unbatched) of the task or mixture `name`.
    trainer_config: config.TrainerConfig (head, num_classes).
    name: the task or mixture, for the message.
  Returns:
    the same examples; reading one whose label is outside
    [-1, trainer.num_classes) fails with a data error.
  """
  key = LABEL_FEATURES.get(trainer_config.head)
  if key is None:
    return ds
  classes = trainer_config.num_classes
  ignored = finetune_preprocessors.IGNORE_LABEL

  def check(ex):
    labels = tf.reshape(ex[key], [-1])
    bad = tf.logical_or(labels >= classes, labels < ignored)
    # The first bad label (the 0 appended only keeps the index valid when
    # there is none: the message is built either way).
    found = tf.strings.as_string(
        tf.concat([tf.boolean_mask(labels, bad), [0]], 0)[0])
    ok = tf.logical_not(tf.reduce_any(bad))
    assert_op = finetune_preprocessors.assert_data(ok, tf.strings.join([
        f"task {name}: label ", found, f" found but trainer.num_classes = "
        f"{classes} (labels must be 0 to {classes - 1}, or "
        f"{ignored} to ignore); bind `trainer.num_classes` to the number of "
        "classes of the task, or fix its labels."]))
    with tf.control_dependencies([assert_op]):
      return dict(ex, **{key: tf.identity(ex[key])})

  return ds.map(check)


def refuse_broken_examples(ds, task_names):
  """`ds` failing from the first batch after a broken example was dropped.

  The preprocessors drop broken examples (and count them, so seqio tooling
  reads on); a run of the trainer must not train or score without them.

  Args:
    ds: batches of the tasks `task_names`.
    task_names: the names the tasks' preprocessors count broken examples
      under (their own).
  Returns:
    the same batches; reading one fails with a data error once a broken
    example of these tasks was dropped after this call.
  """
  before = {name: finetune_preprocessors.broken_examples().get(name, (0,))[0]
            for name in task_names}

  def message():
    broken = finetune_preprocessors.broken_examples()
    for name in task_names:
      count, reason = broken.get(name, (0, ""))
      if count > before[name]:
        return (f"task {name}: {reason}; every word needs exactly one tag "
                "(fix the tokens and tags of that example).")
    return ""

  def check(batch):
    text = tf.py_function(message, [], tf.string)
    assert_op = finetune_preprocessors.assert_data(tf.equal(text, ""), text)
    with tf.control_dependencies([assert_op]):
      return {k: tf.identity(v) for k, v in batch.items()}

  return ds.map(check)


def dataset(trainer_config, name, split, training, start_step=0):
  """Fixed-shape batches of a task or mixture.

  Args:
    trainer_config: config.TrainerConfig (batch size, lengths, seed).
    name: seqio task or mixture name.
    split: dataset split.
    training: repeat forever, shuffled by trainer.seed; else one epoch in
      order, the last batch filled with copies marked is_real_example = 0.
    start_step: training only: skip the batches the first `start_step`
      steps consumed, so a resumed run sees what an uninterrupted one would.
  Returns:
    a tf.data.Dataset of feature dicts with a leading batch dimension.
  """
  provider = registry.get_task_or_mixture(name)
  tasks = registry.tasks_of(provider)
  converter = feature_converters.EncoderFeatureConverter.for_task(tasks[0])
  # Only training reads the cache: evaluation sets are small, and their
  # tasks need not be cached.
  use_cached = training and trainer_config.cache_dir is not None
  if use_cached:
    # Imported here: it loads Apache Beam, which a run without a cache skips.
    from rembert_mtf.data import cache  # pylint: disable=g-import-not-at-top
    cache.open_cache(name, trainer_config.cache_dir, split)
  ds = seqio.get_dataset(
      name, trainer_config.feature_lengths(), dataset_split=split,
      shuffle=training, num_epochs=None if training else 1,
      seed=trainer_config.seed, use_cached=use_cached,
      feature_converter=converter)
  ds = check_labels(ds, trainer_config, name)
  ds = ds.map(lambda ex: {**ex, REAL_EXAMPLE: tf.constant(1, tf.int32)})
  batch = trainer_config.batch_size
  names = [task.name for task in tasks]
  # The iterator's state is saved with each checkpoint
  # (hooks.InputCheckpointHook). The pipeline's py_functions read the
  # broken-example counters and log; they hold no position in the stream,
  # so their state is rightly left out.
  options = tf.data.Options()
  options.experimental_external_state_policy = (
      tf.data.experimental.ExternalStatePolicy.IGNORE)
  if training:
    ds = refuse_broken_examples(ds.batch(batch, drop_remainder=True), names)
    # No skip(0): tf.data would drop it, and a saved position must be
    # restored into a pipeline of the same shape.
    ds = ds.skip(start_step) if start_step else ds
    return ds.with_options(options)
  filler = ds.take(1).map(lambda ex: {**ex, REAL_EXAMPLE: tf.constant(
      0, tf.int32)}).repeat(batch - 1)
  # count + batch - 1 examples make exactly ceil(count / batch) full batches.
  return refuse_broken_examples(
      ds.concatenate(filler).batch(batch, drop_remainder=True),
      names).with_options(options)
