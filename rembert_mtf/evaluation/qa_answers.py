"""Extractive QA answers: per-window logits in, answer texts and scores out.

The windows are those of `rembert_mtf.data.qa_windows` (see its module doc
for the features); post-processing reads each window's metadata (what the
seqio postprocess_fn `rembert_mtf.data.postprocessors.qa_window_metadata`
returns for targets) together with the model's "start_logits" and
"end_logits" over the window's tokens.

`nbest_spans` ranks the candidate spans of one question over all its
windows, `best_answers` picks each question's best answer text,
`write_predictions` writes the question id -> answer JSON that the SQuAD and
MLQA evaluation scripts read, and `score_windows` is the bridge to a metric
of `rembert_mtf.evaluation.metrics` (squad_em_f1, mlqa_em_f1).
"""

import collections
import json
import os

import numpy as np

from rembert_mtf import compat  # noqa: F401  (import fix before tensorflow)
import tensorflow as tf  # pylint: disable=g-bad-import-order


def _text(value):
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _top_indices(logits, n):
  # Stable, so ties keep position order like run_squad's sorted().
  return np.argsort(-logits, kind="stable")[:n]


def nbest_spans(windows, n_best_size=20, max_answer_length=30):
  """Best answer spans over all windows of one question.

  A span (s, e) of a window is a candidate when s is among the window's
  n_best_size context tokens with the highest start logits and e among those
  with the highest end logits, s <= e, e - s + 1 <= max_answer_length and
  the window is the max-context window of token s (run_squad's rules, except
  that run_squad takes the top n over all positions before dropping
  non-context ones, so high question or padding logits can crowd out every
  context token).

  Args:
    windows: dicts with the window metadata (module doc) plus float
      "start_logits" and "end_logits" [>= n] (extra positions, e.g. padding,
      are ignored).
    n_best_size: start/end candidates per window, and spans returned.
    max_answer_length: longest answer in tokens.
  Returns:
    list of (score, text) best first, text sliced from the original context
    by the spans' character offsets; at most n_best_size.
  """
  candidates = []
  for window in windows:
    char_start = np.asarray(window["token_char_start"])
    char_end = np.asarray(window["token_char_end"])
    max_context = np.asarray(window["token_is_max_context"])
    n = len(char_start)
    in_context = (char_start >= 0) & (char_end >= 0)
    start_logits = np.asarray(window["start_logits"], np.float64)[:n]
    end_logits = np.asarray(window["end_logits"], np.float64)[:n]
    context = _text(window["context"])
    for s in _top_indices(np.where(in_context, start_logits, -np.inf),
                          n_best_size):
      if not in_context[s] or not max_context[s]:
        continue
      for e in _top_indices(np.where(in_context, end_logits, -np.inf),
                            n_best_size):
        if (not in_context[e] or e < s or e - s + 1 > max_answer_length or
            char_end[e] < char_start[s]):
          continue
        candidates.append((start_logits[s] + end_logits[e],
                           context[char_start[s]:char_end[e]]))
  candidates.sort(key=lambda c: -c[0])
  return candidates[:n_best_size]


def best_answers(windows, n_best_size=20, max_answer_length=30):
  """Question id -> best answer text (empty if no valid span).

  Args:
    windows: iterable of window dicts as nbest_spans takes, each with its
      "example_id"; windows of one question may come in any order.
    n_best_size, max_answer_length: as nbest_spans.
  Returns:
    dict question id -> answer text, the official scripts' format.
  """
  by_question = collections.defaultdict(list)
  for window in windows:
    by_question[_text(window["example_id"])].append(window)
  answers = {}
  for question_id, question_windows in by_question.items():
    spans = nbest_spans(question_windows, n_best_size, max_answer_length)
    answers[question_id] = spans[0][1] if spans else ""
  return answers


def write_predictions(predictions, path):
  """Writes {question id: answer} as the JSON the evaluation scripts read.

  Args:
    predictions: dict question id -> answer text.
    path: output file (local or any tf.io.gfile path).
  """
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(predictions, ensure_ascii=False, indent=1))


def gold_answers(answers):
  """A window's "answers" (qa_windows' JSON string, or texts) as a list."""
  if isinstance(answers, (bytes, str)):
    return json.loads(_text(answers))
  return [_text(a) for a in answers]


def score_windows(targets, predictions, score_fn, n_best_size=20,
                  max_answer_length=30):
  """Scores per-window logits against the gold answers of their questions.

  Args:
    targets: list of window metadata dicts (what
      postprocessors.qa_window_metadata returns for targets).
    predictions: list, aligned with targets, of {"start_logits",
      "end_logits"} dicts or (start_logits, end_logits) pairs.
    score_fn: metric taking (list of gold-answer lists, list of answers),
      e.g. metrics.squad_em_f1.
    n_best_size, max_answer_length: as nbest_spans.
  Returns:
    score_fn's dict over all questions.
  """
  windows, golds = [], {}
  for target, prediction in zip(targets, predictions, strict=True):
    if not isinstance(prediction, dict):
      prediction = dict(zip(("start_logits", "end_logits"), prediction))
    windows.append({**target, **prediction})
    golds[_text(target["example_id"])] = gold_answers(target["answers"])
  answers = best_answers(windows, n_best_size, max_answer_length)
  ids = sorted(golds)
  return score_fn([golds[i] for i in ids], [answers[i] for i in ids])
