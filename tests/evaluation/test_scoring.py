"""Task metrics from synthetic trainer.predict dicts (no model needed)."""

import json

import numpy as np
import pytest

from rembert_mtf.evaluation import scoring as evaluation
from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.tasks import xtreme

LENGTH = 16
NER_TAGS = fp.tfds_label_names(xtreme.WIKIANN.format("en"), "tags")
POS_TAGS = fp.tfds_label_names(xtreme.XTREME_POS.format("en"), "upos")


# ---------------------------------------------------------- classification --


def cls_prediction(gold, predicted):
  """A trainer.predict dict of a classification task."""
  return {"input_ids": np.arange(LENGTH, dtype=np.int32),
          "label": np.int32(gold), "predicted_label": np.int64(predicted),
          "logits": np.eye(3, dtype=np.float32)[predicted]}


def test_classification_perfect_wrong_and_mixed():
  gold = [0, 1, 2, 2]
  perfect = [cls_prediction(g, g) for g in gold]
  wrong = [cls_prediction(g, (g + 1) % 3) for g in gold]
  mixed = [cls_prediction(g, p) for g, p in zip(gold, [0, 1, 2, 0])]
  assert evaluation.evaluate_task("xnli_eval_de", perfect, "test") == {
      "accuracy": 100.0}
  assert evaluation.evaluate_task("xnli_eval_de", wrong, "test") == {
      "accuracy": 0.0}
  assert evaluation.evaluate_task("xnli_eval_de", iter(mixed), "test")[
      "accuracy"] == pytest.approx(75.0)


def test_wrong_split_head_or_nothing_is_a_one_line_error():
  with pytest.raises(ValueError, match="no split 'train'"):
    evaluation.evaluate_task("xnli_eval_de", [cls_prediction(0, 0)], "train")
  with pytest.raises(ValueError, match="no predictions"):
    evaluation.evaluate_task("xnli_eval_de", [], "test")
  span = {"label": np.int32(0), "start_logits": np.zeros(LENGTH)}
  with pytest.raises(ValueError, match="predicted_label"):
    evaluation.evaluate_task("xnli_eval_de", [span], "test")
  with pytest.raises(ValueError, match="unknown task"):
    evaluation.evaluate_task("xnli_eval_xx", [], "test")


# ------------------------------------------------------------------ tagging --


def tag_sequence(sentence_id, word_offset, gold, predicted, tag_names,
                 pieces_per_word=2):
  """A token-classification sequence as trainer.predict yields it.

  Each word has `pieces_per_word` pieces; its tag sits on the first one.
  Padding and continuation pieces have label -1 and a junk prediction, so a
  scorer reading them would be wrong.
  """
  ids = {name: i for i, name in enumerate(tag_names)}
  labels = np.full(LENGTH, -1, np.int32)
  predicted_ids = np.full(LENGTH, len(tag_names) - 1, np.int64)
  for word, (g, p) in enumerate(zip(gold, predicted)):
    position = 1 + word * pieces_per_word
    labels[position] = ids[g]
    predicted_ids[position] = ids[p]
  return {"input_ids": np.arange(LENGTH, dtype=np.int32), "labels": labels,
          "predicted_labels": predicted_ids,
          "sentence_id": np.int32(sentence_id),
          "word_offset": np.int32(word_offset),
          "num_words": np.int32(len(gold))}


def test_ner_reassembles_a_sentence_split_across_sequences():
  # Sentence 0 is split after word 1, inside a PER entity (words 1-2).
  # Gold: PER(1-2), LOC(3) | ORG(0). Predicted: PER(1-2), ORG(0): 2 of 3
  # gold entities found, none spurious -> P = 1, R = 2/3, F1 = 80.
  # Scoring the two halves as separate sentences would count the PER twice
  # (4 gold, 3 predicted, 3 correct -> F1 = 85.7).
  sequences = [
      tag_sequence(1, 0, ["B-ORG", "O"], ["B-ORG", "O"], NER_TAGS),
      tag_sequence(0, 2, ["I-PER", "B-LOC"], ["I-PER", "O"], NER_TAGS),
      tag_sequence(0, 0, ["O", "B-PER"], ["O", "B-PER"], NER_TAGS),
  ]
  scores = evaluation.evaluate_task("ner_eval_sw", sequences, "validation")
  assert scores == {"span_f1": pytest.approx(80.0)}


def test_ner_perfect_and_all_wrong():
  gold = ["B-PER", "I-PER", "O", "B-LOC"]
  perfect = [tag_sequence(0, 0, gold, gold, NER_TAGS)]
  wrong = [tag_sequence(0, 0, gold, ["B-ORG", "B-ORG", "B-ORG", "O"],
                        NER_TAGS)]
  assert evaluation.evaluate_task("ner_eval_en", perfect, "test") == {
      "span_f1": 100.0}
  assert evaluation.evaluate_task("ner_eval_en", wrong, "test") == {
      "span_f1": 0.0}


def test_pos_reports_both_metrics_over_words():
  # 5 words, 4 right: word accuracy 80. Chunks (seqeval reading): gold
  # NOUN(0-1) VERB(2) DET(3) ADJ(4); predicted NOUN(0-1) VERB(2) NOUN(3)
  # ADJ(4): 3 of 4 right both ways -> F1 = 75.
  gold = ["NOUN", "NOUN", "VERB", "DET", "ADJ"]
  predicted = ["NOUN", "NOUN", "VERB", "NOUN", "ADJ"]
  sequences = [tag_sequence(0, 3, gold[3:], predicted[3:], POS_TAGS),
               tag_sequence(0, 0, gold[:3], predicted[:3], POS_TAGS)]
  scores = evaluation.evaluate_task("pos_eval_de", sequences, "validation")
  assert scores == {"pos_f1": pytest.approx(75.0),
                    "accuracy": pytest.approx(80.0)}


