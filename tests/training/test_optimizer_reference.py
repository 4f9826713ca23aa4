"""Our optimizer against a numpy reference written from the math; Adafactor.

The reference is BERT's optimizer as BERT (Devlin et al. 2019) states it and
RemBERT keeps it (Table 14): Adam without bias correction, weight decay
added to the Adam update (decoupled, as in Loshchilov & Hutter's AdamW)
except on LayerNorm parameters and biases, gradients clipped by their
global norm over all variables, and a learning rate that warms up linearly
to the peak and then decays linearly. It is written here from those
formulas, in float64, and shares no code with rembert_mtf.training.optimizers
or with mesh_tensorflow (whose Adam ours subclasses). Its gradients are the
model's (MeshGraph with_gradients), fetched before each step runs.

Figures measured (tiny model, 4 steps, clipping at 1.0 against global norms
4.73, 3.12, 1.61, 2.23, weight decay 0.1, learning rates 5e-3, 1e-2, 1e-2,
5.5e-3, tolerance RTOL = 1e-6): on one device every weight within 2.7e-7
(mtf's update) and 1.9e-7 (fused) of the reference, relative to the weight
plus the variable's largest step, m and v within 2.7e-7 of their largest
entries, the gradient norm within 6e-8; on the 2x4 mesh (slow) within 2.2e-7
once the mesh's gradient rounding is allowed for (_excess). The plausible
mistakes (no clipping, decay on every variable, no decay) miss by 500 times
the tolerance or more on one device, 120 times or more on the mesh.
"""

import re

import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf.model import mesh_graph
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers
from tests import model_testing

tf = compat.tf

# BERT's convention (google-research/bert, optimization.py, as
# run_pretraining.py sets it: exclude_from_weight_decay=["LayerNorm",
# "layer_norm", "bias"]): no decay on a variable whose name contains one.
BERT_NO_DECAY_SUBSTRINGS = ("LayerNorm", "layer_norm", "bias")

MESH_2X4 = ("batch:2;model:4",
            "batch:batch;vocab:model;heads:model;d_ff:model")

# Weights, m and v agree to 1e-6 relative (see _excess for the scale).
RTOL = 1e-6


def reference_learning_rate(step, peak, warmup_steps, total_steps, final):
  """peak * (step + 1) / warmup, then linear decay to `final` at total."""
  if step < warmup_steps:
    return peak * (step + 1) / warmup_steps
  fraction_left = (total_steps - step) / max(total_steps - warmup_steps, 1)
  return final + (peak - final) * min(1.0, max(0.0, fraction_left))


def reference_decays(name):
  return not any(s in name for s in BERT_NO_DECAY_SUBSTRINGS)


class ReferenceAdam:
  """BERT's Adam step on {name: array} dicts, in float64.

  `kind` "bert" is the rule; the others are plausible mistakes, run beside
  it to show the comparison would catch them: "no_clip", "decay_all" (decay
  on LayerNorm and biases too) and "no_decay".
  """

  KINDS = ("bert", "no_clip", "decay_all", "no_decay")

  def __init__(self, beta_1, beta_2, epsilon, weight_decay, clip_norm,
               kind="bert"):
    self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
    self.weight_decay = 0.0 if kind == "no_decay" else weight_decay
    self.clip_norm = np.inf if kind == "no_clip" else clip_norm
    self.decays = ((lambda name: True) if kind == "decay_all"
                   else reference_decays)
    self.m, self.v = {}, {}

  def step(self, weights, grads, lr):
    """Returns (new weights, global gradient norm before clipping)."""
    norm = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64))
                       for g in grads.values()))
    scale = min(1.0, self.clip_norm / norm)
    new = {}
    for name, w in weights.items():
      g = scale * grads[name].astype(np.float64)
      m = self.beta_1 * self.m.get(name, 0.0) + (1 - self.beta_1) * g
      v = self.beta_2 * self.v.get(name, 0.0) + (1 - self.beta_2) * g * g
      update = m / (np.sqrt(v) + self.epsilon)
      if self.decays(name):
        update = update + self.weight_decay * w
      new[name] = w - lr * update
      self.m[name], self.v[name] = m, v
    return new, norm


