"""XTREME task registrations: wiring on tfds mock data, semantics on fixtures."""

import re
import subprocess
import sys

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.data import postprocessors
from rembert_mtf.data import registry
from rembert_mtf.evaluation import metrics
from rembert_mtf.tasks import xtreme
from tests.conftest import bound_vocabulary

XNLI_LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
PAWSX_LANGS = "de en es fr ja ko zh".split()
NER_LANGS = ("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka "
             "kk ko ml mr ms my nl pt ru sw ta te th tl tr ur vi yo zh").split()
POS_LANGS = ("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr "
             "nl pt ru ta te th tl tr ur vi yo zh").split()
EXPECTED_TASKS = (
    ["xnli_train_en", "pawsx_train_en", "ner_train_en", "pos_train_en"] +
    [f"xnli_eval_{l}" for l in XNLI_LANGS] +
    [f"xnli_translate_train_{l}" for l in XNLI_LANGS if l != "en"] +
    [f"pawsx_eval_{l}" for l in PAWSX_LANGS] +
    [f"pawsx_translate_train_{l}" for l in PAWSX_LANGS if l != "en"] +
    [f"ner_eval_{l}" for l in NER_LANGS] + [f"pos_eval_{l}" for l in POS_LANGS])
MIXTURES = ("xnli", "xnli_translate_train", "pawsx", "pawsx_translate_train",
            "ner", "pos")
_OURS = re.compile(r"^(xnli|pawsx|ner|pos)_")
MOCK_EXAMPLES = 3
CLS, SEP = 2, 3


@pytest.fixture(scope="module")
def vocab(spm_path):
  """Binds the gin vocabulary the tasks resolve to the test model."""
  with bound_vocabulary(spm_path) as vocab:
    yield vocab


@pytest.fixture(autouse=True)
def _fresh_skip_counts():
  fp.reset_skip_counts()


def _our_tasks():
  return sorted(n for n in seqio.TaskRegistry.names() if _OURS.match(n))


def _eval_split(task):
  return "test" if "test" in task.splits else "train"


# ----------------------------------------------------------- registrations ---


def test_exactly_the_expected_tasks_and_mixtures():
  assert _our_tasks() == sorted(EXPECTED_TASKS)
  assert len(EXPECTED_TASKS) == 4 + 15 + 14 + 7 + 6 + 40 + 33
  for name in MIXTURES:
    assert name in seqio.MixtureRegistry.names()


def test_sources_name_real_tfds_configs_and_versions():
  for name in _our_tasks():
    source = seqio.get_mixture_or_task(name).source
    assert isinstance(source, seqio.TfdsDataSource), name
    dataset, _, version = source.tfds_dataset.name.partition(":")
    dataset, _, config = dataset.partition("/")
    builder = tfds.builder_cls(dataset)
    configs = {c.name: c for c in builder.BUILDER_CONFIGS or []}
    assert (config in configs) if configs else not config, name
    expected = configs[config].version if config else builder.VERSION
    assert str(expected or builder.VERSION) == version, name


def test_training_and_evaluation_splits_never_mix():
  for name in _our_tasks():
    splits = set(seqio.get_mixture_or_task(name).splits)
    if "_train_" in name:
      assert splits == {"train"}, name
    else:
      assert "test" in splits and splits <= {"validation", "test"}, name


def test_pos_tamil_and_tagalog_follow_the_treebanks():
  # tfds's own table maps "ta" to Tagalog and "tl" to Tamil; if tfds fixes
  # that, POS_TFDS_CONFIG must stop swapping them.
  module = sys.modules[tfds.builder_cls("xtreme_pos").__module__]
  assert module._LANGS["ta"] == "Tagalog" and module._LANGS["tl"] == "Tamil"
  ta = seqio.get_mixture_or_task("pos_eval_ta")
  tl = seqio.get_mixture_or_task("pos_eval_tl")
  assert ta.source.tfds_dataset.name.startswith("xtreme_pos/xtreme_pos_tl:")
  assert tl.source.tfds_dataset.name.startswith("xtreme_pos/xtreme_pos_ta:")
  assert set(ta.splits) == {"validation", "test"}  # UD_Tamil-TTB has a dev
  assert set(tl.splits) == {"test"}  # UD_Tagalog-TRG is test only
  assert set(seqio.get_mixture_or_task("pos_eval_kk").splits) == {"test"}
  (row,) = registry.registered_rows("^pos_eval_de$")
  assert row.splits == ("validation=dev", "test")  # UD names it "dev"


