"""Extractive QA features: SQuAD-like examples in, context windows out.

Input examples are SQuAD-like (the tfds `squadlike_features` of squad, xquad,
mlqa and tydi_qa): id, question, context, answers {text, answer_start}.

`qa_windows` (a seqio preprocessor) turns each example into one or more
windows `[CLS] question [SEP] context-window [SEP]` of at most
sequence_length["input_ids"] tokens, consecutive windows starting
`doc_stride` context tokens apart, as BERT's run_squad.py does. Each window
is one dataset element with these UNPADDED features:

  input_ids            int32 [n]  token ids
  token_type_ids       int32 [n]  0 for [CLS] question [SEP], 1 after
  start_position       int32 []   answer's first token in the window, or 0
  end_position         int32 []   answer's last token in the window, or 0
                                  (0 = [CLS]: the window lacks the answer)
  example_id           string []  the question id
  window_index         int32 []   0, 1, ... within the example
  token_char_start     int32 [n]  first character of each context token in
  token_char_end       int32 [n]  the context (end exclusive), -1 elsewhere
  token_is_max_context int32 [n]  1 where this window gives the token its
                                  most context (BERT's rule), else 0
  context              string []  the original context (answers map into it)
  answers              string []  JSON list of the gold answer texts

All metadata is rank 0 or per token, so a feature converter can pad it with
the input_ids (pad token metadata with -1, -1, 0: post-processing ignores
such positions) or pass it through.

Character offsets are Unicode code points of the decoded context, i.e.
Python str indices; they come from SentencePiece's own alignment, so
normalisation (NFKC, case) never shifts them.

The way back, from per-window logits to answer texts and scores, is
`rembert_mtf.evaluation.qa_answers`; the seqio postprocess_fn that hands a
window's metadata to it is `rembert_mtf.data.postprocessors.qa_window_metadata`.
"""

import collections
import json

from absl import logging
import gin
import numpy as np

from rembert_mtf import compat  # noqa: F401  (import fix before tensorflow)
from rembert_mtf import errors
from rembert_mtf.data import vocabulary as vocabulary_lib
import tensorflow as tf  # pylint: disable=g-bad-import-order

# XTREME's (and BERT's run_squad.py's) window settings.
MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
# Window features holding per-token metadata (int32 [n], -1/0 off-context).
TOKEN_METADATA = ("token_char_start", "token_char_end", "token_is_max_context")
# Everything post-processing needs from a window besides the logits.
METADATA_FEATURES = ("example_id", "window_index", "context", "answers") + (
    TOKEN_METADATA)
# Counts since import: examples, windows, and answers whose text is not at
# answer_start in the context (their windows all point at [CLS]).
STATS = collections.Counter()
_MAX_LOGGED_UNALIGNED = 10


def tokenize_with_offsets(processor, text):
  """SentencePiece pieces of `text` with each piece's character span.

  Args:
    processor: a sentencepiece.SentencePieceProcessor.
    text: a str.
  Returns:
    (ids, starts, ends): int32 arrays; text[starts[i]:ends[i]] is the text of
    piece i without the whitespace its "▁" stands for (may be empty, e.g.
    for a lone "▁" or when NFKC splits one character into several pieces).
  """
  pieces = processor.encode_as_immutable_proto(text).pieces
  ids = np.array([p.id for p in pieces], np.int32)
  starts = np.array([p.begin for p in pieces], np.int32)
  ends = np.array([p.end for p in pieces], np.int32)
  for i in range(len(starts)):
    # A piece's span includes the space(s) before it; a span should start at
    # its first visible character so answers map back without spaces.
    while starts[i] < ends[i] and text[starts[i]].isspace():
      starts[i] += 1
  return ids, starts, ends


def char_span_to_token_span(starts, ends, char_start, char_end):
  """First and last token overlapping characters [char_start, char_end).

  Args:
    starts, ends: token character spans from tokenize_with_offsets.
    char_start, char_end: a character span (end exclusive).
  Returns:
    (first, last) token indices, or None if no non-empty token overlaps.
  """
  overlaps = np.nonzero((starts < ends) & (starts < char_end) &
                        (ends > char_start))[0]
  if not overlaps.size:
    return None
  return int(overlaps[0]), int(overlaps[-1])


