"""embedding_lookup against numpy indexing, on split and unsplit layouts.

The reference is plain numpy (rows by id; the gradient a per-id sum), so the
lowering's offsets, masks and all-reduces are checked independently of mtf.
"""

import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf.model import mesh_ops
from rembert_mtf.model import partitioning

mtf = compat.mtf
tf = compat.tf

VOCAB, EMB, BATCH, LENGTH = 12, 6, 4, 6


def _lookup_and_grad(mesh_shape, layout, table, ids, upstream):
  """(lookup, d sum(lookup * upstream) / d table) lowered on `mesh_shape`."""
  shape = partitioning.parse_mesh_shape(mesh_shape)
  graph = tf.Graph()
  with graph.as_default():
    mesh = mtf.Mesh(mtf.Graph(), "mesh")
    vocab, emb = mtf.Dimension("vocab", VOCAB), mtf.Dimension("emb_in", EMB)
    batch = mtf.Dimension("batch", BATCH)
    length = mtf.Dimension("length", LENGTH)
    mtf_table = mtf.import_tf_tensor(mesh, tf.constant(table),
                                     mtf.Shape([vocab, emb]))
    mtf_ids = mtf.import_tf_tensor(mesh, tf.constant(ids),
                                   mtf.Shape([batch, length]))
    out = mesh_ops.embedding_lookup(mtf_table, mtf_ids, vocab)
    weights = mtf.import_tf_tensor(mesh, tf.constant(upstream), out.shape)
    loss = mtf.reduce_sum(out * weights)
    grad, = mtf.gradients([loss], [mtf_table])
    impl = partitioning.placement_mesh_impl(
        shape, partitioning.parse_layout(layout),
        partitioning.cpu_devices(max(shape.size, 1)))
    lowering = mtf.Lowering(mesh.graph, {mesh: impl})
    fetches = [lowering.export_to_tf_tensor(t) for t in (out, grad)]
    with tf.Session(config=partitioning.cpu_session_config(8)) as session:
      return session.run(fetches)


@pytest.mark.parametrize("mesh_shape,layout", [
    ("", ""),
    ("model:4", "vocab:model"),
    ("batch:2;model:2", "batch:batch;vocab:model"),
    ("batch:2;model:3", "length:batch;vocab:model"),
    ("batch:2;model:2", "batch:batch;emb_in:model"),
])
def test_lookup_and_gradient_match_numpy(mesh_shape, layout):
  rng = np.random.RandomState(0)
  table = rng.randn(VOCAB, EMB).astype(np.float32)
  ids = rng.randint(0, VOCAB, (BATCH, LENGTH)).astype(np.int32)
  ids[0, :3] = 7  # a repeated id: its gradient rows must add up
  upstream = rng.randn(BATCH, LENGTH, EMB).astype(np.float32)
  out, grad = _lookup_and_grad(mesh_shape, layout, table, ids, upstream)
  np.testing.assert_array_equal(out, table[ids])
  expected = np.zeros_like(table)
  np.add.at(expected, ids, upstream)
  np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)


def test_ids_and_vocab_on_one_axis_is_named():
  rng = np.random.RandomState(0)
  with pytest.raises(ValueError, match="same mesh axis"):
    _lookup_and_grad("model:2", "vocab:model;batch:model",
                     rng.randn(VOCAB, EMB).astype(np.float32),
                     np.zeros((BATCH, LENGTH), np.int32),
                     np.zeros((BATCH, LENGTH, EMB), np.float32))