@pytest.mark.parametrize("schedule", [
    config_lib.ScheduleConfig(peak_learning_rate=2e-4, warmup_steps=15000,
                              total_steps=1760000),
    config_lib.ScheduleConfig(peak_learning_rate=3e-3, warmup_steps=10,
                              total_steps=50, final_learning_rate=1e-4),
    config_lib.ScheduleConfig(peak_learning_rate=1e-3, warmup_steps=1,
                              total_steps=7),
    config_lib.ScheduleConfig(peak_learning_rate=1e-3, warmup_steps=0,
                              total_steps=20, final_learning_rate=5e-5),
], ids=["paper", "final_rate", "warmup_1", "no_warmup"])
def test_schedule_is_the_numpy_schedule(schedule):
  warmup, total = schedule.warmup_steps, schedule.total_steps
  steps = sorted({0, 1, max(warmup - 1, 0), warmup, warmup + 1,
                  (warmup + total) // 2, total - 1, total, total + 1,
                  2 * total + 5})
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    lr = optimizers.learning_rate(step, schedule)
    with tf.Session() as session:
      ours = np.array([session.run(lr, {step: s}) for s in steps])
  expected = np.array([reference_learning_rate(
      s, schedule.peak_learning_rate, warmup, total,
      schedule.final_learning_rate) for s in steps])
  # float32 arithmetic (the peak itself rounds by up to 6e-8): measured at
  # most 7.8e-8 of the peak (warmup_1), 3.4e-8 on the paper schedule.
  np.testing.assert_allclose(ours, expected, rtol=0,
                             atol=1e-7 * schedule.peak_learning_rate)
  np.testing.assert_allclose(ours.max(), schedule.peak_learning_rate,
                             rtol=1e-6)
  np.testing.assert_allclose(ours[-1], schedule.final_learning_rate,
                             rtol=1e-6, atol=1e-12)


def test_no_decay_patterns_are_berts():
  config = model_testing.tiny_config()
  names = []
  for predictions in (3, 0):  # the MLM head, then the pooler
    _, batch_shape = model_testing.random_batch(config,
                                                predictions=predictions)
    graph = mesh_graph.MeshGraph(config, batch_shape)
    names += graph.variable_names
    graph.close()
  ours = {n: not any(re.search(p, n) for p in optimizers.NO_DECAY_PATTERNS)
          for n in names}
  assert ours == {n: reference_decays(n) for n in names}
  assert "bert/pooler/dense/bias" in ours
  # 19 decayed (kernels, embeddings), 28 not (LayerNorm, biases).
  assert sum(ours.values()) == 19 and len(ours) == 47, ours


def _adam_steps(optimizer, reference_betas, mesh=("", ""), steps=4):
  """Our Adam's steps beside the reference's; returns one dict per step.

  The gradients are fetched from the training graph itself (MeshGraph
  with_gradients: the model's own mtf.gradients, not the optimizer's) at its
  current weights, before each step: a graph built to train is compiled by
  grappler, a forward graph is not, and that changes the float32 rounding
  of the gradients by ~5e-7 of their largest entry, which Adam's division
  by sqrt(v) magnifies on near-zero entries. Each reference step starts
  from our weights, for the same reason, and carries its own m and v.

  Args:
    optimizer: config.OptimizerConfig (adam).
    reference_betas: (beta_1, beta_2) for the reference.
  """
  config = model_testing.tiny_config()
  features, batch_shape = model_testing.random_batch(config)
  # Warm-up over steps 0-1 (half the peak, then the peak), decay over steps
  # 2-3 (the peak, then halfway to a nonzero final rate).
  schedule = config_lib.ScheduleConfig(
      peak_learning_rate=1e-2, warmup_steps=2, total_steps=4,
      final_learning_rate=1e-3)
  graph = mesh_graph.MeshGraph(
      config, batch_shape, *mesh, num_devices=8 if mesh[0] else 1,
      with_gradients=True,
      update_fn=optimizers.step_update_fn(optimizer, schedule))
  names = [n[len("grad/"):] for n in graph.gradient_names()]
  graph.set_weights(model_testing.random_weights(
      {n: graph.variable_shapes[n] for n in names}))
  references = {kind: ReferenceAdam(
      *reference_betas, optimizer.epsilon, optimizer.weight_decay_rate,
      optimizer.clip_norm, kind) for kind in ReferenceAdam.KINDS}
  ours = graph.get_weights()
  figures = []
  for step in range(steps):
    lr = reference_learning_rate(step, schedule.peak_learning_rate,
                                 schedule.warmup_steps, schedule.total_steps,
                                 schedule.final_learning_rate)
    before = {n: ours[n] for n in names}
    grads = {n[len("grad/"):]: g for n, g in graph.run(
        features, graph.gradient_names()).items()}
    expected = {}
    for kind, reference in references.items():
      expected[kind], norm = reference.step(
          {n: w.astype(np.float64) for n, w in before.items()}, grads, lr)
    our_norm = float(graph.train_step(features)["gradient_norm"])
    ours = graph.get_weights()
    figures.append(dict(
        lr=lr, norm=norm, our_norm=our_norm, before=before, ours=ours,
        expected=expected, epsilon=optimizer.epsilon,
        m={k: dict(r.m) for k, r in references.items()},
        v={k: dict(r.v) for k, r in references.items()}))
  graph.close()
  return figures


