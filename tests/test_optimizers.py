"""Our Adam equals mesh_tensorflow's in float32 and also builds in bfloat16."""

import dataclasses

import gin
import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf import mesh_graph
from rembert_mtf import optimizers
from tests import model_testing

mtf = compat.mtf


def _weights_after_steps(config, make_optimizer, steps=2):
  features, batch_shape = model_testing.random_batch(config)
  original = optimizers.make_optimizer
  optimizers.make_optimizer = make_optimizer
  try:
    graph = mesh_graph.MeshGraph(config, batch_shape, trainable=True)
  finally:
    optimizers.make_optimizer = original
  graph.set_weights(model_testing.random_weights(
      {n: s for n, s in graph.variable_shapes.items() if "adam_" not in n}))
  losses = [float(graph.train_step(features)["loss"]) for _ in range(steps)]
  weights = graph.get_weights()
  graph.close()
  return weights, losses


def test_float32_update_is_mesh_tensorflows():
  config = model_testing.tiny_config()

  def mtf_adam(learning_rate):
    return mtf.optimize.AdamWeightDecayOptimizer(
        learning_rate=learning_rate, weight_decay_rate=0.01, beta_1=0.9,
        beta_2=0.999, epsilon=1e-6,
        exclude_from_weight_decay=list(optimizers.NO_DECAY_PATTERNS))

  ours, _ = _weights_after_steps(config, optimizers.make_optimizer)
  theirs, _ = _weights_after_steps(config, mtf_adam)
  assert sorted(ours) == sorted(theirs)
  assert any(n.endswith("adam_m") for n in ours)
  for name in ours:
    np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


@pytest.fixture
def fast_schedule():
  gin.clear_config()
  gin.parse_config(["learning_rate_schedule.peak_learning_rate = 3e-3",
                    "learning_rate_schedule.warmup_steps = 3",
                    "learning_rate_schedule.total_steps = 40"])
  yield
  gin.clear_config()


def test_bfloat16_activations_train(fast_schedule):  # pylint: disable=redefined-outer-name,unused-argument
  config = dataclasses.replace(model_testing.tiny_config(),
                               activation_dtype="bfloat16")
  weights, losses = _weights_after_steps(config, optimizers.make_optimizer,
                                         steps=15)
  assert weights["bert/embeddings/word_embeddings"].dtype == np.float32
  assert losses[-1] < 0.5 * losses[0], losses