# ----------------------------------------------------------------------- QA --

CONTEXT = "ka lo mi ne su"
# (start, end) characters of each context word.
WORDS = [(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]


def qa_window(qid, index, words, max_context, start_scores, end_scores,
              answers, context=CONTEXT):
  """One QA window: [CLS] q [SEP] <context words> [SEP], padded to LENGTH.

  Args:
    words: indices (into WORDS) of the context words the window holds.
    max_context: per window word, 1 if this window is its max-context one.
    start_scores, end_scores: {word: logit}; other context positions get
      -5. The question token gets 50 (it is never an answer).
  """
  prefix = 3  # [CLS] question [SEP]
  n = prefix + len(words) + 1
  char_start = np.full(LENGTH, -1, np.int32)
  char_end = np.full(LENGTH, -1, np.int32)
  is_max = np.zeros(LENGTH, np.int32)
  start_logits = np.full(LENGTH, -5.0, np.float32)
  end_logits = np.full(LENGTH, -5.0, np.float32)
  start_logits[1] = end_logits[1] = 50.0
  for i, word in enumerate(words):
    char_start[prefix + i], char_end[prefix + i] = WORDS[word]
    is_max[prefix + i] = max_context[i]
    start_logits[prefix + i] = start_scores.get(word, -5.0)
    end_logits[prefix + i] = end_scores.get(word, -5.0)
  return {
      "input_ids": np.arange(LENGTH, dtype=np.int32),
      "input_mask": (np.arange(LENGTH) < n).astype(np.int32),
      "start_position": np.int32(0), "end_position": np.int32(0),
      "example_id": qid.encode(), "window_index": np.int32(index),
      "context": context.encode(),
      "answers": json.dumps(answers).encode(),
      "token_char_start": char_start, "token_char_end": char_end,
      "token_is_max_context": is_max,
      "start_logits": start_logits, "end_logits": end_logits,
  }


def qa_predictions():
  """Windows of two questions, out of order.

  q1 (gold "lo mi") spans two windows. Window 0 holds words 0-2 and is the
  max-context window of words 0-1: its best span is "lo mi" (score 10).
  Window 1 holds words 1-3 and scores "lo mi ne" higher (18), but starts it
  on word 1, whose max-context window is window 0, so that span is out.
  q2 (gold "mi ne") is answered "ne": EM 0, F1 2 * 1 * 0.5 / 1.5 = 2/3.
  """
  return [
      qa_window("q1", 1, [1, 2, 3], [0, 1, 1], {1: 9.0}, {3: 9.0},
                ["lo mi"]),
      qa_window("q2", 0, [0, 1, 2, 3, 4], [1] * 5, {3: 5.0}, {3: 5.0},
                ["mi ne", "ne su"]),
      qa_window("q1", 0, [0, 1, 2], [1, 1, 0], {1: 5.0}, {2: 5.0},
                ["lo mi"]),
  ]


def test_qa_groups_windows_scores_and_writes_official_json(tmp_path):
  path = tmp_path / "out" / "xquad_eval_de.test.json"
  scores = evaluation.evaluate_task("xquad_eval_de", qa_predictions(),
                                    "test", output_path=str(path))
  assert json.loads(path.read_text()) == {"q1": "lo mi", "q2": "ne"}
  assert scores["em"] == pytest.approx(50.0)
  # q2's best gold for "ne" is "ne su" (F1 2/3) as well as "mi ne".
  assert scores["f1"] == pytest.approx((100.0 + 200.0 / 3) / 2)


def test_qa_without_output_path_writes_nothing(tmp_path):
  scores = evaluation.evaluate_task("tydiqa_eval_en", qa_predictions(),
                                    "validation")
  assert set(scores) == {"em", "f1"}
  assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ mixtures --


def test_mixture_scores_each_eval_language_with_the_split():
  calls = []

  def predict(task_name, split):
    calls.append((task_name, split))
    # Perfect on German, wrong on every other language.
    right = task_name.endswith("_de")
    return [cls_prediction(g, g if right else 1 - g) for g in (0, 1, 1, 0)]

  results = evaluation.evaluate_mixture("pawsx", predict, "validation")
  assert sorted(results) == sorted(xtreme.PAWSX_LANGUAGES)
  assert results["de"] == {"accuracy": 100.0}
  assert all(results[l] == {"accuracy": 0.0} for l in results if l != "de")
  # The English training task is never predicted.
  assert sorted(calls) == sorted((f"pawsx_eval_{l}", "validation")
                                 for l in xtreme.PAWSX_LANGUAGES)


def test_mixture_skips_languages_without_the_split():
  def predict(task_name, split):
    del task_name, split
    return [tag_sequence(0, 0, ["NOUN"], ["NOUN"], POS_TAGS)]

  results = evaluation.evaluate_mixture("pos", predict, "validation")
  expected = set(xtreme.POS_LANGUAGES) - set(xtreme.POS_TEST_ONLY)
  assert set(results) == expected
  assert len(evaluation.evaluate_mixture("pos", predict, "test")) == len(
      xtreme.POS_LANGUAGES)
  with pytest.raises(ValueError, match="no evaluation task"):
    evaluation.evaluate_mixture("xquad", predict, "validation")


def test_qa_mixture_writes_one_json_per_language(tmp_path):
  results = evaluation.evaluate_mixture(
      "mlqa", lambda name, split: qa_predictions(), "test",
      out_dir=str(tmp_path))
  assert len(results) == 7
  written = sorted(p.name for p in tmp_path.iterdir())
  assert written == sorted(f"mlqa_eval_{l}.test.json"
                           for l in ("ar", "de", "en", "es", "hi", "vi", "zh"))
