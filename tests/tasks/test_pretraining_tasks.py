"""Pre-training task and mixture registrations, end to end on mock data."""

import collections
import subprocess
import sys

import gin
import numpy as np
import pytest
import seqio
import tensorflow.compat.v2 as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.text import c4

from rembert_mtf.data import feature_converters
from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary
from rembert_mtf.tasks import pretraining
from tests.conftest import bound_vocabulary

LENGTHS = {"input_ids": 64, "masked_lm_positions": 10}


@pytest.fixture
def gin_vocab(spm_path):
  """Binds the test SentencePiece model; restores gin afterwards."""
  with bound_vocabulary(spm_path) as vocab:
    yield vocab


def test_language_tables_match_this_tfds():
  assert len(pretraining.MBERT_WIKI_LANGUAGES) == 103  # zh serves 2 of 104
  configs = {c.name for c in tfds.builder_cls("wikipedia").BUILDER_CONFIGS}
  for lang in pretraining.MBERT_WIKI_LANGUAGES:
    assert f"{pretraining.WIKIPEDIA_DATE}.{lang}" in configs, lang
  assert list(pretraining.MC4_LANGUAGES) == list(c4.MC4_LANGUAGES)


def test_tasks_and_mixtures_are_registered():
  names = set(seqio.TaskRegistry.names())
  assert {"wiki_en", "wiki_zh", "wiki_bpy", "mc4_sw", "mc4_bg_latn"} <= names
  sizes = {name: len(seqio.get_mixture_or_task(name).tasks)
           for name in ("wiki_104", "mc4_110", "rembert_110")}
  assert sizes == {"wiki_104": 103, "mc4_110": 107, "rembert_110": 210}


def test_mc4_tasks_read_their_language_split():
  read = []

  def as_dataset(builder, split, **unused_kwargs):
    read.append((builder.name, builder.builder_config.name, str(split)))
    return tf.data.Dataset.from_tensors({"text": "kalo", "url": "",
                                         "content-type": "",
                                         "content-length": "",
                                         "timestamp": ""})

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    source = seqio.get_mixture_or_task("mc4_bg_latn").source
    source.get_dataset("train", shuffle=False)
    source.get_dataset("validation", shuffle=False)
  assert read == [("c4", "multilingual", "bg-Latn"),
                  ("c4", "multilingual", "bg-Latn-validation")]


def test_import_needs_no_sentencepiece_file():
  code = ("import rembert_mtf.tasks.pretraining as p; "
          "assert p.OUTPUT_FEATURES['input_ids'].vocabulary")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]


def test_vocabulary_is_read_from_gin_when_used(gin_vocab):
  vocab = pretraining.OUTPUT_FEATURES["input_ids"].vocabulary
  assert vocab.vocab_size == gin_vocab.vocab_size == 256
  assert vocabulary.special_tokens(vocab) == vocabulary.special_tokens(
      gin_vocab)


def test_wiki_task_end_to_end_on_mock_data(gin_vocab):
  specials = vocabulary.special_tokens(gin_vocab)
  with tfds.testing.mock_data(num_examples=6):
    task = seqio.get_mixture_or_task("wiki_en")
    examples = list(task.get_dataset(LENGTHS, shuffle=False, seed=1)
                    .as_numpy_iterator())
    again = list(task.get_dataset(LENGTHS, shuffle=False, seed=1)
                 .as_numpy_iterator())
  assert examples
  assert [e["input_ids"].tolist() for e in examples] == [
      e["input_ids"].tolist() for e in again]
  for ex in examples:
    assert set(ex) == set(pretraining.OUTPUT_FEATURES)
    assert ex["input_ids"][0] == specials.cls
    assert ex["input_ids"][-1] == specials.sep
    assert len(ex["input_ids"]) <= 64
    assert 1 <= len(ex["masked_lm_positions"]) <= 9  # floor(0.15 * 64)


