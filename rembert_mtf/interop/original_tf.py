"""`import-tf`: the TensorFlow checkpoint format RemBERT was first released in.

The release (google-research/google-research/rembert, gs://gresearch/rembert)
is a TF1 checkpoint in the layout of BERT's reference code. Our variable names
are that layout's, so importing is a reshape, except where noted below.

Established from public sources:
  * The encoder names, from the mapping in transformers 4.x
    `load_tf_weights_in_rembert`: bert/embeddings/{word,position,
    token_type}_embeddings, bert/embeddings/LayerNorm/{gamma,beta},
    bert/encoder/embedding_hidden_mapping_in/{kernel,bias},
    bert/encoder/layer_N/attention/self/{query,key,value}/{kernel,bias},
    .../attention/output/{dense,LayerNorm}, .../intermediate/dense,
    .../output/{dense,LayerNorm}, bert/pooler/dense. Kernels are 2-D
    [inputs, outputs] matrices (q/k/v [H, H], attention output [H, H]),
    biases 1-D.
  * The checkpoint also holds Adam slots (names containing adam_m, adam_v),
    global_step, and pre-training variables whose names contain
    "output_embedding" or "cls" (that loader skips them "to save memory";
    their exact names and shapes are not published).
  * The release has no fine-tuned task heads (its README: "we only provide
    the pre-trained checkpoints").

Assumptions (not verifiable from public sources):
  * The MLM head uses BERT's run_pretraining.py names:
    cls/predictions/transform/dense/{kernel [H, E_out], bias},
    cls/predictions/transform/LayerNorm/{gamma,beta}, cls/predictions/
    output_bias [vocab]. The output embedding is the one variable whose last
    name component is `output_embedding` (e.g. cls/predictions/
    output_embedding or bert/embeddings/output_embedding), [vocab, E_out]
    (accepted transposed, [E_out, vocab], when the sizes differ).
  * Task heads, if present, use BERT's fine-tuning names: output_weights
    [classes, H] and output_bias (run_classifier.py) -> classifier/;
    cls/squad/output_weights [2, H] and cls/squad/output_bias
    (run_squad.py) -> qa_outputs/. Our own names (classifier/kernel, ...)
    are read as well.
If the MLM head is incomplete under these names it is skipped with a warning
(as transformers skipped it): the encoder still imports. Any other variable
the mapping does not know is an error.

The config JSON may be a transformers config.json (model_type, num_hidden_
layers, input_embedding_size, layer_norm_eps, ...) or a BERT-style
bert_config.json (no model_type; BERT's keys, plus input_embedding_size or
ALBERT's embedding_size, and output_embedding_size, for RemBERT). Without an
input embedding size and with model_type absent or "bert", the checkpoint is
read as the coupled (mBERT-style) baseline.
"""

import os

from absl import logging
import numpy as np

from rembert_mtf import errors
from rembert_mtf.interop import hf_config
from rembert_mtf.interop import model_dir_writer
from rembert_mtf.training import model_dir as model_dir_lib

OUTPUT_EMBEDDING = "cls/predictions/output_embedding"
# Our name -> BERT's fine-tuning name (its kernels are [classes, H]).
_TASK_HEAD_NAMES = {
    "classifier/kernel": "output_weights",
    "classifier/bias": "output_bias",
    "qa_outputs/kernel": "cls/squad/output_weights",
    "qa_outputs/bias": "cls/squad/output_bias",
}
# BERT's next-sentence head: no place in RemBERT (MLM only), dropped.
_NEXT_SENTENCE = "cls/seq_relationship/"
_TWO_INPUT_KERNEL = "attention/output/dense/kernel"

# Keys of the config JSON: ours <- candidates in order of preference.
_CONFIG_KEYS = {
    "vocab_size": ("vocab_size",),
    "hidden_size": ("hidden_size", "d_model"),
    "num_layers": ("num_hidden_layers", "num_layers"),
    "num_heads": ("num_attention_heads", "num_heads"),
    "intermediate_size": ("intermediate_size", "d_ff"),
    "max_position_embeddings": ("max_position_embeddings",),
    "type_vocab_size": ("type_vocab_size",),
    "layer_norm_epsilon": ("layer_norm_eps", "layer_norm_epsilon"),
    "dropout_rate": ("hidden_dropout_prob", "dropout_rate"),
    "initializer_range": ("initializer_range",),
    "input_embedding_size": ("input_embedding_size", "embedding_size"),
    "output_embedding_size": ("output_embedding_size",),
}
_REQUIRED = ("vocab_size", "hidden_size", "num_layers", "num_heads",
             "intermediate_size")


