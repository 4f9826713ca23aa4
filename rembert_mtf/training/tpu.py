"""TPU slices and pods: the run through TPUEstimator on Mesh TF's SIMD mesh.

  --tpu_topology (parse_topology) -> Topology: chips, mesh cores
  check_tpu_run(run, cores)       one-line errors before any graph
  for_tpu(run, topology)          bfloat16 activations, one mesh core per core
  make_model_fn(run, model_dir)   the TPUEstimator model_fn: features (no
      strings) -> mtf -> head -> loss -> updates -> lowering on SimdMeshImpl
      (on TPU) or on the placement mesh (use_tpu=False, CPU)
  device_input_fn(input_fn)       the input_fn TPUEstimator infeeds
  predictions_with_host_features  predict's outputs joined with the string
      features that never entered the TPU computation
  build_simd_graph(run, topology) the training (or eval, predict) step as
      TPUEstimator would compile it, built on CPU over a synthetic topology,
      for the tests; nothing runs

How a SIMD step differs from the placement mesh's (model_fn.py): one
program runs on every core (inside TPUEstimator's TPU rewrite), each core
holding one slice of every tensor; collectives are XLA CrossReplicaSum /
AllToAll ops over groups of cores. Master variables, the Saver, the restore
and save copies live on the TPU hosts, built outside the rewrite
(mtf.utils.outside_all_rewrites). Progress scalars leave the TPU through
the host_call, eval metrics through eval_metrics, predictions as
fully-replicated (mtf.anonymize) tensors. TPUEstimator's infeed is
BROADCAST: every core receives the whole batch and slices out its part, and
outfed tensors are taken from core 0, as Mesh TF's own TPU trainer does.

Everything arrives as arguments (a config.Run, a Topology); nothing here
reads gin.
"""

import contextlib
import dataclasses
import os
import re
import sys
import time
import types
from typing import Optional, Tuple

import numpy as np

from tensorflow_estimator.python.estimator import model_fn as model_fn_lib
from tensorflow_estimator.python.estimator.tpu import tpu_estimator

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import heads
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning
from rembert_mtf.training import model_dir as model_dir_lib
from rembert_mtf.training import model_fn as cpu_model_fn
from rembert_mtf.training import optimizers

mtf = compat.mtf
tf = compat.tf
ModeKeys = model_fn_lib.ModeKeys

TOPOLOGY_FLAG = "--tpu_topology"
ITERATIONS_FLAG = "--iterations_per_loop"

# Cloud TPU accelerator types: chips of each slice, as a grid. v2 and v3
# names count TensorCores, 2 per chip, each its own mesh core; v4 names
# count TensorCores too, but a v4 chip's 2 TensorCores run as one megacore:
# one mesh core per chip (cloud.google.com/tpu/docs/types-topologies).
_V2_V3_GRIDS = {8: (2, 2), 32: (4, 4), 64: (4, 8), 128: (8, 8), 256: (8, 16),
                512: (16, 16), 1024: (16, 32), 2048: (32, 32)}
_V4_GRIDS = {8: (2, 2, 1), 16: (2, 2, 2), 32: (2, 2, 4), 64: (2, 4, 4),
             128: (4, 4, 4), 256: (4, 4, 8), 512: (4, 8, 8),
             1024: (8, 8, 8), 2048: (8, 8, 16), 4096: (8, 16, 16)}
_GRIDS = {"v2": _V2_V3_GRIDS, "v3": _V2_V3_GRIDS, "v4": _V4_GRIDS}
# Mesh cores per chip: v2/v3 TensorCores are separate devices; v4 megacore.
_CORES_PER_CHIP = {"v2": 2, "v3": 2, "v4": 1}
_GRAMMAR = ("a Cloud TPU type (v2-8, v3-32, v4-1024, ...) or a chip grid: "
            "XxY for v2/v3 (2 cores per chip), XxYxZ for v4 (one megacore "
            "per chip)")


class TpuError(errors.UserError):
  """A TPU flag or a run that cannot work on the named slice."""


