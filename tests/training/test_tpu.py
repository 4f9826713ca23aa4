"""The TPU path (training/tpu.py) as far as CPU can check it.

No TPU here: the SIMD graph is built over a synthetic topology and
inspected (slice variables, collectives, what enters the TPU computation,
the Saver); the same model_fn runs through TPUEstimator with use_tpu=False
against the placement-mesh trainer; and the CLI's refusals come before any
graph or file.
"""

import dataclasses
import glob
import itertools
import os

import gin
import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning
from rembert_mtf.training import config
from rembert_mtf.training import estimator as estimator_lib
from rembert_mtf.training import input as input_lib
from rembert_mtf.training import model_dir as model_dir_lib
from rembert_mtf.training import model_fn as model_fn_lib
from rembert_mtf.training import tpu
from tests import cli_testing
from tests import conftest
from tests import model_testing
from tests.training import test_trainer

tf = compat.tf
ModeKeys = tpu.ModeKeys
REPO = test_trainer.REPO
LAYOUT_2X2 = "batch:batch;vocab:model;heads:model;d_ff:model"


def _run(mesh_shape="batch:2;model:2", layout=LAYOUT_2X2, **trainer):
  fields = dict(mixture_or_task_name="trainer_mlm", batch_size=4,
                sequence_length=8, mlm_predictions=3, num_devices=4)
  fields.update(trainer)
  return config.Run(model=model_testing.tiny_config(),
                    trainer=config.TrainerConfig(**fields),
                    mesh_shape=mesh_shape, layout=layout).resolved()


def _axes(spec):
  """'a:2;b:4' -> {'a': 2, 'b': 4}, read here, not by partitioning."""
  return {k: int(v) if v.isdigit() else v
          for k, v in (p.split(":") for p in spec.split(";") if p)}


def _expected_slice(dims, mesh_shape, layout):
  """A variable's per-core shape from the layout rules: each dimension the
  layout maps to a mesh axis is divided by that axis's size."""
  axes, rules = _axes(mesh_shape), _axes(layout)
  return [size // axes[rules[name]] if name in rules else size
          for name, size in dims]


def _groups(mesh_shape, l2p, reduced_axes):
  """The core groups of an allreduce over `reduced_axes`: logical
  positions (row-major) sharing every other coordinate, as replicas."""
  names, sizes = zip(*_axes(mesh_shape).items())
  groups = {}
  for pnum, coords in enumerate(itertools.product(*map(range, sizes))):
    key = tuple(c for n, c in zip(names, coords) if n not in reduced_axes)
    groups.setdefault(key, set()).add(l2p[pnum])
  return frozenset(frozenset(g) for g in groups.values())


def _split_axes(layout):
  return set(_axes(layout).values())


def _cpu_saver_names(run):
  """What the placement-mesh trainer's Saver writes for `run`."""
  with tf.Graph().as_default() as graph:
    tf.train.get_or_create_global_step()
    features = {name: tf.placeholder(dtype, shape) for name, (dtype, shape)
                in tpu.default_features(run).items() if dtype != tf.string}
    model_fn_lib.make_model_fn(
        run, "/tmp/unused", partitioning.cpu_devices(run.trainer.num_devices))(
            features, None, ModeKeys.TRAIN, {})
  return tpu.saved_variable_names(graph)


def _check_simd_graph(built, run):
  """The assertions every built SIMD graph must pass (see the tests)."""
  # Each variable (and Adam slot) has the slice its layout gives it.
  assert built.slice_shapes
  for name, dims in built.variable_dims.items():
    assert built.slice_shapes[name] == _expected_slice(
        dims, run.mesh_shape, run.layout), name
  # Every core holds one slice of every laid-out variable.
  cores = _axes(run.mesh_shape)
  num_cores = int(np.prod(list(cores.values())))
  per_variable = {}
  for name in built.slice_variables:
    per_variable.setdefault(name.rpartition("_slice_")[0], set()).add(
        int(name.rpartition("_slice_")[2]))
  assert all(c == set(range(num_cores)) for c in per_variable.values())
  # Collectives run exactly over the mesh axes the layout splits.
  l2p = built.logical_to_physical
  assert sorted(l2p) == list(range(num_cores))
  used = _split_axes(run.layout) & set(cores)
  allowed = {_groups(run.mesh_shape, l2p, set(axes))
             for n in range(1, len(used) + 1)
             for axes in itertools.combinations(sorted(used), n)
             if np.prod([cores[a] for a in axes]) > 1}
  found = {frozenset(frozenset(g) for g in groups)
           for op_type, groups in built.collectives if op_type != (
               "CollectivePermute")}
  assert found <= allowed, (found, allowed)
  for axis in used:
    if cores[axis] > 1:
      assert _groups(run.mesh_shape, l2p, {axis}) in found, axis
  # No string enters the TPU computation.
  assert tf.string not in built.replicated_input_dtypes
  for op in built.tpu_ops:
    assert all(t.dtype != tf.string for t in list(op.inputs) + op.outputs), op
  assert "id" not in built.infeed_names and "input_ids" in built.infeed_names