@pytest.mark.parametrize("mixture,train_task,evals,extra", [
    ("xnli", "xnli_train_en", XNLI_LANGS, []),
    ("xnli_translate_train", "xnli_train_en", XNLI_LANGS,
     [f"xnli_translate_train_{l}" for l in XNLI_LANGS if l != "en"]),
    ("pawsx", "pawsx_train_en", PAWSX_LANGS, []),
    ("pawsx_translate_train", "pawsx_train_en", PAWSX_LANGS,
     [f"pawsx_translate_train_{l}" for l in PAWSX_LANGS if l != "en"]),
    ("ner", "ner_train_en", NER_LANGS, []),
    ("pos", "pos_train_en", POS_LANGS, []),
])
def test_mixture_groups_english_training_with_every_language(
    mixture, train_task, evals, extra):
  tasks = seqio.get_mixture_or_task(mixture).tasks
  prefix = train_task.split("_")[0]
  assert sorted(t.name for t in tasks) == sorted(
      [train_task] + [f"{prefix}_eval_{l}" for l in evals] + extra)
  assert sorted(t.name for t in tasks if "train" in t.splits) == sorted(
      [train_task] + extra)


def test_metrics_and_postprocessing_per_benchmark():
  get = seqio.get_mixture_or_task
  assert get("xnli_eval_sw").metric_fns == [metrics.accuracy]
  assert get("pawsx_eval_ko").postprocess_fn(
      np.array([0.2, 0.8]), example={}, is_target=False) == 1
  assert get("ner_eval_yo").metric_fns == [metrics.chunk_span_f1]
  assert get("pos_eval_ja").metric_fns == [
      metrics.chunk_pos_f1, metrics.chunk_word_accuracy]
  example = {"labels": np.array([-1, 17, 7, -1]), "sentence_id": 0,
             "word_offset": 0}
  assert get("pos_eval_ja").postprocess_fn(
      None, example=example, is_target=True).tags == ("_", "NOUN")
  assert get("ner_eval_yo").postprocess_fn(
      np.array([0, 0, 3, 0]), example=example).tags == ("O", "B-ORG")


def test_registered_tasks_hold_an_unresolved_vocabulary():
  # This module imported xtreme with gin unbound; resolving would fail.
  saved = gin.config_str()
  gin.clear_config()
  try:
    with pytest.raises(Exception, match="sentencepiece_model_file"):
      xtreme.VOCABULARY.resolve()
    feature = seqio.get_mixture_or_task("ner_eval_de").output_features
    assert feature["input_ids"].vocabulary is xtreme.VOCABULARY
  finally:
    gin.parse_config(saved)


@pytest.mark.slow
def test_importing_needs_no_sentencepiece_model():
  code = ("import gin; from rembert_mtf.tasks import xtreme; import seqio;"
          "t = seqio.get_mixture_or_task('ner_eval_de');"
          "print(len(t.output_features))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=False, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == "3"


# ------------------------------------------------------- tfds mock wiring ----


def _check_wiring(name, length=24):
  """Runs a task on tfds mock data; checks specs and that inputs add up."""
  task = seqio.get_mixture_or_task(name)
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
    ds = task.get_dataset({"input_ids": length}, split=_eval_split(task),
                          shuffle=False, try_in_mem_cache=False)
    examples = [{k: v.numpy() for k, v in ex.items()} for ex in ds]
  spec = ds.element_spec
  assert spec["input_ids"].dtype == spec["token_type_ids"].dtype == tf.int32
  assert spec["input_ids"].shape.rank == 1
  skipped = fp.skip_counts().get(name, 0)
  if "label" in task.output_features:
    assert spec["label"].dtype == tf.int32 and spec["label"].shape.rank == 0
    assert len(examples) + skipped == MOCK_EXAMPLES
  else:
    assert spec["labels"].dtype == tf.int32 and spec["labels"].shape.rank == 1
    for key in fp.TOKEN_METADATA_KEYS:
      assert spec[key].dtype == tf.int32 and spec[key].shape.rank == 0
    sentences = {ex["sentence_id"] for ex in examples}
    assert len(sentences) + skipped == MOCK_EXAMPLES
  for ex in examples:
    assert len(ex["input_ids"]) <= length
    assert ex["input_ids"][0] == CLS and ex["input_ids"][-1] == SEP
  return examples, skipped


# One of each kind of task; test_every_task_on_mock_data covers all (slow).
@pytest.mark.parametrize("name", [
    "xnli_train_en", "xnli_eval_de", "xnli_translate_train_sw",
    "pawsx_eval_ja", "pawsx_translate_train_ko", "ner_train_en",
    "ner_eval_sw", "pos_eval_ta", "pos_eval_kk"])
def test_representative_tasks_on_mock_data(vocab, name):
  del vocab
  _check_wiring(name)


def test_mock_xnli_without_the_language_is_skipped_not_crashed(vocab):
  del vocab
  # tfds mock hypotheses carry random "language" strings, never "de".
  examples, skipped = _check_wiring("xnli_eval_de")
  assert not examples and skipped == MOCK_EXAMPLES


def test_mixture_trains_on_english_only(vocab):
  del vocab
  mixture = seqio.get_mixture_or_task("pawsx")
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
    ds = mixture.get_dataset({"input_ids": 24}, split="train", shuffle=False,
                             num_epochs=1, try_in_mem_cache=False)
    examples = list(ds)
  assert len(examples) == MOCK_EXAMPLES  # pawsx_train_en alone
  assert set(examples[0]) == {"input_ids", "token_type_ids", "label"}


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED_TASKS)
def test_every_task_on_mock_data(vocab, name):
  del vocab
  _check_wiring(name)


