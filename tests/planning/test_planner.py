"""Planner bytes match a lowered mesh's allocations; FLOPs a hand count."""

import collections
import dataclasses
import json
import re

import gin
import pytest

from rembert_mtf import compat
from rembert_mtf.cli import gin_config
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.planning import accounting
from rembert_mtf.planning import costs
from rembert_mtf.planning import planner
from rembert_mtf.planning import step_graph
from rembert_mtf.training import optimizers
from tests import cli_testing

mtf = compat.mtf
tf = compat.tf

# tiny.gin with one layer: lowering on 8 virtual devices costs ~5 s per
# layer-count on this machine, and one layer has every kind of variable.
BATCH = mesh_graph.BatchShape(8, 16, 3)
# (mesh shape, layout) for the allocation check; tiny: vocab 1000, heads 4,
# d_ff 128, emb_out 64.
LAYOUTS = [
    ("", ""),
    ("batch:8", "batch:batch"),
    ("model:8", "vocab:model;d_ff:model"),
    ("batch:2;model:4", "batch:batch;vocab:model;heads:model;d_ff:model"),
    ("model:8", "emb_out:model;d_ff:model"),
]
TINY = ["--gin_file=models/tiny.gin", "--batch_size=16",
        "--sequence_length=32"]


def _config(gin_file="models/tiny.gin", **overrides):
  gin.clear_config()
  gin_config.parse([gin_file])
  config = modeling.RemBertConfig()
  gin.clear_config()
  return dataclasses.replace(config, **overrides)


@pytest.fixture(scope="module")
def tiny_step():
  return step_graph.build_step(_config(num_layers=1), BATCH)


@pytest.fixture(autouse=True)
def clear_gin():
  yield
  gin.clear_config()


def _allocated_per_device(graph, parameter_names, slot_names):
  """{device: [parameter bytes, optimizer-slot bytes]} the lowering created.

  The placement lowering gives each mtf variable one full-shape "master"
  tf.Variable (named as the variable, on the host CPU:0: what checkpoints
  hold, never computed on) and, on every device of the mesh, a slice
  variable named <name>_slice_<i>: what the device holds. Same-shaped
  variables updated by the same assignment are stacked first, and the slice
  is then named stacked/<first variable's name>_slice_<i>. Only the slices
  are counted; the stacked ones are classified by their first variable.
  """
  allocated = collections.defaultdict(lambda: [0, 0])
  for op in graph.get_operations():
    match = re.fullmatch(r"(?:stacked/)?(.+)_slice_\d+", op.name)
    if op.type not in ("VarHandleOp", "VariableV2") or not match:
      continue
    assert match.group(1) in parameter_names | slot_names, op.name
    size = (tf.TensorShape(op.get_attr("shape")).num_elements() *
            op.get_attr("dtype").size)
    allocated[op.device][match.group(1) in slot_names] += size
  return allocated


# One device and the 2x4 mesh stay fast; the 8-way layouts (10 s each)
# run in the slow suite.
@pytest.mark.parametrize("mesh_shape,layout", [
    pytest.param(s, l, marks=[pytest.mark.slow] if s in ("batch:8", "model:8")
                 else []) for s, l in LAYOUTS],
                         ids=[s or "1-device" for s, _ in LAYOUTS])
def test_variable_bytes_match_what_the_lowering_allocates(tiny_step,
                                                          mesh_shape, layout):
  plan = planner.plan(tiny_step, mesh_shape, layout)
  graph = mesh_graph.MeshGraph(tiny_step.config, BATCH, mesh_shape, layout,
                               num_devices=8 if mesh_shape else None,
                               update_fn=optimizers.step_update_fn(
                                   *step_graph.recipe_configs()))
  try:
    allocated = _allocated_per_device(
        graph.graph, {v.name for v in tiny_step.parameters},
        {v.name for v in tiny_step.slots})
  finally:
    graph.close()
  assert len(allocated) == plan.cores
  for parameter_bytes, slot_bytes in allocated.values():
    assert parameter_bytes == pytest.approx(plan.parameter_bytes, rel=0.05)
    assert slot_bytes == pytest.approx(plan.optimizer_bytes, rel=0.05)
  assert plan.optimizer_slots == ["adam_m", "adam_v"]


def test_parameter_bytes_agree_with_params_command():
  config = _config()
  step = step_graph.build_step(config, BATCH)
  shape, layout = "batch:2;model:4", "batch:batch;vocab:model;d_ff:model"
  plan = planner.plan(step, shape, layout)
  account = accounting.account(config, shape, layout)
  assert plan.parameters == account.parameters
  assert plan.parameter_bytes == account.bytes_per_device
  assert plan.gradient_bytes == plan.parameter_bytes  # float32 activations


