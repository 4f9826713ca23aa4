"""Masked-LM preprocessing: packing layout, blank documents, BERT masking."""

import functools
import math

import numpy as np
import pytest
import seqio
import tensorflow.compat.v2 as tf

from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary

SPECIAL_FIELDS = ("pad", "unk", "cls", "sep", "mask")


@pytest.fixture(scope="module")
def vocab(spm_path):
  return vocabulary.get_vocabulary(spm_path)


@pytest.fixture(scope="module")
def specials(vocab):
  return vocabulary.special_tokens(vocab)


@pytest.fixture(scope="module")
def output_features(vocab):
  return preprocessors.mlm_output_features(vocab)


def run(ds, steps, output_features, sequence_length, seed=None):
  """Applies seqio-style preprocessors the way seqio.Task does."""
  with seqio.map_seed_manager(seed):
    for step in steps:
      if isinstance(step, seqio.CacheDatasetPlaceholder):
        continue  # seqio's marker of what `rembert-mtf cache` stores
      ds = seqio.utils.add_kwargs_to_transform(
          step, sequence_length=sequence_length,
          output_features=output_features)(ds)
  return list(ds.as_numpy_iterator())


def text_ds(docs):
  return tf.data.Dataset.from_tensor_slices(
      {"text": docs, "title": ["t"] * len(docs)})


def id_docs(docs):
  """A dataset of already tokenized documents (ragged int32)."""
  return tf.data.Dataset.from_generator(
      lambda: ({"input_ids": np.asarray(d, np.int32)} for d in docs),
      output_signature={"input_ids": tf.TensorSpec([None], tf.int32)})


def unmask(ex):
  """The sequence before masking: originals put back at their positions."""
  ids = ex["input_ids"].copy()
  ids[ex["masked_lm_positions"]] = ex["masked_lm_ids"]
  return ids


def _chunking_preprocessors():
  """mlm_preprocessors with BERT's per-document chunking instead of packing."""
  steps = preprocessors.mlm_preprocessors()
  index = steps.index(preprocessors.pack_documents)
  return steps[:index] + [preprocessors.chunk_document] + steps[index + 1:]


def test_long_document_is_split_into_cls_sep_sequences(vocab, specials,
                                                       output_features):
  long_doc = " ".join(["kalo mi ne su ta ri po"] * 30)
  short_doc = "日本 京中"
  expected = [vocab.encode(long_doc), vocab.encode(short_doc)]
  length = 32
  out = run(text_ds([long_doc, short_doc]),
            _chunking_preprocessors(), output_features,
            {"input_ids": length, "masked_lm_positions": 4}, seed=1)
  assert len(out) == math.ceil(len(expected[0]) / (length - 2)) + 1
  for ex in out:
    assert len(ex["input_ids"]) <= length
    assert ex["input_ids"][0] == specials.cls
    assert ex["input_ids"][-1] == specials.sep
    inner = ex["input_ids"][1:-1]
    assert not np.isin(inner, [specials.cls, specials.sep]).any()
  # Contents in order, one document per sequence, nothing lost or mixed.
  contents = [unmask(ex)[1:-1].tolist() for ex in out]
  assert sum(contents[:-1], []) == expected[0]
  assert contents[-1] == expected[1]
  assert all(len(c) == length - 2 for c in contents[:-2])


def _packed(docs, output_features, length, attention="cross", seed=0):
  steps = [functools.partial(preprocessors.pack_documents,
                             attention=attention), preprocessors.mask_tokens]
  return run(id_docs(docs), steps, output_features, {"input_ids": length},
             seed=seed)