@dataclasses.dataclass(frozen=True)
class Topology:
  """A TPU slice as the mesh sees it.

  Attributes:
    name: as given on the command line.
    generation: "v2", "v3" or "v4".
    chips: the chip grid, (x, y) for v2/v3 or (x, y, z) for v4.
    cores_per_chip: mesh cores (TF TPU devices) per chip: 2 on v2/v3, 1 on
      v4 (megacore).
  """
  name: str
  generation: str
  chips: Tuple[int, ...]
  cores_per_chip: int

  @property
  def num_chips(self):
    return int(np.prod(self.chips))

  @property
  def num_cores(self):
    """Mesh cores: the size the mesh must have."""
    return self.num_chips * self.cores_per_chip

  @property
  def mesh_shape(self):
    """[x, y, z, cores per chip]: tf.tpu.experimental.Topology.mesh_shape."""
    x, y, z = (tuple(self.chips) + (1,))[:3]
    return [x, y, z, self.cores_per_chip]


def parse_topology(spec):
  """'v3-8', 'v4-1024', '2x2' (v3 chips) or '4x4x8' (v4 chips) -> Topology.

  Raises:
    TpuError: one line naming --tpu_topology and the grammar.
  """
  text = (spec or "").strip().lower()
  named = re.fullmatch(r"(v[234])-(\d+)", text)
  if named:
    generation, tensor_cores = named.group(1), int(named.group(2))
    grid = _GRIDS[generation].get(tensor_cores)
    if grid is None:
      raise TpuError(
          f"{TOPOLOGY_FLAG}={spec}: no {generation} slice has {tensor_cores} "
          f"TensorCores; known: {generation}-"
          f"{', {}-'.format(generation).join(map(str, _GRIDS[generation]))}"
          " (or give the chip grid, e.g. 4x4x8).")
    return Topology(spec, generation, grid, _CORES_PER_CHIP[generation])
  grid = re.fullmatch(r"(\d+)x(\d+)(?:x(\d+))?", text)
  if grid:
    chips = tuple(int(g) for g in grid.groups() if g is not None)
    if min(chips) < 1:
      raise TpuError(f"{TOPOLOGY_FLAG}={spec}: every side of the chip grid "
                     "needs at least 1 chip.")
    generation = "v4" if len(chips) == 3 else "v3"
    return Topology(spec, generation, chips, _CORES_PER_CHIP[generation])
  raise TpuError(f"cannot parse {TOPOLOGY_FLAG}={spec!r}: write {_GRAMMAR}.")


@dataclasses.dataclass(frozen=True)
class TpuArgs:
  """The TPU flags of a run.

  Attributes:
    tpu: --tpu, a Cloud TPU name or grpc:// address; None with use_tpu
      False.
    zone, project: --tpu_zone, --gcp_project (for the TPUClusterResolver).
    topology: the parsed --tpu_topology.
    iterations_per_loop: --iterations_per_loop, steps per TPU loop (one
      session.run).
    use_tpu: False runs the same model_fn on the CPU placement mesh.
  """
  tpu: Optional[str]
  topology: Topology
  zone: Optional[str] = None
  project: Optional[str] = None
  iterations_per_loop: int = 100
  use_tpu: bool = True


# ----------------------------------------------------------------------------
# Checks before any graph
# ----------------------------------------------------------------------------


