"""`embed`: hidden states of a model_dir's encoder for lines of text.

Each line is tokenized with the model's SentencePiece vocabulary as
`[CLS] pieces [SEP]` (token type 0), truncated to the model's
max_position_embeddings (or a smaller max_length) with a warning.

Which hidden states: those of one layer, `layer` (0: the embeddings' output
projected to the model's width, as transformers' hidden_states[0]; L, the
default: the last of the L Transformer layers), pooled by `pooling`:
  none  every token's state (the default);
  mean  the mean over the line's tokens, [CLS] and [SEP] included (XTREME's
        retrieval pooling: its pool mask is the attention mask);
  cls   the state of [CLS].
Only the first `layer` layers are built and run, so an early layer costs
less than the last.

Outputs, for N lines and hidden size H:
  OUT (e.g. X.npy): with pooling none, a NumPy object array of N float32
    arrays, line i's [tokens_i x H] hidden states, in input order; read it
    with np.load(OUT, allow_pickle=True). With mean or cls, float32 [N x H].
  OUT with `.npy` replaced by `.pooled.npy` (X.pooled.npy): float32
    [N x H], the pooler's tanh(dense(hidden state of [CLS])). Written only
    with pooling none at the last layer (the pooler reads the last layer)
    and when the checkpoint has a pooler (bert/pooler/...): a model
    pre-trained with MLM alone has none, and a random one would mean
    nothing.

`Embedder(model_dir)` holds the weights in memory for repeated calls
(sentence retrieval: rembert_mtf.evaluation.retrieval takes it as its
embed_fn).

Lines are sorted by length and run in batches padded to a few bucket lengths
(powers of two up to the maximum), one lowered graph per bucket used; a
bucket with less than one batch of lines joins the next longer one.
"""

import dataclasses
import os

from absl import logging
import numpy as np

from rembert_mtf import errors
from rembert_mtf.data import vocabulary
from rembert_mtf.model import mesh_graph
from rembert_mtf.training import model_dir as model_dir_lib

POOLER_PREFIX = "bert/pooler/"
MIN_BUCKET = 8
POOLINGS = ("none", "mean", "cls")


def pooled_path(out):
  """X.npy -> X.pooled.npy."""
  stem = out[:-len(".npy")] if out.endswith(".npy") else out
  return stem + ".pooled.npy"


def tokenize(lines, vocab, specials, max_length):
  """[CLS] pieces [SEP] ids per line, truncated to max_length.

  Returns:
    (list of int32 arrays, number of lines truncated).
  """
  ids, truncated = [], 0
  for line in lines:
    pieces = list(vocab.encode(line))
    if len(pieces) + 2 > max_length:
      pieces = pieces[:max_length - 2]
      truncated += 1
    ids.append(np.asarray([specials.cls] + pieces + [specials.sep], np.int32))
  return ids, truncated


def bucket_length(n, max_length):
  """The smallest power of two >= n (at least MIN_BUCKET), capped."""
  length = MIN_BUCKET
  while length < n:
    length *= 2
  return min(length, max_length)


def _batches(ids, batch_size, max_length):
  """Yields (bucket length, batches of line indices), shortest first.

  Each bucket costs a graph build (tens of seconds at full size), so a
  bucket with less than one batch of lines joins the next longer one.
  """
  order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
  by_bucket = {}
  for i in order:
    by_bucket.setdefault(bucket_length(len(ids[i]), max_length), []).append(i)
  lengths = sorted(by_bucket)
  for k, length in enumerate(lengths):
    members = by_bucket[length]
    if len(members) < batch_size and k + 1 < len(lengths):
      by_bucket[lengths[k + 1]] = members + by_bucket[lengths[k + 1]]
      continue
    yield length, [members[s:s + batch_size]
                   for s in range(0, len(members), batch_size)]


def _features(ids, indices, batch_size, length):
  """Padded int32 features; rows past the real ones copy the first."""
  input_ids = np.zeros((batch_size, length), np.int32)
  mask = np.zeros((batch_size, length), np.int32)
  for row in range(batch_size):
    line = ids[indices[min(row, len(indices) - 1)]]
    input_ids[row, :len(line)] = line
    mask[row, :len(line)] = 1
  return {"input_ids": input_ids, "input_mask": mask,
          "token_type_ids": np.zeros_like(input_ids)}


