"""Pre-training task and mixture registrations, end to end on mock data."""

import collections
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import seqio
import tensorflow.compat.v2 as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.text import c4

from rembert_mtf import errors
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


@pytest.fixture
def bind_sizes():
  """Binds `smoothed_rate.sizes` (and alpha if given); restores gin after."""
  saved = gin.config_str()

  def bind(sizes, alpha=None):
    gin.bind_parameter("smoothed_rate.sizes", sizes)
    if alpha is not None:
      gin.bind_parameter("smoothed_rate.alpha", alpha)

  yield bind
  gin.clear_config()
  gin.parse_config(saved)


def test_language_tables_match_this_tfds():
  assert len(pretraining.MBERT_WIKI_LANGUAGES) == 103  # zh serves 2 of 104
  configs = {c.name for c in tfds.builder_cls("wikipedia").BUILDER_CONFIGS}
  for lang in pretraining.MBERT_WIKI_LANGUAGES:
    assert f"{pretraining.WIKIPEDIA_DATE}.{lang}" in configs, lang
  assert list(pretraining.MC4_LANGUAGES) == list(c4.MC4_LANGUAGES)


def test_language_table_covers_every_source_code_once():
  codes = [lang.code for lang in pretraining.LANGUAGES]
  assert len(codes) == len(set(codes)) == 127
  wiki = [lang.wikipedia for lang in pretraining.LANGUAGES if lang.wikipedia]
  mc4 = [split for lang in pretraining.LANGUAGES for split in lang.mc4]
  assert sorted(wiki) == sorted(pretraining.MBERT_WIKI_LANGUAGES)
  assert sorted(mc4) == sorted(pretraining.MC4_LANGUAGES)
  # Wikipedia 103, mC4 101 with the romanised splits pooled, 77 in both.
  assert len({pretraining.TASK_LANGUAGES[t]
              for t in pretraining.MC4_TASKS}) == 101
  assert sum(1 for lang in pretraining.LANGUAGES
             if lang.wikipedia and lang.mc4) == 77
  rembert = seqio.get_mixture_or_task("rembert_110")
  assert set(pretraining.TASK_LANGUAGES) == {t.name for t in rembert.tasks}
  assert set(pretraining.NOTES) <= set(codes)


def test_code_pairs_map_to_one_language():
  languages = pretraining.TASK_LANGUAGES
  assert languages["wiki_he"] == languages["mc4_iw"] == "he"
  assert languages["wiki_tl"] == languages["mc4_fil"] == "tl"
  assert languages["wiki_no"] == languages["mc4_no"] == "no"
  assert languages["wiki_nn"] == "nn"
  assert languages["wiki_zh"] == languages["mc4_zh"] == "zh"
  for lang in ("bg", "el", "hi", "ja", "ru", "zh"):
    assert languages[f"mc4_{lang}_latn"] == languages[f"wiki_{lang}"] == lang
  assert languages["wiki_sr"] == languages["mc4_sr"] == "sr"
  assert {languages[f"wiki_{c}"] for c in ("sh", "hr", "bs", "sr")} == {
      "sh", "hr", "bs", "sr"}
  assert languages["wiki_ceb"] == languages["mc4_ceb"] == "ceb"
  assert languages["wiki_war"] == "war" and languages["mc4_ku"] == "ku"
  assert languages["wiki_azb"] != languages["wiki_az"]


def test_docs_languages_md_holds_the_generated_table():
  path = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                      "languages.md")
  with open(path, encoding="utf-8") as f:
    text = f.read()
  table = pretraining.language_table_markdown()
  assert text.endswith(table)
  assert table.count("\n") == 2 + 127
  assert "| `he` | Hebrew | `he` | `iw` |" in table
  assert "| `bg` | Bulgarian | `bg` | `bg`, `bg-Latn` |" in table


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
    assert 1 <= len(ex["masked_lm_positions"]) <= 9  # floor(0.15 * 64)
  # Packed: every sequence is full but the task's last, which ends the last
  # document with [SEP].
  assert [len(e["input_ids"]) for e in examples[:-1]] == [64] * (
      len(examples) - 1)
  assert len(examples[-1]["input_ids"]) <= 64
  assert examples[-1]["input_ids"][-1] == specials.sep


def test_mc4_through_seqio_get_dataset_with_the_converter(gin_vocab):
  specials = vocabulary.special_tokens(gin_vocab)
  # Enough mock documents for two packed sequences.
  with tfds.testing.mock_data(num_examples=16):
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
    assert (real < num_tokens[row]).all() and (real > 0).all()
    # Never a [CLS] or [SEP] selected, wherever a document boundary falls.
    original = batch["masked_lm_ids"][row, :num_predictions[row]]
    assert not set(original.tolist()) & {specials.cls, specials.sep}


