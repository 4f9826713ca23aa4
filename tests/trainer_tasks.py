"""Tiny tasks for the trainer tests, importable with --module_import.

`trainer_mlm`: MLM over generated text with the project's preprocessors.
`trainer_nan_mlm`: ready-made MLM features with NaN weights, to continue a
healthy run into a NaN loss.
`trainer_mixed_vocabularies`: a mixture of tasks with two vocabularies.
"""

import random

import numpy as np
import seqio
import tensorflow as tf

from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary

SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po"]


def _documents(count=300, seed=0):
  rng = random.Random(seed)
  words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
           for _ in range(60)]
  return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 80)))
          for _ in range(count)]


def _text_source(split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  return tf.data.Dataset.from_tensor_slices({"text": _documents()})


def _nan_source(split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  n, length, preds = 64, 16, 3
  rng = np.random.RandomState(0)
  weights = np.full((n, preds), np.nan, np.float32)
  return tf.data.Dataset.from_tensor_slices({
      "input_ids": rng.randint(5, 200, (n, length)).astype(np.int32),
      "token_type_ids": np.zeros((n, length), np.int32),
      "masked_lm_positions": np.tile(np.arange(1, preds + 1, dtype=np.int32),
                                     (n, 1)),
      "masked_lm_ids": rng.randint(5, 200, (n, preds)).astype(np.int32),
      "masked_lm_weights": weights,
  })


OUTPUT_FEATURES = preprocessors.mlm_output_features(
    vocabulary.DeferredVocabulary())

for _name, _source, _steps in (
    ("trainer_mlm", _text_source, preprocessors.mlm_preprocessors()),
    ("trainer_nan_mlm", _nan_source, [])):
  if _name not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(
        _name, source=seqio.FunctionDataSource(_source, splits=["train"]),
        preprocessors=_steps, output_features=OUTPUT_FEATURES)

# A mixture whose tasks disagree on their vocabulary: trainer_mlm's text
# tokenised with bytes instead of the bound SentencePiece model.
if "trainer_mlm_bytes" not in seqio.TaskRegistry.names():
  seqio.TaskRegistry.add(
      "trainer_mlm_bytes",
      source=seqio.FunctionDataSource(_text_source, splits=["train"]),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=preprocessors.mlm_output_features(
          seqio.ByteVocabulary()))
if "trainer_mixed_vocabularies" not in seqio.MixtureRegistry.names():
  seqio.MixtureRegistry.add("trainer_mixed_vocabularies",
                            [("trainer_mlm", 1.0), ("trainer_mlm_bytes", 1.0)])