# ------------------------------------------- semantics on fixture records ----


def _run_task(name, examples, signature, length):
  """The task's own preprocessors on in-memory examples in tfds format."""
  ds = tf.data.Dataset.from_generator(lambda: iter(examples),
                                      output_signature=signature)
  out = seqio.get_mixture_or_task(name).preprocess_postcache(
      ds, sequence_length={"input_ids": length})
  return [{k: v.numpy() for k, v in ex.items()} for ex in out]


_STRINGS = tf.TensorSpec([None], tf.string)
_INTS = tf.TensorSpec([None], tf.int64)
_XNLI_SIGNATURE = {
    "premise": {l: tf.TensorSpec([], tf.string) for l in XNLI_LANGS},
    "hypothesis": {"language": _STRINGS, "translation": _STRINGS},
    "label": tf.TensorSpec([], tf.int64)}


def _xnli_example(label, languages):
  return {"premise": {l: f"ka {l} lo" for l in XNLI_LANGS},
          "hypothesis": {"language": languages,
                         "translation": [f"mi {l} su ta" for l in languages]},
          "label": label}


def test_xnli_eval_reads_its_language(vocab):
  examples = [_xnli_example(2, ["en", "de", "fr"]), _xnli_example(1, ["en"])]
  out = _run_task("xnli_eval_de", examples, _XNLI_SIGNATURE, 64)
  assert len(out) == 1 and fp.skip_counts() == {"xnli_eval_de": 1}
  premise, hypothesis = vocab.encode("ka de lo"), vocab.encode("mi de su ta")
  assert out[0]["input_ids"].tolist() == (
      [CLS] + premise + [SEP] + hypothesis + [SEP])
  assert out[0]["label"] == 2


def test_pawsx_train_pairs_sentence1_and_sentence2(vocab):
  signature = {"sentence1": tf.TensorSpec([], tf.string),
               "sentence2": tf.TensorSpec([], tf.string),
               "label": tf.TensorSpec([], tf.int64)}
  (out,) = _run_task("pawsx_train_en", [
      {"sentence1": "kalo", "sentence2": "mine su", "label": 1}],
                     signature, 64)
  a, b = vocab.encode("kalo"), vocab.encode("mine su")
  assert out["input_ids"].tolist() == [CLS] + a + [SEP] + b + [SEP]
  assert out["token_type_ids"].tolist() == [0] * (len(a) + 2) + [1] * (
      len(b) + 1)
  assert set(out) == {"input_ids", "token_type_ids", "label"}


_NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def test_ner_task_splits_scores_and_reassembles(vocab):
  del vocab
  words = ["kalomine", "su", "tari", "po", "lo", "mine", "ka", "ne"] * 3
  tags = [1, 2, 0, 5, 6, 6, 0, 3] * 3
  examples = [
      {"tokens": words, "tags": tags, "langs": ["en"] * 24, "spans": []},
      {"tokens": ["ka"], "tags": [0, 0], "langs": ["en"], "spans": []},
      {"tokens": ["su", "ta"], "tags": [1, 2], "langs": ["en"] * 2,
       "spans": []}]
  signature = {"tokens": _STRINGS, "tags": _INTS, "langs": _STRINGS,
               "spans": _STRINGS}
  out = _run_task("ner_eval_en", examples, signature, 10)
  assert fp.skip_counts() == {"ner_eval_en": 1}
  assert {ex["sentence_id"] for ex in out} == {0, 2}
  assert sum(ex["sentence_id"] == 0 for ex in out) > 1  # split
  task = seqio.get_mixture_or_task("ner_eval_en")
  targets = [task.postprocess_fn(None, example=ex, is_target=True)
             for ex in out]
  assert postprocessors.reassemble_sentences(targets) == [
      [_NER_TAGS[t] for t in tags], ["B-PER", "I-PER"]]
  # Gold at first pieces, junk elsewhere: perfect entity F1.
  perfect = [task.postprocess_fn(np.where(ex["labels"] >= 0, ex["labels"], 3),
                                 example=ex) for ex in out]
  assert task.metric_fns[0](targets, perfect) == {"span_f1": 100.0}


def test_pos_task_uses_upos_names(vocab):
  del vocab
  signature = {"tokens": _STRINGS, "upos": _INTS}
  out = _run_task("pos_eval_en", [{"tokens": ["ka", "lomi"], "upos": [7, 15]}],
                  signature, 16)
  task = seqio.get_mixture_or_task("pos_eval_en")
  (target,) = [task.postprocess_fn(None, example=ex, is_target=True)
               for ex in out]
  assert target.tags == ("NOUN", "VERB")