def test_mixture_rates_are_smoothed_sizes(bind_sizes):
  bind_sizes({"wiki_en": 6_000_000, "wiki_sw": 60_000, "wiki_yo": 15_000})
  mixture = seqio.get_mixture_or_task("wiki_104")
  rates = {name: mixture.get_rate(seqio.get_mixture_or_task(name))
           for name in ("wiki_en", "wiki_sw", "wiki_yo")}
  assert rates["wiki_en"] == pytest.approx(6_000_000 ** 0.5)
  assert rates["wiki_en"] / rates["wiki_sw"] == pytest.approx(10)
  assert rates["wiki_sw"] / rates["wiki_yo"] == pytest.approx(2)
  # A task with no size is an error, not a default size.
  with pytest.raises(preprocessors.MissingSizeError,
                     match="no size for wiki_de"):
    mixture.get_rate(seqio.get_mixture_or_task("wiki_de"))
  gin.bind_parameter("smoothed_rate.alpha", 1.0)
  assert mixture.get_rate(seqio.get_mixture_or_task("wiki_sw")) == 60_000


def test_missing_size_is_one_line_naming_the_task_and_the_fix():
  with pytest.raises(errors.UserError) as e:
    preprocessors.task_size(seqio.get_mixture_or_task("wiki_af"))
  assert str(e.value) == (
      "no size for wiki_af: tfds has no split info for "
      "wikipedia/20230601.af:1.0.0 split train (the dataset is not "
      "prepared); run `tfds build wikipedia/20230601.af:1.0.0` (or set "
      "TFDS_DATA_DIR to a prepared copy) or bind `smoothed_rate.sizes = "
      "{'wiki_af': <bytes>, ...}` (gin)")
  # Through the mixture's rate (no gin note appended) and the pre-training
  # check, which names every task without a size at once.
  mixture = seqio.get_mixture_or_task("rembert_110")
  with pytest.raises(preprocessors.MissingSizeError) as e:
    mixture.get_rate(seqio.get_mixture_or_task("mc4_iw"))
  assert str(e.value).startswith("no size for wiki_he, mc4_iw: tfds has no ")
  assert "\n" not in str(e.value)
  with pytest.raises(preprocessors.MissingSizeError) as e:
    preprocessors.check_mixture_rates(mixture)
  assert str(e.value).startswith(
      "no size for wiki_af, mc4_af, mc4_am and 207 more (all 210 tasks of "
      "mixture rembert_110): tfds has no split info for "
      "wikipedia/20230601.af:1.0.0 split train")
  assert "\n" not in str(e.value)
  assert len(e.value.task_names) == 210


def test_check_names_only_the_tasks_without_a_size(bind_sizes):
  bind_sizes({name: 1000 for name in pretraining.WIKI_TASKS
              if name != "wiki_yo"})
  with pytest.raises(preprocessors.MissingSizeError) as e:
    preprocessors.check_mixture_rates(seqio.get_mixture_or_task("wiki_104"))
  assert e.value.task_names == ["wiki_yo"]
  assert str(e.value).startswith(
      "no size for wiki_yo (1 of the 103 tasks of mixture wiki_104): ")
  # Given sizes must be positive numbers.
  with pytest.raises(errors.UserError, match="size of wiki_yo is 0"):
    preprocessors.task_size(seqio.get_mixture_or_task("wiki_yo"),
                            sizes={"wiki_yo": 0})


def test_in_memory_source_without_sizes_names_the_binding():
  task = collections.namedtuple("T", "name source")(
      "xx_task", seqio.FunctionDataSource(lambda split, shuffle_files: None,
                                          splits=["train"]))
  with pytest.raises(preprocessors.MissingSizeError) as e:
    preprocessors.task_size(task)
  assert str(e.value) == (
      "no size for xx_task: its FunctionDataSource has no byte count; bind "
      "`smoothed_rate.sizes = {'xx_task': <bytes>, ...}` (gin)")
  assert preprocessors.task_size(task, sizes={"xx_task": 7}) == 7
  assert preprocessors.task_size(task, sizes=lambda name: 8) == 8


def _write_split_info(data_dir, name, splits):
  """Writes the dataset_info.json of a prepared `name` holding `splits`.

  tfds's own DatasetInfo writer, as `tfds build` leaves it (without the
  data files, which sizes do not read).
  """
  builder = tfds.builder(name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=split, shard_lengths=[examples],
                          num_bytes=num_bytes)
      for split, (examples, num_bytes) in splits.items()]))
  os.makedirs(builder.data_dir)
  builder.info.write_to_directory(builder.data_dir)


def test_task_size_reads_the_tfds_split_bytes(tmp_path):
  data_dir = str(tmp_path)
  _write_split_info(data_dir, "c4/multilingual:3.1.0",
                    {"bg-Latn": (40, 123_456), "bg-Latn-validation": (2, 0)})
  source = preprocessors.TfdsDataSource(
      "c4/multilingual:3.1.0", tfds_data_dir=data_dir,
      splits={"train": "bg-Latn", "validation": "bg-Latn-validation"})
  task = collections.namedtuple("T", "name source")("mc4_xx", source)
  # Bytes of the split the task's "train" is renamed to, not examples.
  assert preprocessors.task_size(task) == 123_456
  assert source.num_input_examples("train") == 40
  # A bound size wins over the split info.
  assert preprocessors.task_size(task, sizes={"mc4_xx": 5}) == 5
  with pytest.raises(preprocessors.MissingSizeError,
                     match="split bg-Latn-validation has no byte count"):
    preprocessors.task_size(task, split="validation")


