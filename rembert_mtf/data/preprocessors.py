"""Masked-LM pre-training preprocessing and mixing rates for RemBERT.

RemBERT (Chung et al., ICLR 2021) pre-trains with BERT's masked-LM objective
only (no next-sentence prediction). Documents are packed as RoBERTa's
FULL-SENTENCES inputs are: consecutive documents of a task, each followed
by [SEP], fill sequences of exactly L tokens `[CLS] doc [SEP] doc [SEP] do`
(the last one of a task may be shorter), so short documents (Wikipedia's
median article is far shorter than 512 pieces) do not become padding.
Whether attention crosses document boundaries is `pack_documents.attention`
(gin): "cross" (RoBERTa's choice, the default) or "within", which adds
`segment_ids` (1, 2, ... per document, as seqio's packing writes them) and
the encoder attends only within a segment. `chunk_document` is the older
per-document chunking (BERT's: one document per example).

Pipeline (see `mlm_preprocessors`):
  raw {"text": ...}  -> drop blank text -> rekey to input_ids -> tokenize
  -> pack documents into sequences of L -> BERT masking.

Features produced (variable length; `feature_converters` pads them):
  input_ids           int32 [n]  tokens after masking, n <= L
  token_type_ids      int32 [n]  zeros (one segment: no NSP)
  masked_lm_positions int32 [p]  sorted positions of the selected tokens
  masked_lm_ids       int32 [p]  original ids at those positions
  masked_lm_weights   float32 [p] ones
  segment_ids         int32 [n]  only with pack_documents.attention = "within"

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


def chunk_document(dataset, sequence_length=None, output_features=None):
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


ATTENTION_MODES = ("cross", "within")
SEGMENT_IDS = "segment_ids"


@gin.configurable
def pack_documents(dataset, sequence_length=None, output_features=None,
                   attention="cross"):
  """Packs consecutive documents into sequences of exactly L tokens.

  Args:
    dataset: tf.data.Dataset of {"input_ids": int32 [m]}, one per document,
      in the task's order.
    sequence_length: seqio lengths; L = sequence_length["input_ids"].
    output_features: seqio output features (input_ids' vocabulary gives the
      [CLS]/[SEP] ids).
    attention: "cross" (attention spans the packed documents, RoBERTa's
      FULL-SENTENCES) or "within" (adds segment_ids; see the module
      docstring). gin: `pack_documents.attention`.
  Returns:
    dataset of {"input_ids": int32 [L]} (and segment_ids int32 [L]): [CLS]
    then L - 1 tokens of the stream `doc_1 [SEP] doc_2 [SEP] ...`; only the
    task's last sequence may be shorter. A document longer than L - 1
    continues in the next sequence, as in RoBERTa.
  """
  if attention not in ATTENTION_MODES:
    raise errors.UserError(
        f"pack_documents.attention must be one of {ATTENTION_MODES}, got "
        f"{attention!r}.")
  specials = vocabulary_lib.special_tokens(
      output_features["input_ids"].vocabulary)
  body = input_length(sequence_length) - 1
  dataset = dataset.filter(lambda ex: tf.size(ex["input_ids"]) > 0)

  def tokens(index, ex):
    ids = tf.concat([tf.cast(ex["input_ids"], tf.int32), [specials.sep]], 0)
    # Each token carries its document's index, for segment ids after the
    # stream is cut (tf.data's unbatch/batch run in C++, not per token in
    # Python).
    return {"input_ids": ids,
            "document": tf.fill(tf.shape(ids), tf.cast(index, tf.int32))}

  stream = dataset.enumerate().map(
      tokens, num_parallel_calls=tf.data.AUTOTUNE).unbatch()

  def frame(chunk):
    ids = tf.concat([[specials.cls], chunk["input_ids"]], 0)
    if attention == "cross":
      return {"input_ids": ids}
    document = tf.concat([chunk["document"][:1], chunk["document"]], 0)
    return {"input_ids": ids,
            SEGMENT_IDS: document - document[0] + 1}

  return stream.batch(body).map(frame, num_parallel_calls=tf.data.AUTOTUNE)


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
    masked = mask_fn(ex["input_ids"], seeds)
    if SEGMENT_IDS in ex:  # packed with attention within documents
      masked[SEGMENT_IDS] = ex[SEGMENT_IDS]
    return masked

  return mask_example(dataset)


def mlm_preprocessors(text_key=TEXT_KEY):
  """The preprocessor list of a masked-LM task reading raw `text_key`."""
  return [
      functools.partial(drop_blank_text, text_key=text_key),
      functools.partial(seqio.preprocessors.rekey,
                        key_map={"input_ids": text_key}),
      functools.partial(seqio.preprocessors.tokenize, copy_pretokenized=False),
      # `rembert-mtf cache` stores the tokenised documents (seqio caches what
      # comes before this); packing and masking need the sequence length and
      # stay on the fly, so each epoch draws new masks as BERT's dynamic
      # masking does.
      seqio.CacheDatasetPlaceholder(),
      pack_documents,
      mask_tokens,
  ]


# ------------------------------ Mixing rates -------------------------------
#
# RemBERT samples a language l with probability p_l proportional to
# n_l ** alpha, n_l the language's data pooled over its sources (Wikipedia
# and mC4). seqio mixes tasks, one per (source, language), so a task t of
# language l gets the rate r_t = n_t * n_l ** (alpha - 1): summed over l's
# tasks that is n_l ** alpha, and within l each task keeps its natural share
# n_t / n_l. seqio normalises the rates over a mixture's tasks.
#
# The unit of n is bytes: a tfds split info holds num_bytes (the sum of the
# split's serialized examples, as tfds writes them) and num_examples, and
# documents are no measure of text (a Wikipedia stub and a long article count
# the same). Bytes are the UTF-8 text plus the other features (Wikipedia's
# title, mC4's url and timestamp) and the framing, so a proxy for
# characters: 1 byte a character in Latin script, 2 in Cyrillic, Greek,
# Hebrew or Arabic, 3 in CJK, Thai or Indic scripts.
#
# A size that cannot be read is an error naming the task and the fix, never
# a default: the same default for every task is uniform sampling.


class MissingSizeError(errors.UserError):
  """Tasks of a mixture have no size to compute their mixing rates from.

  Attributes:
    task_names: the tasks, in the order found.
    problem: why the (first) size is missing.
    fix: what the user does about it.
  """

  def __init__(self, task_names, problem, fix, where=""):
    names = ", ".join(task_names[:3])
    if len(task_names) > 3:
      names += f" and {len(task_names) - 3} more"
    likewise = " (likewise for the others)" if len(task_names) > 1 else ""
    super().__init__(
        f"no size for {names}{where}: {problem}{likewise}; {fix}")
    self.task_names = list(task_names)
    self.problem = problem
    self.fix = fix

  @classmethod
  def merge(cls, missing, where=""):
    """One error for several: every task named, the first one's fix."""
    names = list(dict.fromkeys(n for e in missing for n in e.task_names))
    return cls(names, missing[0].problem, missing[0].fix, where)