def test_mc4_through_seqio_get_dataset_with_the_converter(gin_vocab):
  del gin_vocab
  with tfds.testing.mock_data(num_examples=4):
    ds = seqio.get_dataset(
        "mc4_sw", LENGTHS,
        feature_converter=feature_converters.EncoderFeatureConverter
        .for_task("mc4_sw"), shuffle=False, seed=0, batch_size=2)
    batch = next(ds.as_numpy_iterator())
  expected = {"input_ids": (np.int32, (2, 64)),
              "token_type_ids": (np.int32, (2, 64)),
              "input_mask": (np.int32, (2, 64)),
              "masked_lm_positions": (np.int32, (2, 10)),
              "masked_lm_ids": (np.int32, (2, 10)),
              "masked_lm_weights": (np.float32, (2, 10))}
  assert {k: (v.dtype, v.shape) for k, v in batch.items()} == expected
  num_tokens = batch["input_mask"].sum(axis=1)
  num_predictions = batch["masked_lm_weights"].sum(axis=1).astype(int)
  for row in range(2):
    assert (batch["input_ids"][row, num_tokens[row]:] == 0).all()
    real = batch["masked_lm_positions"][row, :num_predictions[row]]
    assert (real < num_tokens[row] - 1).all() and (real > 0).all()


def test_mixture_rates_are_smoothed_counts(gin_vocab):
  del gin_vocab
  counts = {"wiki_en": 6_000_000, "wiki_sw": 60_000, "wiki_yo": 15_000}
  gin.bind_parameter("example_count.fallback_counts", counts)
  gin.bind_parameter("example_count.default_count", 1)
  mixture = seqio.get_mixture_or_task("wiki_104")
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rates["wiki_en"] == pytest.approx(6_000_000 ** 0.5)
  assert rates["wiki_en"] / rates["wiki_sw"] == pytest.approx(10)
  assert rates["wiki_sw"] / rates["wiki_yo"] == pytest.approx(2)
  assert rates["wiki_de"] == 1
  gin.bind_parameter("smoothed_rate.alpha", 1.0)
  assert mixture.get_rate(seqio.get_mixture_or_task("wiki_sw")) == 60_000


def test_example_count_prefers_split_info():
  class Source:

    def num_input_examples(self, split):
      return {"train": 1234}.get(split)

  task = collections.namedtuple("T", "name source")("wiki_xx", Source())
  assert preprocessors.example_count(task) == 1234
  assert preprocessors.example_count(
      task, split="validation", fallback_counts={"wiki_xx": 9}) == 9
  assert preprocessors.example_count(task, split="x", default_count=5) == 5


def _word_task(name, word):
  seqio.TaskRegistry.remove(name)
  return seqio.TaskRegistry.add(
      name,
      source=seqio.FunctionDataSource(
          lambda split, shuffle_files, seed=None: tf.data.Dataset.from_tensors(
              {"text": " ".join([word] * 20)}),
          splits=["train"]),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=pretraining.OUTPUT_FEATURES, metric_fns=[])


def test_mixture_samples_languages_at_smoothed_rates(gin_vocab):
  words = {"test_lang_a": "kalo", "test_lang_b": "mine", "test_lang_c": "su"}
  counts = {"test_lang_a": 100, "test_lang_b": 900, "test_lang_c": 3600}
  gin.bind_parameter("example_count.fallback_counts", counts)
  for name, word in words.items():
    _word_task(name, word)
  seqio.MixtureRegistry.remove("test_smoothed")
  mixture = seqio.MixtureRegistry.add(
      "test_smoothed", list(words), default_rate=preprocessors.smoothed_rate)
  first_id = {gin_vocab.encode(w)[0]: name for name, w in words.items()}
  try:
    ds = mixture.get_dataset(LENGTHS, shuffle=False, seed=3)
    seen = collections.Counter()
    for ex in ds.take(3000).as_numpy_iterator():
      ids = ex["input_ids"].copy()
      ids[ex["masked_lm_positions"]] = ex["masked_lm_ids"]
      seen[first_id[ids[1]]] += 1
  finally:
    seqio.MixtureRegistry.remove("test_smoothed")
    for name in words:
      seqio.TaskRegistry.remove(name)
  expected = preprocessors.smoothed_probabilities(counts, 0.5)  # 1:3:6
  for name, p in expected.items():
    assert seen[name] / 3000 == pytest.approx(p, abs=0.03), (name, seen)