def _excess(figure, kind="bert", noise=0.0):
  """Largest error over the tolerance, for the weights, m and v (<= 1: ok).

  Tolerances: weights RTOL x (|weight| + the variable's largest step), so
  relative to the weight or, near zero, to the step; m and v RTOL x the
  slot's largest entry. `noise` (a fraction of the largest m or v of all
  variables) allows for gradients that differ in the last bits from the
  ones the step used; an Adam step moves by lr x that / (sqrt(v) + eps).
  """
  expected, m, v = (figure[k][kind] for k in ("expected", "m", "v"))
  largest_m = max(np.max(np.abs(x)) for x in m.values())
  largest_v = max(np.max(x) for x in v.values())
  ours, worst = figure["ours"], [0.0, 0.0, 0.0]
  for name, w in expected.items():
    largest_step = np.max(np.abs(w - figure["before"][name]))
    tolerances = (
        RTOL * (np.abs(w) + largest_step) + figure["lr"] * noise * largest_m
        / (np.sqrt(v[name]) + figure["epsilon"]),
        RTOL * np.max(np.abs(m[name])) + noise * largest_m,
        RTOL * np.max(v[name]) + 2 * noise * largest_v)
    for i, (slot, want) in enumerate(((name, w), (f"{name}/adam_m", m[name]),
                                      (f"{name}/adam_v", v[name]))):
      worst[i] = max(worst[i], np.max(np.abs(ours[slot] - want)
                                      / tolerances[i]))
  return worst


def _check(figures, noise=0.0):
  """Asserts each step against the reference and its mistakes."""
  for step, figure in enumerate(figures):
    assert figure["norm"] > 1.5, step  # clip_norm 1.0 clips every step
    np.testing.assert_allclose(figure["our_norm"], figure["norm"], rtol=5e-7)
    excess = _excess(figure, noise=noise)
    assert max(excess) <= 1.0, (step, excess)
    for kind in ReferenceAdam.KINDS[1:]:
      assert max(_excess(figure, kind, noise)) > 30.0, (step, kind)
  lrs = [f["lr"] for f in figures]
  assert lrs == pytest.approx([5e-3, 1e-2, 1e-2, 5.5e-3])


PAPER_ADAM = config_lib.OptimizerConfig(weight_decay_rate=0.1, clip_norm=1.0)
FUSED_ADAM = config_lib.OptimizerConfig(weight_decay_rate=0.1, clip_norm=1.0,
                                        fused=True)
# mtf's update computes 1 - beta in Python (0.001 exactly, then float32);
# TensorFlow's fused kernel takes the betas as float32 and subtracts there:
# 1 - float32(0.999) = 0.00099998713, so its v is 1.29e-5 below the exact
# one (measured). Its reference gets the betas it sees.
FUSED_BETAS = tuple(float(np.float32(b)) for b in (0.9, 0.999))


def test_adam_steps_are_the_reference():
  _check(_adam_steps(PAPER_ADAM, (0.9, 0.999)))


def test_fused_adam_steps_are_the_reference():
  _check(_adam_steps(FUSED_ADAM, FUSED_BETAS))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer,betas", [
    (PAPER_ADAM, (0.9, 0.999)), (FUSED_ADAM, FUSED_BETAS)],
                         ids=["mtf", "fused"])
def test_adam_steps_on_a_2x4_mesh_are_the_reference(optimizer, betas):
  # On the mesh, the replicas of a gradient are summed in different orders
  # on different devices, so the gradient fetched differs from the one each
  # device's update used in the last bits: ~1e-6 of the largest (measured
  # 1.9e-6 of a variable's largest m); allowed as 2e-6 of the largest m.
  # The attention key biases (whose gradient is zero but for rounding: the
  # softmax over keys ignores a bias added to every key) are the extreme.
  _check(_adam_steps(optimizer, betas, MESH_2X4), noise=2e-6)


def test_adafactor_trains_the_tiny_model():
  # output_embedding 128 wide: its 128 x 128 matrix is the one variable
  # Adafactor factors (both dimensions >= its min_dim_size_to_factor, 128).
  config = model_testing.tiny_config(output_embedding_size=128)
  features, batch_shape = model_testing.random_batch(config)
  graph = mesh_graph.MeshGraph(
      config, batch_shape, update_fn=optimizers.step_update_fn(
          config_lib.OptimizerConfig(name="adafactor"),
          config_lib.ScheduleConfig(peak_learning_rate=1e-2, warmup_steps=5,
                                    total_steps=100)))
  slots = {n: s for n, s in graph.variable_shapes.items() if "_slot_" in n}
  model = {n: s for n, s in graph.variable_shapes.items() if n not in slots}
  graph.set_weights(model_testing.random_weights(model))
  losses = [float(graph.train_step(features)["loss"]) for _ in range(20)]
  weights = graph.get_weights()
  graph.close()
  # Measured: 8.29 at the start, 0.67 after 10 steps, 0.005 after 20.
  assert losses[-1] < 0.02 * losses[0], losses
  assert not any("adam_" in n for n in graph.variable_names)
  factored = "cls/predictions/output_embedding"
  assert slots[f"{factored}_slot_vr"] == (128,)
  assert slots[f"{factored}_slot_vc"] == (128,)
  # Every other variable has one unfactored second-moment slot.
  assert {n for n in model if n != factored} == {
      n[:-len("_slot_v")] for n in slots if n.endswith("_slot_v")}
  for name in slots:
    assert np.all(weights[name] >= 0) and np.any(weights[name] > 0), name