def check_tpu_run(run, num_cores, iterations_per_loop=1):
  """Refuses, with one line, a run that cannot work on `num_cores` cores.

  Runs before any graph or file: the fused Adam the SIMD mesh cannot run,
  the mesh size against the slice, the layout against the model's sizes,
  and the checkpoint interval against the TPU loop.

  Args:
    run: config.Run.
    num_cores: mesh cores of the slice (Topology.num_cores).
    iterations_per_loop: steps per TPU loop.
  Raises:
    TpuError, partitioning.PartitioningError.
  """
  if run.optimizer.name == "adam" and run.optimizer.fused:
    # optimizers.FusedAdamUpdate names one slice variable per placement
    # device; on the SIMD mesh a variable is one replicated variable with
    # no device list to iterate.
    raise TpuError("optimizer.fused = True (TensorFlow's fused Adam kernel) "
                   "runs per placement-mesh device and not on the TPU SIMD "
                   "mesh; bind `optimizer.fused = False`.")
  shape = partitioning.parse_mesh_shape(run.mesh_shape)
  rules = partitioning.parse_layout(run.layout)
  if shape.size != num_cores:
    raise TpuError(
        f"{partitioning.SHAPE_BINDING} "
        f"'{partitioning.mesh_shape_string(shape)}' has {shape.size} cores "
        f"but the TPU slice ({TOPOLOGY_FLAG}) has {num_cores}; make the mesh "
        f"size {num_cores} or name another slice.")
  partitioning.check_partitioning(shape, rules, run.dimension_sizes())
  every = run.trainer.save_checkpoints_steps
  if every % iterations_per_loop:
    raise TpuError(
        f"{ITERATIONS_FLAG}={iterations_per_loop} does not divide "
        f"trainer.save_checkpoints_steps = {every}: checkpoints are written "
        f"between TPU loops only; make {ITERATIONS_FLAG} a divisor of "
        f"{every}.")


def for_tpu(run, topology, activation_dtype="bfloat16"):
  """The run as a TPU slice runs it.

  bfloat16 activations (variables and optimizer slots stay float32,
  RemBertConfig.variable_dtype), and trainer.num_devices = the slice's mesh
  cores, so the trainer's own checks (loop.check_run) count the TPU cores.
  """
  model = dataclasses.replace(run.model, activation_dtype=activation_dtype)
  return run.replace(model=model, num_devices=topology.num_cores)


# ----------------------------------------------------------------------------
# The SIMD mesh
# ----------------------------------------------------------------------------


@contextlib.contextmanager
def _simd_flags(cores_per_chip):
  """mtf's TPU-mapping heuristics read two absl flags; pass them instead.

  mesh_tensorflow.simd_mesh_impl reads FLAGS.logical_cores_per_chip and
  FLAGS.fold_xy, absl flags this CLI never parses (reading an unparsed flag
  raises). The heuristic is called with its module's FLAGS swapped for
  these values, then restored.
  """
  module = mtf.simd_mesh_impl
  saved = module.FLAGS
  module.FLAGS = types.SimpleNamespace(logical_cores_per_chip=cores_per_chip,
                                       fold_xy=False)
  try:
    yield
  finally:
    module.FLAGS = saved


def logical_to_physical(mesh_shape, device_assignment):
  """Which replica (TPU core) runs each logical mesh position.

  mtf.simd_mesh_impl.auto_logical_to_physical_tpu places the later mesh
  axes on neighbouring chips (their allreduces are the most frequent);
  shapes it has no heuristic for get the lexicographic order.

  Args:
    mesh_shape: mtf.Shape.
    device_assignment: tf.tpu.experimental.DeviceAssignment of
      mesh_shape.size replicas of one core each.
  Returns:
    a permutation of range(mesh_shape.size).
  """
  physical = [int(d) for d in device_assignment.topology.mesh_shape]
  lexicographic = list(range(mesh_shape.size))
  if len(physical) != 4 or int(np.prod(physical)) != mesh_shape.size:
    return lexicographic
  with _simd_flags(physical[3]):
    mapping = mtf.simd_mesh_impl.auto_logical_to_physical_tpu(
        mesh_shape.to_integer_list, physical,
        device_assignment=device_assignment)
  # mtf 0.1.21 returns its fallback function uncalled on one path.
  mapping = mapping() if callable(mapping) else list(mapping)
  if sorted(mapping) != lexicographic:
    return lexicographic
  return mapping


