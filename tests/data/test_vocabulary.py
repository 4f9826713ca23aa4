"""Special tokens are read from the SentencePiece model, not hard-coded."""

import os

import pytest

from rembert_mtf import errors
from rembert_mtf.data import vocabulary


def test_special_tokens_from_project_model(spm_path):
  vocab = vocabulary.get_vocabulary(spm_path)
  tokens = vocabulary.special_tokens(vocab)
  assert tokens == vocabulary.SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)
  assert vocab.tokenizer.id_to_piece(tokens.cls) == "[CLS]"


def test_special_tokens_follow_the_model_not_constants(tmp_path):
  import sentencepiece as spm
  text = tmp_path / "t.txt"
  text.write_text("\n".join(["uno dos tres cuatro cinco"] * 50))
  spm.SentencePieceTrainer.train(
      input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=24,
      pad_id=3, unk_id=0, bos_id=-1, eos_id=-1,
      user_defined_symbols=["[MASK]", "[SEP]", "[CLS]"], minloglevel=2, hard_vocab_limit=False)
  tokens = vocabulary.special_tokens(
      vocabulary.get_vocabulary(str(tmp_path / "m.model")))
  assert (tokens.pad, tokens.unk) == (3, 0)
  assert (tokens.mask, tokens.sep, tokens.cls) == (1, 2, 4)


@pytest.mark.parametrize("pad_id,missing", [(-1, r"no \[PAD\] or <pad> piece"),
                                            (0, r"no \[CLS\] piece")])
def test_missing_special_piece_is_named(tmp_path, pad_id, missing):
  import sentencepiece as spm
  text = tmp_path / "t.txt"
  text.write_text("\n".join(["uno dos tres cuatro cinco"] * 50))
  spm.SentencePieceTrainer.train(
      input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=20,
      pad_id=pad_id, unk_id=1, bos_id=2, eos_id=3, minloglevel=2, hard_vocab_limit=False)
  with pytest.raises(ValueError, match=missing):
    vocabulary.special_tokens(
        vocabulary.get_vocabulary(str(tmp_path / "m.model")))


def test_missing_file_names_the_gin_binding(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match="get_vocabulary.sentencepiece_model_file"):
    vocabulary.get_vocabulary(os.path.join(str(tmp_path), "nope.model"))


def test_a_model_on_another_filesystem_is_read_through_gfile(spm_path):
  # ram:// stands for gs://: a URL is never made a local absolute path.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  url = "ram://vocabulary_test/tiny.model"
  with open(spm_path, "rb") as f, tf.io.gfile.GFile(url, "wb") as out:
    out.write(f.read())
  remote = vocabulary.get_vocabulary(url)
  local = vocabulary.get_vocabulary(spm_path)
  assert remote.vocab_size == local.vocab_size == 256
  assert remote.encode("ka lo mi") == local.encode("ka lo mi")
  assert vocabulary.special_tokens(remote) == vocabulary.special_tokens(local)
  with pytest.raises(errors.MissingFileError, match="ram://vocabulary_test/"
                     "none.model does not exist"):
    vocabulary.get_vocabulary("ram://vocabulary_test/none.model")
