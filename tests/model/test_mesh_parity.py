"""One step on a 1-device mesh equals the same step on model-parallel meshes.

8 virtual CPU devices (placement mesh); loss, MLM logits and every gradient
within 1e-5.
"""

import numpy as np
import pytest

from rembert_mtf.model import mesh_graph
from tests import model_testing

SPLIT = "batch:batch;vocab:model;heads:model;d_ff:model"
MESHES = [
    ("batch:2;model:4", SPLIT),
    ("batch:1;model:8", SPLIT),
    ("batch:8;model:1", SPLIT),
    ("model:8", "vocab:model;heads:model;d_ff:model"),
    # The output embedding split along its width instead of its vocabulary.
    ("batch:2;model:4", "batch:batch;emb_out:model;heads:model"),
]


def _one_step(config, mesh_shape, layout, features, batch_shape, weights):
  graph = mesh_graph.MeshGraph(config, batch_shape, mesh_shape, layout,
                               num_devices=8, with_gradients=True)
  graph.set_weights(weights)
  outputs = graph.run(features, ["loss", "mlm_logits"] +
                      graph.gradient_names())
  graph.close()
  return outputs


VARIANTS = {
    # Decoupled embeddings plus one pre-training-only output layer.
    "decoupled": dict(num_extra_output_layers=1),
    "coupled": dict(coupled=True, input_embedding_size=32,
                    output_embedding_size=32),
}
CASES = [("decoupled", shape, layout) for shape, layout in MESHES] + [
    ("coupled", "batch:2;model:4", SPLIT)]


@pytest.fixture(scope="module")
def references():
  return {}


def _reference(references, variant):
  if variant not in references:
    references[variant] = _one_device_reference(variant)
  return references[variant]


def _one_device_reference(variant):
  config = model_testing.tiny_config(**VARIANTS[variant])
  features, batch_shape = model_testing.random_batch(config)
  graph = mesh_graph.MeshGraph(config, batch_shape, with_gradients=True)
  weights = model_testing.random_weights(graph.variable_shapes)
  graph.set_weights(weights)
  outputs = graph.run(features, ["loss", "mlm_logits"] + graph.gradient_names())
  graph.close()
  return config, features, batch_shape, weights, outputs


@pytest.mark.parametrize("variant,mesh_shape,layout", CASES,
                         ids=[f"{v}-{s}-{l}" for v, s, l in CASES])
def test_model_parallel_step_equals_one_device(references, variant, mesh_shape,
                                               layout):
  config, features, batch_shape, weights, expected = _reference(references,
                                                                variant)
  got = _one_step(config, mesh_shape, layout, features, batch_shape, weights)
  assert set(got) == set(expected)
  assert len([k for k in got if k.startswith("grad/")]) == len(weights)
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-5,
                               err_msg=name)
  # The comparison has teeth: every gradient is far from zero except the
  # key bias's, which softmax makes exactly zero.
  assert min(np.abs(v).max() for k, v in expected.items()
             if k.startswith("grad/") and "key/bias" not in k) > 1e-4