def test_pooled_rates_by_hand(bind_sizes):
  """Two languages x two sources: p_l ~ n_l ** 0.5, then shares in l."""
  sizes = {"pool_x_wiki": 300, "pool_x_web": 600,   # n_x = 900
           "pool_y_wiki": 10, "pool_y_web": 90}     # n_y = 100
  for name in sizes:
    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name, source=seqio.FunctionDataSource(
            lambda split, shuffle_files: None, splits=["train"]),
        output_features={})
  seqio.MixtureRegistry.remove("pool_mix")
  mixture = seqio.MixtureRegistry.add(
      "pool_mix", list(sizes),
      default_rate=preprocessors.smoothed_rate_per_language(
          {name: name.split("_")[1] for name in sizes}))
  bind_sizes(sizes)
  try:
    rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
    probabilities = preprocessors.check_mixture_rates(mixture)
    proportional = preprocessors.mixture_probabilities(mixture, alpha=1.0)
    uniform = preprocessors.mixture_probabilities(mixture, alpha=0.0)
  finally:
    seqio.MixtureRegistry.remove("pool_mix")
    for name in sizes:
      seqio.TaskRegistry.remove(name)
  # r = n_t * n_l ** -0.5: 300/30, 600/30, 10/10, 90/10.
  assert rates == pytest.approx({"pool_x_wiki": 10, "pool_x_web": 20,
                                 "pool_y_wiki": 1, "pool_y_web": 9})
  # p_x = 30 / 40, p_y = 10 / 40; then 1/3, 2/3 of x and 1/10, 9/10 of y.
  assert probabilities == pytest.approx({
      "pool_x_wiki": 0.25, "pool_x_web": 0.5,
      "pool_y_wiki": 0.025, "pool_y_web": 0.225})
  assert proportional == pytest.approx({
      "pool_x_wiki": 0.3, "pool_x_web": 0.6,
      "pool_y_wiki": 0.01, "pool_y_web": 0.09})
  assert uniform == pytest.approx({
      "pool_x_wiki": 1 / 6, "pool_x_web": 1 / 3,
      "pool_y_wiki": 0.05, "pool_y_web": 0.45})


def test_rembert_110_pools_he_iw_and_tl_fil(bind_sizes):
  bind_sizes({"wiki_he": 400, "mc4_iw": 1200, "wiki_tl": 90, "mc4_fil": 10,
              "wiki_war": 900})
  rembert = seqio.get_mixture_or_task("rembert_110")
  wiki = seqio.get_mixture_or_task("wiki_104")
  rate = lambda mixture, name: mixture.get_rate(  # noqa: E731
      seqio.get_mixture_or_task(name))
  # n_he = 1600: 400 / 40 and 1200 / 40; together sqrt(1600).
  assert rate(rembert, "wiki_he") == pytest.approx(10)
  assert rate(rembert, "mc4_iw") == pytest.approx(30)
  # n_tl = 100: 90 / 10 and 10 / 10.
  assert rate(rembert, "wiki_tl") == pytest.approx(9)
  assert rate(rembert, "mc4_fil") == pytest.approx(1)
  # A language in one source only, and the same Wikipedia in wiki_104
  # (nothing to pool with there): n ** 0.5.
  assert rate(rembert, "wiki_war") == pytest.approx(30)
  assert rate(wiki, "wiki_he") == pytest.approx(20)


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
  gin.bind_parameter("smoothed_rate.sizes", counts)
  for name, word in words.items():
    _word_task(name, word)
  seqio.MixtureRegistry.remove("test_smoothed")
  mixture = seqio.MixtureRegistry.add(
      "test_smoothed", list(words), default_rate=preprocessors.smoothed_rate)
  # Packed sequences of a task may start anywhere in its token stream (in
  # "kalo" -> ka lo, too), so every piece of a word names its task.
  first_id = {piece: name for name, w in words.items()
              for piece in gin_vocab.encode(w)}
  try:
    ds = mixture.get_dataset(LENGTHS, shuffle=False, seed=3)
    seen = collections.Counter()
    for ex in ds.take(3000).as_numpy_iterator():
      ids = ex["input_ids"].copy()
      ids[ex["masked_lm_positions"]] = ex["masked_lm_ids"]
      seen[next(first_id[i] for i in ids[1:] if i in first_id)] += 1
  finally:
    seqio.MixtureRegistry.remove("test_smoothed")
    for name in words:
      seqio.TaskRegistry.remove(name)
  expected = preprocessors.smoothed_probabilities(counts, 0.5)  # 1:3:6
  for name, p in expected.items():
    assert seen[name] / 3000 == pytest.approx(p, abs=0.03), (name, seen)