def test_activations_scale_with_examples_per_core():
  config = _config(num_layers=1)
  small = planner.plan(step_graph.build_step(config, BATCH))
  large = planner.plan(step_graph.build_step(
      config, dataclasses.replace(BATCH, batch_size=16)))
  split = planner.plan(step_graph.build_step(
      config, dataclasses.replace(BATCH, batch_size=16)), "batch:2",
                       "batch:batch")
  # Within a few bytes: the loss's scalars do not grow with the batch.
  assert large.activation_bytes == pytest.approx(2 * small.activation_bytes,
                                                 rel=1e-3)
  assert split.activation_bytes == small.activation_bytes
  assert 0 < small.one_hot_bytes < small.activation_bytes


def _toy_graph(build):
  """build(mesh, dims) -> roots, in a fresh tf and mtf graph."""
  dims = {n: mtf.Dimension(n, s) for n, s in
          (("batch", 4), ("length", 8), ("d_model", 16), ("d_ff", 32),
           ("vocab", 64))}
  with tf.Graph().as_default():
    return build(mtf.Mesh(mtf.Graph(), "mesh"), dims)


def test_dense_flops_are_a_hand_count():
  b, l, h, f = 4, 8, 16, 32

  def build(mesh, d):
    x = mtf.ones(mesh, [d["batch"], d["length"], d["d_model"]])
    kernel = mtf.get_variable(mesh, "kernel", [d["d_model"], d["d_ff"]],
                              initializer=tf.zeros_initializer())
    y = mtf.einsum([x, kernel], reduced_dims=[d["d_model"]])
    loss = mtf.reduce_sum(y)
    return y, [loss] + mtf.gradients([loss], [kernel])

  y, step = _toy_graph(build)
  one = mtf.Shape([])
  rules = mtf.LayoutRules([])
  forward = costs.count_flops(step_graph.live_operations([y]), one, rules)
  assert forward == costs.Flops(2 * b * l * h * f, 0, 2 * b * l * h * f, 0)
  # The kernel's gradient is one more [b,l,h,f] einsum; x's (x is no
  # variable) is built by mtf.gradients but never run, so not counted.
  trained = costs.count_flops(step_graph.live_operations(step), one, rules)
  assert trained.model == 4 * b * l * h * f
  mesh = mtf.Shape([mtf.Dimension("batch", 2), mtf.Dimension("model", 4)])
  split = costs.count_flops(step_graph.live_operations(step), mesh,
                            mtf.LayoutRules([("batch", "batch"),
                                             ("d_ff", "model")]))
  assert split.per_core == 4 * b * l * h * f // 8
  assert split.model == trained.model


def test_one_hot_gather_counts_as_lookup():
  b, l, v, h = 4, 8, 64, 16

  def build(mesh, d):
    table = mtf.get_variable(mesh, "table", [d["vocab"], d["d_model"]],
                             initializer=tf.zeros_initializer())
    ids = mtf.zeros(mesh, [d["batch"], d["length"]], tf.int32)
    loss = mtf.reduce_sum(mtf.gather(table, ids, d["vocab"]))
    return [loss] + mtf.gradients([loss], [table])

  flops = costs.count_flops(step_graph.live_operations(_toy_graph(build)),
                            mtf.Shape([]), mtf.LayoutRules([]))
  assert flops.model == 0
  assert flops.lookup == 2 * (2 * b * l * v * h)  # forward and table grad


def test_ffn_flops_of_the_model_are_a_hand_count():
  # Only the two FFN matmuls involve d_ff: forward 2 x 2BLHF, backward
  # twice that (gradients of the kernel and of the input). The update adds
  # two elementwise products per d_ff parameter, which mtf also writes as
  # einsums: clipping's g * scale and Adam's m / (sqrt(v) + eps).
  b, l, layers = BATCH.batch_size, BATCH.sequence_length, 1
  small = _config(num_layers=layers)
  large = dataclasses.replace(small, intermediate_size=2 *
                              small.intermediate_size)
  h, extra_ff = small.hidden_size, small.intermediate_size
  matmuls = 2 * (2 * b * l * h * extra_ff) * layers
  update = 2 * 2 * extra_ff * (2 * h + 1) * layers  # kernels and bias
  for training, expected in ((False, matmuls), (True, 3 * matmuls + update)):
    delta = (planner.step_flops(large, BATCH, training=training).model -
             planner.step_flops(small, BATCH, training=training).model)
    assert delta == expected
  split = [planner.step_flops(c, BATCH, "model:4", "d_ff:model")
           for c in (small, large)]
  assert split[1].per_core - split[0].per_core == (3 * matmuls + update) // 4
  assert split[0].lookup > 0  # the MLM head's gather of masked positions


