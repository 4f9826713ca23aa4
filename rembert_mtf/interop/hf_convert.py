"""transformers checkpoint folders <-> model_dirs: `import-hf` and `export-hf`.

A transformers folder holds config.json (hf_config), the weights
(hf_weights: model.safetensors, sharded model-*.safetensors with
model.safetensors.index.json, or pytorch_model.bin) and, for this project,
the SentencePiece vocabulary as sentencepiece.model (the exported tokenizer
files: hf_tokenizer). Variable names and layouts map through hf_names.

Both directions stream one tensor at a time: import reads a tensor, converts
it and hands it to model_dir_writer.write_model_dir; export reads one variable from
the TF checkpoint and writes safetensors shards of at most max_shard_bytes.
"""

import json
import os

from absl import logging
import numpy as np

from rembert_mtf import errors
from rembert_mtf.interop import hf_config
from rembert_mtf.interop import hf_names
from rembert_mtf.interop import hf_tokenizer
from rembert_mtf.interop import hf_weights
from rembert_mtf.interop import model_dir_writer
from rembert_mtf.training import model_dir as model_dir_lib


# ----------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------


def config_from_hf(values, family, path):
  """Our RemBertConfig from a transformers config dict.

  Raises:
    errors.UserError: settings our model does not implement, naming the key.
  """
  fields = hf_config.model_fields(values, family, path)
  try:
    return model_dir_lib.make_config(**fields)
  except (TypeError, ValueError) as e:
    raise errors.UserError(f"{path}: {e}") from e


def _task_classes(weights, arch, path):
  """{trainer head: number of classes} of a task architecture's weights."""
  if arch.head not in hf_config.TASK_HEAD_PREFIX:
    return {}
  key = "qa_outputs.weight" if arch.head == "qa" else "classifier.weight"
  if key not in weights.keys:
    raise errors.MissingKeyError(f"{path}: {arch.name} weights have no {key}.")
  classes = weights.shape(key)[0]
  if arch.head == "qa" and classes != 2:
    raise errors.UserError(f"{path}: {key} has {classes} outputs; extractive "
                           "QA needs 2 (start, end).")
  return {hf_config.TRAINER_HEAD[arch.head]: classes}


def _source_keys(weights, shapes, family, path):
  """{our name: transformers key} for every variable, after checking shapes.

  Also checks that the source holds nothing unaccounted for.
  Raises:
    errors.MissingKeyError: a weight the model needs is missing.
    errors.UserError: a shape disagrees with config.json, or unmapped
      weights.
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
      raise errors.UserError(f"{path}: {key} has shape "
                             f"{list(weights.shape(key))} but config.json "
                             f"implies {list(expected)}.")
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
  config_path = os.path.join(source, hf_config.CONFIG_FILE)
  values = hf_config.read_json(config_path)
  arch = hf_config.architecture_of(values, config_path)
  config = config_from_hf(values, arch.family, config_path)
  vocab_path = os.path.join(source, model_dir_lib.VOCABULARY)
  model_dir_lib.check_vocabulary(vocab_path, config)
  weights = hf_weights.HfWeights(source)
  shapes = model_dir_lib.variable_shapes(
      config, mlm=arch.head == "mlm", pooler=arch.pooler,
      task_heads=_task_classes(weights, arch, source))
  plan = _source_keys(weights, shapes, arch.family, source)
  if arch.family == "bert":
    _check_tied(weights, plan, source)

  def converted():
    for name, key in plan.items():
      yield name, hf_names.from_hf_array(name, weights.get(key), shapes[name])

  names = model_dir_writer.write_model_dir(model_dir, config, converted(),
                                        vocab_path, overwrite=overwrite)
  return config, names


# ----------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------


def _resolve_head(head, names):
  """--head=auto: the one task head present, else mlm if cls/ is, else none."""
  if head != "auto":
    if head not in hf_config.HEADS:  # the CLI offers only these
      raise ValueError(f"head must be 'auto' or one of {hf_config.HEADS}, "
                       f"got {head!r}.")
    return head
  present = [h for h, p in hf_config.TASK_HEAD_PREFIX.items()
             if any(n.startswith(p) for n in names)]
  if len(present) == 1:
    return present[0]
  if len(present) > 1:
    raise errors.UserError(f"the checkpoint has several task heads "
                           f"({', '.join(present)}); choose one with --head.")
  mlm = any(n.startswith("cls/predictions/") for n in names)
  return "mlm" if mlm else "none"


def _checkpoint_classes(reader, head):
  """{trainer head: number of classes} of the checkpoint's `head`, or {}."""
  if head not in hf_config.TASK_HEAD_PREFIX:
    return {}
  kernel = hf_config.TASK_HEAD_PREFIX[head] + "kernel"
  if kernel not in reader.shapes:
    raise errors.MissingKeyError(
        f"checkpoint {reader.path} has no {kernel}: there is no {head} head "
        "to export (fine-tune first, or choose another --head).")
  return {hf_config.TRAINER_HEAD[head]: reader.shapes[kernel][-1]}


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


def export_hf(model_dir, out, head="auto", overwrite=False,
              max_shard_bytes=hf_config.MAX_SHARD_BYTES):
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
  arch = hf_config.architecture_for(family, head)
  classes = _checkpoint_classes(reader, head)
  shapes = model_dir_lib.variable_shapes(
      config, mlm=head == "mlm", pooler=arch.pooler, task_heads=classes)
  _check_export(reader, shapes, config)
  num_labels = classes.get("classification") or classes.get("token") or (
      2 if head == "qa" else None)
  with model_dir_writer.staged_folder(out, overwrite) as staging:
    hf_weights.write_safetensors(
        staging, _export_tensors(reader, shapes, config, family,
                                 base_only=head == "none"), max_shard_bytes)
    with open(os.path.join(staging, hf_config.CONFIG_FILE), "w") as f:
      json.dump(hf_config.hf_config_for(config, arch, specials, num_labels), f,
                indent=2, sort_keys=True)
    hf_tokenizer.write_tokenizer_files(staging, vocab_path, specials,
                                       config.max_position_embeddings)
  return arch