def simd_mesh_impl(mesh_shape, layout_rules, context):
  """SimdMeshImpl on the TPU cores of a TPUEstimator context.

  Args:
    mesh_shape, layout_rules: mtf.Shape, mtf.LayoutRules.
    context: params["context"] of a TPUEstimator model_fn (or anything with
      device_assignment, num_hosts and tpu_host_placement_function).
  Returns:
    (mtf.simd_mesh_impl.SimdMeshImpl, mtf.utils.BalancedVariablePlacer for
    the master variables over the slice's hosts)
  """
  assignment = context.device_assignment
  impl = mtf.simd_mesh_impl.SimdMeshImpl(
      mesh_shape, layout_rules, device_assignment=assignment,
      logical_to_physical=logical_to_physical(mesh_shape, assignment))
  # Masters (and Adam's slots) spread over the hosts' memory instead of
  # all on host 0: 4 x 993M float32 values for the full RemBERT with Adam.
  placer = mtf.utils.BalancedVariablePlacer(
      [context.tpu_host_placement_function(host_id=h)
       for h in range(context.num_hosts)])
  return impl, placer


# ----------------------------------------------------------------------------
# Input: what enters the TPU computation
# ----------------------------------------------------------------------------


def device_features(features):
  """The features TPU infeed carries: no strings, 64-bit ints as int32.

  Strings (QA contexts, example ids) cannot be infed and the model never
  reads them; they stay on the host (predictions_with_host_features).
  """
  out = {}
  for name, value in features.items():
    if value.dtype == tf.string:
      continue
    out[name] = tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
  return out


def device_input_fn(input_fn):
  """input_fn(params) -> the same batches without their string features."""
  def fn(params):
    return input_fn(params).map(device_features)
  return fn


def predictions_with_host_features(predictions, input_fn, params=None):
  """Yields each prediction with its example's string features added.

  Args:
    predictions: TPUEstimator.predict(device_input_fn(input_fn), ...,
      yield_single_examples=True): dicts of the model's outputs and the
      numeric features (input_ids among them).
    input_fn: the same input_fn; read again here, on the host, in a graph
      and session of its own (prediction data are read in order, one epoch,
      so both reads see the same examples).
    params: passed to input_fn.
  The second read must yield the same examples, which holds for
  pipelines without random ops: the fine-tuning tasks' (the ones with
  string features). MLM masking draws from the graph's seed and differs
  between graphs, but MLM examples have no strings: without string
  features the predictions pass through unread.

  Raises:
    RuntimeError: the two reads disagree (a bug: the data are not the same).
  """
  graph = tf.Graph()
  with graph.as_default():
    dataset = input_fn(params or {}).unbatch()
    strings = [k for k, spec in dataset.element_spec.items()
               if spec.dtype == tf.string]
    if strings:
      dataset = dataset.map(
          lambda ex: {k: ex[k] for k in strings + ["input_ids"]})
      iterator = tf.data.make_initializable_iterator(dataset)
      example_op = iterator.get_next()
  if not strings:
    yield from predictions
    return
  # Neither the graph nor the session (whose `with` would make the graph
  # the default) stays entered across the yields below: the Estimator's
  # generator pushes and pops its own graph in between.
  session = tf.Session(graph=graph)
  try:
    session.run(iterator.initializer)
    for prediction in predictions:
      example = session.run(example_op)
      if not np.array_equal(example["input_ids"], prediction["input_ids"]):
        raise RuntimeError("host features out of step with the TPU's "
                           "predictions (input_ids differ)")
      yield {**prediction, **{k: v for k, v in example.items()
                              if k not in prediction}}
  finally:
    session.close()


# ----------------------------------------------------------------------------
# Hooks: TPU loops run iterations_per_loop steps per session.run
# ----------------------------------------------------------------------------


class LoopCheckpointHook(tf.train.SessionRunHook):
  """Saves the master variables when a loop crosses a checkpoint step.

  hooks.MeshCheckpointHook counts one step per session.run; a TPU loop runs
  several, so this reads global_step after each run (a separate run, not a
  fetch of the same one, which would race with the increment). Like it,
  it writes no graph into the checkpoints.
  """

  def __init__(self, saver, copy_to_masters, model_dir, every_steps):
    self._saver = saver
    self._copy_to_masters = copy_to_masters
    self._path = os.path.join(model_dir, model_dir_lib.CHECKPOINT_PREFIX)
    self._every = every_steps
    self._last_saved = None

  def begin(self):
    self._global_step = tf.train.get_global_step()

  def after_create_session(self, session, coord):
    self._last_saved = int(session.run(self._global_step))

  def after_run(self, run_context, run_values):
    step = int(run_context.session.run(self._global_step))
    if step // self._every > self._last_saved // self._every:
      self._save(run_context.session, step)

  def end(self, session):
    self._save(session, int(session.run(self._global_step)))

  def _save(self, session, step):
    if step == self._last_saved:
      return
    session.run(self._copy_to_masters)
    self._saver.save(session, self._path, global_step=step,
                     write_meta_graph=False)
    self._last_saved = step


