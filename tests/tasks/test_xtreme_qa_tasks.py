"""XTREME QA task registrations, end to end on mocked and fixture tfds data."""

import os
import subprocess
import sys

import numpy as np
import pytest
import seqio
import tensorflow_datasets as tfds

from rembert_mtf.data import qa_windows
from rembert_mtf.data import vocabulary
from rembert_mtf.evaluation import qa_answers
from rembert_mtf.tasks import xtreme_qa
import tensorflow as tf  # pylint: disable=g-bad-import-order

XQUAD = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]
MLQA = ["ar", "de", "en", "es", "hi", "vi", "zh"]
TYDIQA = ["ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te"]
TASKS = (["squad_train_en", "tydiqa_train_en"] +
         [f"xquad_eval_{l}" for l in XQUAD] +
         [f"mlqa_eval_{l}" for l in MLQA] +
         [f"tydiqa_eval_{l}" for l in TYDIQA])


@pytest.fixture(autouse=True, scope="module")
def project_vocabulary(spm_path):
  """The lazily looked-up vocabulary is the test model (gin would bind it)."""
  get_vocabulary = vocabulary.get_vocabulary
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(vocabulary, "get_vocabulary",
                  lambda: get_vocabulary(spm_path))
    yield


# XTREME's QA sequence length; windows take theirs from seqio's.
LENGTHS = {"input_ids": 384}


def windows_of(task_name, split, **kwargs):
  task = seqio.get_mixture_or_task(task_name)
  ds = task.get_dataset(sequence_length=LENGTHS, split=split, shuffle=False,
                        try_in_mem_cache=False, **kwargs)
  return list(ds.as_numpy_iterator())


def check_window(window):
  n = len(window["input_ids"])
  assert 3 < n <= 384
  for name in ("token_type_ids",) + qa_windows.TOKEN_METADATA:
    assert window[name].shape == (n,) and window[name].dtype == np.int32
  for name in ("start_position", "end_position", "window_index"):
    assert window[name].shape == () and window[name].dtype == np.int32
  assert 0 <= window["start_position"] <= window["end_position"] < n
  assert window["token_type_ids"][0] == 0 and window["token_type_ids"][-1] == 1
  assert window["example_id"]
  assert isinstance(qa_answers.gold_answers(window["answers"]), list)


