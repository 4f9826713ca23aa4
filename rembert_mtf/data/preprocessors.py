"""Masked-LM pre-training preprocessing and mixing rates for RemBERT.

RemBERT (Chung et al., ICLR 2021) pre-trains with BERT's masked-LM objective
only (no next-sentence prediction). One raw document becomes one or more
examples laid out as `[CLS] tokens [SEP]`; documents are never mixed.

Pipeline (see `mlm_preprocessors`):
  raw {"text": ...}  -> drop blank text -> rekey to input_ids -> tokenize
  -> split each document into chunks of L-2 tokens, wrap in [CLS] ... [SEP]
  -> BERT masking.

Features produced (variable length; `feature_converters` pads them):
  input_ids           int32 [n]  tokens after masking, n <= L
  token_type_ids      int32 [n]  zeros (one segment: no NSP)
  masked_lm_positions int32 [p]  sorted positions of the selected tokens
  masked_lm_ids       int32 [p]  original ids at those positions
  masked_lm_weights   float32 [p] ones

L is seqio's sequence_length["input_ids"] (DEFAULT_SEQUENCE_LENGTH when
absent). Special-token ids come from the SentencePiece model
(`vocabulary.special_tokens`), never from constants.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import functools
import math

from absl import logging
import gin
import numpy as np
import seqio
from t5.data import preprocessors as t5_preprocessors
import tensorflow.compat.v2 as tf

from rembert_mtf.data import vocabulary as vocabulary_lib

DEFAULT_SEQUENCE_LENGTH = 512
TEXT_KEY = "text"
# Whitespace as Unicode sees it (RE2's \s alone is ASCII-only).
_BLANK_TEXT_REGEX = r"[\s\p{Z}]*"


def mlm_output_features(vocab):
  """seqio output features of a masked-LM task.

  Args:
    vocab: the seqio vocabulary of input_ids (e.g. vocabulary.DeferredVocabulary()).
  Returns:
    dict name -> seqio.Feature for the five features in the module docstring;
    none adds EOS.
  """
  ids = functools.partial(seqio.Feature, add_eos=False, dtype=tf.int32)
  no_vocab = seqio.PassThroughVocabulary(size=0)
  return {
      "input_ids": ids(vocabulary=vocab),
      "token_type_ids": ids(vocabulary=no_vocab),
      "masked_lm_positions": ids(vocabulary=no_vocab),
      "masked_lm_ids": ids(vocabulary=vocab),
      "masked_lm_weights": seqio.ContinuousFeature(dtype=tf.float32, rank=1),
  }


class TfdsDataSource(seqio.TfdsDataSource):
  """seqio.TfdsDataSource whose size is None when tfds has no split info.

  seqio asks every source for its size (to decide on in-memory caching) and
  seqio's own TfdsDataSource raises KeyError when the dataset info lists no
  splits: a dataset not prepared yet, or tfds.testing.mock_data. Unknown is
  what seqio and `example_count` expect instead.
  """

  def num_input_examples(self, split):
    try:
      return super().num_input_examples(split)
    except KeyError:
      return None


# ------------------------------ Preprocessors ------------------------------


def input_length(sequence_length):
  """L: seqio's sequence_length["input_ids"], or DEFAULT_SEQUENCE_LENGTH."""
  length = (sequence_length or {}).get("input_ids") or DEFAULT_SEQUENCE_LENGTH
  if length < 3:
    raise errors.UserError(f"sequence_length['input_ids'] is {length}; [CLS] x "
                           "[SEP] needs at least 3.")
  return length


def drop_blank_text(dataset, text_key=TEXT_KEY):
  """Drops examples whose text is empty or only (Unicode) whitespace.

  Args:
    dataset: tf.data.Dataset of dicts with a string `text_key`.
    text_key: the text feature.
  Returns:
    the dataset without blank documents.
  """
  return dataset.filter(
      lambda ex: tf.logical_not(
          tf.strings.regex_full_match(ex[text_key], _BLANK_TEXT_REGEX)))


