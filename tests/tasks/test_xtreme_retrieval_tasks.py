"""BUCC and Tatoeba registrations: wiring on tfds mock data, features on
fixture records."""

import sys

import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from rembert_mtf import errors
from rembert_mtf.data import registry
from rembert_mtf.interop import embed
from rembert_mtf.tasks import xtreme_retrieval
from tests.conftest import bound_vocabulary

# google-research/xtreme, evaluate.py: XTREME_TASK2LANGS.
BUCC_LANGS = "de fr ru zh".split()
TATOEBA_LANGS = ("ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr "
                 "it pt es bg ru ja ka ko th sw zh kk tr et fi hu").split()
EXPECTED_TASKS = ([f"bucc_{l}" for l in BUCC_LANGS] +
                  [f"tatoeba_{l}" for l in TATOEBA_LANGS])
MOCK_EXAMPLES = 3
CLS, SEP = 2, 3
LENGTH = 12
SEQUENCE_LENGTH = {"source_input_ids": LENGTH, "target_input_ids": LENGTH}


@pytest.fixture(scope="module")
def vocab(spm_path):
  with bound_vocabulary(spm_path) as vocab:
    yield vocab


def _ours():
  return sorted(n for n in seqio.TaskRegistry.names()
                if n.startswith(("bucc_", "tatoeba_")))


def test_exactly_xtremes_languages_and_two_mixtures():
  assert len(TATOEBA_LANGS) == 36
  assert _ours() == sorted(EXPECTED_TASKS)
  for name, langs in (("bucc", BUCC_LANGS), ("tatoeba", TATOEBA_LANGS)):
    tasks = seqio.get_mixture_or_task(name).tasks
    assert sorted(t.name for t in tasks) == sorted(f"{name}_{l}"
                                                   for l in langs)


def test_sources_name_real_tfds_configs_splits_and_versions():
  for name in _ours():
    source = seqio.get_mixture_or_task(name).source
    dataset, _, version = source.tfds_dataset.name.partition(":")
    builder_name, _, config = dataset.partition("/")
    assert config == name  # registered under the tfds config's name
    builder = tfds.builder_cls(builder_name)
    configs = {c.name for c in builder.BUILDER_CONFIGS}
    assert config in configs and version == str(builder.VERSION), name
    (row,) = registry.registered_rows(f"^{name}$")
    # BUCC's sample and training gold; Tatoeba's only split, named "train".
    assert row.splits == (("validation", "test") if builder_name == "bucc"
                          else ("test=train",)), name
  # tfds's own language tables: every XTREME language is a config there.
  # pylint: disable=protected-access
  tatoeba = sys.modules[tfds.builder_cls("tatoeba").__module__]
  assert sorted(tatoeba._LANGS) == sorted(TATOEBA_LANGS)
  bucc = sys.modules[tfds.builder_cls("bucc").__module__]
  assert sorted(bucc._LANGS) == sorted(BUCC_LANGS)


def test_no_training_split_and_no_metric_fns():
  # Zero-shot: nothing to train on; scored by evaluation/retrieval.py.
  for name in _ours():
    task = seqio.get_mixture_or_task(name)
    assert "train" not in task.splits and task.metric_fns == [], name


def _check_wiring(name, split):
  task = seqio.get_mixture_or_task(name)
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
    ds = task.get_dataset(SEQUENCE_LENGTH, split=split, shuffle=False,
                          try_in_mem_cache=False)
    examples = list(ds.as_numpy_iterator())
  spec = ds.element_spec
  assert len(examples) == MOCK_EXAMPLES
  for key in xtreme_retrieval.SENTENCE_FEATURES:
    assert spec[key].dtype == tf.int32 and spec[key].shape.rank == 1
    for ex in examples:
      ids = ex[key]
      assert 2 < len(ids) <= LENGTH
      assert ids[0] == CLS and ids[-1] == SEP
      assert CLS not in ids[1:-1] and SEP not in ids[1:-1]
  if name.startswith("bucc_"):
    assert set(spec) == {"source_input_ids", "target_input_ids",
                         "source_id", "target_id"}
    assert spec["source_id"].dtype == tf.string
  else:
    assert set(spec) == set(xtreme_retrieval.SENTENCE_FEATURES)
  return examples


