"""transformers checkpoint folders <-> model_dirs: `import-hf` and `export-hf`.

A transformers folder holds config.json, the weights (model.safetensors,
sharded model-*.safetensors with model.safetensors.index.json, or
pytorch_model.bin) and, for this project, the SentencePiece vocabulary as
sentencepiece.model. Two families (hf_names): "rembert" -- RemBertModel,
RemBertForMaskedLM and the task models, whose heads become classifier/,
token_classifier/ and qa_outputs/ -- and "bert", the coupled baseline as
BertForMaskedLM with tied embeddings (and BertModel / Bert task models).

Both directions stream one tensor at a time: import reads a tensor, converts
it and hands it to model_dir.write_model_dir; export reads one variable from
the TF checkpoint and writes safetensors shards of at most --max_shard_bytes.
Nothing but safetensors and numpy is needed at run time; pytorch_model.bin is
read only when torch is importable.

Exported tokenizer files: sentencepiece.model, tokenizer_config.json and
special_tokens_map.json for transformers' RemBertTokenizer, plus a
tokenizer.json built from the SentencePiece model whose post-processor is
`[CLS] A [SEP] (B [SEP])`: transformers 5 builds the RemBertTokenizer from a
bare sentencepiece.model without that template (no [CLS]/[SEP] at all).
Known difference: transformers 5's RemBertTokenizer hard-codes unk id 2, so
with a vocabulary whose <unk> is elsewhere (ours: 1) text with characters
outside the vocabulary gets another id for them there; other text tokenizes
identically (tests/test_checkpoints_hf.py).
"""

import base64
import dataclasses
import json
import os
import shutil

from absl import logging
import numpy as np
import safetensors
import safetensors.numpy
from sentencepiece import sentencepiece_model_pb2

from rembert_mtf import errors
from rembert_mtf.interop import hf_names
from rembert_mtf.training import model_dir as model_dir_lib

CONFIG_FILE = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_BIN = "pytorch_model.bin"
MAX_SHARD_BYTES = 2 << 30
READ_BLOCK = 64 << 20  # bytes of one tensor read at a time on import
HEADS = ("none", "mlm", "classification", "token", "qa")
# Our variable-name prefix of each task head.
TASK_HEAD_PREFIX = {"classification": "classifier/",
                    "token": "token_classifier/", "qa": "qa_outputs/"}


@dataclasses.dataclass(frozen=True)
class Architecture:
  """One transformers model class: its family, head and whether it pools."""
  name: str
  family: str  # "rembert" | "bert"
  head: str  # one of HEADS
  pooler: bool


ARCHITECTURES = {a.name: a for a in (
    Architecture("RemBertModel", "rembert", "none", True),
    Architecture("RemBertForMaskedLM", "rembert", "mlm", False),
    Architecture("RemBertForSequenceClassification", "rembert",
                 "classification", True),
    Architecture("RemBertForTokenClassification", "rembert", "token", False),
    Architecture("RemBertForQuestionAnswering", "rembert", "qa", False),
    Architecture("BertModel", "bert", "none", True),
    Architecture("BertForMaskedLM", "bert", "mlm", False),
    Architecture("BertForSequenceClassification", "bert", "classification",
                 True),
    Architecture("BertForTokenClassification", "bert", "token", False),
    Architecture("BertForQuestionAnswering", "bert", "qa", False),
)}


def architecture_for(family, head):
  return next(a for a in ARCHITECTURES.values()
              if a.family == family and a.head == head)


# transformers' config defaults, used where config.json leaves a key out
# (as from_pretrained would).
_HF_DEFAULTS = {
    "rembert": dict(vocab_size=250300, hidden_size=1152, num_hidden_layers=32,
                    num_attention_heads=18, input_embedding_size=256,
                    output_embedding_size=1664, intermediate_size=4608,
                    hidden_dropout_prob=0.0, max_position_embeddings=512,
                    type_vocab_size=2, initializer_range=0.02,
                    layer_norm_eps=1e-12, hidden_act="gelu"),
    "bert": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072,
                 hidden_dropout_prob=0.1, max_position_embeddings=512,
                 type_vocab_size=2, initializer_range=0.02,
                 layer_norm_eps=1e-12, hidden_act="gelu"),
}


# ----------------------------------------------------------------------------
# Configurations
# ----------------------------------------------------------------------------


def read_json(path):
  if not os.path.isfile(path):
    raise errors.MissingFileError(f"{path} does not exist.")
  try:
    with open(path) as f:
      value = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise errors.UserError(f"{path} is not valid JSON: {e}") from e
  if not isinstance(value, dict):
    raise errors.UserError(f"{path} does not hold a JSON object.")
  return value


