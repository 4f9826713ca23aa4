"""Mesh TF operations this model needs and mesh_tensorflow lacks.

`embedding_lookup`: rows of an embedding table by id, lowered to tf.gather
on each device (and its gradient to a scatter-add). mtf.gather is a one-hot
matmul: for each token it multiplies a [vocab]-long one-hot row with the
whole [vocab, emb_in] table, forward and backward, and materialises the
[batch, length, vocab] one-hot tensor. At the benchmark size (vocab 32k,
E_in 128) that was ~14% of the step's FLOPs and half a gigabyte of memory
traffic per step; a gather reads only the rows it needs. The values are the
same: the forward pass copies rows exactly, the backward pass adds the same
terms (in another order).

Layouts: the table's vocab may be split over a mesh axis (each device looks
up the ids that fall in its rows, the others contribute zeros, and a sum
over that axis completes every row) and emb_in may be split too; the ids'
dimensions may be split over other axes.
"""

from rembert_mtf import compat
from rembert_mtf import errors

mtf = compat.mtf
tf = compat.tf


def embedding_lookup(table, ids, vocab_dim):
  """table[ids]: [*ids.shape, *other dims of table].

  Args:
    table: mtf.Tensor [vocab_dim, emb] (any float dtype).
    ids: int mtf.Tensor, values in [0, vocab_dim.size).
    vocab_dim: the mtf.Dimension of `table` that ids index.
  Returns:
    mtf.Tensor of table's dtype.
  """
  return EmbeddingLookupOperation(table, ids, vocab_dim).outputs[0]


def _mesh_axes(mesh_impl, dims):
  axes = (mesh_impl.tensor_dimension_to_mesh_axis(d) for d in dims)
  return sorted({a for a in axes if a is not None})


def _row_offsets(mesh_impl, vocab_axis, rows_per_slice):
  """LaidOutTensor: the first vocabulary row each device holds."""
  if vocab_axis is None:
    return 0
  return mesh_impl.slicewise(tf.multiply,
                             mesh_impl.laid_out_pcoord(vocab_axis),
                             rows_per_slice)


def _check_ids_not_on_vocab_axis(mesh_impl, ids, vocab_dim):
  vocab_axis = mesh_impl.tensor_dimension_to_mesh_axis(vocab_dim)
  if vocab_axis is not None and vocab_axis in _mesh_axes(mesh_impl,
                                                         ids.shape.dims):
    raise errors.UserError(
        f"embedding lookup: {vocab_dim.name!r} and a dimension of the ids "
        f"({ids.shape}) are split over the same mesh axis; split one of them "
        "over another axis (partitioning.mesh.layout).")
  return vocab_axis


class EmbeddingLookupOperation(mtf.Operation):
  """Looks up rows of a (possibly vocab-split) table on every device."""

  def __init__(self, table, ids, vocab_dim, name=None):
    if table.shape.dims[0] != vocab_dim:
      # tf.gather reads rows along the first axis of each slice.
      raise errors.UserError(f"embedding_lookup needs {vocab_dim.name!r} as the "
                             f"table's first dimension, got {table.shape}.")
    super().__init__([table, ids], name=name or "embedding_lookup")
    self._vocab_dim = vocab_dim
    self._row_dims = table.shape - vocab_dim
    self._outputs = [mtf.Tensor(self, ids.shape + self._row_dims,
                                table.dtype)]
    # Rerun now that the output exists (as mtf's own operations do).
    self._splittable_dims, self._unsplittable_dims = (
        self._initialize_all_dimensions_as_splittable())

  def gradient(self, grad_ys):
    table, ids = self.inputs
    return [EmbeddingLookupGradOperation(grad_ys[0], ids, table.shape,
                                         self._vocab_dim).outputs[0], None]

  def lower(self, lowering):
    mesh_impl = lowering.mesh_impl(self)
    table, ids = self.inputs
    vocab_axis = _check_ids_not_on_vocab_axis(mesh_impl, ids, self._vocab_dim)
    rows = mesh_impl.slice_shape(table.shape)[0]
    def lookup(table_slice, ids_slice, offset):
      local = ids_slice - offset
      inside = tf.logical_and(local >= 0, local < rows)
      found = tf.gather(table_slice, tf.where(inside, local,
                                              tf.zeros_like(local)))
      if vocab_axis is None:
        return found
      mask = tf.cast(inside, found.dtype)
      return found * tf.reshape(mask, mask.shape.as_list() +
                                [1] * (found.shape.ndims - mask.shape.ndims))

    y = mesh_impl.slicewise(lookup, lowering.tensors[table],
                            lowering.tensors[ids],
                            _row_offsets(mesh_impl, vocab_axis, rows))
    if vocab_axis is not None:
      y = mesh_impl.allreduce(y, [vocab_axis], "SUM")
    lowering.set_tensor_lowering(self.outputs[0], y)


class EmbeddingLookupGradOperation(mtf.Operation):
  """The table's gradient: each id's output gradient added to its row."""

  def __init__(self, grad, ids, table_shape, vocab_dim, name=None):
    super().__init__([grad, ids], name=name or "embedding_lookup_grad")
    self._vocab_dim = vocab_dim
    self._outputs = [mtf.Tensor(self, table_shape, grad.dtype)]
    # Rerun now that the output exists (as mtf's own operations do).
    self._splittable_dims, self._unsplittable_dims = (
        self._initialize_all_dimensions_as_splittable())

  def lower(self, lowering):
    mesh_impl = lowering.mesh_impl(self)
    grad, ids = self.inputs
    table_shape = self.outputs[0].shape
    vocab_axis = _check_ids_not_on_vocab_axis(mesh_impl, ids, self._vocab_dim)
    rows = mesh_impl.slice_shape(table_shape)[0]

    def scatter_add(grad_slice, ids_slice, offset):
      local = tf.reshape(ids_slice - offset, [-1])
      # Ids outside this device's rows go to an extra row that is dropped.
      local = tf.where(tf.logical_and(local >= 0, local < rows), local,
                       tf.fill(tf.shape(local), rows))
      row_width = grad_slice.shape.as_list()[ids_slice.shape.ndims:]
      flat = tf.reshape(tf.cast(grad_slice, tf.float32), [-1] + row_width)
      summed = tf.math.unsorted_segment_sum(flat, local, rows + 1)[:rows]
      return tf.cast(summed, grad_slice.dtype)

    partial = mesh_impl.slicewise(scatter_add, lowering.tensors[grad],
                                  lowering.tensors[ids],
                                  _row_offsets(mesh_impl, vocab_axis, rows))
    # Each device summed its own ids; the ids' split axes complete the sum.
    batch_axes = _mesh_axes(mesh_impl, ids.shape.dims)
    if batch_axes:
      partial = mesh_impl.allreduce(partial, batch_axes, "SUM")
    lowering.set_tensor_lowering(self.outputs[0], partial)
