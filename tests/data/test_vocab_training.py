"""Vocabulary training from a seqio mixture: sampling, specials, errors."""

import functools
import importlib
import os
import random

import gin
import pytest
import seqio
import sentencepiece as spm
import tensorflow.compat.v2 as tf
import tensorflow_datasets as tfds

from rembert_mtf.data import preprocessors
from rembert_mtf.cli import main as cli_main
from rembert_mtf.data import vocab_training
from rembert_mtf.data import vocabulary


def _latin_docs(n):
  syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "über", "ça"]
  rng = random.Random(0)
  def word():
    return "".join(rng.choice(syllables) for _ in range(3))
  return [" ".join(word() for _ in range(8)) + "\n" +
          " ".join(word() for _ in range(5)) for _ in range(n)]


# Two "languages" with disjoint alphabets; the second is small.
TEXTS = {
    "vt_latin": _latin_docs(300),
    "vt_cjk": ["日本京 中京日\n本中日京"] * 20,
}


def _docs_dataset(docs, split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  return tf.data.Dataset.from_tensor_slices(
      {"text": docs, "title": ["x"] * len(docs)})


@pytest.fixture(scope="module")
def mixture_name():
  """A mixture of two in-memory tasks with rates 3:1."""
  vocab = seqio.PassThroughVocabulary(size=0)
  for name, docs in TEXTS.items():
    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            functools.partial(_docs_dataset, docs), splits=["train"]),
        preprocessors=[],
        output_features={"text": seqio.Feature(vocab, dtype=tf.string)})
  seqio.MixtureRegistry.remove("vt_mixture")
  seqio.MixtureRegistry.add("vt_mixture", [("vt_latin", 3), ("vt_cjk", 1)])
  yield "vt_mixture"
  seqio.MixtureRegistry.remove("vt_mixture")
  for name in TEXTS:
    seqio.TaskRegistry.remove(name)


def test_trains_model_with_reserved_specials(mixture_name, tmp_path):
  prefix = str(tmp_path / "out" / "vocab")
  path = vocab_training.train_vocabulary(mixture_name, 40, prefix,
                                         num_sentences=2000)
  assert path == prefix + ".model"
  assert sorted(os.listdir(tmp_path / "out")) == ["vocab.model", "vocab.vocab"]
  sp = spm.SentencePieceProcessor(model_file=path)
  assert sp.get_piece_size() == 40
  assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, -1, -1)
  assert [sp.id_to_piece(i) for i in range(2, 5)] == ["[CLS]", "[SEP]",
                                                      "[MASK]"]
  tokens = vocabulary.special_tokens(vocabulary.get_vocabulary(path))
  assert tokens == vocabulary.SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)
  # Both languages were sampled: their characters are in the model.
  assert sp.unk_id() not in sp.encode("日本 kalo")


def test_sampling_follows_mixture_rates(mixture_name):
  mixture = seqio.get_mixture_or_task(mixture_name)
  sampled = vocab_training.sample_sentences(mixture, 1000)
  assert {k: len(v) for k, v in sampled.items()} == {"vt_latin": 750,
                                                     "vt_cjk": 250}
  # vt_cjk has 40 lines: it is cycled to reach its share.
  assert set(sampled["vt_cjk"]) == {"日本京 中京日", "本中日京"}
  assert all(line.strip() == line and line for line in sampled["vt_latin"])


def test_alpha_smooths_the_bound_sizes(mixture_name):
  saved = gin.config_str()
  gin.bind_parameter("smoothed_rate.sizes", {"vt_latin": 900, "vt_cjk": 100})
  try:
    probs = vocab_training.task_probabilities(
        seqio.get_mixture_or_task(mixture_name), alpha=0.5)
  finally:
    gin.clear_config()
    gin.parse_config(saved)
  assert probs == pytest.approx({"vt_latin": 0.75, "vt_cjk": 0.25})


