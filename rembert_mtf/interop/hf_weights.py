"""The weight files of a transformers folder: reading and writing them.

Read: model.safetensors, sharded model-*.safetensors with
model.safetensors.index.json, or pytorch_model.bin (only when torch is
importable), one tensor at a time as float32 numpy. Written: safetensors
shards of at most a given size, with an index when there are several.
Nothing but safetensors and numpy is needed for safetensors files.
"""

import json
import os

import numpy as np
import safetensors
import safetensors.numpy

from rembert_mtf import errors
from rembert_mtf.interop import hf_config
from rembert_mtf.interop import model_dir_writer

READ_BLOCK = 64 << 20  # bytes of one tensor read at a time on import


class HfWeights:
  """The tensors of a transformers folder, read one at a time.

  A safetensors file is opened (memory-mapped) per read and closed after:
  a mapping kept open would keep every page read so far resident.

  Args:
    folder: holds model.safetensors, or shards and their index, or
      pytorch_model.bin.
  Attributes:
    keys: {state-dict key: file it is in}.
  """

  def __init__(self, folder):
    self.keys = {}
    self._shapes = {}
    self._torch_state = None
    index = os.path.join(folder, hf_config.SAFETENSORS_INDEX)
    single = os.path.join(folder, hf_config.SAFETENSORS)
    if os.path.isfile(single):
      self._index_safetensors(single)
    elif os.path.isfile(index):
      weight_map = hf_config.read_json(index).get("weight_map", {})
      for name in sorted(set(weight_map.values())):
        self._index_safetensors(os.path.join(folder, name))
    elif os.path.isfile(os.path.join(folder, hf_config.PYTORCH_BIN)):
      self._open_torch(os.path.join(folder, hf_config.PYTORCH_BIN))
    else:
      raise errors.MissingFileError(
          f"{folder} holds no {hf_config.SAFETENSORS}, "
          f"{hf_config.SAFETENSORS_INDEX} or {hf_config.PYTORCH_BIN}.")

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
                             f"{errors.first_line(e)}") from e
    self._torch_state = state
    self.keys.update({k: path for k in state})
    self._shapes.update({k: tuple(v.shape) for k, v in state.items()})

  def shape(self, key):
    return self._shapes[key]

  def get(self, key):
    """One tensor as float32 numpy; UserError naming the file if unreadable."""
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
    value = model_dir_writer.aligned_empty(shape, np.float32)
    rows = max(1, READ_BLOCK // row_bytes)
    for start in range(0, shape[0], rows):
      stop = min(start + rows, shape[0])  # safetensors does not clip
      with safetensors.safe_open(path, framework="numpy") as handle:
        value[start:stop] = handle.get_slice(key)[start:stop]
    return value


def write_safetensors(folder, tensors,
                      max_shard_bytes=hf_config.MAX_SHARD_BYTES):
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
              os.path.join(folder, hf_config.SAFETENSORS))
    return [hf_config.SAFETENSORS]
  names = []
  for i, (name, keys) in enumerate(shards):
    final = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    os.rename(os.path.join(folder, name), os.path.join(folder, final))
    weight_map.update({k: final for k in keys})
    names.append(final)
  with open(os.path.join(folder, hf_config.SAFETENSORS_INDEX), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              f, indent=2, sort_keys=True)
  return names + [hf_config.SAFETENSORS_INDEX]