@pytest.mark.parametrize("name,split", [
    ("bucc_de", "validation"), ("bucc_zh", "test"), ("tatoeba_af", "test"),
    ("tatoeba_kk", "test")])
def test_representative_tasks_on_mock_data(vocab, name, split):
  del vocab
  _check_wiring(name, split)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED_TASKS)
def test_every_task_on_mock_data(vocab, name):
  del vocab
  for split in seqio.get_mixture_or_task(name).splits:
    _check_wiring(name, split)


def _run(name, examples):
  signature = {k: tf.TensorSpec([], tf.string) for k in examples[0]}
  ds = tf.data.Dataset.from_generator(lambda: iter(examples),
                                      output_signature=signature)
  out = seqio.get_mixture_or_task(name).preprocess_postcache(
      ds, sequence_length=SEQUENCE_LENGTH)
  return list(out.as_numpy_iterator())


def test_sentences_are_framed_as_embed_reads_them(vocab):
  long = " ".join(["kalo mine su"] * 6)
  (short_pair, long_pair) = _run("bucc_fr", [
      {"source_sentence": "kalo mi", "target_sentence": "über ça 日本",
       "source_id": "fr-000001", "target_id": "en-000007"},
      {"source_sentence": long, "target_sentence": "",
       "source_id": "fr-000002", "target_id": "en-000008"}])
  pieces = vocab.encode("kalo mi")
  assert short_pair["source_input_ids"].tolist() == [CLS] + pieces + [SEP]
  assert short_pair["source_id"] == b"fr-000001"
  assert short_pair["target_id"] == b"en-000007"
  # The first LENGTH - 2 pieces, as XTREME's prepare_batch cuts them.
  assert len(vocab.encode(long)) > LENGTH
  assert long_pair["source_input_ids"].tolist() == (
      [CLS] + vocab.encode(long)[:LENGTH - 2] + [SEP])
  assert long_pair["target_input_ids"].tolist() == [CLS, SEP]
  # Exactly the ids `embed` feeds the encoder for the same lines.
  ids, truncated = embed.tokenize(["kalo mi", "über ça 日本", long], vocab,
                                  embed.vocabulary.special_tokens(vocab),
                                  LENGTH)
  assert truncated == 1
  assert [x.tolist() for x in ids] == [
      short_pair["source_input_ids"].tolist(),
      short_pair["target_input_ids"].tolist(),
      long_pair["source_input_ids"].tolist()]
  (pair,) = _run("tatoeba_ja", [{"source_sentence": "日本京",
                                 "target_sentence": "kalo",
                                 "source_language": "ja",
                                 "target_language": "en"}])
  assert set(pair) == set(xtreme_retrieval.SENTENCE_FEATURES)
  assert pair["target_input_ids"].tolist() == [CLS] + vocab.encode(
      "kalo") + [SEP]


def test_sequence_length_must_leave_room_for_a_piece(vocab):
  del vocab
  task = seqio.get_mixture_or_task("tatoeba_af")
  ds = tf.data.Dataset.from_tensors({"source_sentence": "ka",
                                     "target_sentence": "lo"})
  with pytest.raises(errors.UserError, match=r"sequence_length\["):
    task.preprocess_postcache(ds, sequence_length={"source_input_ids": 2,
                                                   "target_input_ids": 8})


def test_registered_tasks_hold_an_unresolved_vocabulary():
  feature = seqio.get_mixture_or_task("bucc_ru").output_features
  assert feature["source_input_ids"].vocabulary is xtreme_retrieval.VOCABULARY
  assert not feature["source_input_ids"].add_eos