def _lookup(values, field):
  for key in _CONFIG_KEYS[field]:
    if key in values:
      return values[key]
  return None


def config_from_release(values, path, checkpoint_shapes):
  """RemBertConfig from a transformers- or BERT-style config dict.

  Args:
    values: the parsed JSON.
    path: its file (for messages).
    checkpoint_shapes: {name: shape} of the checkpoint, for an output
      embedding size the JSON leaves out.
  Raises:
    errors.UserError: a missing required key or unsupported setting.
  """
  for field in _REQUIRED:
    if _lookup(values, field) is None:
      raise errors.UserError(
          f"{path}: no {' or '.join(_CONFIG_KEYS[field])}.")
  if values.get("hidden_act", "gelu") != "gelu":
    raise errors.UserError(f"{path}: hidden_act {values['hidden_act']!r} is "
                           "not supported; the model uses exact (erf) GELU, "
                           "'gelu'.")
  sizes = {f: _lookup(values, f) for f in _CONFIG_KEYS}
  sizes = {f: v for f, v in sizes.items() if v is not None}
  hidden, heads = sizes["hidden_size"], sizes["num_heads"]
  if heads <= 0 or hidden % heads:
    raise errors.UserError(f"{path}: hidden_size {hidden} is not a multiple "
                           f"of the number of heads {heads}.")
  sizes["head_size"] = hidden // heads
  model_type = values.get("model_type")
  decoupled = model_type == "rembert" or "input_embedding_size" in sizes
  if decoupled:
    sizes.setdefault("input_embedding_size", 256)  # transformers' default
    if "output_embedding_size" not in sizes:
      sizes["output_embedding_size"] = _output_embedding_width(
          checkpoint_shapes, sizes["vocab_size"], path)
  else:
    sizes.update(coupled=True, input_embedding_size=hidden,
                 output_embedding_size=hidden)
  sizes.setdefault("dropout_rate", 0.0)
  try:
    return model_dir_lib.make_config(**sizes)
  except (TypeError, ValueError) as e:
    raise errors.UserError(f"{path}: {e}") from e


def _output_embedding_width(shapes, vocab_size, path):
  for name, shape in shapes.items():
    if name.split("/")[-1] == "output_embedding" and len(shape) == 2:
      return shape[1] if shape[0] == vocab_size else shape[0]
  raise errors.UserError(f"{path}: no output_embedding_size, and the "
                         "checkpoint has no output embedding to read it "
                         "from.")


# ----------------------------------------------------------------------------
# Names and layouts
# ----------------------------------------------------------------------------


def release_shape(name, shape):
  """The shape of our variable `name` in the release's 2-D/1-D layout."""
  shape = tuple(shape)
  if name.endswith("/kernel"):
    split = 2 if name.endswith(_TWO_INPUT_KERNEL) else 1
    return (int(np.prod(shape[:split])), int(np.prod(shape[split:])))
  if name.endswith("/bias") and len(shape) > 1:
    return (int(np.prod(shape)),)
  return shape


def _find_output_embedding(shapes, path):
  found = [n for n in shapes if n.split("/")[-1] == "output_embedding"]
  if len(found) > 1:
    raise errors.UserError(
        f"{path}: several output embeddings ({', '.join(found)}).")
  return found[0] if found else None


def release_names(shapes, path):
  """{our name: release name} for the variables whose names differ."""
  names = {}
  output_embedding = _find_output_embedding(shapes, path)
  if output_embedding:
    names[OUTPUT_EMBEDDING] = output_embedding
  for ours, theirs in _TASK_HEAD_NAMES.items():
    if theirs in shapes and ours not in shapes:
      names[ours] = theirs
  return names


def _parts_present(shapes, renamed):
  """(mlm, pooler, task heads) the checkpoint seems to hold."""
  mlm = any(n.startswith("cls/predictions/") for n in shapes)
  pooler = "bert/pooler/dense/kernel" in shapes
  heads = {}
  for head, kernel in (("classification", "classifier/kernel"),
                       ("token", "token_classifier/kernel"),
                       ("span", "qa_outputs/kernel")):
    source = renamed.get(kernel, kernel)
    if source in shapes:
      transposed = kernel in _TASK_HEAD_NAMES and source != kernel
      heads[head] = shapes[source][0 if transposed else -1]
  return mlm, pooler, heads


