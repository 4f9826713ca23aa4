"""Packed documents with attention within documents do not see each other."""

import numpy as np

from rembert_mtf import compat
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning
from tests import model_testing

mtf, tf = compat.mtf, compat.tf


def _hidden_states(config, ids, segment_ids=None):
  """encode()'s output for one batch on one device, fixed initial weights."""
  graph = tf.Graph()
  with graph.as_default():
    tf.random.set_random_seed(0)
    mesh = mtf.Mesh(mtf.Graph(), "mesh")
    shape = mtf.Shape([mtf.Dimension(modeling.BATCH, ids.shape[0]),
                       mtf.Dimension(modeling.LENGTH, ids.shape[1])])
    features = {
        "input_ids": ids, "token_type_ids": np.zeros_like(ids),
        "input_mask": np.ones_like(ids)}
    if segment_ids is not None:
      features["segment_ids"] = segment_ids
    features = {k: mtf.import_tf_tensor(mesh, tf.constant(v, tf.int32), shape)
                for k, v in features.items()}
    output, _ = modeling.encode(features, config, is_training=False)
    impl = partitioning.placement_mesh_impl(
        mtf.Shape([]), mtf.LayoutRules([]), [""])
    lowering = partitioning.lower(mesh.graph, mesh, impl)
    result = lowering.export_to_tf_tensor(output)
    with tf.Session(graph=graph) as session:
      session.run(tf.global_variables_initializer())
      session.run(lowering.copy_masters_to_slices())
      return session.run(result)


def test_segments_isolate_documents_and_cross_attention_does_not():
  config = model_testing.tiny_config()
  rng = np.random.RandomState(0)
  first, second = rng.randint(5, 100, (1, 6)), rng.randint(5, 100, (1, 9))
  other_first = rng.randint(5, 100, (1, 6))  # another first document
  packed = np.concatenate([first, second], axis=1)
  changed = np.concatenate([other_first, second], axis=1)
  segments = np.array([[1] * 6 + [2] * 9])
  within = _hidden_states(config, packed, segments)
  within_changed = _hidden_states(config, changed, segments)
  # The second document's states ignore what the first one says ...
  np.testing.assert_allclose(within[:, 6:], within_changed[:, 6:], atol=1e-6)
  assert np.abs(within[:, :6] - within_changed[:, :6]).max() > 1e-3
  # ... while with attention across documents they depend on it.
  cross = _hidden_states(config, packed)
  cross_changed = _hidden_states(config, changed)
  assert np.abs(cross[:, 6:] - cross_changed[:, 6:]).max() > 1e-3