def test_alpha_without_sizes_names_the_tasks_and_the_binding(mixture_name):
  # In-memory sources have no byte count: no silent uniform fall-back.
  with pytest.raises(preprocessors.MissingSizeError) as e:
    vocab_training.task_probabilities(
        seqio.get_mixture_or_task(mixture_name), alpha=0.5)
  assert str(e.value) == (
      "no size for vt_cjk, vt_latin (all 2 tasks of mixture vt_mixture): its "
      "FunctionDataSource has no byte count (likewise for the others); bind "
      "`smoothed_rate.sizes = {'vt_cjk': <bytes>, ...}` (gin)")


def test_quotas_sum_exactly():
  quotas = vocab_training.sentence_quotas({"a": 1 / 3, "b": 1 / 3,
                                           "c": 1 / 3}, 100)
  assert sum(quotas.values()) == 100
  assert sorted(quotas.values()) == [33, 33, 34]


def test_unknown_mixture_names_the_closest(mixture_name, tmp_path):
  with pytest.raises(ValueError, match="closest: vt_mixture") as e:
    vocab_training.train_vocabulary("vt_mixtur", 40, str(tmp_path / "v"))
  assert "\n" not in str(e.value)


def test_too_large_vocab_is_one_line_with_the_maximum(mixture_name, tmp_path):
  prefix = str(tmp_path / "v")
  with open(prefix + ".model", "w") as f:
    f.write("previous")
  with pytest.raises(ValueError,
                     match=r"vocab_size 5000 is too large .* at most \d+") as e:
    vocab_training.train_vocabulary(mixture_name, 5000, prefix,
                                    num_sentences=500)
  assert "\n" not in str(e.value)
  # Nothing half-written: the old file stands, no temporary files remain.
  assert open(prefix + ".model").read() == "previous"
  assert sorted(os.listdir(tmp_path)) == ["v.model"]


def test_missing_text_feature(mixture_name, tmp_path):
  with pytest.raises(ValueError, match="no 'body' feature.*text, title"):
    vocab_training.train_vocabulary(mixture_name, 40, str(tmp_path / "v"),
                                    num_sentences=100, text_key="body")


def test_argument_parser():
  args = cli_main.build_parser().parse_args(
      ["vocab", "--mixture=wiki_104", "--vocab_size=250300", "--out=/tmp/x"])
  assert (args.mixture, args.vocab_size, args.out) == ("wiki_104", 250300,
                                                       "/tmp/x")
  assert args.alpha is None and args.num_sentences is None  # library's


@pytest.mark.parametrize("flag", ["--vocab_size=0", "--vocab_size=-5",
                                  "--num_sentences=0",
                                  "--character_coverage=1.5"])
def test_out_of_range_flags_are_usage_errors(flag, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli_main.build_parser().parse_args(
        ["vocab", "--mixture=wiki_104", "--vocab_size=8", "--out=/tmp/x",
         flag])
  assert exit_info.value.code == 2
  assert flag.split("=")[0] in capsys.readouterr().err


def test_wiki_104_without_sizes_is_refused_before_sampling(tmp_path):
  importlib.import_module("rembert_mtf.tasks.pretraining")  # registers
  with pytest.raises(preprocessors.MissingSizeError,
                     match=r"^no size for wiki_af, wiki_an, wiki_ar and 100 "
                     r"more \(all 103 tasks of mixture wiki_104\)"):
    vocab_training.train_vocabulary("wiki_104", 30, str(tmp_path / "wiki"),
                                    num_sentences=100)
  assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_wiki_104_on_mock_data(tmp_path):
  pretraining = importlib.import_module("rembert_mtf.tasks.pretraining")
  saved = gin.config_str()
  # Mock data has no split info: the sizes are bound, as a user would.
  gin.bind_parameter("smoothed_rate.sizes", {
      name: 1000 * (i + 1) for i, name in enumerate(pretraining.WIKI_TASKS)})
  try:
    with tfds.testing.mock_data(num_examples=20):
      path = vocab_training.train_vocabulary(
          "wiki_104", 30, str(tmp_path / "wiki"), num_sentences=2000,
          trainer_options={"hard_vocab_limit": False})
  finally:
    gin.clear_config()
    gin.parse_config(saved)
  assert spm.SentencePieceProcessor(model_file=path).piece_to_id("[MASK]") == 4
