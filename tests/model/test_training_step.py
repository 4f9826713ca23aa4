"""The graph trains: a tiny model's MLM loss falls on a fixed batch."""

import numpy as np
import pytest

from rembert_mtf.model import mesh_graph
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers
from tests import model_testing


# Slow (25 s): the fast suite trains on the 2x4 mesh in
# tests/model/test_mesh_parity.py (steps equal one device's) and the MLM
# loss falls in tests/training/test_optimizers.py.
@pytest.mark.slow
def test_mlm_loss_falls_on_a_2x4_mesh():
  schedule = config_lib.ScheduleConfig(peak_learning_rate=3e-3,
                                       warmup_steps=3, total_steps=40)
  config = model_testing.tiny_config()
  features, batch_shape = model_testing.random_batch(config)
  graph = mesh_graph.MeshGraph(
      config, batch_shape, "batch:2;model:4",
      "batch:batch;vocab:model;heads:model;d_ff:model", num_devices=8,
      update_fn=optimizers.step_update_fn(config_lib.OptimizerConfig(),
                                          schedule))
  losses = [float(graph.train_step(features)["loss"]) for _ in range(30)]
  graph.close()
  assert np.isfinite(losses).all()
  assert losses[0] > np.log(config.vocab_size) - 1.5  # starts near uniform
  assert losses[-1] < 0.3 * losses[0], losses
