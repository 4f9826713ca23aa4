"""QA windowing (features) on fixtures: layout, offsets, answers, tf.data."""

import numpy as np
import pytest
import seqio

from rembert_mtf import errors
from rembert_mtf.data import qa_windows
from rembert_mtf.data import vocabulary
from rembert_mtf.evaluation import qa_answers
import tensorflow as tf  # pylint: disable=g-bad-import-order

# Each of these is one "▁xx" piece of the test model, 3 characters apart.
WORDS = ("ka", "lo", "mi", "ne", "su", "ta", "ri", "po")
NON_ASCII = "kalo mine. Straße  in Köln über Ça 日本京 ﬁ"


@pytest.fixture(scope="module")
def vocab(spm_path):
  return vocabulary.get_vocabulary(spm_path)


@pytest.fixture(scope="module")
def tok(vocab):
  return vocab.tokenizer


@pytest.fixture(scope="module")
def special(vocab):
  return vocabulary.special_tokens(vocab)


def words(n):
  return " ".join(WORDS[i % len(WORDS)] for i in range(n))


def example(context, answer, answer_start=None, question="ka", qid="q1"):
  if answer_start is None:
    answer_start = context.index(answer)
  return {"id": qid, "question": question, "context": context,
          "answer_texts": [answer], "answer_starts": [answer_start]}


def span_text(context, window, start, end):
  return context[window["token_char_start"][start]:
                 window["token_char_end"][end]]


def test_offsets_point_at_visible_text_in_the_original(tok):
  ids, starts, ends = qa_windows.tokenize_with_offsets(tok, NON_ASCII)
  assert list(ids) == tok.encode(NON_ASCII)
  pieces = [NON_ASCII[s:e] for s, e in zip(starts, ends)]
  assert not any(p[:1].isspace() for p in pieces)
  # Dropping the whitespace, the pieces are the text, in order.
  assert "".join(pieces) == "".join(NON_ASCII.split())


def test_window_spans_and_max_context():
  spans = qa_windows.window_spans(10, 6, 3)
  assert spans == [(0, 6), (3, 6), (6, 4)]
  assert qa_windows.window_spans(6, 6, 3) == [(0, 6)]
  assert qa_windows.window_spans(0, 6, 3) == [(0, 0)]
  flags = qa_windows.max_context_flags(spans, 10)
  # Token 4: min(4, 1) + .06 in window 0 ties window 1's min(1, 4) + .06;
  # the first wins. Token 5: 0.06 vs 2.06; token 8: 0.06 vs 1.04.
  assert [list(f) for f in flags] == [[1, 1, 1, 1, 1, 0],
                                      [0, 0, 1, 1, 1, 0],
                                      [0, 0, 1, 1]]


# With a 1-token question, max_seq_length 10 leaves 6 context tokens per
# window; stride 3 over 10 words gives windows 0-5, 3-8, 6-9.
SMALL = dict(max_seq_length=10, doc_stride=3, max_query_length=64)
# The same for the seqio preprocessor, which reads the length from seqio.
SMALL_LENGTH = {"input_ids": SMALL["max_seq_length"]}
SMALL_STRIDES = dict(doc_stride=3, max_query_length=64)


def small_windows(tok, special, answer_tokens):
  first, last = answer_tokens
  context = words(10)
  answer = context[3 * first:3 * last + 2]
  assert len(tok.encode(context)) == 10 and len(tok.encode("ka")) == 1
  return context, answer, qa_windows.make_windows(
      example(context, answer, 3 * first), tok, special, **SMALL)


def positions(windows):
  return [(int(w["start_position"]), int(w["end_position"])) for w in windows]


def test_window_layout(tok, special):
  context, _, windows = small_windows(tok, special, (0, 1))
  q = tok.encode("ka")
  for index, window in enumerate(windows):
    assert window["window_index"] == index
    ids = list(window["input_ids"])
    assert ids[:3] == [special.cls] + q + [special.sep]
    assert ids[-1] == special.sep and len(ids) <= SMALL["max_seq_length"]
    assert list(window["token_type_ids"]) == [0] * 3 + [1] * (len(ids) - 3)
    assert all(len(window[k]) == len(ids) for k in qa_windows.TOKEN_METADATA)
    assert list(window["token_char_start"][:3]) == [-1] * 3
    assert window["token_char_end"][-1] == -1
  # Windows start 3 words (9 characters) apart.
  assert [w["token_char_start"][3] for w in windows] == [0, 9, 18]
  last = len(windows[2]["input_ids"]) - 2
  assert span_text(context, windows[2], 3, last) == "ri po ka lo"


def test_answer_on_last_token_of_a_window_and_in_two_windows(tok, special):
  # Token 5 ends window 0 and is inside window 1, not in window 2.
  context, answer, windows = small_windows(tok, special, (5, 5))
  assert positions(windows) == [(8, 8), (5, 5), (0, 0)]
  for window, (s, e) in zip(windows[:2], positions(windows)):
    assert span_text(context, window, s, e) == answer == "ta"