def architecture_of(hf_config, path):
  """The Architecture named in config.json's `architectures`.

  Raises:
    ValueError: missing or unsupported architecture.
  """
  names = hf_config.get("architectures") or []
  if len(names) != 1 or names[0] not in ARCHITECTURES:
    found = (", ".join(map(str, names)) if names else
             f"(none; model_type {hf_config.get('model_type')!r})")
    raise errors.UserError(f"{path}: unsupported architecture {found}; import-hf "
                           f"reads {', '.join(ARCHITECTURES)}.")
  return ARCHITECTURES[names[0]]


def config_from_hf(hf_config, family, path):
  """Our RemBertConfig from a transformers config dict.

  Raises:
    ValueError: settings our model does not implement, naming the key.
  """
  hf = {**_HF_DEFAULTS[family], **hf_config}
  if hf["hidden_act"] != "gelu":
    raise errors.UserError(f"{path}: hidden_act {hf['hidden_act']!r} is not "
                           "supported; the model uses exact (erf) GELU, 'gelu'.")
  if hf.get("position_embedding_type", "absolute") != "absolute":
    raise errors.UserError(f"{path}: position_embedding_type "
                           f"{hf['position_embedding_type']!r} is not supported.")
  hidden, heads = hf["hidden_size"], hf["num_attention_heads"]
  if heads <= 0 or hidden % heads:
    raise errors.UserError(f"{path}: hidden_size {hidden} is not a multiple of "
                           f"num_attention_heads {heads}.")
  if family == "rembert":
    embeddings = dict(input_embedding_size=hf["input_embedding_size"],
                      output_embedding_size=hf["output_embedding_size"])
  else:
    embeddings = dict(coupled=True, input_embedding_size=hidden,
                      output_embedding_size=hidden)
  try:
    return model_dir_lib.make_config(
        vocab_size=hf["vocab_size"], hidden_size=hidden,
        num_layers=hf["num_hidden_layers"], num_heads=heads,
        head_size=hidden // heads, intermediate_size=hf["intermediate_size"],
        max_position_embeddings=hf["max_position_embeddings"],
        type_vocab_size=hf["type_vocab_size"],
        dropout_rate=float(hf["hidden_dropout_prob"]),
        layer_norm_epsilon=float(hf["layer_norm_eps"]),
        initializer_range=float(hf["initializer_range"]), **embeddings)
  except (TypeError, ValueError) as e:
    raise errors.UserError(f"{path}: {e}") from e


