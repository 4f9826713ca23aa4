"""QA post-processing on fixtures: n-best spans, answers, files, scores."""

import json

import numpy as np

from rembert_mtf.data import postprocessors
from rembert_mtf.data import qa_windows
from rembert_mtf.evaluation import metrics
from rembert_mtf.evaluation import qa_answers
# The windows scored here are laid out by the windowing tests' helpers.
from tests.data import test_qa_windows as windows_test


# Its fixtures too: the test SentencePiece model, its tokenizer and tokens.
vocab = windows_test.vocab
tok = windows_test.tok
special = windows_test.special


def with_logits(window, context, qid, start, end, n=None):
  """A window as post-processing sees it, logits -10 except at start/end."""
  n = n or len(window["input_ids"])
  start_logits, end_logits = np.full(n, -10.0), np.full(n, -10.0)
  for position, value in start.items():
    start_logits[position] = value
  for position, value in end.items():
    end_logits[position] = value
  return {**window, "example_id": qid, "context": context,
          "start_logits": start_logits, "end_logits": end_logits}


def test_max_context_window_wins_over_a_higher_score(tok, special):
  context, _, windows = windows_test.small_windows(tok, special, (5, 5))
  # Window 0 scores "ta" (token 5) 20, but token 5 has more context in
  # window 1, where "ri po" (tokens 6-7) scores 8: run_squad picks "ri po".
  scored = [with_logits(windows[0], context, "q", {8: 10.}, {8: 10.}),
            with_logits(windows[1], context, "q", {6: 4.}, {7: 4.}),
            with_logits(windows[2], context, "q", {}, {})]
  assert qa_answers.best_answers(scored) == {"q": "ri po"}
  # Once window 1 itself scores "ta" highest, "ta" wins.
  scored[1]["start_logits"][5] = scored[1]["end_logits"][5] = 5.
  assert qa_answers.best_answers(scored) == {"q": "ta"}


def synthetic_window(start_logits, end_logits):
  # [CLS] q [SEP] alpha beta gamma delta [SEP], as make_windows lays out.
  return {"example_id": b"x", "context": "alpha beta  gamma délta",
          "token_char_start": np.array([-1, -1, -1, 0, 6, 12, 18, -1]),
          "token_char_end": np.array([-1, -1, -1, 5, 10, 17, 23, -1]),
          "token_is_max_context": np.array([0, 0, 0, 1, 1, 1, 1, 0]),
          "start_logits": np.array(start_logits, float),
          "end_logits": np.array(end_logits, float)}


def test_spans_outside_context_or_reversed_are_skipped():
  # The best logits sit on [CLS], the question and the final [SEP] (18 if
  # taken); the reversed span (5, 4) would score 9; the best valid one is
  # (5, 6) = 5 + 3.
  window = synthetic_window([9, 9, 9, 2, 1, 5, 0, 9],
                            [9, 9, 9, 0, 4, 1, 3, 9])
  spans = qa_answers.nbest_spans([window])
  assert spans[0] == (8.0, "gamma délta")
  assert max(score for score, _ in spans[1:]) <= 6.0
  assert (6.0, "alpha beta") in spans and (6.0, "gamma") in spans
  assert (5.0, "alpha beta  gamma délta") in spans  # (3, 6) = 2 + 3
  assert len(spans) == 10  # every s <= e among the 4 context tokens
  # The top-2 is taken among context tokens, not [CLS] and the question.
  assert qa_answers.nbest_spans([window], n_best_size=2)[0] == (
      8.0, "gamma délta")


def test_max_answer_length_and_n_best():
  window = synthetic_window([0, 0, 0, 2, 1, 5, 0, 0],
                            [0, 0, 0, 0, 4, 1, 3, 0])
  spans = qa_answers.nbest_spans([window], n_best_size=3, max_answer_length=2)
  # Top-3 starts 5, 3, 4 and ends 4, 6, 5; of length <= 2: (5,6)=8,
  # (5,5)=6, (3,4)=6, (4,4)=5, (4,5)=2. Ties keep start-then-end order.
  assert spans == [(8.0, "gamma délta"), (6.0, "gamma"), (6.0, "alpha beta")]


def test_padding_logits_are_ignored():
  window = synthetic_window([0, 0, 0, 0, 3, 0, 0, 0] + [50] * 376,
                            [0, 0, 0, 0, 3, 0, 0, 0] + [50] * 376)
  assert qa_answers.best_answers([window]) == {"x": "beta"}


def test_metadata_padded_like_the_feature_converter_is_ignored():
  window = synthetic_window([0, 0, 0, 0, 3, 0, 0, 0] + [50] * 376,
                            [0, 0, 0, 0, 3, 0, 0, 0] + [50] * 376)
  for name, fill in (("token_char_start", -1), ("token_char_end", -1),
                     ("token_is_max_context", 0)):
    window[name] = np.pad(window[name], (0, 376), constant_values=fill)
  assert qa_answers.best_answers([window]) == {"x": "beta"}


def test_no_valid_span_gives_empty_answer():
  window = synthetic_window([1] * 8, [1] * 8)
  window["token_is_max_context"][:] = 0
  assert qa_answers.best_answers([window]) == {"x": ""}


def test_write_predictions_round_trips_non_ascii(tmp_path):
  path = str(tmp_path / "out" / "predictions.json")
  qa_answers.write_predictions({"q1": "日本京", "q2": ""}, path)
  text = open(path, encoding="utf-8").read()
  assert "日本京" in text
  assert json.loads(text) == {"q1": "日本京", "q2": ""}


def oracle(window):
  n = len(window["input_ids"])
  start, end = np.zeros(n), np.zeros(n)
  start[window["start_position"]] = end[window["end_position"]] = 10.0
  return {"start_logits": start, "end_logits": end}


def test_score_windows_with_oracle_and_with_a_miss(tok, special):
  targets, predictions = [], []
  for qid, answer in (("a", "ta ri"), ("b", "ne")):
    context = windows_test.words(10)
    for window in qa_windows.make_windows(
        windows_test.example(context, answer), tok, special,
        **windows_test.SMALL):
      window.update(example_id=qid.encode(), context=context.encode(),
                    answers=np.array([answer.encode(), b"other"], object))
      targets.append(postprocessors.qa_window_metadata(None, window,
                                                       is_target=True))
      predictions.append(oracle(window))
  assert qa_answers.score_windows(targets, predictions,
                                  metrics.squad_em_f1) == {
                                      "em": 100.0, "f1": 100.0}
  # Question b's windows now all prefer "ka" (token 0, in window 0 only).
  for target, prediction in zip(targets, predictions):
    if target["example_id"] == b"b":
      prediction["start_logits"][:] = prediction["end_logits"][:] = 0
      if target["window_index"] == 0:
        prediction["start_logits"][3] = prediction["end_logits"][3] = 10
  pairs = [(p["start_logits"], p["end_logits"]) for p in predictions]
  assert qa_answers.score_windows(targets, pairs, metrics.squad_em_f1) == {
      "em": 50.0, "f1": 50.0}


