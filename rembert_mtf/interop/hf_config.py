"""What a transformers folder holds and what its config.json means to us.

The folder's file names, the transformers model classes we read and write
(Architecture: family, head, pooler), and config.json <-> the fields of our
RemBertConfig, both ways. Two families: "rembert" -- RemBertModel,
RemBertForMaskedLM and the task models, whose heads become classifier/,
token_classifier/ and qa_outputs/ -- and "bert", the coupled baseline as
BertForMaskedLM with tied embeddings (and BertModel / Bert task models).

Pure Python (json and os; no TensorFlow or numpy): `rembert-mtf export-hf`
takes its --head choices and --max_shard_bytes default from here while
building the parser.
"""

import dataclasses
import json
import os

from rembert_mtf import errors

CONFIG_FILE = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_BIN = "pytorch_model.bin"
MAX_SHARD_BYTES = 2 << 30  # bytes of tensors per exported safetensors file
HEADS = ("none", "mlm", "classification", "token", "qa")
# Our variable-name prefix of each task head.
TASK_HEAD_PREFIX = {"classification": "classifier/",
                    "token": "token_classifier/", "qa": "qa_outputs/"}
# The name of each task head in the trainer (model/heads.py's HEADS, what
# model_dir.variable_shapes takes): transformers' "question answering" is
# our extractive "span" head.
TRAINER_HEAD = {"classification": "classification", "token": "token",
                "qa": "span"}


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
  """The Architecture of `family` ("rembert" | "bert") with `head`."""
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


def read_json(path):
  """The JSON object in `path` (a dict); one-line errors for a bad file."""
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


def architecture_of(values, path):
  """The Architecture named in config.json's `architectures`.

  Args:
    values: the config.json dict; path: its file, for messages.
  Raises:
    errors.UserError: missing or unsupported architecture.
  """
  names = values.get("architectures") or []
  if len(names) != 1 or names[0] not in ARCHITECTURES:
    found = (", ".join(map(str, names)) if names else
             f"(none; model_type {values.get('model_type')!r})")
    raise errors.UserError(f"{path}: unsupported architecture {found}; "
                           f"import-hf reads {', '.join(ARCHITECTURES)}.")
  return ARCHITECTURES[names[0]]


def model_fields(values, family, path):
  """The RemBertConfig fields a transformers config dict sets (a dict).

  Keys config.json leaves out take transformers' defaults.
  Raises:
    errors.UserError: settings our model does not implement, naming the key.
  """
  hf = {**_HF_DEFAULTS[family], **values}
  if hf["hidden_act"] != "gelu":
    raise errors.UserError(f"{path}: hidden_act {hf['hidden_act']!r} is not "
                           "supported; the model uses exact (erf) GELU, "
                           "'gelu'.")
  if hf.get("position_embedding_type", "absolute") != "absolute":
    raise errors.UserError(f"{path}: position_embedding_type "
                           f"{hf['position_embedding_type']!r} is not "
                           "supported.")
  hidden, heads = hf["hidden_size"], hf["num_attention_heads"]
  if heads <= 0 or hidden % heads:
    raise errors.UserError(f"{path}: hidden_size {hidden} is not a multiple "
                           f"of num_attention_heads {heads}.")
  if family == "rembert":
    embeddings = dict(input_embedding_size=hf["input_embedding_size"],
                      output_embedding_size=hf["output_embedding_size"])
  else:
    embeddings = dict(coupled=True, input_embedding_size=hidden,
                      output_embedding_size=hidden)
  try:
    return dict(
        vocab_size=hf["vocab_size"], hidden_size=hidden,
        num_layers=hf["num_hidden_layers"], num_heads=heads,
        head_size=hidden // heads, intermediate_size=hf["intermediate_size"],
        max_position_embeddings=hf["max_position_embeddings"],
        type_vocab_size=hf["type_vocab_size"],
        dropout_rate=float(hf["hidden_dropout_prob"]),
        layer_norm_epsilon=float(hf["layer_norm_eps"]),
        initializer_range=float(hf["initializer_range"]), **embeddings)
  except (TypeError, ValueError) as e:  # e.g. a string where a number goes
    raise errors.UserError(f"{path}: {e}") from e


def hf_config_for(config, arch, specials, num_labels=None):
  """config.json for `arch` holding our config (a dict).

  Args:
    config: RemBertConfig; arch: Architecture; specials: the vocabulary's
      special ids (pad, cls, sep); num_labels: classes of a task head.
  """
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