def pack_document(dataset, sequence_length=None, output_features=None):
  """Splits each tokenized document into `[CLS] chunk [SEP]` sequences.

  Args:
    dataset: tf.data.Dataset of {"input_ids": int32 [m]}, one per document.
    sequence_length: seqio lengths; L = sequence_length["input_ids"].
    output_features: seqio output features (input_ids' vocabulary gives the
      [CLS]/[SEP] ids).
  Returns:
    dataset of {"input_ids": int32 [n]}, n <= L: ceil(m / (L-2)) examples per
    document, each one contiguous slice of that document only. Documents that
    tokenize to nothing are dropped.
  """
  specials = vocabulary_lib.special_tokens(
      output_features["input_ids"].vocabulary)
  # t5's split_tokens chunks one example at a time (never mixing documents)
  # and drops empty ones, which is exactly BERT's per-document chunking.
  dataset = t5_preprocessors.split_tokens(
      dataset, max_tokens_per_segment=input_length(sequence_length) - 2,
      feature_key="input_ids")

  @seqio.map_over_dataset
  def wrap(ex):
    ids = ex["input_ids"]
    return {"input_ids": tf.concat(
        [[specials.cls], ids, [specials.sep]], axis=0)}

  return wrap(dataset)


def default_max_predictions(length, mask_rate=0.15):
  """floor(mask_rate * L): 76 for L=512, 19 for 128 (BERT-style cap).

  floor, not round, keeps 512 at BERT's customary 76; it is never below
  round(mask_rate * (L - 2)), the count a full sequence asks for.
  """
  return max(1, int(math.floor(mask_rate * length)))


def skip_special_ids(ids, special_ids):
  """Maps 0..V-1-len(specials) one-to-one onto the non-special ids.

  Args:
    ids: int32 tensor of draws in [0, vocab_size - len(special_ids)).
    special_ids: the ids to avoid.
  Returns:
    int32 tensor of the same shape; no element is in `special_ids`.
  """
  for special in sorted(set(special_ids)):
    ids += tf.cast(ids >= special, ids.dtype)
  return ids


def mask_sequence(ids, seeds, *, special_ids, mask_id, vocab_size,
                  max_predictions, mask_rate=0.15, mask_token_prob=0.8,
                  random_token_prob=0.1):
  """BERT masking of one sequence (stateless, so reproducible per seed).

  Selects k = min(max_predictions, max(1, round(mask_rate * c))) of the c
  non-special tokens uniformly without replacement; of those, mask_token_prob
  become [MASK], random_token_prob a random non-special id, the rest stay.

  Args:
    ids: int32 [n] token ids including [CLS]/[SEP].
    seeds: three stateless seeds (each int [2]).
    special_ids: ids never selected nor drawn as random replacements.
    mask_id: the [MASK] id.
    vocab_size: ids are drawn from [0, vocab_size) minus special_ids.
    max_predictions: cap on k.
    mask_rate, mask_token_prob, random_token_prob: BERT's 0.15 / 0.8 / 0.1.
  Returns:
    dict with input_ids [n], token_type_ids [n], masked_lm_positions [k],
    masked_lm_ids [k], masked_lm_weights float32 [k].
  """
  special_ids = sorted(set(int(i) for i in special_ids))
  is_candidate = tf.reduce_all(
      tf.not_equal(ids[:, None], tf.constant(special_ids, ids.dtype)), axis=1)
  num_candidates = tf.reduce_sum(tf.cast(is_candidate, tf.int32))
  wanted = tf.cast(tf.round(tf.cast(num_candidates, tf.float32) * mask_rate),
                   tf.int32)
  k = tf.minimum(tf.minimum(max_predictions, tf.maximum(1, wanted)),
                 num_candidates)
  # Random scores with specials forced last: the top k are a uniform sample
  # of the candidates without replacement.
  scores = tf.random.stateless_uniform(tf.shape(ids), seed=seeds[0])
  scores = tf.where(is_candidate, scores, -1.0)
  positions = tf.sort(tf.math.top_k(scores, k=k).indices)
  originals = tf.gather(ids, positions)
  action = tf.random.stateless_uniform([k], seed=seeds[1])
  random_ids = skip_special_ids(
      tf.random.stateless_uniform(
          [k], seed=seeds[2], minval=0,
          maxval=vocab_size - len(special_ids), dtype=tf.int32),
      special_ids)
  replaced = tf.where(
      action < mask_token_prob, tf.cast(mask_id, ids.dtype),
      tf.where(action < mask_token_prob + random_token_prob,
               tf.cast(random_ids, ids.dtype), originals))
  return {
      "input_ids": tf.tensor_scatter_nd_update(
          ids, positions[:, None], replaced),
      "token_type_ids": tf.zeros_like(ids, dtype=tf.int32),
      "masked_lm_positions": tf.cast(positions, tf.int32),
      "masked_lm_ids": tf.cast(originals, tf.int32),
      "masked_lm_weights": tf.ones([k], tf.float32),
  }