def plan_import(shapes, config, path):
  """{our name: (release name, transpose)} for every variable to import.

  Raises:
    errors.MissingKeyError: an encoder variable is missing.
    errors.UserError: a shape disagrees with the config, or unknown
      variables.
  """
  renamed = release_names(shapes, path)
  mlm, pooler, heads = _parts_present(shapes, renamed)
  ours = model_dir_lib.variable_shapes(config, mlm=mlm, pooler=pooler,
                                       task_heads=heads)
  head_names = [n for n in ours if n.startswith("cls/")]
  missing_head = [n for n in head_names if renamed.get(n, n) not in shapes]
  if missing_head:
    logging.warning("%s: MLM head incomplete (no %s); importing the encoder "
                    "without it.", path, ", ".join(missing_head))
    ours = {n: s for n, s in ours.items() if not n.startswith("cls/")}
  plan = {}
  for name, shape in ours.items():
    source = renamed.get(name, name)
    if source not in shapes:
      raise errors.MissingKeyError(
          f"{path}: no variable {source} (our {name}).")
    plan[name] = (source, _transposition(name, source, shape, shapes[source],
                                         path))
  _check_leftovers(shapes, {s for s, _ in plan.values()}, path)
  return plan, ours


def _transposition(name, source, shape, stored, path):
  """Whether `source` is stored transposed; UserError if shapes disagree."""
  expected = release_shape(name, shape)
  # BERT's output_weights are [classes, H]: transposed relative to ours.
  transposed = source != name and name in _TASK_HEAD_NAMES and (
      name.endswith("kernel"))
  if transposed:
    expected = expected[::-1]
  if tuple(stored) == expected:
    return transposed
  if name == OUTPUT_EMBEDDING and tuple(stored) == expected[::-1] and (
      expected[0] != expected[1]):
    return True
  raise errors.UserError(f"{path}: {source} has shape {list(stored)} but the "
                         f"config implies {list(expected)}.")


def _check_leftovers(shapes, used, path):
  left = sorted(n for n in shapes if model_dir_lib.is_model_variable(n) and
                n not in used)
  dropped = [n for n in left if n.startswith(_NEXT_SENTENCE)]
  if dropped:
    logging.info("%s: dropped the next-sentence head (%s).", path,
                 ", ".join(dropped))
  pretraining = [n for n in left if n not in dropped and (
      n.startswith("cls/") or "output_embedding" in n)]
  if pretraining:
    logging.warning("%s: skipped pre-training variables the mapping does not "
                    "know: %s.", path, ", ".join(pretraining))
  unknown = [n for n in left if n not in dropped and n not in pretraining]
  if unknown:
    raise errors.UserError(f"{path}: variables with no place in the model: "
                           f"{unknown[0]} ({len(unknown)} in all).")


def _resolve_checkpoint(path):
  """A checkpoint prefix from a prefix or a folder holding checkpoints."""
  if os.path.isdir(path):
    return model_dir_lib.latest_checkpoint(path)
  if not os.path.isfile(path + ".index"):
    raise errors.MissingFileError(f"TF checkpoint {path} does not exist (no "
                                  f"{path}.index).")
  return path


def import_tf(checkpoint, config_json, vocab, model_dir, overwrite=False):
  """Converts a checkpoint of the original release into a model_dir.

  Args:
    checkpoint: checkpoint prefix (…/model.ckpt) or its folder.
    config_json: the release's config (transformers- or BERT-style keys).
    vocab: its SentencePiece model.
    model_dir: the model_dir to create.
    overwrite: replace an existing non-empty model_dir.
  Returns:
    (RemBertConfig, names of the variables written).
  """
  reader = model_dir_lib.CheckpointReader(_resolve_checkpoint(checkpoint))
  config = config_from_release(hf_config.read_json(config_json), config_json,
                               reader.shapes)
  model_dir_lib.check_vocabulary(vocab, config)
  plan, shapes = plan_import(reader.shapes, config, reader.path)

  def converted():
    for name, (source, transpose) in plan.items():
      value = reader.get(source).astype(np.float32, copy=False)
      if transpose:
        transposed = model_dir_writer.aligned_empty(value.shape[::-1])
        transposed[...] = value.T
        value = transposed
      yield name, value.reshape(shapes[name])

  names = model_dir_writer.write_model_dir(model_dir, config, converted(), vocab,
                                        overwrite=overwrite)
  return config, names