def _binding_fix(task_name):
  return (f"bind `smoothed_rate.sizes = {{'{task_name}': <bytes>, ...}}` "
          "(gin)")


def _tfds_split_bytes(task, split):
  """num_bytes of the tfds split that a task's `split` reads.

  Args:
    task: a seqio.Task whose source is a seqio.TfdsDataSource.
    split: the task's (canonical) split.
  Returns:
    the split's num_bytes, > 0.
  Raises:
    MissingSizeError: the split info is absent (dataset not prepared) or
      holds no byte count.
  """
  loader = task.source.tfds_dataset
  # seqio keeps the canonical -> tfds split renaming (mC4's "train" -> "af")
  # only on its loader, with no public accessor.
  tfds_split = loader._map_split(split)  # pylint: disable=protected-access
  name = loader.name
  fix = (f"run `tfds build {name}` (or set TFDS_DATA_DIR to a prepared "
         f"copy) or {_binding_fix(task.name)}")
  try:
    info = loader.info.splits[tfds_split]
  except KeyError:
    raise MissingSizeError(
        [task.name], f"tfds has no split info for {name} split {tfds_split} "
        "(the dataset is not prepared)", fix) from None
  num_bytes = int(info.num_bytes)
  if num_bytes <= 0:  # tfds writes 0 when the size is unknown
    raise MissingSizeError(
        [task.name], f"the tfds split info of {name} split {tfds_split} "
        "has no byte count (num_bytes 0)", fix)
  return num_bytes


