"""The tokenizer files of an exported transformers folder.

sentencepiece.model, tokenizer_config.json and special_tokens_map.json for
transformers' RemBertTokenizer, plus a tokenizer.json built from the
SentencePiece model whose post-processor is `[CLS] A [SEP] (B [SEP])`:
transformers 5 builds the RemBertTokenizer from a bare sentencepiece.model
without that template (no [CLS]/[SEP] at all).

Known difference: transformers 5's RemBertTokenizer hard-codes unk id 2, so
with a vocabulary whose <unk> is elsewhere (ours: 1) text with characters
outside the vocabulary gets another id for them there; other text tokenizes
identically (tests/interop/test_checkpoints_hf.py).
"""

import base64
import json
import os
import shutil

from sentencepiece import sentencepiece_model_pb2

from rembert_mtf.training import model_dir as model_dir_lib


def _model_proto(spm_path):
  proto = sentencepiece_model_pb2.ModelProto()
  with open(spm_path, "rb") as f:
    proto.ParseFromString(f.read())
  return proto


def _special_pieces(proto, specials):
  names = ("pad", "unk", "cls", "sep", "mask")
  return {n: proto.pieces[getattr(specials, n)].piece for n in names}


def tokenizer_json(spm_path, specials):
  """A `tokenizers` serialization of the SentencePiece model (a dict).

  Mirrors transformers' RemBertConverter: ``/'' -> ", runs of spaces -> one,
  the model's precompiled normalization, Metaspace, Unigram; and the BERT
  template [CLS] A [SEP] (B [SEP]) with token types 0 then 1.
  """
  proto = _model_proto(spm_path)
  pieces = _special_pieces(proto, specials)
  normalizers = [
      {"type": "Replace", "pattern": {"String": "``"}, "content": '"'},
      {"type": "Replace", "pattern": {"String": "''"}, "content": '"'},
      {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
  ]
  charsmap = proto.normalizer_spec.precompiled_charsmap
  if charsmap:
    normalizers.append({"type": "Precompiled", "precompiled_charsmap":
                        base64.b64encode(charsmap).decode("ascii")})
  scheme = "always" if proto.normalizer_spec.add_dummy_prefix else "never"
  metaspace = {"type": "Metaspace", "replacement": "\u2581",
               "prepend_scheme": scheme, "split": True}
  cls, sep = pieces["cls"], pieces["sep"]

  def special(piece, type_id):
    return {"SpecialToken": {"id": piece, "type_id": type_id}}

  def sequence(name, type_id):
    return {"Sequence": {"id": name, "type_id": type_id}}

  # Control (3), unknown (2) and user-defined (4) pieces are never split.
  atomic = [(i, p.piece) for i, p in enumerate(proto.pieces)
            if p.type in (2, 3, 4)]
  return {
      "version": "1.0", "truncation": None, "padding": None,
      "added_tokens": [
          {"id": i, "content": piece, "single_word": False, "lstrip": False,
           "rstrip": False, "normalized": False,
           "special": piece in pieces.values()} for i, piece in atomic],
      "normalizer": {"type": "Sequence", "normalizers": normalizers},
      "pre_tokenizer": metaspace,
      "post_processor": {
          "type": "TemplateProcessing",
          "single": [special(cls, 0), sequence("A", 0), special(sep, 0)],
          "pair": [special(cls, 0), sequence("A", 0), special(sep, 0),
                   sequence("B", 1), special(sep, 1)],
          "special_tokens": {
              p: {"id": p, "ids": [i], "tokens": [p]}
              for p, i in ((cls, specials.cls), (sep, specials.sep))},
      },
      "decoder": metaspace,
      "model": {"type": "Unigram", "unk_id": specials.unk,
                "vocab": [[p.piece, p.score] for p in proto.pieces],
                "byte_fallback": proto.trainer_spec.byte_fallback},
  }


def write_tokenizer_files(folder, spm_path, specials, max_length):
  """Writes the tokenizer files of RemBertTokenizer into `folder`.

  Args:
    folder: the transformers folder being written.
    spm_path: the model_dir's SentencePiece model; specials: its special
      ids; max_length: the tokenizer's model_max_length.
  """
  shutil.copyfile(spm_path, os.path.join(folder, model_dir_lib.VOCABULARY))
  pieces = _special_pieces(_model_proto(spm_path), specials)
  tokens = {"bos_token": pieces["cls"], "eos_token": pieces["sep"],
            "unk_token": pieces["unk"], "sep_token": pieces["sep"],
            "pad_token": pieces["pad"], "cls_token": pieces["cls"],
            "mask_token": pieces["mask"]}
  files = {
      "tokenizer.json": tokenizer_json(spm_path, specials),
      "tokenizer_config.json": {
          "tokenizer_class": "RemBertTokenizer", "do_lower_case": False,
          "keep_accents": True, "remove_space": True,
          "model_max_length": max_length, **tokens},
      "special_tokens_map.json": tokens,
  }
  for name, value in files.items():
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
      json.dump(value, f, indent=2, ensure_ascii=False)