def test_answer_across_a_window_boundary_only_in_the_next(tok, special):
  # Tokens 4-6 start in window 0 but end after it; window 2 starts at 6.
  context, answer, windows = small_windows(tok, special, (4, 6))
  assert positions(windows) == [(0, 0), (4, 6), (0, 0)]
  assert span_text(context, windows[1], 4, 6) == answer == "su ta ri"


def test_answer_in_first_window_only(tok, special):
  _, _, windows = small_windows(tok, special, (0, 1))
  assert positions(windows) == [(3, 4), (0, 0), (0, 0)]


@pytest.mark.parametrize("answer", ["Straße  in Köln", "日本京", "ﬁ", "Ça"])
def test_offsets_give_back_the_exact_non_ascii_answer(tok, special, answer):
  (window,) = qa_windows.make_windows(example(NON_ASCII, answer), tok,
                                      special)
  s, e = positions([window])[0]
  assert s > 0
  assert span_text(NON_ASCII, window, s, e) == answer


def test_unaligned_answer_points_every_window_at_cls(tok, special):
  before = qa_windows.STATS["unaligned_answers"]
  windows = qa_windows.make_windows(
      example(words(10), "po ka", answer_start=0), tok, special, **SMALL)
  assert positions(windows) == [(0, 0)] * 3
  assert qa_windows.STATS["unaligned_answers"] == before + 1


def test_question_is_truncated_and_empty_context_gets_a_window(tok, special):
  (window,) = qa_windows.make_windows(
      {"id": "q", "question": words(50), "context": "", "answer_texts": [],
       "answer_starts": []}, tok, special, max_query_length=5)
  ids = list(window["input_ids"])
  assert len(ids) == 5 + 3 and ids[6] == ids[7] == special.sep
  assert list(window["token_type_ids"]) == [0] * 7 + [1]
  assert positions([window]) == [(0, 0)]


def test_no_room_for_context_is_an_error(tok, special):
  with pytest.raises(ValueError, match="no room"):
    qa_windows.make_windows(example(words(3), "ka"), tok, special,
                            max_seq_length=4)


def squad_like(examples):
  def generate():
    for ex in examples:
      yield {"id": ex["id"], "title": "", "question": ex["question"],
             "context": ex["context"],
             "answers": {"text": ex["answer_texts"],
                         "answer_start": np.array(ex["answer_starts"],
                                                  np.int32)}}
  return tf.data.Dataset.from_generator(generate, output_signature={
      "id": tf.TensorSpec([], tf.string), "title": tf.TensorSpec([], tf.string),
      "question": tf.TensorSpec([], tf.string),
      "context": tf.TensorSpec([], tf.string),
      "answers": {"text": tf.TensorSpec([None], tf.string),
                  "answer_start": tf.TensorSpec([None], tf.int32)}})


def test_qa_windows_in_tf_data_matches_make_windows(vocab, tok, special):
  examples = [example(words(10), "ta ri", qid="a"),
              example(NON_ASCII, "Straße  in Köln", qid="b"),
              example(words(4), "mi", answer_start=0, qid="c")]
  features = {"input_ids": seqio.Feature(vocab, add_eos=False)}
  ds = qa_windows.qa_windows(squad_like(examples), SMALL_LENGTH, features,
                             **SMALL_STRIDES)
  got = list(ds.as_numpy_iterator())
  expected = [(ex, w) for ex in examples
              for w in qa_windows.make_windows(ex, tok, special, **SMALL)]
  assert len(got) == len(expected) > len(examples) + 3
  for window, (ex, want) in zip(got, expected):
    assert window["example_id"].decode() == ex["id"]
    assert window["context"].decode() == ex["context"]
    assert qa_answers.gold_answers(window["answers"]) == ex["answer_texts"]
    for name, value in want.items():
      np.testing.assert_array_equal(window[name], value, err_msg=name)
      assert window[name].dtype == np.int32
  spec = ds.element_spec
  assert spec["answers"].shape.rank == 0
  assert spec["input_ids"].shape.as_list() == [None]
  assert spec["start_position"].shape.rank == 0


def test_window_length_follows_seqio_and_stride_is_gin_bindable(vocab):
  import gin  # pylint: disable=g-import-not-at-top
  examples = [example(words(10), "ta ri")]
  features = {"input_ids": seqio.Feature(vocab, add_eos=False)}
  try:
    gin.bind_parameter("qa_windows.doc_stride", 3)
    got = list(qa_windows.qa_windows(squad_like(examples), SMALL_LENGTH,
                                     features).as_numpy_iterator())
  finally:
    gin.bind_parameter("qa_windows.doc_stride", 128)
  assert [len(w["input_ids"]) for w in got] == [10, 10, 8]
  default = list(qa_windows.qa_windows(
      squad_like(examples), {"input_ids": 384}, features).as_numpy_iterator())
  assert [len(w["input_ids"]) for w in default] == [3 + 10 + 1]


@pytest.mark.parametrize("sequence_length", [None, {}, {"input_ids": 3}])
def test_missing_or_tiny_sequence_length_is_a_user_error(vocab,
                                                         sequence_length):
  features = {"input_ids": seqio.Feature(vocab, add_eos=False)}
  with pytest.raises(errors.UserError, match="sequence_length"):
    qa_windows.qa_windows(squad_like([example(words(3), "ka")]),
                          sequence_length, features)
