"""Our Adam against mesh_tensorflow's: equal unfused, within rounding fused.

Also: bfloat16 activations build and train (mtf's own Adam does not build).
"""

import dataclasses

import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf.model import mesh_graph
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers
from tests import model_testing

mtf = compat.mtf
# A learning rate that moves the weights within a few steps.
FAST_SCHEDULE = config_lib.ScheduleConfig(peak_learning_rate=3e-3,
                                          warmup_steps=3, total_steps=40)


def _weights_after_steps(config, make_optimizer, steps=2, mesh=("", "")):
  """Weights and losses after `steps` with make_optimizer(learning_rate).

  The step is training.optimizers.update_ops (clipping, the schedule) with
  the optimizer it builds replaced by make_optimizer's.
  """
  features, batch_shape = model_testing.random_batch(config)
  original = optimizers.make_optimizer
  optimizers.make_optimizer = lambda lr, unused_config: make_optimizer(lr)
  try:
    graph = mesh_graph.MeshGraph(
        config, batch_shape, *mesh, num_devices=8 if mesh[0] else 1,
        update_fn=optimizers.step_update_fn(config_lib.OptimizerConfig(),
                                            FAST_SCHEDULE))
  finally:
    optimizers.make_optimizer = original
  graph.set_weights(model_testing.random_weights(
      {n: s for n, s in graph.variable_shapes.items() if "adam_" not in n}))
  losses = [float(graph.train_step(features)["loss"]) for _ in range(steps)]
  weights = graph.get_weights()
  graph.close()
  return weights, losses


def _mtf_adam(learning_rate, weight_decay_rate=0.01):
  return mtf.optimize.AdamWeightDecayOptimizer(
      learning_rate=learning_rate, weight_decay_rate=weight_decay_rate,
      beta_1=0.9,
      beta_2=0.999, epsilon=1e-6,
      exclude_from_weight_decay=list(optimizers.NO_DECAY_PATTERNS))


def _ours(**fields):
  """make_optimizer(lr) building our optimizer with OptimizerConfig fields."""
  make = optimizers.make_optimizer
  return lambda lr: make(lr, config_lib.OptimizerConfig(**fields))


def test_float32_update_is_mesh_tensorflows():
  config = model_testing.tiny_config()
  ours, losses = _weights_after_steps(config, _ours(fused=False))
  theirs, _ = _weights_after_steps(config, _mtf_adam)
  assert losses[1] < losses[0]
  assert sorted(ours) == sorted(theirs)
  assert any(n.endswith("adam_m") for n in ours)
  for name in ours:
    np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


# The 2x4 mesh (50 s) is slow; the mesh's update is also checked against
# the numpy reference (test_optimizer_reference.py, slow) and the mesh's
# training step against one device's (tests/model, fast).
@pytest.mark.parametrize("mesh", [("", ""), pytest.param(("batch:2;model:4", (
    "batch:batch;vocab:model;heads:model;d_ff:model")),
    marks=pytest.mark.slow)])
def test_fused_update_is_mesh_tensorflows_within_rounding(mesh):
  config = model_testing.tiny_config()
  # A decay large enough that a decay error would exceed the tolerance.
  fused, fused_losses = _weights_after_steps(
      config, _ours(fused=True, weight_decay_rate=0.5), mesh=mesh)
  theirs, losses = _weights_after_steps(
      config, lambda lr: _mtf_adam(lr, weight_decay_rate=0.5), mesh=mesh)
  assert sorted(fused) == sorted(theirs)
  np.testing.assert_allclose(fused_losses, losses, rtol=1e-6)
  assert losses[1] < losses[0]  # the steps moved the weights
  # Adam divides by sqrt(v): for near-zero gradients last-bit differences
  # in m and v grow to ~1e-3 of the step (lr 3e-3), hence atol 2e-5; the
  # decay term is ~3e-4 and the step ~1e-2, far above it.
  for name in fused:
    np.testing.assert_allclose(fused[name], theirs[name], rtol=1e-5,
                               atol=2e-5, err_msg=name)


def test_bfloat16_activations_train():
  config = dataclasses.replace(model_testing.tiny_config(),
                               activation_dtype="bfloat16")
  weights, losses = _weights_after_steps(config, _ours(), steps=15)
  assert weights["bert/embeddings/word_embeddings"].dtype == np.float32
  assert losses[-1] < 0.5 * losses[0], losses