def _encoder_weights(reader, shapes):
  """{name: array} of the variables the encoder graph needs."""
  missing = [n for n in shapes if n not in reader.shapes and
             not n.startswith(POOLER_PREFIX)]
  if missing:
    raise errors.MissingKeyError(
        f"checkpoint {reader.path} has no {missing[0]}.")
  weights = {}
  for name, shape in shapes.items():
    if name not in reader.shapes:
      continue
    if reader.shapes[name] != tuple(shape):
      raise errors.UserError(f"checkpoint {reader.path}: {name} has shape "
                             f"{list(reader.shapes[name])} but the operative "
                             f"config implies {list(shape)}.")
    weights[name] = reader.get(name)
  return weights


def check_layer(layer, config):
  """`layer` itself, or config.num_layers for None; refuses one out of range."""
  if layer is None:
    return config.num_layers
  if not 0 <= layer <= config.num_layers:
    raise errors.UserError(
        f"--layer={layer}: the model has {config.num_layers} Transformer "
        f"layers; give 0 (the embeddings' output) to {config.num_layers}.")
  return layer


def _pool(states, length, pooling):
  """One line's [length, H] states (padding cut) pooled as `pooling` says."""
  states = states[:length].astype(np.float32)
  if pooling == "mean":
    return states.mean(axis=0)
  if pooling == "cls":
    return states[0].copy()
  return states


def embed_ids(config, weights, ids, batch_size=16, layer=None,
              pooling="none"):
  """Runs the encoder's first `layer` layers on token ids.

  Args:
    config: RemBertConfig.
    weights: {name: array} of the encoder (and pooler, if any); names the
      graph does not build (later layers) are not used.
    ids: list of int32 arrays, each at most max_position_embeddings long.
    batch_size: lines per step.
    layer: 0 (the embeddings' output) to config.num_layers (None: that).
    pooling: "none", "mean" or "cls" (see the module docstring).
  Returns:
    (states, pooler outputs): states is a list of [len_i, H] float32 arrays
    with pooling "none", else float32 [N, H]; the pooler outputs are [N, H]
    with pooling "none" at the last layer when `weights` has a pooler,
    else None.
  """
  if pooling not in POOLINGS:
    raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}.")
  layer = check_layer(layer, config)
  longest = max((len(x) for x in ids), default=0)
  if longest > config.max_position_embeddings:
    raise ValueError(f"a line of {longest} ids exceeds the model's "
                     f"max_position_embeddings "
                     f"{config.max_position_embeddings}.")
  # The first `layer` layers of the model are a model of `layer` layers
  # with the same variable names: build that, not the whole encoder.
  truncated = dataclasses.replace(config, num_layers=layer)
  with_pooler = (pooling == "none" and layer == config.num_layers and
                 any(n.startswith(POOLER_PREFIX) for n in weights))
  fetches = ["sequence_output"] + (["pooled_output"] if with_pooler else [])
  states = [None] * len(ids)
  pooled = np.zeros((len(ids), config.hidden_size), np.float32)
  for length, batches in _batches(ids, batch_size,
                                  config.max_position_embeddings):
    graph = mesh_graph.MeshGraph(truncated,
                                 mesh_graph.BatchShape(batch_size, length))
    try:
      graph.set_weights({n: w for n, w in weights.items()
                         if n in graph.variable_shapes})
      for indices in batches:
        out = graph.run(_features(ids, indices, batch_size, length), fetches)
        for row, i in enumerate(indices):
          states[i] = _pool(out["sequence_output"][row], len(ids[i]),
                            pooling)
          if with_pooler:
            pooled[i] = out["pooled_output"][row]
    finally:
      graph.close()
  if pooling != "none":
    states = (np.stack(states) if states else
              np.zeros((0, config.hidden_size), np.float32))
  return states, (pooled if with_pooler else None)