def _format(value, scientific=False):
  return tf.strings.as_string(tf.cast(value, tf.float32), precision=4,
                              scientific=scientific)


def progress_host_call(model_dir, trainer_config):
  """host_call_fn(global_step, **scalars): the progress of every step.

  Runs on the host (CPU) after each TPU step with core 0's values: writes
  every scalar to model_dir's event file (the tags the placement-mesh
  ProgressHook writes) and, every trainer.log_every_steps steps, prints
  one progress line. On a TPU VM that line reaches this process's stdout;
  with a remote TPU host (grpc://) it is in that host's log.
  """
  total = trainer_config.train_steps
  every = trainer_config.log_every_steps

  def host_call_fn(global_step, **scalars):
    """global_step: [1], the step just completed; scalars: [1] each."""
    step = tf.cast(global_step[0], tf.int64)
    values = {k: tf.cast(v[0], tf.float32) for k, v in scalars.items()}
    with tf.compat.v2.summary.create_file_writer(model_dir).as_default():
      for name, value in sorted(values.items()):
        tf.compat.v2.summary.scalar(name, value, step=step)
      summaries = tf.summary.all_v2_summary_ops()
    extras = [x for k in sorted(values) if k not in ("loss", "learning_rate")
              for x in ("  " + k + " ", _format(values[k]))]
    line = tf.strings.join(
        ["step ", tf.strings.as_string(step), f"/{total}  loss ",
         _format(values["loss"]), *extras, "  lr ",
         _format(values["learning_rate"], scientific=True)])
    log = tf.logical_or(tf.equal(step % every, 0), tf.equal(step, total))
    printed = tf.cond(log, lambda: tf.print(line, output_stream=sys.stdout),
                      tf.no_op)
    return tf.group(summaries + [printed])

  return host_call_fn


# ----------------------------------------------------------------------------
# The model_fn
# ----------------------------------------------------------------------------


def _as_vector(x):
  """Outfed tensors keep a leading axis; scalars become [1]."""
  return tf.reshape(tf.cast(x, tf.float32), [1])