def test_importing_needs_no_vocabulary_file():
  code = ("from rembert_mtf.tasks import xtreme_qa; "
          "print(len(xtreme_qa.QA_TASKS))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=False, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split()[-1] == str(len(TASKS))


def test_registered_tasks_splits_and_mixtures():
  for name in TASKS:
    assert name in seqio.TaskRegistry.names()
  split_sets = {n: set(seqio.get_mixture_or_task(n).splits) for n in TASKS}
  assert split_sets["squad_train_en"] == {"train", "validation"}
  assert split_sets["xquad_eval_th"] == {"test"}
  assert split_sets["mlqa_eval_zh"] == {"validation", "test"}
  assert split_sets["tydiqa_train_en"] == {"train"}
  assert split_sets["tydiqa_eval_en"] == {"validation"}
  assert split_sets["tydiqa_eval_sw"] == {"validation"}
  members = lambda m: {t.name for t in seqio.get_mixture_or_task(m).tasks}
  assert members("xquad") == {"squad_train_en"} | {
      f"xquad_eval_{l}" for l in XQUAD}
  assert members("mlqa") == {"squad_train_en"} | {
      f"mlqa_eval_{l}" for l in MLQA}
  assert members("tydiqa") == {"tydiqa_train_en"} | {
      f"tydiqa_eval_{l}" for l in TYDIQA}


@pytest.mark.parametrize("task_name", TASKS)
def test_every_task_runs_on_mock_data(task_name):
  task = seqio.get_mixture_or_task(task_name)
  with tfds.testing.mock_data(num_examples=2):
    for split in task.splits:
      windows = windows_of(task_name, split)
      if task_name.startswith("tydiqa_"):
        # Mock ids are random strings, never "<language>-...": all dropped
        # (the fixture test below covers TyDiQA windows).
        assert not windows
        continue
      assert len({w["example_id"] for w in windows}) == 2
      for window in windows:
        check_window(window)


def squad_like_dataset(examples):
  return tf.data.Dataset.from_generator(
      lambda: iter(examples), output_signature={
          "id": tf.TensorSpec([], tf.string),
          "title": tf.TensorSpec([], tf.string),
          "question": tf.TensorSpec([], tf.string),
          "context": tf.TensorSpec([], tf.string),
          "answers": {"text": tf.TensorSpec([None], tf.string),
                      "answer_start": tf.TensorSpec([None], tf.int32)}})


def record(qid, context, answers, question="ka lo"):
  return {"id": qid, "title": "", "question": question, "context": context,
          "answers": {"text": answers,
                      "answer_start": np.array([context.index(a)
                                                for a in answers], np.int32)}}


def fixture_data(records):
  """tfds.testing.mock_data that serves `records` for every split."""
  def as_dataset(self, split, **kwargs):
    del self, split, kwargs
    return squad_like_dataset(records)
  return tfds.testing.mock_data(as_dataset_fn=as_dataset)


TYDI_RECORDS = [
    record("english-11-0", "ka lo mi ne su", ["mi ne"]),
    record("arabic-22-0", "su ta ri po", ["ri"]),
    record("english-33-1", "po ri ta su ne mi", ["su"]),
    record("swahili-44-0", "ne ne ne", ["ne"]),
]


@pytest.mark.parametrize("task_name,split,ids", [
    ("tydiqa_train_en", "train", {"english-11-0", "english-33-1"}),
    ("tydiqa_eval_en", "validation", {"english-11-0", "english-33-1"}),
    ("tydiqa_eval_ar", "validation", {"arabic-22-0"}),
    ("tydiqa_eval_sw", "validation", {"swahili-44-0"}),
])
def test_tydiqa_keeps_its_language_by_id_prefix(task_name, split, ids):
  with fixture_data(TYDI_RECORDS):
    windows = windows_of(task_name, split)
  assert {w["example_id"].decode() for w in windows} == ids
  for window in windows:
    check_window(window)
    context = window["context"].decode()
    s, e = window["start_position"], window["end_position"]
    assert s > 0  # short contexts: one window holding the answer
    assert (context[window["token_char_start"][s]:window["token_char_end"][e]]
            == qa_answers.gold_answers(window["answers"])[0])


SQUAD_RECORDS = [
    record("q1", "ka lo mi ne su ta ri po", ["ta ri", "ta"]),
    record("q2", "Straße  in Köln über Ça 日本京", ["in Köln"]),
    record("q3", " ".join(["ka lo mi ne su ta ri po"] * 60), ["su ta"]),
]


def oracle(window):
  n = len(window["input_ids"])
  start, end = np.zeros(n), np.zeros(n)
  start[window["start_position"]] = end[window["end_position"]] = 10.0
  return {"start_logits": start, "end_logits": end}


def test_squad_task_windows_score_100_with_oracle_logits():
  task = seqio.get_mixture_or_task("squad_train_en")
  with fixture_data(SQUAD_RECORDS):
    windows = windows_of("squad_train_en", "validation")
  by_id = {}
  for window in windows:
    check_window(window)
    by_id.setdefault(window["example_id"].decode(), []).append(window)
  assert [len(by_id[q]) for q in ("q1", "q2")] == [1, 1]
  # 480 context tokens, 384 - 5 = 379 per window, stride 128: windows
  # start at tokens 0 and 128; the answer (tokens 4-5) is only in the first,
  # after the 4 tokens [CLS] ka lo [SEP].
  assert [(w["start_position"], w["end_position"]) for w in by_id["q3"]] == [
      (4 + 4, 5 + 4), (0, 0)]
  targets = [task.postprocess_fn(None, example=w, is_target=True)
             for w in windows]
  (metric_fn,) = task.metric_fns
  assert metric_fn(targets, [oracle(w) for w in windows]) == {
      "em": 100.0, "f1": 100.0}


def test_mixture_trains_on_squad_with_passthrough_metadata():
  with fixture_data(SQUAD_RECORDS):
    ds = seqio.get_mixture_or_task("xquad").get_dataset(
        sequence_length=LENGTHS, split="train", shuffle=False, num_epochs=1,
        try_in_mem_cache=False,
        passthrough_features=qa_windows.METADATA_FEATURES)
    windows = list(ds.as_numpy_iterator())
  assert {w["example_id"].decode() for w in windows} == {"q1", "q2", "q3"}
  assert set(windows[0]) >= set(xtreme_qa.OUTPUT_FEATURES) | set(
      qa_windows.METADATA_FEATURES)


def span_prediction(window, answer):
  """Logits picking the tokens that cover exactly `answer` in the context."""
  context = window["context"].decode()
  start_char = context.index(answer)
  s = list(window["token_char_start"]).index(start_char)
  e = list(window["token_char_end"]).index(start_char + len(answer))
  n = len(window["input_ids"])
  start, end = np.zeros(n), np.zeros(n)
  start[s] = end[e] = 10.0
  return {"start_logits": start, "end_logits": end}


@pytest.mark.parametrize("task_name,style,em", [
    ("xquad_eval_es", None, 0.0),      # SQuAD scoring keeps Spanish "la"
    ("xquad_eval_es", "mlqa", 100.0),  # MLQA-style scoring drops it
    ("mlqa_eval_es", None, 100.0),
    ("mlqa_eval_es", "squad", 0.0),
    ("tydiqa_eval_en", "mlqa", 0.0),   # English articles: "la" is none
])
def test_mlqa_scoring_is_an_option_for_every_task(task_name, style, em):
  import gin  # pylint: disable=g-import-not-at-top
  task = seqio.get_mixture_or_task(task_name)
  with fixture_data([record("english-1-0", "ka la mi ne", ["la mi"])]):
    (window,) = windows_of(task_name, list(task.splits)[0])
  target = task.postprocess_fn(None, example=window, is_target=True)
  prediction = span_prediction(window, "mi")
  (metric_fn,) = task.metric_fns
  try:
    gin.bind_parameter("qa_scoring.style", style)
    assert metric_fn([target], [prediction])["em"] == em
  finally:
    gin.bind_parameter("qa_scoring.style", None)
