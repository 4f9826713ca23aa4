"""Semantics of the fine-tuning preprocessors (features) and label names."""

import random

import numpy as np
import pytest
import seqio
import tensorflow as tf

from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.data import vocabulary

CLS, SEP, UNK = 2, 3, 1  # tests/conftest.py's model; checked in `vocab`.


@pytest.fixture(scope="module")
def vocab(spm_path):
  v = vocabulary.get_vocabulary(spm_path)
  tokens = vocabulary.special_tokens(v)
  assert (tokens.cls, tokens.sep, tokens.unk) == (CLS, SEP, UNK)
  return v


@pytest.fixture(scope="module")
def features(vocab):
  return {"input_ids": seqio.Feature(vocab, add_eos=False)}


@pytest.fixture(autouse=True)
def _fresh_skip_counts():
  fp.reset_skip_counts()


def _dataset(examples):
  """In-memory dataset; lists become tensors of their element type."""
  return tf.data.Dataset.from_generator(
      lambda: iter(examples),
      output_signature={k: _spec(v) for k, v in examples[0].items()})


def _spec(value):
  if isinstance(value, dict):
    return {k: _spec(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    dtype = tf.string if value and isinstance(value[0], str) else tf.int64
    return tf.TensorSpec([None], dtype)
  return tf.TensorSpec([], tf.string if isinstance(value, str) else tf.int64)


def _numpy(ds):
  return [{k: v.numpy() for k, v in ex.items()} for ex in ds]


# ---------------------------------------------------------------- pairs ------


def test_pair_layout_and_segment_ids(vocab, features):
  a, b = "kalo mine 3", "suta über"
  (out,) = _numpy(fp.pair_classification(
      _dataset([{"text_a": a, "text_b": b, "label": 2}]),
      {"input_ids": 64}, features))
  ea, eb = vocab.encode(a), vocab.encode(b)
  assert out["input_ids"].tolist() == [CLS] + ea + [SEP] + eb + [SEP]
  assert out["token_type_ids"].tolist() == ([0] * (len(ea) + 2) +
                                            [1] * (len(eb) + 1))
  assert out["label"] == 2
  assert out["label"].dtype == np.int32 and out["label"].shape == ()
  assert out["input_ids"].dtype == out["token_type_ids"].dtype == np.int32


def test_pair_truncates_the_longer_side_first(vocab, features):
  long_text = " ".join(["kalomi", "minesu", "tarip", "poka"] * 3)
  short_text = "su ta"
  ea, eb = vocab.encode(long_text), vocab.encode(short_text)
  assert len(ea) > len(eb) + 6
  # Room for 5 more pieces than the short side: only the long side shrinks.
  max_len = 3 + len(eb) + 5
  outputs = _numpy(fp.pair_classification(
      _dataset([{"text_a": long_text, "text_b": short_text, "label": 0},
                {"text_a": short_text, "text_b": long_text, "label": 1}]),
      {"input_ids": max_len}, features))
  assert outputs[0]["input_ids"].tolist() == (
      [CLS] + ea[:5] + [SEP] + eb + [SEP])
  assert outputs[1]["input_ids"].tolist() == (
      [CLS] + eb + [SEP] + ea[:5] + [SEP])
  assert all(len(o["input_ids"]) == max_len for o in outputs)


def test_pair_both_long_share_the_budget(vocab, features):
  text = " ".join(["kalo", "mine", "suta", "ripo"] * 4)
  e = vocab.encode(text)
  assert len(e) >= 8
  (out,) = _numpy(fp.pair_classification(
      _dataset([{"text_a": text, "text_b": text, "label": 0}]),
      {"input_ids": 3 + 7}, features))
  # BERT's rule: trim the longer (the second on ties) one piece at a time.
  assert out["input_ids"].tolist() == [CLS] + e[:4] + [SEP] + e[:3] + [SEP]


def test_single_sentence(vocab, features):
  (out,) = _numpy(fp.single_sentence_classification(
      _dataset([{"text_a": "kalo mine suta", "label": 1}]),
      {"input_ids": 4}, features))
  assert out["input_ids"].tolist() == [CLS] + vocab.encode(
      "kalo mine suta")[:2] + [SEP]
  assert out["token_type_ids"].tolist() == [0, 0, 0, 0]


def test_too_short_max_length_is_an_error(features):
  with pytest.raises(ValueError, match="must be more than 3"):
    fp.pair_classification(
        _dataset([{"text_a": "a", "text_b": "b", "label": 0}]),
        {"input_ids": 3}, features)


def test_select_xnli_language_picks_one_language_and_counts_misses():
  def example(languages, label):
    return {"premise": {"de": f"p-de{label}", "en": f"p-en{label}"},
            "hypothesis": {"language": languages,
                           "translation": [f"h-{l}{label}" for l in languages]},
            "label": label}
  ds = _dataset([example(["en", "de"], 0), example(["en"], 1),
                 example(["de", "en"], 2)])
  out = _numpy(fp.select_xnli_language(ds, "de", skip_key="k"))
  assert [(o["text_a"], o["text_b"], o["label"]) for o in out] == [
      (b"p-de0", b"h-de0", 0), (b"p-de2", b"h-de2", 2)]
  assert fp.skip_counts() == {"k": 1}


# --------------------------------------------------------- token level -------


def _tag_examples(words, tags):
  return _dataset([{"words": words, "tags": tags}])


def test_first_subword_gets_the_label(vocab, features):
  words = ["kalominesu", "ta", "", "über日本"]
  pieces = [vocab.encode(w) for w in words]
  assert len(pieces[0]) > 1 and len(pieces[3]) > 1 and not pieces[2]
  (out,) = _numpy(fp.token_classification(
      _tag_examples(words, [4, 0, 2, 3]), {"input_ids": 64}, features))
  pieces[2] = [UNK]  # a word with no piece is labeled on an [UNK]
  expected_ids, expected_labels = [CLS], [-1]
  for word_pieces, tag in zip(pieces, [4, 0, 2, 3]):
    expected_ids += word_pieces
    expected_labels += [tag] + [-1] * (len(word_pieces) - 1)
  assert out["input_ids"].tolist() == expected_ids + [SEP]
  assert out["labels"].tolist() == expected_labels + [-1]
  assert out["token_type_ids"].tolist() == [0] * len(out["input_ids"])
  assert (out["sentence_id"], out["word_offset"], out["num_words"]) == (0, 0, 4)
  for key in ("input_ids", "labels", "token_type_ids", "sentence_id"):
    assert out[key].dtype == np.int32


def test_long_sentence_is_split_covering_every_word_once(vocab, features):
  rng = random.Random(1)
  syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po"]
  words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
           for _ in range(40)]
  tags = [rng.randrange(7) for _ in words]
  max_len, budget = 12, 10
  chunks = _numpy(fp.token_classification(
      _tag_examples(words, tags), {"input_ids": max_len}, features))
  assert len(chunks) > 3
  word_pieces = [vocab.encode(w)[:budget] for w in words]
  next_word = 0
  for chunk in sorted(chunks, key=lambda c: c["word_offset"]):
    ids = chunk["input_ids"].tolist()
    assert len(ids) <= max_len and ids[0] == CLS and ids[-1] == SEP
    assert chunk["word_offset"] == next_word and chunk["sentence_id"] == 0
    covered = range(next_word, next_word + chunk["num_words"])
    assert ids[1:-1] == sum((word_pieces[i] for i in covered), [])
    labels = chunk["labels"]
    assert labels[labels >= 0].tolist() == [tags[i] for i in covered]
    next_word += chunk["num_words"]
    # Greedy: the following word would not have fit in this sequence.
    if next_word < len(words):
      assert len(ids) - 2 + len(word_pieces[next_word]) > budget
  assert next_word == len(words)


def test_overlong_word_is_truncated_but_still_labelled(vocab, features):
  word = "kalominesutaripo" * 3
  assert len(vocab.encode(word)) > 6
  chunks = _numpy(fp.token_classification(
      _tag_examples(["ka", word, "lo"], [1, 5, 2]), {"input_ids": 8},
      features))
  by_offset = {c["word_offset"]: c for c in chunks}
  assert sorted(by_offset) == [0, 1, 2]
  assert by_offset[1]["input_ids"].tolist() == (
      [CLS] + vocab.encode(word)[:6] + [SEP])
  assert by_offset[1]["labels"].tolist() == [-1, 5] + [-1] * 6


def test_mismatched_words_and_tags_are_counted_and_skipped(features):
  ds = _dataset([{"words": ["ka", "lo"], "tags": [1, 2]},
                 {"words": ["ka", "lo", "mi"], "tags": [1, 2]},
                 {"words": ["su"], "tags": [3]},
                 {"words": ["su"], "tags": [3, 4, 5]}])
  out = _numpy(fp.token_classification(ds, {"input_ids": 16}, features,
                                       skip_key="ner_test"))
  assert [o["sentence_id"] for o in out] == [0, 2]
  assert fp.skip_counts() == {"ner_test": 2}


# ------------------------------------------------------------- helpers -------


def test_deferred_vocabulary_resolves_on_use(vocab):
  calls = []
  def factory():
    calls.append(1)
    return vocab
  deferred = vocabulary.DeferredVocabulary(factory)
  assert not calls  # constructing needs no model
  assert deferred.encode("kalo mine") == vocab.encode("kalo mine")
  assert deferred.vocab_size == vocab.vocab_size
  assert vocabulary.special_tokens(deferred).cls == CLS  # via .tokenizer
  assert calls
  assert deferred == vocabulary.DeferredVocabulary(factory)
  assert deferred != vocabulary.DeferredVocabulary(lambda: vocab)


def test_deferred_vocabulary_preprocesses(vocab):
  feats = {"input_ids": seqio.Feature(vocabulary.DeferredVocabulary(lambda: vocab))}
  (out,) = _numpy(fp.single_sentence_classification(
      _dataset([{"text_a": "kalo", "label": 0}]), {"input_ids": 8}, feats))
  assert out["input_ids"].tolist() == [CLS] + vocab.encode("kalo") + [SEP]


def test_tfds_label_names_need_no_data():
  assert fp.tfds_label_names("wikiann/en:1.0.0", "tags") == (
      "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