def window_spans(num_tokens, max_tokens, doc_stride):
  """(start, length) of each context window, as BERT's run_squad.py.

  Args:
    num_tokens: context length in tokens.
    max_tokens: most context tokens a window holds.
    doc_stride: distance between the starts of consecutive windows.
  Returns:
    list of (start, length); one empty window for an empty context, so
    every question still gets a prediction.
  """
  spans, start = [], 0
  while True:
    length = min(num_tokens - start, max_tokens)
    spans.append((start, length))
    if start + length >= num_tokens:
      return spans
    start += min(length, doc_stride)


def max_context_flags(spans, num_tokens):
  """Which window gives each context token the most context.

  BERT's rule: a token's score in a window is min(tokens left of it, tokens
  right of it) + 0.01 * window length; the first window with the highest
  score wins.

  Args:
    spans: window (start, length) pairs from window_spans.
    num_tokens: context length in tokens.
  Returns:
    list (per window) of int32 arrays (per window token) of 0/1.
  """
  best = np.full(num_tokens, -1)
  best_score = np.full(num_tokens, -np.inf)
  for index, (start, length) in enumerate(spans):
    position = np.arange(start, start + length)
    score = np.minimum(position - start, start + length - 1 - position) + (
        0.01 * length)
    better = score > best_score[position]
    best[position[better]] = index
    best_score[position[better]] = score[better]
  return [(best[start:start + length] == index).astype(np.int32)
          for index, (start, length) in enumerate(spans)]


def _answer_char_span(context, texts, answer_starts):
  """(start, end) characters of the first answer, None if not at its offset."""
  if len(texts) == 0 or len(answer_starts) == 0:  # numpy arrays or lists
    return None
  text, start = texts[0], int(answer_starts[0])
  end = start + len(text)
  if not text.strip() or start < 0 or context[start:end] != text:
    return None
  start += len(text) - len(text.lstrip())
  end -= len(text) - len(text.rstrip())
  return start, end


def _framed(values, prefix, fill):
  """Per-context-token values laid out as window tokens, `fill` elsewhere."""
  return np.concatenate([np.full(prefix, fill), values, [fill]]).astype(
      np.int32)


def make_windows(example, processor, special, max_seq_length=MAX_SEQ_LENGTH,
                 doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH):
  """The windows of one SQuAD-like example (pure Python, see module doc).

  Args:
    example: dict with str "id", "question", "context", list "answer_texts"
      and list "answer_starts" (characters; the first answer is the label).
    processor: sentencepiece.SentencePieceProcessor of the vocabulary.
    special: vocabulary.SpecialTokens of the vocabulary.
    max_seq_length: most tokens in a window, specials included.
    doc_stride: context tokens between the starts of consecutive windows.
    max_query_length: question tokens kept (the rest is cut).
  Returns:
    list of dicts of numpy values with the window features, except
    example_id, context and answers.
  Raises:
    errors.UserError: if the question leaves no room for context.
  """
  question = processor.encode(example["question"])[:max_query_length]
  max_tokens = max_seq_length - len(question) - 3
  if max_tokens < 1:
    raise errors.UserError(
        f"max_seq_length {max_seq_length} leaves no room for context after "
        f"a {len(question)}-token question; raise the sequence length or "
        "lower qa_windows.max_query_length.")
  context = example["context"]
  ids, starts, ends = tokenize_with_offsets(processor, context)
  answer = _answer_char_span(context, example["answer_texts"],
                             example["answer_starts"])
  answer_tokens = answer and char_span_to_token_span(starts, ends, *answer)
  STATS["examples"] += 1
  if answer_tokens is None:
    STATS["unaligned_answers"] += 1
    if STATS["unaligned_answers"] <= _MAX_LOGGED_UNALIGNED:
      logging.warning("QA example %s: answer not found at answer_start; all "
                      "its windows point at [CLS].", example["id"])
  spans = window_spans(len(ids), max_tokens, doc_stride)
  flags = max_context_flags(spans, len(ids))
  prefix = len(question) + 2  # [CLS] question [SEP]
  windows = []
  for index, (start, length) in enumerate(spans):
    stop = start + length
    position = (0, 0)
    if answer_tokens and start <= answer_tokens[0] and answer_tokens[1] < stop:
      position = tuple(t - start + prefix for t in answer_tokens)
    windows.append({
        "input_ids": np.concatenate(
            [[special.cls], question, [special.sep], ids[start:stop],
             [special.sep]]).astype(np.int32),
        "token_type_ids": np.repeat(np.int32([0, 1]), [prefix, length + 1]),
        "start_position": np.int32(position[0]),
        "end_position": np.int32(position[1]),
        "window_index": np.int32(index),
        "token_char_start": _framed(starts[start:stop], prefix, -1),
        "token_char_end": _framed(ends[start:stop], prefix, -1),
        "token_is_max_context": _framed(flags[index], prefix, 0),
    })
  STATS["windows"] += len(windows)
  return windows