def make_model_fn(run, model_dir, cpu_devices=None, on_lowering=None):
  """A TPUEstimator model_fn running `run`'s model.

  On TPU (params["context"] set by TPUEstimator) the mesh is SimdMeshImpl
  over the context's device assignment; with use_tpu=False it is the
  placement mesh over `cpu_devices`, the graph model_fn.make_model_fn
  builds, returned as a TPUEstimatorSpec.

  Args:
    run: config.Run (for TPU, passed through for_tpu).
    model_dir: where checkpoints and summaries go.
    cpu_devices: the placement mesh's devices for use_tpu=False (default:
      run.trainer.num_devices virtual CPUs).
    on_lowering: called with each mtf.Lowering built (build_simd_graph
      reads the slices off it).
  Returns:
    model_fn(features, labels, mode, params) -> TPUEstimatorSpec.
  """
  head = heads.get_head(run.trainer.head)
  shape = partitioning.parse_mesh_shape(run.mesh_shape)
  rules = partitioning.parse_layout(run.layout)
  trainer_config = run.trainer
  devices = cpu_devices or partitioning.cpu_devices(trainer_config.num_devices)

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    context = params.get("context")
    graph = mtf.Graph()
    if context is not None:
      impl, placer = simd_mesh_impl(shape, rules, context)
    else:
      impl, placer = partitioning.placement_mesh_impl(shape, rules,
                                                      devices), None
    mesh = mtf.Mesh(graph, "mesh", placer)
    is_training = mode == ModeKeys.TRAIN
    inputs = cpu_model_fn.mtf_features(features, head, mesh, trainer_config)
    sequence_output, bias = modeling.encode(inputs, run.model, is_training)
    loss, predictions, metrics = head.build(
        inputs, sequence_output, bias, run.model,
        trainer_config.num_classes, is_training)
    if is_training:
      global_step = tf.train.get_global_step()
      learning_rate = optimizers.learning_rate(global_step, run.schedule)
      updates, metrics["gradient_norm"] = optimizers.update_ops(
          loss, graph, learning_rate, run.optimizer)
    if mode == ModeKeys.PREDICT:
      # SimdMeshImpl exports only fully-replicated tensors; anonymous
      # dimensions are split over no mesh axis.
      predictions = {k: mtf.anonymize(v) for k, v in predictions.items()}
    partitioning.check_tensor_layouts(graph, shape, rules)
    lowering = partitioning.lower(graph, mesh, impl)
    if on_lowering:
      on_lowering(lowering)
    tf_loss = tf.cast(lowering.export_to_tf_tensor(loss), tf.float32)
    tf_metrics = {k: tf.cast(lowering.export_to_tf_tensor(v), tf.float32)
                  for k, v in metrics.items()}
    with mtf.utils.outside_all_rewrites():
      restore_hook = mtf.MtfRestoreHook(lowering)

    if mode == ModeKeys.PREDICT:
      outputs = {k: lowering.export_to_tf_tensor(v)
                 for k, v in predictions.items()}
      outputs.update({k: v for k, v in features.items() if k not in outputs})
      return tpu_estimator.TPUEstimatorSpec(
          mode, predictions=outputs, prediction_hooks=[restore_hook])

    if mode == ModeKeys.EVAL:
      def metric_fn(**values):
        # Batch means of the head's metrics. Not "loss": the Estimator
        # adds that metric itself (the mean of the spec's loss) and refuses
        # a second one of that name.
        return {k: tf.metrics.mean(v) for k, v in values.items()}
      values = {k: _as_vector(v) for k, v in tf_metrics.items()}
      return tpu_estimator.TPUEstimatorSpec(
          mode, loss=tf_loss, eval_metrics=(metric_fn, values),
          evaluation_hooks=[restore_hook])

    tf_updates = [lowering.lowered_operation(op) for op in updates]
    # The step advances only after the updates, which read the learning
    # rate from the step (as in model_fn.py).
    with tf.control_dependencies(tf_updates):
      train_op = tf.assign_add(global_step, 1)
    scalars = {"loss": tf_loss, "learning_rate": learning_rate, **tf_metrics}
    # Read before this step's increment: the step completed is one more
    # (ProgressHook's numbering, so event files of both paths agree).
    host_call = (progress_host_call(model_dir, trainer_config), {
        "global_step": tf.reshape(tf.cast(global_step, tf.int32) + 1, [1]),
        **{k: _as_vector(v) for k, v in scalars.items()}})
    with mtf.utils.outside_all_rewrites():
      # On the hosts, outside the TPU computation: the saver reads and the
      # copies write the master variables.
      if (trainer_config.init_checkpoint and
          not model_dir_lib.checkpoint_step(model_dir)):
        cpu_model_fn.restore_from_init_checkpoint(
            trainer_config.init_checkpoint)
      saver = tf.train.Saver(tf.global_variables(), sharded=True,
                             max_to_keep=trainer_config.keep_checkpoint_max,
                             save_relative_paths=True)
      tf.add_to_collection(tf.GraphKeys.SAVERS, saver)
      checkpoints = LoopCheckpointHook(
          saver, lowering.copy_slices_to_masters(), model_dir,
          trainer_config.save_checkpoints_steps)
    return tpu_estimator.TPUEstimatorSpec(
        mode, loss=tf_loss, train_op=train_op, host_call=host_call,
        training_hooks=[restore_hook, checkpoints])

  return model_fn


# ----------------------------------------------------------------------------
# The SIMD graph on CPU, for tests: built, never run
# ----------------------------------------------------------------------------


