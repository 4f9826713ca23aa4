"""Input: fixed-shape batches of a seqio task or mixture for the Estimator.

  seqio task/mixture --get_dataset--> task features --EncoderFeatureConverter
  --> padded model features {input_ids, token_type_ids, input_mask, ...} of
  trainer.sequence_length (and trainer.mlm_predictions) --> batches

Training repeats forever in a seeded order; evaluation and prediction read
one epoch in order and mark the examples that fill the last batch.
"""

from rembert_mtf import compat
from rembert_mtf.data import feature_converters
from rembert_mtf.data import registry

import seqio  # pylint: disable=g-bad-import-order

tf = compat.tf

# Marks the examples added to fill the last evaluation batch.
REAL_EXAMPLE = "is_real_example"


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
  converter = feature_converters.EncoderFeatureConverter.for_task(
      registry.tasks_of(provider)[0])
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
