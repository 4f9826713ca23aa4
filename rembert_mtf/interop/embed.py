"""`embed`: final hidden states of a model_dir's encoder for lines of text.

Each line is tokenized with the model's SentencePiece vocabulary as
`[CLS] pieces [SEP]` (token type 0), truncated to the model's
max_position_embeddings (or a smaller max_length) with a warning.

Outputs, for N lines and hidden size H:
  OUT (e.g. X.npy): a NumPy object array of N float32 arrays, line i's
    [tokens_i x H] final hidden states, in input order; read it with
    np.load(OUT, allow_pickle=True).
  OUT with `.npy` replaced by `.pooled.npy` (X.pooled.npy): float32
    [N x H], the pooler's tanh(dense(hidden state of [CLS])). Written only
    when the checkpoint has a pooler (bert/pooler/...): a model pre-trained
    with MLM alone has none, and a random one would mean nothing.

Lines are sorted by length and run in batches padded to a few bucket lengths
(powers of two up to the maximum), one lowered graph per bucket used; a
bucket with less than one batch of lines joins the next longer one.
"""

import os

from absl import logging
import numpy as np

from rembert_mtf import errors
from rembert_mtf.data import vocabulary
from rembert_mtf.model import mesh_graph
from rembert_mtf.training import model_dir as model_dir_lib

POOLER_PREFIX = "bert/pooler/"
MIN_BUCKET = 8


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


def embed_ids(config, weights, ids, batch_size=16):
  """Runs the encoder on token ids.

  Args:
    config: RemBertConfig.
    weights: {name: array} of the encoder (and pooler, if any).
    ids: list of int32 arrays, each at most max_position_embeddings long.
    batch_size: lines per step.
  Returns:
    (list of [len_i, H] float32 arrays, [N, H] pooled outputs or None).
  """
  hidden = [None] * len(ids)
  pooled = np.zeros((len(ids), config.hidden_size), np.float32)
  has_pooler = any(n.startswith(POOLER_PREFIX) for n in weights)
  for length, batches in _batches(ids, batch_size,
                                  config.max_position_embeddings):
    graph = mesh_graph.MeshGraph(config,
                                 mesh_graph.BatchShape(batch_size, length))
    try:
      graph.set_weights(weights)
      for indices in batches:
        out = graph.run(_features(ids, indices, batch_size, length))
        for row, i in enumerate(indices):
          hidden[i] = out["sequence_output"][row, :len(ids[i])].astype(
              np.float32)
          pooled[i] = out["pooled_output"][row]
    finally:
      graph.close()
  return hidden, (pooled if has_pooler else None)


def _save(path, array):
  """np.save to a sibling temporary file, then rename."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  partial = path + ".partial"
  with open(partial, "wb") as f:
    np.save(f, array, allow_pickle=array.dtype == object)
  os.replace(partial, path)


def embed(model_dir, input_path, out, batch_size=16, max_length=None):
  """Embeds every line of `input_path` with the model in `model_dir`.

  Args:
    model_dir: the model_dir to read (checkpoint, operative config,
      vocabulary).
    input_path: UTF-8 text, one input per line.
    out: the .npy file to write (see the module docstring).
    batch_size: lines per step.
    max_length: tokens per line, [CLS] and [SEP] included, at most the
      model's max_position_embeddings (None: that).
  Returns:
    (number of lines, path of the pooled outputs or None).
  """
  if not os.path.isfile(input_path):
    raise errors.MissingFileError(f"input {input_path} does not exist.")
  if batch_size <= 0:  # the CLI's flag type refuses it first
    raise ValueError(f"batch_size must be positive, got {batch_size}.")
  config = model_dir_lib.read_config(model_dir)
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
  reader = model_dir_lib.CheckpointReader(
      model_dir_lib.latest_checkpoint(model_dir))
  vocab_path = model_dir_lib.vocabulary_path(model_dir)
  specials = model_dir_lib.check_vocabulary(vocab_path, config)
  with open(input_path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  ids, truncated = tokenize(lines, vocabulary.get_vocabulary(vocab_path),
                            specials, max_length)
  if truncated:
    logging.warning("%d of %d lines are longer than %d tokens with [CLS] and "
                    "[SEP]; truncated.", truncated, len(lines), max_length)
  shapes = model_dir_lib.variable_shapes(config, pooler=True)
  weights = _encoder_weights(reader, shapes)
  hidden, pooled = embed_ids(config, weights, ids, batch_size)
  result = np.empty(len(hidden), dtype=object)
  for i, h in enumerate(hidden):
    result[i] = h
  _save(out, result)
  if pooled is None:
    logging.warning("%s has no pooler (bert/pooler/...); %s not written.",
                    reader.path, pooled_path(out))
    return len(lines), None
  _save(pooled_path(out), pooled)
  return len(lines), pooled_path(out)