def _load_encoder(model_dir, config=None):
  """(config, encoder weights, checkpoint path, vocabulary path, specials).

  config: model_dir's, if the caller has read it already.
  """
  config = config or model_dir_lib.read_config(model_dir)
  reader = model_dir_lib.CheckpointReader(
      model_dir_lib.latest_checkpoint(model_dir))
  vocab_path = model_dir_lib.vocabulary_path(model_dir)
  specials = model_dir_lib.check_vocabulary(vocab_path, config)
  shapes = model_dir_lib.variable_shapes(config, pooler=True)
  return (config, _encoder_weights(reader, shapes), reader.path, vocab_path,
          specials)


class Embedder:
  """A model_dir's encoder read once, for many embedding calls.

  Call it as `embedder(ids, layer, pooling)`: token ids (lists of int32
  arrays, [CLS] ... [SEP] each) to sentence embeddings, float32 [N, H]
  (see embed_ids; pooling "mean" or "cls"). This is the `embed_fn` of
  rembert_mtf.evaluation.retrieval.run_retrieval.

  Attributes:
    config, checkpoint, vocabulary_path, special_tokens: the model's.
  """

  def __init__(self, model_dir, batch_size=16):
    if batch_size <= 0:
      raise ValueError(f"batch_size must be positive, got {batch_size}.")
    (self.config, self._weights, self.checkpoint, self.vocabulary_path,
     self.special_tokens) = _load_encoder(model_dir)
    self.batch_size = batch_size

  def __call__(self, ids, layer, pooling):
    if pooling == "none":
      raise ValueError("an Embedder returns sentence embeddings: pooling "
                       "must be 'mean' or 'cls'.")
    return embed_ids(self.config, self._weights, ids, self.batch_size, layer,
                     pooling)[0]


def _save(path, array):
  """np.save to a sibling temporary file, then rename."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  partial = path + ".partial"
  with open(partial, "wb") as f:
    np.save(f, array, allow_pickle=array.dtype == object)
  os.replace(partial, path)


def embed(model_dir, input_path, out, batch_size=16, max_length=None,
          layer=None, pooling="none"):
  """Embeds every line of `input_path` with the model in `model_dir`.

  Args:
    model_dir: the model_dir to read (checkpoint, operative config,
      vocabulary).
    input_path: UTF-8 text, one input per line.
    out: the .npy file to write (see the module docstring).
    batch_size: lines per step.
    max_length: tokens per line, [CLS] and [SEP] included, at most the
      model's max_position_embeddings (None: that).
    layer: whose hidden states: 0 (the embeddings' output) to the model's
      num_layers (None: the last).
    pooling: "none" (every token), "mean" or "cls".
  Returns:
    (number of lines, path of the pooler outputs or None).
  """
  if not os.path.isfile(input_path):
    raise errors.MissingFileError(f"input {input_path} does not exist.")
  if batch_size <= 0:  # the CLI's flag type refuses it first
    raise ValueError(f"batch_size must be positive, got {batch_size}.")
  if pooling not in POOLINGS:  # the CLI's choices refuse it first
    raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}.")
  config = model_dir_lib.read_config(model_dir)
  layer = check_layer(layer, config)
  limit = config.max_position_embeddings
  if max_length is None:
    max_length = limit
  if max_length > limit:
    raise errors.UserError(
        f"--max_length={max_length} exceeds the model's "
        f"max_position_embeddings = {limit}; give at most {limit}.")
  if max_length < 2:
    raise errors.UserError(
        f"--max_length must be at least 2 ([CLS] and [SEP]), got "
        f"{max_length}.")
  _, weights, checkpoint, vocab_path, specials = _load_encoder(model_dir,
                                                              config)
  with open(input_path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  ids, truncated = tokenize(lines, vocabulary.get_vocabulary(vocab_path),
                            specials, max_length)
  if truncated:
    logging.warning("%d of %d lines are longer than %d tokens with [CLS] and "
                    "[SEP]; truncated.", truncated, len(lines), max_length)
  states, pooled = embed_ids(config, weights, ids, batch_size, layer, pooling)
  if pooling == "none":
    result = np.empty(len(states), dtype=object)
    for i, h in enumerate(states):
      result[i] = h
  else:
    result = states
  _save(out, result)
  if pooled is None:
    if pooling == "none" and layer == config.num_layers:
      logging.warning("%s has no pooler (bert/pooler/...); %s not written.",
                      checkpoint, pooled_path(out))
    return len(lines), None
  _save(pooled_path(out), pooled)
  return len(lines), pooled_path(out)