def task_size(task, split="train", sizes=None):
  """n_t: the size of a task's raw text in bytes, for mixing rates.

  Args:
    task: a seqio.Task.
    split: the split measured.
    sizes: optional sizes that win over the data source: a dict task name
      -> bytes (gin `smoothed_rate.sizes`), or a function task name -> bytes
      or None (a program that knows its data, as the demo does).
  Returns:
    a positive float: sizes[task.name] if given, else the num_bytes of the
    task's tfds split info.
  Raises:
    MissingSizeError: one line naming the task and the fix (prepare the tfds
      dataset, or bind the size), when neither has it.
    errors.UserError: a given size that is not a positive number.
  """
  given = None
  if callable(sizes):
    given = sizes(task.name)
  elif sizes:
    given = sizes.get(task.name)
  if given is not None:
    try:
      value = float(given)
    except (TypeError, ValueError):
      value = float("nan")
    if not (np.isfinite(value) and value > 0):
      raise errors.UserError(
          f"the size of {task.name} is {given!r}; sizes are bytes of text, "
          "positive numbers (`smoothed_rate.sizes`)")
    return value
  if isinstance(task.source, seqio.TfdsDataSource):
    return float(_tfds_split_bytes(task, split))
  raise MissingSizeError(
      [task.name], f"its {type(task.source).__name__} has no byte count",
      _binding_fix(task.name))


def pooled_rates(sizes, languages, alpha):
  """Rates n_t * n_l ** (alpha - 1), n_l the sum of n_t over l's tasks.

  Args:
    sizes: dict task name -> n_t (> 0).
    languages: dict task name -> language (every key of `sizes`).
    alpha: smoothing exponent (1 proportional to size, 0 uniform over
      languages).
  Returns:
    dict task name -> unnormalised rate; the rates of a language's tasks sum
    to n_l ** alpha.
  """
  totals = {}
  for name, n in sizes.items():
    totals[languages[name]] = totals.get(languages[name], 0.0) + float(n)
  return {name: float(n) * totals[languages[name]] ** (alpha - 1.0)
          for name, n in sizes.items()}


@gin.configurable("smoothed_rate")
def smoothing_bindings(alpha=0.5, sizes=None):
  """The gin bindings `smoothed_rate.alpha` and `smoothed_rate.sizes`.

  Apart from `smoothed_rate` itself because gin adds a line to every
  exception raised inside a configurable, and a missing size is one line.

  Returns:
    (alpha, sizes) as bound.
  """
  return alpha, sizes


def smoothed_rate(task, languages=None, alpha=None, sizes=None):
  """seqio mixing rate of `task`: n_t * n_l ** (alpha - 1) (unnormalised).

  As a mixture's default_rate it samples language l with p_l proportional
  to n_l ** alpha, n_l pooled over the mixture's tasks of language l (see
  `smoothed_rate_per_language`); without `languages` each task is its own
  language and the rate is n_t ** alpha.

  Args:
    task: a seqio.Task.
    languages: dict task name -> language over the mixture's tasks (None:
      the task alone).
    alpha: smoothing exponent; None reads gin `smoothed_rate.alpha` (0.5,
      as in RemBERT). 1 samples proportionally to size, 0 uniformly over
      languages.
    sizes: sizes in bytes that win over tfds split info; None reads gin
      `smoothed_rate.sizes = {'wiki_af': ..., ...}`. See `task_size`.
  Returns:
    a positive float.
  Raises:
    MissingSizeError: tasks of the language have no size (all named).
  """
  bound_alpha, bound_sizes = smoothing_bindings()
  alpha = bound_alpha if alpha is None else alpha
  sizes = bound_sizes if sizes is None else sizes
  if languages is None:
    group = {task.name: task}
  else:
    if task.name not in languages:
      raise ValueError(f"{task.name} is not in the mixture's language table")
    language = languages[task.name]
    group = {name: (task if name == task.name else
                    seqio.TaskRegistry.get(name))
             for name, lang in languages.items() if lang == language}
  group_sizes, missing = {}, []
  for name, member in group.items():
    try:
      group_sizes[name] = task_size(member, sizes=sizes)
    except MissingSizeError as e:
      missing.append(e)
  if missing:
    raise MissingSizeError.merge(missing)
  rates = pooled_rates(group_sizes, dict.fromkeys(group, "l"), alpha)
  return rates[task.name]