# ------------------------------------------------------------- topologies


@pytest.mark.parametrize("spec,generation,chips,per_chip", [
    ("v3-8", "v3", (2, 2), 2), ("v2-32", "v2", (4, 4), 2),
    ("v3-512", "v3", (16, 16), 2), ("v4-8", "v4", (2, 2, 1), 1),
    ("v4-1024", "v4", (8, 8, 8), 1), ("2x2", "v3", (2, 2), 2),
    ("4x4x8", "v4", (4, 4, 8), 1), ("V4-16", "v4", (2, 2, 2), 1),
])
def test_topology_strings(spec, generation, chips, per_chip):
  topology = tpu.parse_topology(spec)
  assert (topology.generation, topology.chips, topology.cores_per_chip) == (
      generation, chips, per_chip)
  assert topology.num_cores == int(np.prod(chips)) * per_chip
  if spec[0] in "vV":  # Cloud names count TensorCores, 2 per chip
    assert int(spec.split("-")[1]) == 2 * topology.num_chips
  assert topology.mesh_shape[3] == per_chip
  assert int(np.prod(topology.mesh_shape)) == topology.num_cores


@pytest.mark.parametrize("spec,fragment", [
    ("v3-7", "no v3 slice has 7 TensorCores"),
    ("v5-8", "cannot parse --tpu_topology='v5-8'"),
    ("2x0", "at least 1 chip"), ("eight", "cannot parse"), ("", "parse"),
])
def test_bad_topology_strings_are_one_line(spec, fragment):
  with pytest.raises(tpu.TpuError) as raised:
    tpu.parse_topology(spec)
  message = str(raised.value)
  assert fragment in message and "--tpu_topology" in message
  assert "\n" not in message


def test_logical_to_physical_is_lexicographic_without_a_heuristic():
  # A 3x1x1 grid: no power of two, mtf has no mapping heuristic for it.
  topology = tpu.Topology("3x1x1", "v4", (3, 1, 1), 1)
  assignment = tf.tpu.experimental.DeviceAssignment.build(
      tpu.synthetic_topology(topology), num_replicas=3)
  shape = partitioning.parse_mesh_shape("batch:3")
  assert tpu.logical_to_physical(shape, assignment) == [0, 1, 2]


# ----------------------------------------------------- the SIMD step graph


