"""Writing a model_dir from arrays, one variable at a time (import-hf, import-tf).

The format is training/model_dir.py's. Variables arrive one at a time and
are saved in groups of at most `shard_bytes` with tf.raw_ops.SaveV2, one
single-shard checkpoint per group, which MergeV2Checkpoints then merges into
one checkpoint (exactly what a sharded tf.train.Saver does per device). Every
folder is built beside its destination and renamed into place last, so a
failure leaves nothing half-written there.
"""

import contextlib
import os
import shutil
import tempfile

import numpy as np

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.training.model_dir import CHECKPOINT_PREFIX
from rembert_mtf.training.model_dir import CONFIG_FIELDS
from rembert_mtf.training.model_dir import GLOBAL_STEP
from rembert_mtf.training.model_dir import OPERATIVE_CONFIG
from rembert_mtf.training.model_dir import VOCABULARY

tf = compat.tf

# Groups of variables saved together: bounds the bytes held while writing.
SHARD_BYTES = 256 << 20




@contextlib.contextmanager
def staged_folder(destination, overwrite=False):
  """Yields a fresh sibling folder that becomes `destination` on success.

  Args:
    destination: the folder to create (must be absent or empty unless
      `overwrite`).
    overwrite: replace an existing non-empty destination.
  Raises:
    ValueError: the destination exists, is not empty and not `overwrite`.
  """
  destination = os.path.abspath(destination)
  if os.path.exists(destination) and not os.path.isdir(destination):
    raise errors.UserError(f"{destination} exists and is not a folder.")
  if (os.path.isdir(destination) and os.listdir(destination) and
      not overwrite):
    raise errors.UserError(f"{destination} already exists and is not empty; "
                           "choose a new folder or pass --overwrite.")
  parent, base = os.path.split(destination)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=f".{base}.partial-", dir=parent)
  try:
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's folder is private
    yield staging
    for name in os.listdir(staging):  # some writers (safetensors) use 0600
      os.chmod(os.path.join(staging, name), 0o666 & ~_umask())
    _move_into_place(staging, destination)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _move_into_place(staging, destination):
  """Renames staging to destination, replacing what is there (same disk)."""
  if not os.path.exists(destination):
    os.rename(staging, destination)
    return
  if not os.listdir(destination):
    os.rmdir(destination)
    os.rename(staging, destination)
    return
  old = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.old-",
                         dir=os.path.dirname(destination))
  os.rmdir(old)
  os.rename(destination, old)
  os.rename(staging, destination)
  shutil.rmtree(old, ignore_errors=True)


def write_model_dir(model_dir, config, variables, vocabulary_path, step=0,
                    overwrite=False, shard_bytes=SHARD_BYTES):
  """Writes a complete model_dir, or nothing on failure.

  Args:
    model_dir: the folder to create.
    config: the RemBertConfig the variables belong to.
    variables: iterable of (our variable name, numpy array), consumed one at
      a time; each array is dropped once its group is saved.
    vocabulary_path: SentencePiece model copied in as sentencepiece.model.
    step: the checkpoint's global_step.
    overwrite: replace an existing non-empty model_dir.
    shard_bytes: bytes of variables saved per group.
  Returns:
    the names written, in order.
  """
  if not os.path.isfile(vocabulary_path):
    raise errors.MissingFileError(f"vocabulary {vocabulary_path} does not exist.")
  final = os.path.abspath(model_dir)
  with staged_folder(final, overwrite) as staging:
    names = write_checkpoint(staging, variables, step, shard_bytes)
    shutil.copyfile(vocabulary_path, os.path.join(staging, VOCABULARY))
    with open(os.path.join(staging, OPERATIVE_CONFIG), "w") as f:
      f.write(operative_config(config, os.path.join(final, VOCABULARY)))
  return names


def operative_config(config, vocabulary_file):
  """The gin text binding every RemBertConfig field and the vocabulary."""
  lines = ["import rembert_mtf.model.modeling", "import rembert_mtf.data.vocabulary", "",
           "# Parameters for RemBertConfig:"]
  for field in CONFIG_FIELDS:
    lines.append(f"RemBertConfig.{field} = {getattr(config, field)!r}")
  lines += ["", "# Parameters for get_vocabulary:",
            f"get_vocabulary.sentencepiece_model_file = {vocabulary_file!r}",
            ""]
  return "\n".join(lines)


def aligned_empty(shape, dtype=np.float32, alignment=64):
  """np.empty whose data is `alignment`-aligned.

  TensorFlow copies a fed array unless it is 64-byte aligned (Eigen's
  alignment); malloc gives 16. Arrays built to be saved are allocated here so
  that the largest ones are not held twice.
  """
  dtype = np.dtype(dtype)
  nbytes = int(np.prod(shape)) * dtype.itemsize
  raw = np.empty(nbytes + alignment, np.uint8)
  offset = -raw.ctypes.data % alignment
  return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def write_checkpoint(folder, variables, step=0, shard_bytes=SHARD_BYTES):
  """Saves (name, array) pairs as folder/model.ckpt-<step> plus `checkpoint`.

  Returns:
    the names written, in order.
  """
  prefix = os.path.join(folder, f"{CHECKPOINT_PREFIX}-{step}")
  parts_dir = os.path.join(folder, ".parts")
  os.makedirs(parts_dir)
  names, parts = [], []
  with tf.Graph().as_default(), tf.Session() as session:
    group = [(GLOBAL_STEP, np.asarray(step, np.int64))]
    group_bytes = 0
    for name, value in variables:
      if name in names or name == GLOBAL_STEP:
        raise errors.UserError(f"variable {name} is written twice.")
      value = np.asarray(value)
      if value.dtype != np.float32:
        raise errors.UserError(f"variable {name} is {value.dtype}, not float32.")
      if group and group_bytes + value.nbytes > shard_bytes:
        parts.append(_save_group(session, parts_dir, len(parts), group))
        group, group_bytes = [], 0
      group.append((name, value))
      group_bytes += value.nbytes
      names.append(name)
    parts.append(_save_group(session, parts_dir, len(parts), group))
    del group
    session.run(tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=parts, destination_prefix=prefix,
        delete_old_dirs=True))
  shutil.rmtree(parts_dir, ignore_errors=True)
  # Relative paths: the folder is renamed after writing.
  base = os.path.basename(prefix)
  with open(os.path.join(folder, "checkpoint"), "w") as f:
    f.write(f'model_checkpoint_path: "{base}"\n'
            f'all_model_checkpoint_paths: "{base}"\n')
  return names


def _save_group(session, parts_dir, index, group):
  """SaveV2 of one group as its own single-shard checkpoint; its prefix."""
  prefix = os.path.join(parts_dir, f"part-{index:05d}")
  placeholders = [tf.placeholder(tf.as_dtype(v.dtype), v.shape)
                  for _, v in group]
  save = tf.raw_ops.SaveV2(prefix=prefix, tensor_names=[n for n, _ in group],
                           shape_and_slices=[""] * len(group),
                           tensors=placeholders)
  session.run(save, {p: v for p, (_, v) in zip(placeholders, group)})
  return prefix