def smoothed_rate_per_language(languages, sizes=None):
  """A seqio rate function pooling each language over its tasks.

  Args:
    languages: dict task name -> language, for every task of the mixture
      (pooling is over these tasks only: wiki_104 pools nothing, rembert_110
      pools Wikipedia with mC4).
    sizes: optional sizes for `task_size` (a dict or a function of the task
      name); they replace the gin binding `smoothed_rate.sizes`.
  Returns:
    a function Task -> rate, for seqio.Mixture(default_rate=...); alpha is
    read from gin (`smoothed_rate.alpha`) when the rate is evaluated.
  """
  kwargs = {"languages": dict(languages)}
  if sizes is not None:
    kwargs["sizes"] = sizes
  return functools.partial(smoothed_rate, **kwargs)


def _is_smoothed_rate(rate):
  return rate is smoothed_rate or (isinstance(rate, functools.partial) and
                                   rate.func is smoothed_rate)


def mixture_probabilities(mixture, alpha=None):
  """Every task's sampling probability in a mixture, all rates evaluated.

  Args:
    mixture: a seqio.Mixture.
    alpha: None for the mixture's own rates; a number to use it as the
      smoothing exponent instead: rates made by `smoothed_rate` are
      recomputed with it (pooling as they do), any other rate is replaced by
      the task's own size ** alpha.
  Returns:
    dict task name -> probability, summing to 1.
  Raises:
    MissingSizeError: one line naming the tasks without a size (all of them,
      not only the first) and the fix.
    errors.UserError: a rate that is negative or not finite, or all zero.
  """
  rates, missing = {}, []
  for task in mixture.tasks:
    try:
      if alpha is None:
        rate = mixture.get_rate(task)
      else:
        rate_fn = mixture.rate_per_task_name.get(task.name)
        if not _is_smoothed_rate(rate_fn):
          rate_fn = smoothed_rate
        rate = rate_fn(task, alpha=alpha)
    except MissingSizeError as e:
      missing.append(e)
      continue
    rate = float(rate)
    if not (np.isfinite(rate) and rate >= 0):
      raise errors.UserError(
          f"mixture {mixture.name}: the rate of {task.name} is {rate}; "
          "mixing rates are finite and >= 0")
    rates[task.name] = rate
  if missing:
    count = len(MissingSizeError.merge(missing).task_names)
    share = ("all" if count == len(mixture.tasks) else
             f"{count} of the") + f" {len(mixture.tasks)}"
    raise MissingSizeError.merge(
        missing, f" ({share} tasks of mixture {mixture.name})")
  total = sum(rates.values())
  if total <= 0:
    raise errors.UserError(
        f"mixture {mixture.name}: every mixing rate is 0; give a task a "
        "positive rate")
  return {name: rate / total for name, rate in rates.items()}


def check_mixture_rates(provider):
  """Evaluates every mixing rate of what a run trains on, before any graph.

  Training calls this first, so that a missing size is one line naming the
  tasks and the fix, not an exception from inside seqio's dataset building.

  Args:
    provider: a seqio.Mixture or seqio.Task.
  Returns:
    dict task name -> probability ({name: 1.0} for a task).
  Raises:
    MissingSizeError, errors.UserError: as `mixture_probabilities`.
  """
  if not isinstance(provider, seqio.Mixture):
    return {provider.name: 1.0}
  probabilities = mixture_probabilities(provider)
  largest = sorted(probabilities.items(), key=lambda kv: -kv[1])[:3]
  logging.info("Mixture %s: %d tasks; largest shares %s", provider.name,
               len(probabilities),
               ", ".join(f"{n} {p:.3f}" for n, p in largest))
  return probabilities


def smoothed_probabilities(counts, alpha=0.5):
  """p_l proportional to n_l ** alpha (each name its own language).

  Args:
    counts: dict name -> size (> 0).
    alpha: smoothing exponent.
  Returns:
    dict name -> probability (sums to 1).
  """
  weights = {name: float(n) ** alpha for name, n in counts.items()}
  total = sum(weights.values())
  return {name: w / total for name, w in weights.items()}