_TOKEN_FEATURES = ("input_ids", "token_type_ids") + TOKEN_METADATA
_SCALAR_FEATURES = ("start_position", "end_position", "window_index")


def _text(value):
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _stacked_windows(processor, special, settings, example_id, question,
                     context, answer_texts, answer_starts):
  """make_windows as fixed-type numpy outputs for tf.numpy_function."""
  windows = make_windows(
      {"id": _text(example_id), "question": _text(question),
       "context": _text(context),
       "answer_texts": [_text(t) for t in answer_texts],
       "answer_starts": list(answer_starts)},
      processor, special, **settings)
  lengths = np.array([len(w["input_ids"]) for w in windows], np.int32)
  padded = []
  for name in _TOKEN_FEATURES:
    array = np.zeros((len(windows), lengths.max()), np.int32)
    for row, window in enumerate(windows):
      array[row, :lengths[row]] = window[name]
    padded.append(array)
  scalars = [np.array([w[name] for w in windows], np.int32)
             for name in _SCALAR_FEATURES]
  answers = json.dumps([_text(t) for t in answer_texts], ensure_ascii=False)
  return [lengths] + padded + scalars + [np.array(answers.encode("utf-8"))]


@gin.configurable
def qa_windows(dataset, sequence_length, output_features,
               doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH):
  """seqio preprocessor: SQuAD-like examples -> one element per window.

  Args:
    dataset: tf.data.Dataset of tfds squadlike_features examples.
    sequence_length: seqio's feature lengths; "input_ids" is the most
      tokens per window, so windows always fit the sequences the model
      reads.
    output_features: seqio output features; "input_ids" has the
      SentencePiece vocabulary (loaded on first use, not here).
    doc_stride: context tokens between window starts; gin-bindable.
    max_query_length: question tokens kept; gin-bindable.
  Returns:
    tf.data.Dataset of windows with the features in the module doc.
  Raises:
    errors.UserError: no sequence_length["input_ids"], or one too short for
      [CLS] [SEP] [SEP] and a token.
  """
  max_seq_length = (sequence_length or {}).get("input_ids")
  if not max_seq_length or max_seq_length < 4:
    raise errors.UserError(
        "QA windows need sequence_length['input_ids'] of at least 4 (the "
        f"trainer's sequence_length); got {max_seq_length}.")
  vocab = output_features["input_ids"].vocabulary
  settings = dict(max_seq_length=max_seq_length, doc_stride=doc_stride,
                  max_query_length=max_query_length)

  def py_windows(*args):
    # The vocabulary is loaded here, at run time, not when the task is built.
    return _stacked_windows(vocab.tokenizer,
                            vocabulary_lib.special_tokens(vocab), settings,
                            *args)

  def expand(ex):
    # SentencePiece's offsets exist only in its Python API, and the number
    # of windows per example depends on the data, so the expansion runs as
    # one numpy_function per example returning [windows, tokens] arrays that
    # flat_map splits into elements.
    outputs = tf.numpy_function(
        py_windows,
        [ex["id"], ex["question"], ex["context"], ex["answers"]["text"],
         ex["answers"]["answer_start"]],
        [tf.int32] * (1 + len(_TOKEN_FEATURES) + len(_SCALAR_FEATURES)) +
        [tf.string], name="qa_windows")
    lengths = tf.ensure_shape(outputs[0], [None])
    windows = {"length": lengths}
    for name, value in zip(_TOKEN_FEATURES, outputs[1:]):
      windows[name] = tf.ensure_shape(value, [None, None])
    scalars = outputs[1 + len(_TOKEN_FEATURES):-1]
    for name, value in zip(_SCALAR_FEATURES, scalars):
      windows[name] = tf.ensure_shape(value, [None])
    count = tf.shape(lengths)[0]
    windows["example_id"] = tf.fill([count], ex["id"])
    windows["context"] = tf.fill([count], ex["context"])
    windows["answers"] = tf.fill([count], tf.ensure_shape(outputs[-1], []))
    return tf.data.Dataset.from_tensor_slices(windows).map(_unpad)

  return dataset.flat_map(expand)


def _unpad(window):
  window = dict(window)
  length = window.pop("length")
  for name in _TOKEN_FEATURES:
    window[name] = window[name][:length]
  return window