def test_simd_training_graph_on_4_cores():
  run = _run()
  built = tpu.build_simd_graph(run, tpu.parse_topology("2x2x1"))
  print(f"SIMD train graph, 4 cores: {built.seconds:.1f} s")
  _check_simd_graph(built, run)
  # Spot check the issue's example: the word embeddings' vocab on 'model'.
  assert built.slice_shapes[modeling.WORD_EMBEDDINGS] == [
      run.model.vocab_size // 2, run.model.input_embedding_size]
  # Variables and Adam slots stay float32 on the cores.
  assert {v.dtype.base_dtype for v in built.graph.get_collection(
      "TPU_VAR")} == {tf.float32}
  # Checkpoints hold the placement-mesh trainer's names: interchangeable.
  assert built.saved_names == _cpu_saver_names(run)
  assert "global_step" in built.saved_names
  assert not any("_slice_" in n for n in built.saved_names)
  # The host_call carries the progress scalars (and the step).
  fn, tensors = built.spec.host_call
  assert set(tensors) == {"global_step", "loss", "learning_rate",
                          "gradient_norm", "mlm_accuracy"}
  assert all(t.shape.as_list() == [1] for t in tensors.values())


def test_bfloat16_activations_keep_float32_variables():
  run = tpu.for_tpu(_run(), tpu.parse_topology("2x2x1"))
  assert run.model.activation_dtype == "bfloat16"
  assert run.trainer.num_devices == 4
  built = tpu.build_simd_graph(run, tpu.parse_topology("2x2x1"))
  einsums = [op for op in built.tpu_ops if op.type == "Einsum"]
  assert einsums and all(op.outputs[0].dtype == tf.bfloat16
                         for op in einsums)
  assert {v.dtype.base_dtype for v in built.graph.get_collection(
      "TPU_VAR")} == {tf.float32}


@pytest.mark.slow
@pytest.mark.parametrize("layout_file", sorted(
    os.path.basename(p) for p in glob.glob(os.path.join(
        REPO, "gin", "layouts", "*.gin"))))
@pytest.mark.parametrize("mode", [ModeKeys.TRAIN, ModeKeys.EVAL,
                                  ModeKeys.PREDICT])
def test_simd_graphs_on_8_cores_for_every_shipped_layout(layout_file, mode):
  text = open(os.path.join(REPO, "gin", "layouts", layout_file)).read()
  shape = text.split('partitioning.mesh.shape = "')[1].split('"')[0]
  layout = text.split('partitioning.mesh.layout = "')[1].split('"')[0]
  if int(np.prod(list(_axes(shape).values()))) != 8:
    # rembert_pod (batch:128;model:4): its rules on 8 cores, model axis kept.
    shape = f"batch:{8 // _axes(shape)['model']};model:{_axes(shape)['model']}"
  run = _run(shape, layout, batch_size=8, num_devices=8)
  built = tpu.build_simd_graph(run, tpu.parse_topology("v3-8"), mode=mode)
  print(f"{layout_file} {mode}: {built.seconds:.1f} s")
  _check_simd_graph(built, run)
  if mode == ModeKeys.PREDICT:
    outputs = built.spec.predictions
    assert outputs["masked_lm_predictions"].shape.as_list() == [8, 3]
    assert "id" not in outputs  # strings are joined on the host
  elif mode == ModeKeys.EVAL:
    metric_fn, values = built.spec.eval_metrics
    assert set(values) == {"mlm_accuracy"}  # the Estimator adds "loss"
  else:
    assert built.saved_names == _cpu_saver_names(run)


@pytest.mark.slow
def test_fused_adam_cannot_lower_on_the_simd_mesh_hence_refused():
  run = _run()
  fused = run.replace(optimizer=dataclasses.replace(run.optimizer,
                                                    fused=True))
  with pytest.raises(tpu.TpuError, match="optimizer.fused"):
    tpu.check_tpu_run(fused, 4)
  # Why: optimizers.FusedAdamUpdate iterates the placement devices.
  with pytest.raises(AttributeError, match="_devices"):
    tpu.build_simd_graph(fused, tpu.parse_topology("2x2x1"))


# ----------------------------------- TPUEstimator on CPU against the trainer


def _scalars(model_dir, tag):
  """{step: value} of `tag` in model_dir's event files (either encoding)."""
  values = {}
  for path in sorted(glob.glob(os.path.join(model_dir, "events.out.*"))):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = (
              float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
              else value.simple_value)
  return values


# Slow (20 s): the SIMD graph tests above stay fast.
@pytest.mark.slow
def test_tpu_estimator_on_cpu_trains_as_the_placement_mesh_trainer(
    tmp_path, spm_path):
  import tests.trainer_tasks  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  steps = 4
  run = _tiny_trainer_run(steps)
  tpu.check_tpu_run(run, 4, iterations_per_loop=2)

  def input_fn(params):
    del params
    return input_lib.dataset(run.trainer, "trainer_mlm", "train",
                             training=True)

  with conftest.bound_vocabulary(spm_path):
    cpu_dir, tpu_dir = str(tmp_path / "cpu"), str(tmp_path / "tpu")
    estimator_lib.make_estimator(cpu_dir, run).train(input_fn,
                                                     max_steps=steps)
    estimator = estimator_lib.make_tpu_estimator(
        tpu_dir, run, tpu.TpuArgs(tpu=None, topology=tpu.parse_topology(
            "2x2x1"), iterations_per_loop=2, use_tpu=False))
    estimator.train(tpu.device_input_fn(input_fn), max_steps=steps)

  cpu_loss, tpu_loss = _scalars(cpu_dir, "loss"), _scalars(tpu_dir, "loss")
  # The host_call logs every step; ProgressHook skips the start-up step.
  assert sorted(tpu_loss) == list(range(1, steps + 1))
  assert sorted(cpu_loss) == list(range(2, steps + 1))
  for step in cpu_loss:
    assert tpu_loss[step] == pytest.approx(cpu_loss[step], rel=1e-5)
  assert tpu_loss[steps] < tpu_loss[1]  # it trained
  for tag in ("learning_rate", "gradient_norm", "mlm_accuracy"):
    assert sorted(_scalars(tpu_dir, tag)) == list(range(1, steps + 1)), tag
  # Same checkpoints, same values.
  assert (tf.train.latest_checkpoint(tpu_dir).rsplit("-", 1)[1] ==
          tf.train.latest_checkpoint(cpu_dir).rsplit("-", 1)[1] == str(steps))
  cpu_ckpt = tf.train.load_checkpoint(tf.train.latest_checkpoint(cpu_dir))
  tpu_ckpt = tf.train.load_checkpoint(tf.train.latest_checkpoint(tpu_dir))
  names = dict(tf.train.list_variables(tf.train.latest_checkpoint(cpu_dir)))
  assert dict(tf.train.list_variables(
      tf.train.latest_checkpoint(tpu_dir))) == names
  for name in names:
    np.testing.assert_allclose(tpu_ckpt.get_tensor(name),
                               cpu_ckpt.get_tensor(name), rtol=1e-5,
                               atol=1e-7, err_msg=name)


def test_predictions_get_their_host_features_back_in_order():
  ids = np.arange(12, dtype=np.int32).reshape(6, 2)

  def host(params):
    del params
    return tf.data.Dataset.from_tensor_slices({
        "input_ids": ids, "id": [f"ex{i}".encode() for i in range(6)],
        "weights": np.ones(6, np.float32)}).batch(3)

  device = [{"input_ids": row, "score": float(row.sum())} for row in ids]
  joined = list(tpu.predictions_with_host_features(iter(device), host))
  assert [j["id"] for j in joined] == [f"ex{i}".encode() for i in range(6)]
  assert [j["score"] for j in joined] == [d["score"] for d in device]
  assert not any("weights" in j for j in joined)  # numeric: from the device
  shuffled = device[1:] + device[:1]
  with pytest.raises(RuntimeError, match="out of step"):
    list(tpu.predictions_with_host_features(iter(shuffled), host))


def _tiny_trainer_run(steps, **trainer):
  fields = dict(mixture_or_task_name="trainer_mlm", batch_size=4,
                sequence_length=16, mlm_predictions=3, train_steps=steps,
                save_checkpoints_steps=2, log_every_steps=1, num_devices=4)
  fields.update(trainer)
  return config.Run(
      model=modeling.RemBertConfig(
          vocab_size=256, input_embedding_size=16, output_embedding_size=32,
          hidden_size=32, num_layers=2, num_heads=4, head_size=8,
          intermediate_size=64, max_position_embeddings=64),
      trainer=config.TrainerConfig(**fields),
      schedule=config.ScheduleConfig(peak_learning_rate=1e-3,
                                     warmup_steps=2),
      mesh_shape="batch:2;model:2", layout=LAYOUT_2X2).resolved()


@pytest.mark.slow
def test_tpu_estimator_on_cpu_evaluates_and_predicts_as_the_trainer(
    tmp_path, spm_path):
  import tests.trainer_tasks  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  run = _tiny_trainer_run(2)
  model_dir = str(tmp_path / "model")

  def train_input(params):
    del params
    return input_lib.dataset(run.trainer, "trainer_mlm", "train",
                             training=True)

  args = tpu.TpuArgs(tpu=None, topology=tpu.parse_topology("2x2x1"),
                     iterations_per_loop=1, use_tpu=False)
  with conftest.bound_vocabulary(spm_path):
    cpu = estimator_lib.make_estimator(model_dir, run)
    cpu.train(train_input, max_steps=2)
    # Three batches read once: the masking draws from the graph's seed, so
    # every reader must see these same arrays.
    with tf.Graph().as_default():
      iterator = tf.data.make_initializable_iterator(input_lib.dataset(
          run.trainer, "trainer_mlm", "train", training=False))
      batch = iterator.get_next()
      with tf.Session() as session:
        session.run(iterator.initializer)
        batches = [session.run(batch) for _ in range(3)]

    def eval_input(params):
      del params
      stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
      # An example id as a string feature: it must come back from the host.
      stacked["id"] = np.array([[str(i).encode() for i in b["input_ids"][:, 1]]
                                for b in batches])
      return tf.data.Dataset.from_tensor_slices(stacked)

    on_tpu_path = estimator_lib.make_tpu_estimator(model_dir, run, args)
    got = on_tpu_path.evaluate(tpu.device_input_fn(eval_input), steps=3)
    # The reference: the same batches through model/mesh_graph.py with the
    # checkpoint's weights (model_fn.py's own EVAL mode cannot be used: the
    # Estimator refuses its "loss" metric, see the report).
    graph = mesh_graph.MeshGraph(
        run.model, mesh_graph.BatchShape(4, 16, 3), run.mesh_shape,
        run.layout)
    graph.set_weights(model_dir_lib.read_weights(
        model_dir, graph.variable_names))
    outputs = [graph.run(b, ["loss", "mlm_accuracy"]) for b in batches]
    graph.close()
    assert got["loss"] == pytest.approx(
        np.mean([o["loss"] for o in outputs]), rel=1e-5)
    assert got["mlm_accuracy"] == pytest.approx(
        np.mean([o["mlm_accuracy"] for o in outputs]), rel=1e-5, abs=1e-7)
    want = list(cpu.predict(eval_input, yield_single_examples=True))
    got = list(tpu.predictions_with_host_features(
        on_tpu_path.predict(tpu.device_input_fn(eval_input),
                            yield_single_examples=True), eval_input))
  assert len(got) == len(want) == 12
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g["masked_lm_predictions"],
                                  w["masked_lm_predictions"])
    assert g["id"] == w["id"] == str(w["input_ids"][1]).encode()


