"""Shared fixtures: a small SentencePiece model trained on generated text."""

import contextlib
import os
import random

import pytest

from rembert_mtf import compat  # noqa: F401  (mesh_tensorflow import fix first)


def write_sentencepiece_model(prefix, vocab_size=256, seed=0):
  """Trains a small unigram model with the BERT specials reserved."""
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  rng = random.Random(seed)
  syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "über", "ça",
               "日", "本", "京", "中"]
  words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
           for _ in range(400)] + [str(i) for i in range(10)] + [".", ","]
  lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
           for _ in range(2000)]
  text_file = prefix + ".txt"
  with open(text_file, "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
  spm.SentencePieceTrainer.train(
      input=text_file, model_prefix=prefix, vocab_size=vocab_size,
      model_type="unigram", character_coverage=1.0, pad_id=0, unk_id=1,
      bos_id=-1, eos_id=-1, user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
      minloglevel=2)
  return prefix + ".model"


@pytest.fixture(scope="session")
def spm_path(tmp_path_factory):
  """Path of a 256-piece unigram model: pad 0, unk 1, [CLS] 2, [SEP] 3, [MASK] 4."""
  return write_sentencepiece_model(
      os.path.join(str(tmp_path_factory.mktemp("spm")), "tiny"))


@contextlib.contextmanager
def bound_vocabulary(spm_file):
  """Binds `get_vocabulary` to spm_file; yields it; restores gin after."""
  import gin  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import vocabulary  # pylint: disable=g-import-not-at-top
  saved = gin.config_str()
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file", spm_file)
  try:
    yield vocabulary.get_vocabulary()
  finally:
    gin.clear_config()
    gin.parse_config(saved)


@pytest.fixture(scope="session")
def demo_vocabulary(tmp_path_factory):
  """The demo's 768-piece vocabulary, trained once per test run.

  As `rembert-mtf demo` trains it (vocab_training on demo_mlm), on 5,000
  sampled sentences instead of 20,000. Returns the .model path.
  """
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import vocab_training  # pylint: disable=g-import-not-at-top
  registry.ensure_registered()
  prefix = os.path.join(str(tmp_path_factory.mktemp("demo_vocab")), "spm")
  return vocab_training.train_vocabulary("demo_mlm", 768, prefix,
                                         num_sentences=5000)