def synthetic_topology(topology):
  """A tf.tpu.experimental.Topology of `topology`'s shape, no TPU needed.

  Hosts own 2x2 blocks of chips, as on Cloud TPU (one host when the grid
  has an odd side); within a host, chips in x-major order, cores last.
  """
  x, y, z, cores = topology.mesh_shape
  block = (2, 2) if x % 2 == 0 and y % 2 == 0 else (x, y)
  tasks = []
  for bz in range(z):
    for by in range(0, y, block[1]):
      for bx in range(0, x, block[0]):
        tasks.append([[bx + i, by + j, bz, c]
                      for j in range(block[1]) for i in range(block[0])
                      for c in range(cores)])
  return tf.tpu.experimental.Topology(
      mesh_shape=topology.mesh_shape,
      device_coordinates=np.array(tasks, dtype=np.int32))


class _SyntheticContext:
  """What the model_fn reads of TPUEstimator's params["context"]."""

  def __init__(self, device_assignment, num_hosts):
    self.device_assignment = device_assignment
    self.num_hosts = num_hosts

  def tpu_host_placement_function(self, host_id=0, replica_id=None):
    del replica_id
    return f"/job:worker/task:{host_id}/device:CPU:0"


@dataclasses.dataclass
class SimdGraph:
  """A SIMD step graph as build_simd_graph leaves it.

  Attributes:
    graph: the tf.Graph.
    seconds: time to build it (model_fn and tpu.replicate).
    logical_to_physical: the replica of each logical mesh position.
    variable_dims: {master variable name: [(dimension name, size)]}.
    slice_shapes: {master variable name: shape of its slice on one core};
      a stacked variable's slice counts once per variable stacked in it.
    slice_variables: {slice variable name: shape}, as allocated (TPU_VAR).
    collectives: [(op type, group assignment as a list of lists, or the
      source-target pairs of a CollectivePermute)] of the computation.
    infeed_names: the features passed into the computation.
    replicated_input_dtypes: dtypes of every TPUReplicatedInput.
    tpu_ops: the ops inside the TPU computation.
    saved_names: the variable names the Saver writes (train mode).
    spec: the TPUEstimatorSpec the model_fn returned.
  """
  graph: object
  seconds: float
  logical_to_physical: list
  variable_dims: dict
  slice_shapes: dict
  slice_variables: dict
  collectives: list
  infeed_names: list
  replicated_input_dtypes: list
  tpu_ops: list
  saved_names: list
  spec: object


def saved_variable_names(graph):
  """The tensor names the graph's Savers write (their SaveV2 ops' inputs)."""
  names = set()
  for op in graph.get_operations():
    if op.type == "SaveV2":
      names.update(n.decode() for n in tf.make_ndarray(
          op.inputs[1].op.get_attr("value")))
  return sorted(names)


def _constant_value(tensor):
  return tf.make_ndarray(tensor.op.get_attr("value")).tolist()


