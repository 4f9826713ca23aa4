"""Encoder fine-tuning features for sentence-pair and token classification.

These are the seqio preprocessors only; the postprocess_fns that read the
model's output back are `rembert_mtf.data.postprocessors`, the metrics
`rembert_mtf.evaluation.metrics`.

Outputs are UNPADDED, variable-length features; the encoder feature converter
pads them and adds `input_mask`.

Sentence (pair) classification, one example per input:
  input_ids       int32 [n]  [CLS] a [SEP] b [SEP]  (or [CLS] a [SEP])
  token_type_ids  int32 [n]  0 over [CLS] a [SEP], 1 over b [SEP]
  label           int32 []   class id

Token classification, one or more examples per sentence:
  input_ids       int32 [n]  [CLS] pieces of consecutive words [SEP]
  token_type_ids  int32 [n]  zeros
  labels          int32 [n]  tag id on each word's FIRST piece, -1 elsewhere
  sentence_id     int32 []   index of the sentence in the input stream
  word_offset     int32 []   index in the sentence of this sequence's 1st word
  num_words       int32 []   number of words in this sequence
A sentence whose pieces do not fit in one sequence is split at word
boundaries into several sequences, so every word is predicted and scored
exactly once; `postprocessors.chunk_word_tags` and
`postprocessors.reassemble_sentences` undo the split. A single word with
more pieces than fit is truncated to its first pieces (its label sits on
the first piece, so it is still scored). `tfds_label_names` gives the tag
names of a tfds label feature, label id = index.

Examples that cannot be converted (tokens and tags of different lengths, an
XNLI language missing from the example) are dropped, logged and counted in
`skip_counts()`, so seqio tooling (and tfds mock data, whose random
sequences rarely agree in length) reads on. A tagging sentence whose words
and tags differ in count is broken data, not a missing translation: it is
also recorded in `broken_examples()`, and the trainer refuses every run
that reads one (training/input.py `refuse_broken_examples`: one line naming
the task, the sentence and both counts). Errors found inside tf.data are
data errors (`assert_data`): a Python exception cannot leave tf.data as
itself, so `data_error` finds their one line again in the
tf.errors.InvalidArgumentError that reading the dataset raises.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import collections
import functools
from typing import Mapping

from absl import logging
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds
import tensorflow_text as tf_text

from rembert_mtf.data import vocabulary as vocabulary_lib

# Which label a piece gets when the loss and the metrics must ignore it.
IGNORE_LABEL = -1
TOKEN_METADATA_KEYS = ("sentence_id", "word_offset", "num_words")
# Starts the message of every data error raised inside tf.data.
DATA_ERROR = "rembert-mtf data error: "

_SKIPPED = collections.Counter()
# skip_key -> [count, the latest one's reason] of broken examples dropped.
_BROKEN = {}


# ------------------------------------------------------------ data errors ----


def assert_data(ok, message):
  """An op failing with DATA_ERROR + message (a string tensor) unless `ok`.

  Run it as a control dependency of what the dataset returns.
  """
  return tf.debugging.Assert(ok, [tf.strings.join([DATA_ERROR, message])])


def data_error(error):
  """The user error an OpError of a failed `assert_data` stands for.

  Args:
    error: a tf.errors.OpError raised while reading a dataset.
  Returns:
    an errors.UserError with the data error's one line, or None if `error`
    is not a data error (then it is a bug and keeps its traceback).
  """
  text = getattr(error, "message", None) or str(error)
  start = text.find(DATA_ERROR)
  if start < 0:
    return None
  line = text[start + len(DATA_ERROR):].splitlines()[0]
  # tf.debugging.Assert prints its data as "[message]"; some paths (the
  # Estimator's) also escape the message's quotes.
  line = line.replace("\\'", "'").replace('\\"', '"')
  return errors.UserError(line.rstrip("]").strip())


def _input_vocabulary(output_features):
  """The concrete vocabulary of the `input_ids` output feature."""
  vocab = output_features["input_ids"].vocabulary
  # Any deferred vocabulary with resolve() (this project has a few) works.
  return vocab.resolve() if hasattr(type(vocab), "resolve") else vocab


def _max_length(sequence_length, specials):
  """Room for pieces in a sequence of sequence_length["input_ids"]."""
  length = (sequence_length or {}).get("input_ids")
  if not length or length <= specials:
    raise errors.UserError(
        f"sequence_length['input_ids'] (the trainer's sequence_length) must "
        f"be more than {specials}, the [CLS]/[SEP] tokens; got {length}.")
  return length - specials


# ----------------------------------------------------------- skip counter ----


def skip_counts() -> Mapping[str, int]:
  """Examples dropped so far, by the `skip_key` their preprocessor was given."""
  return dict(_SKIPPED)


def broken_examples() -> Mapping[str, tuple]:
  """Broken examples dropped so far: {skip_key: (count, latest reason)}."""
  return {key: tuple(value) for key, value in _BROKEN.items()}


def reset_skip_counts():
  _SKIPPED.clear()
  _BROKEN.clear()


def _log_skip(key, reason, broken):
  key, reason = key.numpy().decode(), reason.numpy().decode()
  _SKIPPED[key] += 1
  if broken:
    _BROKEN[key] = [_BROKEN.get(key, [0])[0] + 1, reason]
  logging.warning("%s: skipped example (%s)", key, reason)
  return True


def _keep_or_count(ok, skip_key, reason, broken=False):
  """True if `ok`; otherwise logs and counts a skip and returns False.

  `broken`: the example is broken data (also in broken_examples()), not
  one a task may leave out.
  """
  def skip():
    logged = tf.py_function(_log_skip, [skip_key, reason, broken],
                            Tout=tf.bool)
    return tf.logical_not(logged)
  return tf.cond(ok, lambda: tf.constant(True), skip)


# ----------------------------------------------------- sentence (pair) -------


def pair_classification(dataset, sequence_length, output_features):
  """[CLS] text_a [SEP] text_b [SEP] with segment ids, longer side cut first.

  Args:
    dataset: examples with string `text_a`, `text_b` and integer `label`.
    sequence_length: {"input_ids": max length including the 3 specials}.
    output_features: needs "input_ids" (its vocabulary tokenizes).
  Returns:
    a dataset of {input_ids, token_type_ids, label}; see the module doc.
  """
  return _classification(dataset, sequence_length, output_features,
                         ("text_a", "text_b"))


def single_sentence_classification(dataset, sequence_length, output_features):
  """[CLS] text_a [SEP] with zero segment ids; as `pair_classification`."""
  return _classification(dataset, sequence_length, output_features,
                         ("text_a",))


def _classification(dataset, sequence_length, output_features, text_keys):
  vocab = _input_vocabulary(output_features)
  tokens = vocabulary_lib.special_tokens(vocab)
  # RoundRobinTrimmer hands out the budget one piece per segment in turn,
  # which is exactly BERT's "trim the longer segment first".
  trimmer = tf_text.RoundRobinTrimmer(
      max_seq_length=_max_length(sequence_length, len(text_keys) + 1))

  @seqio.map_over_dataset
  def encode(ex):
    segments = [tf.RaggedTensor.from_tensor(vocab.encode_tf(ex[k])[None])
                for k in text_keys]
    ids, segment_ids = tf_text.combine_segments(
        trimmer.trim(segments), start_of_sequence_id=tokens.cls,
        end_of_segment_id=tokens.sep)
    return {
        "input_ids": tf.cast(ids.flat_values, tf.int32),
        "token_type_ids": tf.cast(segment_ids.flat_values, tf.int32),
        "label": tf.cast(ex["label"], tf.int32),
    }

  return encode(dataset)


def select_xnli_language(dataset, language, skip_key="xnli"):
  """One language of an `xnli`/`xtreme_xnli` example as text_a/text_b/label.

  tfds stores `premise` as {language: text} and `hypothesis` as parallel
  `language`/`translation` lists; examples without `language` in the
  hypothesis lists are counted and skipped.

  Args:
    dataset: tfds xnli-format examples.
    language: e.g. "de".
    skip_key: name the skips are counted under.
  Returns:
    a dataset of {text_a, text_b, label}.
  """
  def has_language(ex):
    hyp = ex["hypothesis"]
    ok = tf.logical_and(
        tf.equal(tf.size(hyp["language"]), tf.size(hyp["translation"])),
        tf.reduce_any(tf.equal(hyp["language"], language)))
    return _keep_or_count(ok, skip_key, f"no {language} hypothesis")

  @seqio.map_over_dataset
  def select(ex):
    hyp = ex["hypothesis"]
    return {
        "text_a": ex["premise"][language],
        "text_b": tf.boolean_mask(hyp["translation"],
                                  tf.equal(hyp["language"], language))[0],
        "label": ex["label"],
    }

  return select(dataset.filter(has_language))


# ------------------------------------------------------------- token level ---


def token_classification(dataset, sequence_length, output_features,
                         skip_key="token_classification"):
  """Word-level tags to first-piece labels, splitting long sentences.

  Args:
    dataset: examples with `words` (string [w]) and `tags` (int [w]).
    sequence_length: {"input_ids": max length including [CLS] and [SEP]}.
    output_features: needs "input_ids" (its vocabulary tokenizes).
    skip_key: the task's name: sentences whose words and tags differ in
      count are dropped and counted under it as broken examples (the
      trainer refuses to read them; see the module doc).
  Returns:
    a dataset of {input_ids, token_type_ids, labels, sentence_id,
    word_offset, num_words}; see the module doc.
  """
  vocab = _input_vocabulary(output_features)
  tokens = vocabulary_lib.special_tokens(vocab)
  budget = _max_length(sequence_length, 2)

  def numbered(sentence_id, ex):
    return dict(ex, sentence_id=tf.cast(sentence_id, tf.int32))

  def same_lengths(ex):
    words, tags = tf.size(ex["words"]), tf.size(ex["tags"])
    reason = tf.strings.join([
        "the sentence at index ", tf.strings.as_string(ex["sentence_id"]),
        " has ", tf.strings.as_string(words), " words but ",
        tf.strings.as_string(tags), " tags"])
    return _keep_or_count(tf.equal(words, tags), skip_key, reason,
                          broken=True)

  def split(ex):
    return tf.data.Dataset.from_tensor_slices(
        _split_sentence(ex, vocab, tokens, budget)).map(_unpad)

  # One sentence may become several sequences: map_over_dataset is 1-to-1.
  return (dataset.enumerate().map(numbered).filter(same_lengths)
          .flat_map(split))


def _word_pieces(words, vocab, unk_id, budget):
  """Pieces of each word (ragged [w, p]): >= 1 each, at most `budget`."""
  pieces = tf.cast(vocab.encode_tf(words), tf.int32)
  # A word SentencePiece reduces to nothing still needs a piece to label.
  empty = tf.equal(pieces.row_lengths(), 0)
  filler = tf.RaggedTensor.from_row_lengths(
      tf.fill([tf.reduce_sum(tf.cast(empty, tf.int32))], unk_id),
      tf.cast(empty, tf.int64))
  return tf.concat([pieces, filler], axis=1)[:, :budget]


def _chunk_of_each_word(lengths, budget):
  """Greedy split: a word opens a new chunk when it overflows the current."""
  def step(state, length):
    chunk, used = state[0], state[1]
    new = tf.logical_and(used > 0, used + length > budget)
    return tf.stack([tf.where(new, chunk + 1, chunk),
                     tf.where(new, length, used + length)])
  # Sequential by nature (each decision depends on the previous fill).
  states = tf.scan(step, lengths, initializer=tf.constant([0, 0]))
  return tf.reshape(states, [-1, 2])[:, 0]


def _split_sentence(ex, vocab, tokens, budget):
  """Sequences (padded, with lengths) covering one sentence's words."""
  pieces = _word_pieces(ex["words"], vocab, tokens.unk, budget)
  lengths = tf.cast(pieces.row_lengths(), tf.int32)
  chunk = _chunk_of_each_word(lengths, budget)
  num_chunks = tf.reduce_max(tf.concat([chunk, [-1]], 0)) + 1
  first_piece = pieces.row_starts()[:, None]
  labels = tf.tensor_scatter_nd_update(
      tf.fill(tf.shape(pieces.flat_values), IGNORE_LABEL), first_piece,
      tf.cast(ex["tags"], tf.int32))
  piece_chunk = tf.cast(tf.repeat(chunk, lengths), tf.int64)

  def framed(values, cls, sep):
    body = tf.RaggedTensor.from_value_rowids(
        values, piece_chunk, tf.cast(num_chunks, tf.int64))
    edge = lambda v: tf.RaggedTensor.from_tensor(tf.fill([num_chunks, 1], v))
    return tf.concat([edge(cls), body, edge(sep)], axis=1)

  ids = framed(pieces.flat_values, tokens.cls, tokens.sep)
  word_index = tf.range(tf.size(chunk))
  return {
      "input_ids": ids.to_tensor(),
      "labels": framed(labels, IGNORE_LABEL, IGNORE_LABEL).to_tensor(),
      "length": tf.cast(ids.row_lengths(), tf.int32),
      "sentence_id": tf.fill([num_chunks], ex["sentence_id"]),
      "word_offset": tf.math.unsorted_segment_min(word_index, chunk,
                                                  num_chunks),
      "num_words": tf.math.unsorted_segment_sum(tf.ones_like(chunk), chunk,
                                                num_chunks),
  }


def _unpad(ex):
  length = ex.pop("length")
  ids = ex.pop("input_ids")[:length]
  return dict(ex, input_ids=ids, token_type_ids=tf.zeros_like(ids),
              labels=ex["labels"][:length])


# ------------------------------------------------------------ label names ---


@functools.lru_cache(maxsize=None)
def tfds_label_names(tfds_name: str, feature: str):
  """Names of a tfds ClassLabel (or Sequence of ClassLabel) feature.

  Args:
    tfds_name: e.g. "wikiann/en:1.0.0"; only the builder code is read, no data.
    feature: e.g. "tags".
  Returns:
    a tuple of label names, index = label id.
  """
  info = tfds.builder(tfds_name).info.features[feature]
  return tuple(getattr(info, "feature", info).names)