@pytest.mark.parametrize("attention", ["cross", "within"])
def test_packing_fills_sequences_from_consecutive_documents(
    specials, output_features, attention):
  rng = np.random.RandomState(0)
  docs = [rng.randint(10, 200, size=n) for n in (5, 70, 1, 33, 140, 9, 2)]
  length = 32
  out = _packed(docs, output_features, length, attention)
  # Every sequence but the task's last is exactly L long: no padding.
  assert [len(ex["input_ids"]) for ex in out[:-1]] == [length] * (len(out) - 1)
  assert 0 < len(out[-1]["input_ids"]) <= length
  # [CLS] then the stream doc_1 [SEP] doc_2 [SEP] ..., nothing lost.
  stream = sum((d.tolist() + [specials.sep] for d in docs), [])
  assert all(unmask(ex)[0] == specials.cls for ex in out)
  assert sum((unmask(ex)[1:].tolist() for ex in out), []) == stream
  for ex in out:  # [CLS] and [SEP] are never masked
    assert not np.isin(ex["masked_lm_ids"], [specials.cls,
                                             specials.sep]).any()
  if attention == "cross":
    assert all("segment_ids" not in ex for ex in out)
    return
  for ex in out:
    ids, segments = unmask(ex), ex["segment_ids"]
    assert segments.shape == ids.shape and segments[0] == 1
    # A new segment starts right after each [SEP], and only there.
    starts = np.flatnonzero(np.diff(segments)) + 1
    assert (np.diff(segments) >= 0).all()
    assert (ids[starts - 1] == specials.sep).all()
    after_sep = np.flatnonzero(ids[:-1] == specials.sep) + 1
    assert sorted(starts) == sorted(after_sep)


def test_packing_share_of_real_tokens(output_features):
  """Short documents: chunking pads most of each sequence, packing none."""
  rng = np.random.RandomState(1)
  docs = [rng.randint(10, 200, size=rng.randint(20, 120)) for _ in range(200)]
  length = 128
  packed = _packed(docs, output_features, length)
  chunked = run(id_docs(docs), [preprocessors.chunk_document,
                                preprocessors.mask_tokens],
                output_features, {"input_ids": length}, seed=0)
  def share(out):  # real tokens over padded slots
    return sum(len(ex["input_ids"]) for ex in out) / (len(out) * length)
  assert share(packed) > 0.99
  assert share(chunked) < 0.65


def test_packing_attention_mode_is_checked(output_features):
  with pytest.raises(ValueError, match="pack_documents.attention must be"):
    _packed([[10, 11]], output_features, 16, attention="both")


def test_blank_documents_are_skipped(output_features):
  docs = ["", "   ", "\n\t \n", "\u3000\u00a0", "kalo mi", ""]
  out = run(text_ds(docs), preprocessors.mlm_preprocessors(),
            output_features, {"input_ids": 16}, seed=0)
  assert len(out) == 1
  assert set(out[0]) == {"input_ids", "token_type_ids", "masked_lm_positions",
                         "masked_lm_ids", "masked_lm_weights"}


def test_output_dtypes_and_shapes(output_features):
  out = run(text_ds(["kalo mi ne su ta ri po " * 5]),
            preprocessors.mlm_preprocessors(), output_features,
            {"input_ids": 64, "masked_lm_positions": 10}, seed=0)
  ex = out[0]
  for name in ("input_ids", "token_type_ids", "masked_lm_positions",
               "masked_lm_ids"):
    assert ex[name].dtype == np.int32, name
  assert ex["masked_lm_weights"].dtype == np.float32
  assert ex["token_type_ids"].shape == ex["input_ids"].shape
  assert not ex["token_type_ids"].any()
  p = len(ex["masked_lm_positions"])
  assert ex["masked_lm_ids"].shape == ex["masked_lm_weights"].shape == (p,)
  assert (ex["masked_lm_weights"] == 1).all()
  assert (np.diff(ex["masked_lm_positions"]) > 0).all()  # sorted, unique


def test_masking_is_deterministic_per_seed(output_features):
  docs = ["kalo mi ne su ta ri po über ça " * 8] * 4
  steps = preprocessors.mlm_preprocessors()
  lengths = {"input_ids": 64}
  first = run(text_ds(docs), steps, output_features, lengths, seed=7)
  again = run(text_ds(docs), steps, output_features, lengths, seed=7)
  other = run(text_ds(docs), steps, output_features, lengths, seed=8)
  def flat(out):
    return [(k, v.tolist()) for ex in out for k, v in ex.items()]
  assert flat(first) == flat(again)
  assert flat(first) != flat(other)


