"""seqio postprocess_fns: one example's model output or target -> metric input.

seqio calls a task's postprocess_fn on every example twice, with
`is_target=True` for the gold side (read from the example's features) and
on the model output, and hands the two lists to the task's metric_fns
(`rembert_mtf.evaluation.metrics`). All of this project's postprocess_fns
live here, whichever features they read, so a task registration finds them
in one place and they share one contract (output, example, is_target):

  class_id            classification: the label or argmax class id
  chunk_word_tags     token classification: the WordTags of the words one
                      (possibly split) sequence covers; metrics put the
                      sentences back together with reassemble_sentences
  qa_window_metadata  extractive QA: a window's metadata (targets) or its
                      start/end logits (predictions), for
                      evaluation.qa_answers.score_windows

`sentence_tags` runs chunk_word_tags + reassemble_sentences outside seqio,
for a custom evaluation loop.
"""

import collections
import dataclasses
import functools
from typing import Sequence

import numpy as np

from rembert_mtf.data import finetune_preprocessors
from rembert_mtf.data import qa_windows


def class_id(output, example=None, is_target=False):
  """seqio postprocess_fn for classification: the label or argmax class."""
  if is_target:
    return int(example["label"])
  output = np.asarray(output)
  return int(output.argmax(-1) if output.ndim else output)


@dataclasses.dataclass(frozen=True)
class WordTags:
  """Tag strings of the words one token-classification sequence covers."""
  sentence_id: int
  word_offset: int
  tags: tuple


def chunk_word_tags(output, example=None, is_target=False, tag_names=()):
  """seqio postprocess_fn: per-piece output -> this sequence's word tags.

  Args:
    output: predicted tag ids per piece [n'] (n' >= n; padding ignored) or
      logits [n', num_tags]; ignored when `is_target`.
    example: the sequence's features (numpy): labels, sentence_id,
      word_offset. The words sit where `labels` is not
      finetune_preprocessors.IGNORE_LABEL.
    is_target: return the example's own tags instead of the prediction's.
    tag_names: tag id -> tag string.
  Returns:
    WordTags for the words of this sequence.
  """
  labels = np.asarray(example["labels"])
  positions = np.flatnonzero(labels != finetune_preprocessors.IGNORE_LABEL)
  if is_target:
    ids = labels[positions]
  else:
    output = np.asarray(output)
    ids = (output.argmax(-1) if output.ndim == 2 else output)[positions]
  return WordTags(int(example["sentence_id"]), int(example["word_offset"]),
                  tuple(tag_names[int(i)] for i in ids))


def reassemble_sentences(chunks: Sequence[WordTags]):
  """Word tags of whole sentences from the sequences they were split into.

  Args:
    chunks: WordTags in any order.
  Returns:
    a list (by increasing sentence_id) of lists of tag strings.
  Raises:
    ValueError: if a sentence's sequences leave a gap or overlap.
  """
  by_sentence = collections.defaultdict(list)
  for chunk in chunks:
    by_sentence[chunk.sentence_id].append(chunk)
  sentences = []
  for sentence_id in sorted(by_sentence):
    tags = []
    for chunk in sorted(by_sentence[sentence_id], key=lambda c: c.word_offset):
      if chunk.word_offset != len(tags):
        # token_classification covers each word exactly once and predict
        # yields every real example, so a gap or overlap is a bug upstream.
        raise ValueError(
            f"sentence {sentence_id}: sequence starts at word "
            f"{chunk.word_offset}, expected {len(tags)} (missing or repeated "
            "sequences)")
      tags.extend(chunk.tags)
    sentences.append(tags)
  return sentences


def sentence_tags(examples, predictions, tag_names):
  """Target and predicted tags per sentence, for a custom evaluation loop.

  Args:
    examples: token-classification feature dicts (numpy), one per sequence.
    predictions: per-piece tag ids (or logits), aligned with `examples`.
    tag_names: tag id -> tag string.
  Returns:
    (targets, predictions): lists of per-sentence tag-string lists.
  """
  post = functools.partial(chunk_word_tags, tag_names=tag_names)
  targets = [post(None, example=ex, is_target=True) for ex in examples]
  preds = [post(p, example=ex) for ex, p in zip(examples, predictions)]
  return reassemble_sentences(targets), reassemble_sentences(preds)


# Here rather than next to the windows in qa_windows: it is a seqio
# postprocess_fn like the others (the module doc says why they share a
# module), and qa_windows stays the features alone, as finetune_preprocessors.
def qa_window_metadata(output, example=None, is_target=False):
  """seqio postprocess_fn: a target becomes its window's metadata.

  Args:
    output: decoded target or model output.
    example: the window (numpy features) it belongs to.
    is_target: whether `output` is the target.
  Returns:
    for targets, {feature: value} of qa_windows.METADATA_FEATURES;
    predictions (the model's {"start_logits", "end_logits"} per window)
    pass through.
  """
  if is_target:
    return {name: example[name] for name in qa_windows.METADATA_FEATURES}
  return output