def hf_config_for(config, arch, specials, num_labels=None):
  """config.json for `arch` holding our config (a dict)."""
  out = {
      "architectures": [arch.name], "model_type": arch.family,
      "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
      "num_hidden_layers": config.num_layers,
      "num_attention_heads": config.num_heads,
      "intermediate_size": config.intermediate_size, "hidden_act": "gelu",
      "hidden_dropout_prob": config.dropout_rate,
      "attention_probs_dropout_prob": config.dropout_rate,
      "max_position_embeddings": config.max_position_embeddings,
      "type_vocab_size": config.type_vocab_size,
      "initializer_range": config.initializer_range,
      "layer_norm_eps": config.layer_norm_epsilon,
      "pad_token_id": specials.pad, "dtype": "float32",
  }
  if arch.family == "rembert":
    out.update(input_embedding_size=config.input_embedding_size,
               output_embedding_size=config.output_embedding_size,
               bos_token_id=specials.cls, eos_token_id=specials.sep,
               tie_word_embeddings=False)
  else:
    out.update(tie_word_embeddings=True,
               position_embedding_type="absolute")
  if num_labels:
    out["id2label"] = {str(i): f"LABEL_{i}" for i in range(num_labels)}
    out["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
  return out


# ----------------------------------------------------------------------------
# Reading transformers weights, one tensor at a time
# ----------------------------------------------------------------------------


class HfWeights:
  """The tensors of a transformers folder, read one at a time.

  A safetensors file is opened (memory-mapped) per read and closed after:
  a mapping kept open would keep every page read so far resident.

  Attributes:
    keys: {state-dict key: file it is in}.
  """

  def __init__(self, folder):
    self.keys = {}
    self._shapes = {}
    self._torch_state = None
    index = os.path.join(folder, SAFETENSORS_INDEX)
    single = os.path.join(folder, SAFETENSORS)
    if os.path.isfile(single):
      self._index_safetensors(single)
    elif os.path.isfile(index):
      weight_map = read_json(index).get("weight_map", {})
      for name in sorted(set(weight_map.values())):
        self._index_safetensors(os.path.join(folder, name))
    elif os.path.isfile(os.path.join(folder, PYTORCH_BIN)):
      self._open_torch(os.path.join(folder, PYTORCH_BIN))
    else:
      raise errors.MissingFileError(
          f"{folder} holds no {SAFETENSORS}, {SAFETENSORS_INDEX} or "
          f"{PYTORCH_BIN}.")

  def _index_safetensors(self, path):
    if not os.path.isfile(path):
      raise errors.MissingFileError(f"weights file {path} does not exist.")
    try:
      with safetensors.safe_open(path, framework="numpy") as handle:
        for key in handle.keys():
          self.keys[key] = path
          self._shapes[key] = tuple(handle.get_slice(key).get_shape())
    except (safetensors.SafetensorError, OSError, ValueError) as e:
      raise errors.UserError(f"{path} is not a readable safetensors file: "
                             f"{e}") from e

  def _open_torch(self, path):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise errors.UserError(
          f"{path} is a PyTorch pickle, which needs torch (not installed); "
          "convert it to model.safetensors or install torch.") from e
    try:
      state = torch.load(path, map_location="cpu", weights_only=True,
                         mmap=True)
    except Exception as e:  # torch raises many kinds on a corrupt file
      raise errors.UserError(f"{path} is not a readable PyTorch checkpoint: "
                             f"{str(e).splitlines()[0] if str(e) else e!r}") from e
    self._torch_state = state
    self.keys.update({k: path for k in state})
    self._shapes.update({k: tuple(v.shape) for k, v in state.items()})

  def shape(self, key):
    return self._shapes[key]

  def get(self, key):
    """One tensor as float32 numpy; ValueError naming the file if unreadable."""
    path = self.keys[key]
    try:
      if self._torch_state is not None:
        value = self._torch_state[key].float().numpy()
      else:
        value = self._read_safetensors(path, key)
    except Exception as e:  # safetensors/torch: truncated or bad dtype
      raise errors.UserError(f"{path}: cannot read {key}: {e}") from e
    if value.dtype != np.float32:
      value = value.astype(np.float32)
    return value

  def _read_safetensors(self, path, key):
    """A large float32 tensor is read in row blocks into one array: reading
    it whole would briefly hold it twice (and map all its pages)."""
    shape = self._shapes[key]
    row_bytes = 4 * int(np.prod(shape[1:])) if shape else 0
    with safetensors.safe_open(path, framework="numpy") as handle:
      dtype = handle.get_slice(key).get_dtype()
      if dtype != "F32" or not shape or shape[0] * row_bytes <= READ_BLOCK:
        return handle.get_tensor(key)
    value = model_dir_lib.aligned_empty(shape, np.float32)
    rows = max(1, READ_BLOCK // row_bytes)
    for start in range(0, shape[0], rows):
      stop = min(start + rows, shape[0])  # safetensors does not clip
      with safetensors.safe_open(path, framework="numpy") as handle:
        value[start:stop] = handle.get_slice(key)[start:stop]
    return value


def _task_classes(weights, arch, path):
  """{head: number of classes} of a task architecture, from its weights."""
  if arch.head not in TASK_HEAD_PREFIX:
    return {}
  key = "qa_outputs.weight" if arch.head == "qa" else "classifier.weight"
  if key not in weights.keys:
    raise errors.MissingKeyError(f"{path}: {arch.name} weights have no {key}.")
  classes = weights.shape(key)[0]
  if arch.head == "qa" and classes != 2:
    raise errors.UserError(f"{path}: {key} has {classes} outputs; extractive QA "
                           "needs 2 (start, end).")
  return {arch.head: classes}


def _source_keys(weights, shapes, family, path):
  """{our name: transformers key} for every variable, after checking shapes.

  Also checks that the source holds nothing unaccounted for.
  Raises:
    KeyError: a weight the model needs is missing.
    ValueError: a shape disagrees with config.json, or unmapped weights.
  """
  prefix = "rembert." if family == "rembert" else "bert."
  plan = {}
  for name, shape in shapes.items():
    key = hf_names.hf_name(name, family)
    if key is None:
      continue
    # A base model (RemBertModel) is saved without the "rembert." prefix.
    if (key not in weights.keys and key.startswith(prefix) and
        key[len(prefix):] in weights.keys):
      key = key[len(prefix):]
    if key not in weights.keys:
      raise errors.MissingKeyError(f"{path}: no weight {key} (our {name}).")
    expected = hf_names.hf_shape(name, shape)
    if weights.shape(key) != expected:
      raise errors.UserError(f"{path}: {key} has shape {list(weights.shape(key))} "
                             f"but config.json implies {list(expected)}.")
    plan[name] = key
  ignorable = (".position_ids", ".token_type_ids")
  # BertForMaskedLM's decoder is tied to the word embedding and its bias.
  tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
  extra = sorted(k for k in weights.keys
                 if k not in plan.values() and not k.endswith(ignorable) and
                 not (family == "bert" and k in tied))
  if extra:
    raise errors.UserError(f"{path}: weights with no place in the model: "
                           f"{extra[0]} ({len(extra)} in all).")
  return plan


def _check_tied(weights, plan, path):
  """Refuses an untied BertForMaskedLM: our coupled model has one table."""
  pairs = (("cls.predictions.decoder.weight",
            "bert/embeddings/word_embeddings"),
           ("cls.predictions.decoder.bias", "cls/predictions/output_bias"))
  for key, ours in pairs:
    if key in weights.keys and ours in plan:
      if not np.array_equal(weights.get(key), weights.get(plan[ours])):
        raise errors.UserError(f"{path}: {key} differs from {plan[ours]}; the "
                               "coupled model needs tied embeddings.")


def import_hf(source, model_dir, overwrite=False):
  """Converts a transformers folder into a model_dir.

  Args:
    source: folder with config.json, weights and sentencepiece.model.
    model_dir: the model_dir to create.
    overwrite: replace an existing non-empty model_dir.
  Returns:
    (RemBertConfig, names of the variables written).
  """
  config_path = os.path.join(source, CONFIG_FILE)
  hf_config = read_json(config_path)
  arch = architecture_of(hf_config, config_path)
  config = config_from_hf(hf_config, arch.family, config_path)
  vocab_path = os.path.join(source, model_dir_lib.VOCABULARY)
  model_dir_lib.check_vocabulary(vocab_path, config)
  weights = HfWeights(source)
  shapes = model_dir_lib.variable_shapes(
      config, mlm=arch.head == "mlm", pooler=arch.pooler,
      task_heads=_task_classes(weights, arch, source))
  plan = _source_keys(weights, shapes, arch.family, source)
  if arch.family == "bert":
    _check_tied(weights, plan, source)

  def converted():
    for name, key in plan.items():
      yield name, hf_names.from_hf_array(name, weights.get(key), shapes[name])

  names = model_dir_lib.write_model_dir(model_dir, config, converted(),
                                        vocab_path, overwrite=overwrite)
  return config, names


# ----------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------


def _resolve_head(head, names):
  """--head=auto: the one task head present, else mlm if cls/ is, else none."""
  if head != "auto":
    if head not in HEADS:
      raise errors.UserError(f"--head must be auto or one of {', '.join(HEADS)}, "
                             f"got {head!r}.")
    return head
  present = [h for h, p in TASK_HEAD_PREFIX.items()
             if any(n.startswith(p) for n in names)]
  if len(present) == 1:
    return present[0]
  if len(present) > 1:
    raise errors.UserError(f"the checkpoint has several task heads "
                           f"({', '.join(present)}); choose one with --head.")
  mlm = any(n.startswith("cls/predictions/") for n in names)
  return "mlm" if mlm else "none"


def _checkpoint_classes(reader, head):
  if head not in TASK_HEAD_PREFIX:
    return {}
  kernel = TASK_HEAD_PREFIX[head] + "kernel"
  if kernel not in reader.shapes:
    raise errors.MissingKeyError(f"checkpoint {reader.path} has no {kernel}: there is no "
                                 f"{head} head to export (fine-tune first, or choose "
                                 "another --head).")
  return {head: reader.shapes[kernel][-1]}


def _fresh_pooler(name, shape, config):
  """transformers' initialization for a pooler the checkpoint lacks."""
  if name.endswith("bias"):
    return np.zeros(shape, np.float32)
  rng = np.random.default_rng(0)
  return (config.initializer_range * rng.standard_normal(shape)).astype(
      np.float32)


def _export_tensors(reader, shapes, config, family, base_only):
  """Yields (transformers key, array) in the transformers layout."""
  prefix = "rembert." if family == "rembert" else "bert."
  for name, shape in shapes.items():
    key = hf_names.hf_name(name, family)
    if key is None:
      continue
    if name in reader.shapes:
      value = reader.get(name)
    else:
      value = _fresh_pooler(name, shape, config)
    if base_only and key.startswith(prefix):
      key = key[len(prefix):]
    yield key, hf_names.to_hf_array(name, value)


def _check_export(reader, shapes, config):
  """Every needed variable present (pooler aside) with its config shape."""
  for name, shape in shapes.items():
    if name not in reader.shapes:
      if name.startswith("bert/pooler/"):
        logging.warning("%s has no %s; exporting transformers' fresh "
                        "initialization (normal(0, %g), zero bias).",
                        reader.path, name, config.initializer_range)
        continue
      raise errors.MissingKeyError(f"checkpoint {reader.path} has no {name}.")
    if reader.shapes[name] != tuple(shape):
      raise errors.UserError(f"checkpoint {reader.path}: {name} has shape "
                             f"{list(reader.shapes[name])} but the operative "
                             f"config implies {list(shape)}.")
  if config.num_extra_output_layers and any(n.startswith("cls/predictions")
                                            for n in shapes):
    logging.warning("transformers has no place for the %d extra output "
                    "layers; its MLM logits will differ from ours.",
                    config.num_extra_output_layers)


def write_safetensors(folder, tensors, max_shard_bytes=MAX_SHARD_BYTES):
  """Writes (key, array) pairs as model.safetensors, or shards plus index.

  At most about `max_shard_bytes` of tensors are held at once.
  Returns:
    the file names written.
  """
  shards, weight_map, current, size, total = [], {}, {}, 0, 0

  def flush():
    name = f"part-{len(shards):05d}.safetensors"
    safetensors.numpy.save_file(current, os.path.join(folder, name),
                                metadata={"format": "pt"})
    shards.append((name, list(current)))

  for key, value in tensors:
    if current and size + value.nbytes > max_shard_bytes:
      flush()
      current, size = {}, 0
    current[key] = np.ascontiguousarray(value)
    size += value.nbytes
    total += value.nbytes
  flush()
  current = None
  if len(shards) == 1:
    os.rename(os.path.join(folder, shards[0][0]),
              os.path.join(folder, SAFETENSORS))
    return [SAFETENSORS]
  names = []
  for i, (name, keys) in enumerate(shards):
    final = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    os.rename(os.path.join(folder, name), os.path.join(folder, final))
    weight_map.update({k: final for k in keys})
    names.append(final)
  with open(os.path.join(folder, SAFETENSORS_INDEX), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              f, indent=2, sort_keys=True)
  return names + [SAFETENSORS_INDEX]


def export_hf(model_dir, out, head="auto", overwrite=False,
              max_shard_bytes=MAX_SHARD_BYTES):
  """Writes a transformers folder from a model_dir's latest checkpoint.

  Args:
    model_dir: the model_dir to read.
    out: the folder to create.
    head: auto | none | mlm | classification | token | qa.
    overwrite: replace an existing non-empty `out`.
    max_shard_bytes: bytes per safetensors file.
  Returns:
    the Architecture written.
  """
  config = model_dir_lib.read_config(model_dir)
  reader = model_dir_lib.CheckpointReader(
      model_dir_lib.latest_checkpoint(model_dir))
  vocab_path = model_dir_lib.vocabulary_path(model_dir)
  specials = model_dir_lib.check_vocabulary(vocab_path, config)
  if config.head_size * config.num_heads != config.hidden_size:
    raise errors.UserError(
        f"transformers computes the head size as hidden_size / num_heads; "
        f"this model has head_size {config.head_size} x {config.num_heads} "
        f"heads != hidden_size {config.hidden_size}.")
  family = "bert" if config.coupled else "rembert"
  head = _resolve_head(head, reader.model_variables())
  arch = architecture_for(family, head)
  classes = _checkpoint_classes(reader, head)
  shapes = model_dir_lib.variable_shapes(
      config, mlm=head == "mlm", pooler=arch.pooler, task_heads=classes)
  _check_export(reader, shapes, config)
  num_labels = classes.get("classification") or classes.get("token") or (
      2 if head == "qa" else None)
  with model_dir_lib.staged_folder(out, overwrite) as staging:
    write_safetensors(
        staging, _export_tensors(reader, shapes, config, family,
                                 base_only=head == "none"), max_shard_bytes)
    with open(os.path.join(staging, CONFIG_FILE), "w") as f:
      json.dump(hf_config_for(config, arch, specials, num_labels), f,
                indent=2, sort_keys=True)
    write_tokenizer_files(staging, vocab_path, specials,
                          config.max_position_embeddings)
  return arch


# ----------------------------------------------------------------------------
# Tokenizer files
# ----------------------------------------------------------------------------


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
  """sentencepiece.model, tokenizer.json, tokenizer_config.json and
  special_tokens_map.json for RemBertTokenizer."""
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