def test_prediction_cap_follows_sequence_length(output_features):
  docs = [list(range(10, 250))] * 3
  steps = [preprocessors.chunk_document, preprocessors.mask_tokens]
  out = run(id_docs(docs), steps, output_features,
            {"input_ids": 128, "masked_lm_positions": 5}, seed=0)
  assert {len(ex["masked_lm_positions"]) for ex in out} == {5}
  uncapped = run(id_docs(docs), steps, output_features, {"input_ids": 128},
                 seed=0)
  # floor(0.15 * 128) = 19 = round(0.15 * 126) for a full sequence.
  assert len(uncapped[0]["masked_lm_positions"]) == 19
  assert preprocessors.default_max_predictions(512) == 76


def test_masking_statistics(vocab, specials, output_features):
  rng = np.random.RandomState(0)
  special_ids = list(specials.ids)
  normal_ids = np.setdiff1d(np.arange(vocab.vocab_size), special_ids)
  docs = []
  for _ in range(1700):
    doc = rng.choice(normal_ids, size=rng.randint(40, 400))
    doc[rng.rand(len(doc)) < 0.03] = specials.unk  # never to be selected
    docs.append(doc)
  out = run(id_docs(docs),
            [preprocessors.chunk_document, preprocessors.mask_tokens],
            output_features, {"input_ids": 128}, seed=3)

  selected = candidates = masked = kept = randomised = 0
  for ex in out:
    original = unmask(ex)
    pos = ex["masked_lm_positions"]
    n = len(original)
    assert not np.isin(ex["masked_lm_ids"], special_ids).any()
    assert (pos > 0).all() and (pos < n - 1).all()
    # Tokens that were not selected are untouched.
    untouched = np.ones(n, bool)
    untouched[pos] = False
    assert (ex["input_ids"][untouched] == original[untouched]).all()
    new = ex["input_ids"][pos]
    is_mask = new == specials.mask
    is_kept = new == ex["masked_lm_ids"]
    is_random = ~is_mask & ~is_kept
    assert not np.isin(new[is_random], special_ids).any()
    selected += len(pos)
    candidates += np.sum(~np.isin(original, special_ids))
    masked += is_mask.sum()
    kept += is_kept.sum()
    randomised += is_random.sum()
  assert selected >= 50_000
  assert abs(selected / candidates - 0.15) < 0.005
  assert abs(masked / selected - 0.8) < 0.01
  assert abs(kept / selected - 0.1) < 0.01
  assert abs(randomised / selected - 0.1) < 0.01


def test_random_replacement_covers_exactly_the_non_special_ids():
  vocab_size, special_ids = 40, (0, 1, 7, 3, 39)
  draws = tf.range(vocab_size - len(special_ids))
  mapped = preprocessors.skip_special_ids(draws, special_ids).numpy()
  assert sorted(mapped) == [i for i in range(vocab_size)
                            if i not in special_ids]


def test_mask_rate_is_a_parameter(output_features):
  docs = [list(range(10, 250))] * 4
  out = run(id_docs(docs),
            [preprocessors.chunk_document,
             functools.partial(preprocessors.mask_tokens, mask_rate=0.3,
                               max_predictions_per_seq=100)],
            output_features, {"input_ids": 128}, seed=0)
  assert len(out[0]["masked_lm_positions"]) == round(0.3 * 126)


def test_smoothed_probabilities():
  counts = {"a": 100, "b": 400, "c": 1600}
  assert preprocessors.smoothed_probabilities(counts, 0.5) == pytest.approx(
      {"a": 1 / 7, "b": 2 / 7, "c": 4 / 7})
  assert preprocessors.smoothed_probabilities(counts, 1.0) == pytest.approx(
      {"a": 1 / 21, "b": 4 / 21, "c": 16 / 21})
  assert preprocessors.smoothed_probabilities(counts, 0.0) == pytest.approx(
      {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