# ------------------------------------------------------------- the CLI


def _argv(model_dir, spm_path, *flags, steps=2):
  return ["train", f"--model_dir={model_dir}",
          "--module_import=tests.trainer_tasks",
          *test_trainer.MESH, *test_trainer._tiny(spm_path, steps),  # pylint: disable=protected-access
          *flags]


@pytest.mark.parametrize("flags,fragments", [
    (["--tpu=local", "--tpu_topology=v3-9"], ["--tpu_topology=v3-9",
                                              "no v3 slice"]),
    (["--tpu=local", "--tpu_topology=2by2"], ["cannot parse --tpu_topology"]),
    (["--tpu=local"], ["--tpu needs --tpu_topology"]),
    (["--tpu_topology=v3-8"], ["--tpu_topology needs --tpu"]),
    (["--tpu=local", "--tpu_topology=v4-8"],
     ["'batch:2;model:4' has 8 cores", "--tpu_topology) has 4"]),
    (["--tpu=local", "--tpu_topology=v3-8",
      "--gin_param=RemBertConfig.num_heads = 6"],
     ["heads = 6 is not divisible by mesh axis model = 4"]),
    (["--tpu=local", "--tpu_topology=v3-8",
      "--gin_param=optimizer.fused = True"], ["optimizer.fused = True"]),
    (["--tpu=local", "--tpu_topology=v3-8", "--iterations_per_loop=4"],
     ["--iterations_per_loop=4 does not divide "
      "trainer.save_checkpoints_steps = 10"]),
    (["--tpu=local", "--tpu_topology=v3-8", "--num_devices=8"],
     ["--num_devices is for CPU meshes"]),
])
def test_bad_tpu_flags_one_line_nothing_written(tmp_path, spm_path, capsys,
                                                flags, fragments):
  model_dir = tmp_path / "run"
  cli_testing.expect_refusal(_argv(model_dir, spm_path, *flags), capsys,
                             *fragments, destination=model_dir)


def test_a_run_that_fits_the_slice_passes_the_checks(tmp_path, spm_path):
  from rembert_mtf.cli import main as cli  # pylint: disable=g-import-not-at-top
  from rembert_mtf.cli import train as train_cli  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args(_argv(
      tmp_path / "run", spm_path, "--tpu=local", "--tpu_topology=v3-8"))
  saved = gin.config_str()
  try:
    train_cli.flags.load_gin(args)
    shape, layout = train_cli.flags.mesh_from(args)
    run = config.Run.from_gin(shape, layout)
    run, tpu_args = train_cli.tpu_run(args, run,
                                      tpu.parse_topology(args.tpu_topology))
  finally:
    gin.clear_config()
    gin.parse_config(saved)
  assert run.model.activation_dtype == "bfloat16"
  assert run.trainer.num_devices == tpu_args.topology.num_cores == 8
  # The default loop: the largest divisor of the checkpoint interval <= 100.
  assert run.trainer.save_checkpoints_steps % tpu_args.iterations_per_loop == 0
  assert tpu_args.iterations_per_loop == 10 and tpu_args.tpu == "local"
  assert not (tmp_path / "run").exists()
