"""Our variable names and shapes <-> transformers' PyTorch state-dict keys.

Our variables follow the original TensorFlow release (bert/encoder/layer_N/
attention/self/query/kernel, kernels laid out [inputs..., outputs...] with
named dimensions such as [d_model, heads, d_kv]); transformers keeps
torch.nn.Linear weights as [outputs, inputs] matrices. Converting is a
rename plus reshape-and-transpose, nothing else.

Two families: "rembert" (RemBertModel and its heads) and "bert" (the coupled
baseline as BertForMaskedLM with tied embeddings).
"""

import re

import numpy as np
from rembert_mtf import errors

# Our MLM-head names -> transformers' per family (the rest is generic).
_HEAD_NAMES = {
    "rembert": {
        "cls/predictions/transform/dense": "cls.predictions.dense",
        "cls/predictions/transform/LayerNorm": "cls.predictions.LayerNorm",
        "cls/predictions/output_embedding": "cls.predictions.decoder.weight",
        "cls/predictions/output_bias": "cls.predictions.decoder.bias",
    },
    "bert": {
        "cls/predictions/transform/dense": "cls.predictions.transform.dense",
        "cls/predictions/transform/LayerNorm":
            "cls.predictions.transform.LayerNorm",
        "cls/predictions/output_bias": "cls.predictions.bias",
    },
}
_EMBEDDING_TABLES = ("word_embeddings", "position_embeddings",
                     "token_type_embeddings")
# Kernels whose inputs span two of our dimensions ([heads, d_kv, d_model]).
_TWO_INPUT_DIMS = re.compile(r"attention/output/dense/kernel$")


def hf_name(name, family="rembert"):
  """transformers' key for one of our variable names (None: not exported).

  Args:
    name: e.g. "bert/encoder/layer_3/attention/self/query/kernel".
    family: "rembert" or "bert".
  Returns:
    e.g. "rembert.encoder.layer.3.attention.self.query.weight".
  """
  if name.startswith("cls/extra_layer_"):
    return None  # pre-training-only layers: transformers has no place
  for ours, theirs in _HEAD_NAMES[family].items():
    if name.startswith(ours):
      name = theirs + name[len(ours):]
      break
  else:
    if name.startswith("bert/"):
      name = ("rembert" if family == "rembert" else "bert") + name[4:]
    elif name.startswith("token_classifier/"):
      name = "classifier" + name[len("token_classifier"):]
  name = re.sub(r"layer_(\d+)", r"layer.\1", name).replace("/", ".")
  name = re.sub(r"\.(kernel|gamma)$", ".weight", name)
  name = re.sub(r"\.beta$", ".bias", name)
  if name.split(".")[-1] in _EMBEDDING_TABLES:
    name += ".weight"
  return name


def _input_rank(name):
  return 2 if _TWO_INPUT_DIMS.search(name) else 1


def to_hf_array(name, value):
  """One of our arrays in transformers' layout."""
  if name.endswith("/kernel"):
    rank = _input_rank(name)
    rows = int(np.prod(value.shape[:rank]))
    return np.ascontiguousarray(value.reshape(rows, -1).T)
  return value.reshape(-1) if value.ndim > 1 and not _is_table(name) else value


def hf_shape(name, shape):
  """The shape transformers keeps our variable `name` of `shape` in."""
  shape = tuple(shape)
  if name.endswith("/kernel"):
    rank = _input_rank(name)
    return (int(np.prod(shape[rank:])), int(np.prod(shape[:rank])))
  if len(shape) > 1 and not _is_table(name):
    return (int(np.prod(shape)),)
  return shape


def from_hf_array(name, value, shape):
  """transformers' array for our variable `name` in our `shape`."""
  if name.endswith("/kernel"):
    return np.ascontiguousarray(np.asarray(value).T).reshape(shape)
  return np.asarray(value).reshape(shape)


def _is_table(name):
  return (name.split("/")[-1] in _EMBEDDING_TABLES or
          name.endswith("output_embedding"))


def to_hf_state_dict(weights, family="rembert"):
  """{our name: array} -> {transformers key: array}; unexported ones dropped."""
  state = {}
  for name, value in weights.items():
    key = hf_name(name, family)
    if key is not None:
      state[key] = to_hf_array(name, value)
  if family == "bert" and "cls.predictions.bias" in state:
    # BertForMaskedLM ties the decoder to the word embedding and its bias.
    state["cls.predictions.decoder.weight"] = state[
        "bert.embeddings.word_embeddings.weight"]
    state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
  return state


def from_hf_state_dict(state, shapes, family="rembert"):
  """{transformers key: array} -> {our name: array} for the names in `shapes`.

  Args:
    state: a transformers state dict (numpy or torch tensors).
    shapes: {our variable name: shape} of the model to fill.
  Raises:
    errors.MissingKeyError: naming the first variable the state dict lacks.
  """
  weights = {}
  for name, shape in shapes.items():
    key = hf_name(name, family)
    if key is None:
      continue
    if key not in state:
      raise errors.MissingKeyError(
          f"the checkpoint has no {key} (for our {name}).")
    value = state[key]
    value = value.detach().cpu().numpy() if hasattr(value, "detach") else value
    weights[name] = from_hf_array(name, value, shape)
  return weights