def test_verdicts(tiny_step):
  plan = planner.plan(tiny_step)
  fits = costs.verdict(plan, 2 * plan.total_bytes)
  assert fits.startswith("fits in ") and fits.endswith(" (50% used)")
  short = costs.verdict(plan, plan.total_bytes - plan.activation_bytes / 2)
  assert short.startswith("does NOT fit: needs ")
  assert "; or at most 4 examples per core (now 8): " in short


def test_plan_cli_json(capsys):
  code, out, _ = cli_testing.run(
      ["plan", *TINY, "--mesh_shape=batch:2;model:4",
       "--mesh_layout=batch:batch;vocab:model;d_ff:model",
       "--device=tpu-v4", "--utilization=0.4", "--json"], capsys)
  assert code == 0
  figures = json.loads(out)
  per_core = figures["bytes_per_core"]
  assert per_core["total"] == sum(v for k, v in per_core.items()
                                  if k != "total")
  assert figures["mlm_predictions"] == 4  # floor(0.15 x 32)
  assert figures["examples_per_core"] == 8
  assert figures["optimizer_slots"] == ["adam_m", "adam_v"]
  assert figures["step_seconds"] == pytest.approx(
      figures["flops_per_core"]["model"] / (275e12 * 0.4))
  assert figures["tokens_per_second"] == pytest.approx(
      16 * 32 / figures["step_seconds"])
  assert figures["fits"] and figures["verdict"].startswith("fits in 32.0 GiB")


def test_plan_cli_does_not_fit(capsys):
  code, out, _ = cli_testing.run(["plan", *TINY, "--finetuning",
                                  "--hbm_bytes=1e5"], capsys)
  assert code == 0
  assert "fine-tuning: batch 16 x 32" in out
  assert out.strip().splitlines()[-1].startswith(
      "does NOT fit: needs ")
  assert "has 97.7 KiB; try " in out


@pytest.mark.parametrize("layout,message", [
    ("heads:model", "heads = 4 is not divisible by mesh axis model = 8"),
    ("vocab:model;emb_out:model", "splits both 'vocab' and 'emb_out'"),
])
def test_plan_cli_bad_layout_is_one_line(capsys, layout, message):
  cli_testing.expect_refusal(["plan", *TINY, "--mesh_shape=model:8",
                              f"--mesh_layout={layout}"], capsys, message)


@pytest.mark.parametrize("flag,message", [
    ("--mesh_shape=model:0", "mesh axis 'model' has size 0"),
    ("--mesh_shape=batch:2;model:-4", "mesh axis 'model' has size -4"),
    ("--gin_param=optimizer.name = 'sgd'",
     "optimizer.name must be 'adam' or 'adafactor'"),
    ("--mlm_predictions=40", "--mlm_predictions=40 exceeds "
     "--sequence_length=32"),
])
def test_plan_cli_bad_setting_is_one_line(capsys, flag, message):
  cli_testing.expect_refusal(["plan", *TINY, flag], capsys, message)


@pytest.mark.parametrize("flag,message", [
    ("--utilization=0", "--utilization: 0 must be in (0, 1]"),
    ("--utilization=1.5", "--utilization: 1.5 must be in (0, 1]"),
    ("--batch_size=0", "--batch_size: 0 must be at least 1"),
    ("--sequence_length=-1", "--sequence_length: -1 must be at least 1"),
    ("--peak_flops=0", "--peak_flops: 0 must be greater than 0"),
    ("--hbm_bytes=-1e9", "--hbm_bytes: -1e+09 must be greater than 0"),
])
def test_plan_cli_flags_out_of_range_are_usage_errors(capsys, flag, message):
  cli_testing.expect_usage_error(["plan", *TINY, flag], capsys, message)


def test_plan_cli_reads_the_gin_bound_optimizer(capsys):
  code, out, _ = cli_testing.run(
      ["plan", *TINY, "--gin_param=RemBertConfig.num_layers = 1",
       "--gin_param=optimizer.name = 'adafactor'", "--json"], capsys)
  assert code == 0
  slots = json.loads(out)["optimizer_slots"]
  assert slots and "adam_m" not in slots


@pytest.mark.slow
def test_rembert_pretraining_flops_match_the_usual_estimate():
  """6 x matmul parameters x tokens, + attention, + the MLM head, within 1%."""
  config = _config("models/rembert.gin")
  b, l, p = 2048, 512, 76
  flops = planner.step_flops(config, mesh_graph.BatchShape(b, l, p))
  h, f = config.hidden_size, config.intermediate_size
  layer = 4 * h * h + 2 * h * f
  encoder = 6 * (config.num_layers * layer +
                 config.input_embedding_size * h) * b * l
  attention = 3 * config.num_layers * 2 * (2 * b * l * l * h)
  head = 6 * (h * config.output_embedding_size +
              config.output_embedding_size * config.vocab_size) * b * p
  assert flops.model == pytest.approx(encoder + attention + head, rel=0.01)