@gin.configurable
def mask_tokens(dataset, sequence_length=None, output_features=None,
                mask_rate=0.15, max_predictions_per_seq=None,
                mask_token_prob=0.8, random_token_prob=0.1):
  """BERT masked-LM masking of every example (seeds from seqio).

  Args:
    dataset: tf.data.Dataset of {"input_ids": int32 [n]} ([CLS] ... [SEP]).
    sequence_length: seqio lengths. Caps the number of predictions at
      sequence_length["masked_lm_positions"] when given, so seqio never trims.
    output_features: seqio output features; input_ids' vocabulary gives the
      special tokens and the size random replacements are drawn from.
    mask_rate: fraction of non-special tokens selected (gin).
    max_predictions_per_seq: cap on selections per sequence (gin); None means
      floor(mask_rate * L) (`default_max_predictions`).
    mask_token_prob: selected tokens replaced by [MASK] (gin).
    random_token_prob: selected tokens replaced by a random id (gin).
  Returns:
    dataset with the five features of the module docstring. Deterministic
    for a given seqio seed (`Task.get_dataset(seed=...)` or
    `seqio.map_seed_manager`).
  """
  vocab = output_features["input_ids"].vocabulary
  specials = vocabulary_lib.special_tokens(vocab)
  length = input_length(sequence_length)
  cap = max_predictions_per_seq or default_max_predictions(length, mask_rate)
  if sequence_length and sequence_length.get("masked_lm_positions"):
    cap = min(cap, sequence_length["masked_lm_positions"])
  mask_fn = functools.partial(
      mask_sequence, special_ids=specials.ids, mask_id=specials.mask,
      vocab_size=vocab.vocab_size, max_predictions=cap, mask_rate=mask_rate,
      mask_token_prob=mask_token_prob, random_token_prob=random_token_prob)

  @seqio.map_over_dataset(num_seeds=3)
  def mask_example(ex, seeds):
    return mask_fn(ex["input_ids"], seeds)

  return mask_example(dataset)


def mlm_preprocessors(text_key=TEXT_KEY):
  """The preprocessor list of a masked-LM task reading raw `text_key`."""
  return [
      functools.partial(drop_blank_text, text_key=text_key),
      functools.partial(seqio.preprocessors.rekey,
                        key_map={"input_ids": text_key}),
      functools.partial(seqio.preprocessors.tokenize, copy_pretokenized=False),
      pack_document,
      mask_tokens,
  ]


# ------------------------------ Mixing rates -------------------------------


@gin.configurable
def example_count(task, split="train", fallback_counts=None,
                  default_count=1_000_000):
  """n_l: the number of raw examples of `task`, for mixing rates.

  Read from the data source (tfds split info) when the dataset is prepared.
  Otherwise (not downloaded, tfds mock data, in-memory sources) it falls
  back to `fallback_counts[task.name]`, then to `default_count`; both are gin
  bindable, and with neither every task weighs the same.

  Args:
    task: a seqio.Task.
    split: the split counted.
    fallback_counts: optional dict task name -> count (gin).
    default_count: count of tasks with no information (gin).
  Returns:
    a positive float.
  """
  try:
    count = task.source.num_input_examples(split)
  except KeyError:  # seqio's TfdsDataSource on a dataset not prepared
    count = None
  if not count or not np.isfinite(count):
    logging.log_first_n(logging.WARNING, "No example count for %s; using "
                        "the fallback count.", 5, task.name)
    count = (fallback_counts or {}).get(task.name, default_count)
  return float(count)


@gin.configurable
def smoothed_rate(task, alpha=0.5):
  """Exponentially smoothed mixing rate n_l ** alpha (unnormalised).

  seqio normalises rates over a mixture's tasks, so p_l = n_l^a / sum n^a.
  alpha (gin) is 0.5 in RemBERT; 1 is proportional, 0 uniform.
  """
  return example_count(task) ** alpha


def smoothed_probabilities(counts, alpha=0.5):
  """p_l proportional to n_l ** alpha.

  Args:
    counts: dict name -> example count (> 0).
    alpha: smoothing exponent.
  Returns:
    dict name -> probability (sums to 1).
  """
  weights = {name: float(n) ** alpha for name, n in counts.items()}
  total = sum(weights.values())
  return {name: w / total for name, w in weights.items()}
