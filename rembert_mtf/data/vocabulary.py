"""SentencePiece vocabulary and the BERT special tokens read from it.

Special-token ids are never hard-coded: they are looked up by piece in the
SentencePiece model, so the released RemBERT model (250,300 pieces, pad 0,
[CLS] 312, [SEP] 313) and a model this project trains both work.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import dataclasses
import functools
import os

import gin
import seqio
import tensorflow.compat.v2 as tf

# Each special token and the pieces it may be spelled as, in order of
# preference (BERT-style brackets first, SentencePiece defaults after).
SPECIAL_PIECES = {
    "pad": ("[PAD]", "<pad>"),
    "unk": ("[UNK]", "<unk>"),
    "cls": ("[CLS]",),
    "sep": ("[SEP]",),
    "mask": ("[MASK]",),
}
# What `rembert-mtf vocab` reserves: pad=0, unk=1 (SentencePiece's own
# pad/unk slots) and the three BERT control symbols after them.
RESERVED_USER_SYMBOLS = ("[CLS]", "[SEP]", "[MASK]")


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
  """Ids of the BERT special tokens in one vocabulary."""
  pad: int
  unk: int
  cls: int
  sep: int
  mask: int

  @property
  def ids(self):
    return (self.pad, self.unk, self.cls, self.sep, self.mask)


@gin.configurable
def get_vocabulary(sentencepiece_model_file=gin.REQUIRED):
  """The project's vocabulary: a seqio.SentencePieceVocabulary.

  Args:
    sentencepiece_model_file: path of a SentencePiece `.model` file; gin:
      `get_vocabulary.sentencepiece_model_file`.
  Returns:
    a seqio.SentencePieceVocabulary with no extra ids.
  """
  return _cached_vocabulary(absolute_path(sentencepiece_model_file))


def absolute_path(path):
  """A local path made absolute; a URL (gs://, ram://, ...) as it is."""
  return path if "://" in path else os.path.abspath(path)


@functools.lru_cache(maxsize=None)
def _cached_vocabulary(path):
  # tf.io.gfile: the model may sit on Cloud Storage beside the model_dir.
  if not tf.io.gfile.exists(path):
    raise errors.MissingFileError(
        f"SentencePiece model {path} does not exist; set "
        "`get_vocabulary.sentencepiece_model_file` to a .model file "
        "(`rembert-mtf vocab` trains one).")
  return seqio.SentencePieceVocabulary(path, extra_ids=0)


def special_tokens(vocabulary):
  """Looks up [PAD], [UNK], [CLS], [SEP], [MASK] in a SentencePiece vocab.

  Args:
    vocabulary: a seqio.SentencePieceVocabulary.
  Returns:
    SpecialTokens.
  Raises:
    ValueError: naming the missing piece and the model file.
  """
  processor = vocabulary.tokenizer
  unk_id = processor.unk_id()
  ids = {}
  for name, pieces in SPECIAL_PIECES.items():
    for piece in pieces:
      piece_id = processor.piece_to_id(piece)
      if piece_id != unk_id or name == "unk":
        if processor.id_to_piece(piece_id) == piece:
          ids[name] = piece_id
          break
    else:
      if name == "pad" and processor.pad_id() >= 0:
        ids[name] = processor.pad_id()
      elif name == "unk":
        ids[name] = unk_id
      else:
        raise errors.UserError(
            f"SentencePiece model {vocabulary.sentencepiece_model_file} has "
            f"no {' or '.join(pieces)} piece; train it with `rembert-mtf "
            "vocab`, which reserves [CLS], [SEP] and [MASK].")
  return SpecialTokens(**ids)


class DeferredVocabulary(seqio.Vocabulary):
  """A vocabulary that is only built when it is first used.

  seqio.Feature needs a vocabulary when a Task is registered, but the
  SentencePiece model is only known once gin has been parsed; this stands in
  for `get_vocabulary()` until then. Attributes it does not define
  (`tokenizer`, `sentencepiece_model_file`) come from the real vocabulary,
  so `special_tokens(DeferredVocabulary())` works. Every task module uses
  this one class.
  """

  def __init__(self, factory=None):
    """Args: factory: () -> seqio.Vocabulary; default the gin-configured one."""
    super().__init__(extra_ids=0)
    self._factory = factory

  def resolve(self) -> seqio.Vocabulary:
    """Returns the real vocabulary (not cached: gin bindings may change)."""
    # get_vocabulary looked up at call time, so tests can patch it.
    return (self._factory or get_vocabulary)()

  def __getattr__(self, name):
    # `tokenizer`, `sentencepiece_model_file`, ... (vocabulary.special_tokens
    # reads them) come from the real vocabulary.
    if name.startswith("__") or name == "_factory":
      raise AttributeError(name)
    return getattr(self.resolve(), name)

  @property
  def bos_id(self):
    return self.resolve().bos_id

  @property
  def eos_id(self):
    return self.resolve().eos_id

  @property
  def unk_id(self):
    return self.resolve().unk_id

  @property
  def pad_id(self):
    return self.resolve().pad_id

  @property
  def _base_vocab_size(self):
    return self.resolve().vocab_size

  def _encode(self, s):
    return self.resolve().encode(s)

  def _decode(self, ids):
    return self.resolve().decode(ids)

  def _encode_tf(self, s):
    return self.resolve().encode_tf(s)

  def _decode_tf(self, ids):
    return self.resolve().decode_tf(ids)

  def __eq__(self, other):
    return (isinstance(other, DeferredVocabulary) and
            other._factory is self._factory)  # pylint: disable=protected-access

  def __hash__(self):
    return hash((DeferredVocabulary, self._factory))

  def __str__(self):
    return f"DeferredVocabulary({getattr(self._factory, '__name__', '?')})"