def build_simd_graph(run, topology, mode=ModeKeys.TRAIN, features=None,
                     model_dir="/tmp/rembert_mtf_simd"):
  """Builds (does not run) the model_fn's SIMD graph on a synthetic slice.

  As TPUEstimator would on `topology`: the model_fn inside
  tf.compat.v1.tpu.replicate over a device assignment of one core per
  replica, its params["context"] carrying that assignment. The features are
  placeholders of one batch passed through device_features, so string
  features in `features` are dropped exactly as the infeed drops them.

  Args:
    run: config.Run (mesh size = topology.num_cores).
    topology: Topology.
    mode: ModeKeys.TRAIN, EVAL or PREDICT.
    features: {name: (tf dtype, shape)} of one batch; default: the head's
      features at the run's batch shape.
    model_dir: written into the graph (host_call, hooks), never written.
  Returns:
    SimdGraph.
  """
  start = time.time()
  graph = tf.Graph()
  with graph.as_default():
    tf_topology = synthetic_topology(topology)
    assignment = tf.tpu.experimental.DeviceAssignment.build(
        tf_topology, num_replicas=topology.num_cores)
    context = _SyntheticContext(assignment, tf_topology.num_tasks)
    tf.train.get_or_create_global_step()
    host = {name: tf.placeholder(dtype, shape, name=name) for name, (
        dtype, shape) in (features or default_features(run)).items()}
    infeed = device_features(host)
    names = sorted(infeed)
    built = {}
    model_fn = make_model_fn(
        run, model_dir, on_lowering=lambda l: built.update(lowering=l))

    def computation(*values):
      spec = model_fn(dict(zip(names, values)), None, mode, {
          "context": context, "batch_size": run.trainer.batch_size,
          "use_tpu": True})
      built["spec"] = spec
      if mode == ModeKeys.PREDICT:
        return [spec.predictions[k] for k in sorted(spec.predictions)]
      if mode == ModeKeys.EVAL:
        return [spec.loss] + list(spec.eval_metrics[1].values())
      with tf.control_dependencies([spec.train_op]):
        return [tf.identity(spec.loss)] + list(spec.host_call[1].values())

    tf.compat.v1.tpu.replicate(
        computation, inputs=[[infeed[n] for n in names]] * topology.num_cores,
        device_assignment=assignment)
  seconds = time.time() - start
  return _inspect(graph, seconds, built["spec"], built["lowering"], names,
                  mode)


def default_features(run):
  """{name: (dtype, shape)} of one batch of run's head, plus a string."""
  trainer = run.trainer
  head = heads.get_head(trainer.head)
  out = {}
  for name in heads.ENCODER_FEATURES + tuple(head.features):
    dims = heads.feature_dims(name, head, trainer.batch_size,
                              trainer.sequence_length,
                              trainer.mlm_predictions)
    out[name] = (tf.float32 if name == "masked_lm_weights" else tf.int32,
                 [d.size for d in dims])
  # Predict passes every feature through; an example id is a string.
  out["is_real_example"] = (tf.int32, [trainer.batch_size])
  out["id"] = (tf.string, [trainer.batch_size])
  return out


def _inspect(graph, seconds, spec, lowering, infeed_names, mode):
  impl, = lowering.mesh_to_impl.values()
  slice_variables = {v.op.name: v.shape.as_list()
                     for v in graph.get_collection("TPU_VAR")}
  # Slice variables are named <master>_slice_<core> inside the name scope
  # of the lowered operation.
  core0 = {name.rpartition("_slice_")[0]: shape
           for name, shape in slice_variables.items()
           if name.endswith("_slice_0")}
  slice_shapes, variable_dims = {}, {}
  for variable in lowering.variables:
    one_core, = [shape for name, shape in core0.items()
                 if name == variable.name or
                 name.endswith("/" + variable.name)]
    # A stacked variable holds its originals along a leading "stacked" axis.
    originals = getattr(variable, "original_names", None)
    dims = [(d.name, d.size) for d in variable.shape.dims]
    for name in originals or [variable.name]:
      slice_shapes[name] = one_core[1:] if originals else one_core
      variable_dims[name] = dims[1:] if originals else dims
  tpu_ops = [op for op in graph.get_operations()
             if "_tpu_replicate" in op.node_def.attr]
  collectives = []
  for op in tpu_ops:
    if op.type in ("CrossReplicaSum", "AllToAll"):
      collectives.append((op.type, _constant_value(op.inputs[-1])))
    elif op.type == "CollectivePermute":
      collectives.append((op.type, _constant_value(op.inputs[1])))
  replicated = [op for op in graph.get_operations()
                if op.type == "TPUReplicatedInput"]
  return SimdGraph(
      graph=graph, seconds=seconds,
      logical_to_physical=[impl.l2p(p) for p in range(impl.size)],
      variable_dims=variable_dims, slice_shapes=slice_shapes, slice_variables=slice_variables,
      collectives=collectives, infeed_names=list(infeed_names),
      replicated_input_dtypes=[op.inputs[0].dtype for op in replicated],
      tpu_ops=tpu_ops,
      saved_names=(saved_variable_names(graph) if mode == ModeKeys.TRAIN
                   else []), spec=spec)
