"""The pod-scale planner: memory and FLOPs per core of one training step.

`rembert-mtf plan` says whether a run fits and how long a step takes before
any TPU is reserved. Every figure is read off the mtf graph of one training
step as the trainer builds it (encoder + head + mtf.gradients + optimizer
updates), never from a formula. An mtf graph holds only shapes, so full
RemBERT at batch 2048 x 512 costs seconds and no memory; nothing is lowered.

Per core, for a mesh shape and layout:
  parameters   slices of the trainable variables (float32, what they are
               stored in);
  gradients    one per trainable variable, in the dtype mtf.gradients gives
               it (the activation dtype); all are live at once because
               global-norm clipping reads every gradient before any update;
  optimizer    slices of the variables the optimizer creates (Adam: m and v;
               Adafactor: its factored row/column second moments), float32;
  activations  an ESTIMATE: the forward-pass tensors the backward pass reads,
               in their own dtypes, as the mtf lowering materialises them.
               No rematerialization, no fusion (XLA may fuse some away), no
               allocator overhead, and not the backward pass's own
               temporaries;
  FLOPs        2 x the product of the sizes of all dimensions of each einsum
               the step runs (forward and backward), per core divided by the
               mesh axes that split any of those dimensions. Einsums fed by
               mtf.one_hot are embedding lookups done as matmuls (mtf.gather):
               counted apart as "lookup" FLOPs, not model FLOPs. Other
               operations (elementwise, reductions, a custom gather) and
               communication are not counted.
"""

import dataclasses
import json
import math

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import heads
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.training import optimizers
from rembert_mtf.model import partitioning

mtf = compat.mtf
tf = compat.tf

GIB = 2.0 ** 30
# Fine-tuning plans use a sequence-classification head (XNLI's 3 classes).
NUM_CLASSES = 3


@dataclasses.dataclass(frozen=True)
class Device:
  """One mesh core: its peak bf16 FLOP/s and its HBM bytes."""
  name: str
  peak_flops: float
  hbm_bytes: float
  core: str  # what one mesh core is on this device


# Public numbers (cloud.google.com/tpu/docs/v3 and /tpu/docs/v4): a v3 chip
# has 2 TensorCores, 123 TFLOP/s bf16 and 32 GiB HBM, so one core is 61.5
# TFLOP/s and 16 GiB; a v4 chip has 275 TFLOP/s bf16 and 32 GiB HBM and its
# 2 TensorCores run as one "megacore", so a v4 mesh core is a whole chip.
DEVICES = {
    "tpu-v3": Device("tpu-v3", 61.5e12, 16 * GIB,
                     "TensorCore (2 per chip)"),
    "tpu-v4": Device("tpu-v4", 275e12, 32 * GIB,
                     "chip (megacore: its 2 TensorCores act as one)"),
}


@dataclasses.dataclass(frozen=True)
class Flops:
  """FLOPs of one step: all cores together, and on one core."""
  model: int
  lookup: int  # one-hot embedding lookups done as matmuls
  per_core: int  # model FLOPs on one core
  lookup_per_core: int


@dataclasses.dataclass
class StepGraph:
  """The symbolic mtf graph of one step and what the planner reads of it.

  Attributes:
    operations: the live operations (those the step's results depend on),
      in graph order.
    forward: the live operations of the forward pass (before the first
      gradient operation).
    parameters, slots: mtf.Variables: the trainable ones, and those the
      optimizer created (empty when not training).
  """
  config: modeling.RemBertConfig
  batch_shape: mesh_graph.BatchShape
  num_classes: int
  graph: mtf.Graph
  operations: list
  forward: frozenset
  parameters: list
  slots: list


def default_mlm_predictions(sequence_length):
  """The masking's cap on predictions per sequence: floor(0.15 x length).

  This is what the data asks for (76 at 512); trainer.mlm_predictions
  defaults to 20 whatever the length, which suits 128 only.
  """
  # Imported here: preprocessors pulls in seqio, which the graph does not
  # need (the CLI has imported it anyway).
  from rembert_mtf.data import preprocessors  # pylint: disable=g-import-not-at-top
  return preprocessors.default_max_predictions(sequence_length)


# ----------------------------------------------------------------------------
# The step's graph
# ----------------------------------------------------------------------------


def _features(mesh, head, batch_shape):
  """Zero mtf features shaped as the trainer feeds them (heads.feature_dims)."""
  features = {}
  for name in heads.ENCODER_FEATURES + tuple(head.features):
    dims = heads.feature_dims(name, head, batch_shape.batch_size,
                              batch_shape.sequence_length,
                              batch_shape.mlm_predictions)
    dtype = tf.float32 if name == "masked_lm_weights" else tf.int32
    features[name] = mtf.zeros(mesh, mtf.Shape(list(dims)), dtype)
  return features


def live_operations(roots):
  """The operations `roots` (mtf Tensors or Operations) depend on, in order.

  mtf.gradients builds the gradient of every input of an operation, also
  of inputs nothing differentiates (a one-hot's, a constant's); a lowering
  would build those too, but no session or XLA program runs them, so the
  planner counts only the live operations.
  """
  seen, stack = set(), [r.operation if isinstance(r, mtf.Tensor) else r
                        for r in roots]
  while stack:
    op = stack.pop()
    if op in seen:
      continue
    seen.add(op)
    stack.extend(t.operation for t in op.inputs)
  graph = next(iter(seen)).graph
  return [op for op in graph.operations if op in seen]


def build_step(config, batch_shape, training=True, num_classes=NUM_CLASSES):
  """Builds (symbolically) the mtf graph of one step, as the trainer does.

  Args:
    config: modeling.RemBertConfig.
    batch_shape: mesh_graph.BatchShape; mlm_predictions > 0 gives the
      pre-training graph (MLM head), 0 the fine-tuning one (encoder +
      sequence classification head with `num_classes`).
    training: add gradients and the optimizer's updates (gin-bound
      optimizers.make_optimizer); False: the forward pass only.
  Returns:
    StepGraph.
  """
  head = heads.get_head("mlm" if batch_shape.mlm_predictions else
                        "classification")
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    features = _features(mesh, head, batch_shape)
    sequence_output, bias = modeling.encode(features, config, training)
    loss, _, metrics = head.build(features, sequence_output, bias, config,
                                  num_classes, training)
    num_forward = len(graph.operations)
    parameters = list(graph.trainable_variables)
    roots = [loss, *metrics.values()]
    before = set(graph.all_variables)
    if training:
      learning_rate = optimizers.learning_rate_schedule(
          tf.train.get_or_create_global_step())
      updates, norm = optimizers.update_ops(loss, graph, learning_rate)
      roots += [*updates, norm]
  slots = [v for v in graph.all_variables if v not in before]
  operations = live_operations(roots)
  index = {op: i for i, op in enumerate(graph.operations)}
  forward = frozenset(op for op in operations if index[op] < num_forward)
  return StepGraph(config, batch_shape, num_classes, graph, operations,
                   forward, parameters, slots)


# ----------------------------------------------------------------------------
# Counting on a layout
# ----------------------------------------------------------------------------


def _dimension_sizes(config, batch_shape, num_classes):
  return {**config.dimension_sizes(), **batch_shape.dimension_sizes(),
          modeling.CLASSES: num_classes}


def check_layout(config, batch_shape, mesh_shape="", layout="",
                 num_classes=NUM_CLASSES):
  """partitioning's checks, before any graph: one-line PartitioningError.

  Returns:
    (mtf.Shape, mtf.LayoutRules)
  """
  shape = partitioning.parse_mesh_shape(mesh_shape)
  rules = partitioning.parse_layout(layout)
  partitioning.check_partitioning(
      shape, rules, _dimension_sizes(config, batch_shape, num_classes))
  return shape, rules


def _split_factor(dims, shape, rules):
  """How many ways the mesh splits work over `dims`: each axis counts once."""
  axes = {rules.tensor_dimension_to_mesh_axis(d, shape) for d in dims}
  return math.prod(shape.dims[a].size for a in axes if a is not None)


def count_flops(operations, mesh_shape, layout_rules):
  """FLOPs of the einsums among `operations` (see the module docstring).

  Args:
    operations: mtf Operations (e.g. live_operations(...)).
    mesh_shape: mtf.Shape; layout_rules: mtf.LayoutRules.
  Returns:
    Flops.
  """
  totals = {"model": 0, "lookup": 0, "per_core": 0, "lookup_per_core": 0}
  for op in operations:
    if not isinstance(op, mtf.EinsumOperation):
      continue
    dims = []
    for tensor in op.inputs + op.outputs:
      dims += [d for d in tensor.shape.dims if d not in dims]
    flops = 2 * math.prod(d.size for d in dims)
    per_core = flops // _split_factor(dims, mesh_shape, layout_rules)
    if any(isinstance(x.operation, mtf.OneHotOperation) for x in op.inputs):
      totals["lookup"] += flops
      totals["lookup_per_core"] += per_core
    else:
      totals["model"] += flops
      totals["per_core"] += per_core
  return Flops(**totals)


def step_flops(config, batch_shape, mesh_shape="", layout="", training=True):
  """FLOPs of one step (forward, + backward and update when `training`).

  For benchmarks: the same count `rembert-mtf plan` prints.
  Returns:
    Flops.
  """
  shape, rules = check_layout(config, batch_shape, mesh_shape, layout)
  step = build_step(config, batch_shape, training=training)
  return count_flops(step.operations, shape, rules)


def _view_source(tensor, impl):
  """The tensor a reshape (rename_dimension) is a view of, on this layout.

  A reshape that keeps each core's slice size shares its buffer; one that
  changes it moved data and is a tensor of its own.
  """
  while (isinstance(tensor.operation, mtf.ReshapeOperation) and
         impl.slice_size(tensor.operation.inputs[0].shape) ==
         impl.slice_size(tensor.shape)):
    tensor = tensor.operation.inputs[0]
  return tensor


def activation_bytes(step, impl):
  """Per-core bytes of the forward tensors the backward pass reads.

  Variables' values are left out (counted as parameters).
  Returns:
    (all such bytes, of which one-hot tensors)
  """
  kept = set()
  for op in step.operations:
    if op in step.forward:
      continue
    for tensor in op.inputs:
      if (tensor.operation in step.forward and
          not isinstance(tensor.operation, mtf.Variable)):
        kept.add(_view_source(tensor, impl))
  sizes = {t: impl.slice_size(t.shape) * t.dtype.size for t in kept}
  one_hot = sum(s for t, s in sizes.items()
                if isinstance(t.operation, mtf.OneHotOperation))
  return sum(sizes.values()), one_hot


def _variable_bytes(variables, shape, rules, dtype_of):
  return sum(partitioning.bytes_per_device(shape, rules, v.shape,
                                           dtype_of(v).size)
             for v in variables)


def _slot_kinds(step):
  """What the optimizer keeps, read from its variables' names ('adam_m')."""
  parameter_names = sorted((v.name for v in step.parameters), key=len,
                           reverse=True)
  kinds = set()
  for slot in step.slots:
    owner = next((n for n in parameter_names if slot.name.startswith(n)), "")
    kinds.add(slot.name[len(owner):].lstrip("/_"))
  return sorted(kinds)


@dataclasses.dataclass
class Plan:
  """What one core holds and computes in one step on a mesh."""
  mode: str  # "pre-training" or "fine-tuning"
  activation_dtype: str
  batch_shape: mesh_graph.BatchShape
  mesh_shape: str
  layout: str
  cores: int
  examples_per_core: int
  parameters: int  # number of trainable parameters (whole model)
  parameter_bytes: int
  gradient_bytes: int
  optimizer_bytes: int
  optimizer_slots: list
  activation_bytes: int
  one_hot_bytes: int  # part of activation_bytes
  flops: Flops

  @property
  def total_bytes(self):
    return (self.parameter_bytes + self.gradient_bytes + self.optimizer_bytes
            + self.activation_bytes)

  def step_seconds(self, peak_flops, utilization, lookups=False):
    """Model FLOPs per core over the sustained rate (+ lookups if asked)."""
    flops = self.flops.per_core + (self.flops.lookup_per_core if lookups
                                   else 0)
    return flops / (peak_flops * utilization)


def plan(step, mesh_shape="", layout=""):
  """Memory and FLOPs per core of `step` (a StepGraph) on a mesh.

  Raises:
    partitioning.PartitioningError: a layout that does not divide or puts
      two dimensions of one tensor on one mesh axis.
  Returns:
    Plan.
  """
  shape, rules = check_layout(step.config, step.batch_shape, mesh_shape,
                              layout, step.num_classes)
  partitioning.check_tensor_layouts(step.graph, shape, rules)
  impl = mtf.placement_mesh_impl.PlacementMeshImpl(shape, rules,
                                                   [""] * shape.size)
  activations, one_hot = activation_bytes(step, impl)
  batch = mtf.Dimension(modeling.BATCH, step.batch_shape.batch_size)
  return Plan(
      mode="pre-training" if step.batch_shape.mlm_predictions else
      "fine-tuning",
      activation_dtype=step.config.activation_dtype,
      batch_shape=step.batch_shape,
      mesh_shape=partitioning.mesh_shape_string(shape),
      layout=layout or "(none)",
      cores=shape.size,
      examples_per_core=batch.size // _split_factor([batch], shape, rules),
      parameters=sum(v.shape.size for v in step.parameters),
      parameter_bytes=_variable_bytes(step.parameters, shape, rules,
                                      lambda v: v.slice_dtype),
      gradient_bytes=_variable_bytes(step.parameters, shape, rules,
                                     lambda v: v.activation_dtype),
      optimizer_bytes=_variable_bytes(step.slots, shape, rules,
                                      lambda v: v.slice_dtype),
      optimizer_slots=_slot_kinds(step),
      activation_bytes=activations,
      one_hot_bytes=one_hot,
      flops=count_flops(step.operations, shape, rules))


# ----------------------------------------------------------------------------
# Verdict and report
# ----------------------------------------------------------------------------


def _bytes(n, digits=2):
  """'1.23 GiB', or MiB / KiB below that."""
  for unit, size in (("GiB", GIB), ("MiB", 2.0 ** 20), ("KiB", 1024.0)):
    if n >= size or unit == "KiB":
      return f"{n / size:.{digits}f} {unit}"


def verdict(result, hbm_bytes):
  """'fits in X GiB (Y% used)' or 'does NOT fit: ...; try ...'."""
  if result.total_bytes <= hbm_bytes:
    return (f"fits in {_bytes(hbm_bytes, 1)} "
            f"({100 * result.total_bytes / hbm_bytes:.0f}% used)")
  return (f"does NOT fit: needs {_bytes(result.total_bytes, 1)}, has "
          f"{_bytes(hbm_bytes, 1)}; try {_advice(result, hbm_bytes)}")


def _advice(result, hbm_bytes):
  """What to change, from what takes the memory."""
  fixed = result.total_bytes - result.activation_bytes
  adam = "adam_m" in result.optimizer_slots
  tips = []
  if fixed >= hbm_bytes / 2:
    tips.append("splitting more of the model over a model axis (vocab, d_ff, "
                "emb_out, heads)" + (" or Adafactor's factored slots "
                                     "(make_optimizer.name = 'adafactor')"
                                     if adam else ""))
  # Activations scale with the examples each core holds.
  room = max(hbm_bytes - fixed, 0)
  fitting = (int(result.examples_per_core * room / result.activation_bytes)
             if result.activation_bytes else 0)
  if 1 <= fitting < result.examples_per_core:
    tips.append(f"at most {fitting} examples per core (now "
                f"{result.examples_per_core}): more cores on the batch axis "
                "or a smaller batch")
  if result.activation_dtype != "bfloat16":
    tips.append("RemBertConfig.activation_dtype = 'bfloat16' (halves "
                "activations and gradients)")
  return "; or ".join(tips) or (
      "a shorter sequence: even one example per core does not fit beside "
      "the variables")


def report(result, device, utilization):
  """The `rembert-mtf plan` figures as a dict (JSON-ready)."""
  seconds = result.step_seconds(device.peak_flops, utilization)
  b = result.batch_shape
  return {
      "mode": result.mode,
      "batch_size": b.batch_size,
      "sequence_length": b.sequence_length,
      "mlm_predictions": b.mlm_predictions,
      "mesh_shape": result.mesh_shape,
      "mesh_layout": result.layout,
      "cores": result.cores,
      "examples_per_core": result.examples_per_core,
      "parameters": result.parameters,
      "bytes_per_core": {
          "parameters": result.parameter_bytes,
          "gradients": result.gradient_bytes,
          "optimizer": result.optimizer_bytes,
          "activations": result.activation_bytes,
          "total": result.total_bytes,
      },
      "one_hot_bytes_per_core": result.one_hot_bytes,
      "optimizer_slots": result.optimizer_slots,
      "flops_per_step": {"model": result.flops.model,
                         "lookup": result.flops.lookup},
      "flops_per_core": {"model": result.flops.per_core,
                         "lookup": result.flops.lookup_per_core},
      "device": {"name": device.name, "core": device.core,
                 "peak_flops": device.peak_flops,
                 "hbm_bytes": device.hbm_bytes},
      "utilization": utilization,
      "step_seconds": seconds,
      "step_seconds_with_lookups": result.step_seconds(
          device.peak_flops, utilization, lookups=True),
      "tokens_per_second": b.batch_size * b.sequence_length / seconds
                           if seconds else None,
      "fits": result.total_bytes <= device.hbm_bytes,
      "verdict": verdict(result, device.hbm_bytes),
  }


def _print_report(figures):
  per_core, device = figures["bytes_per_core"], figures["device"]
  mlm = (f", {figures['mlm_predictions']} MLM predictions"
         if figures["mlm_predictions"] else "")
  print(f"{figures['mode']}: batch {figures['batch_size']} x "
        f"{figures['sequence_length']}{mlm}; {figures['parameters']:,} "
        "parameters")
  print(f"mesh {figures['mesh_shape']} ({figures['cores']} cores), layout "
        f"{figures['mesh_layout']}; {figures['examples_per_core']} examples "
        "per core")
  print(f"device {device['name']}: one core = {device['core']}; "
        f"{device['hbm_bytes'] / GIB:.1f} GiB HBM, "
        f"{device['peak_flops'] / 1e12:.1f} TFLOP/s peak")
  print("per core:")
  print(f"  parameters   {_bytes(per_core['parameters']):>11}")
  print(f"  gradients    {_bytes(per_core['gradients']):>11}")
  print(f"  optimizer    {_bytes(per_core['optimizer']):>11}  "
        f"({', '.join(figures['optimizer_slots']) or 'no slots'})")
  print(f"  activations  {_bytes(per_core['activations']):>11}  (estimate: the "
        "forward tensors the backward pass reads, one-hot tensors "
        f"{_bytes(figures['one_hot_bytes_per_core'])} of it; no "
        "rematerialization, fusion or allocator overhead)")
  print(f"  total        {_bytes(per_core['total']):>11}")
  flops, core_flops = figures["flops_per_step"], figures["flops_per_core"]
  print(f"FLOPs per step: {flops['model']:.3e} model + {flops['lookup']:.3e} "
        f"one-hot lookups; per core {core_flops['model']:.3e} + "
        f"{core_flops['lookup']:.3e}")
  print(f"step time at {100 * figures['utilization']:.0f}% of peak: "
        f"{figures['step_seconds']:.3g} s from model FLOPs "
        f"({figures['step_seconds_with_lookups']:.3g} s with the lookups as "
        f"matmuls); {figures['tokens_per_second']:,.0f} tokens/s")
  print(figures["verdict"])


# ----------------------------------------------------------------------------
# The README table
# ----------------------------------------------------------------------------

TABLE_RUNS = (("pre-training", mesh_graph.BatchShape(2048, 512, 76)),
              ("fine-tuning", mesh_graph.BatchShape(128, 512, 0)))
TABLE_CORES = (8, 32, 128, 512)
MODEL_AXIS = 4  # RemBERT's vocabulary divides by 4, not 8


def candidate_layouts(config, batch_shape, cores):
  """Data parallel over all cores, and data x 4-way model parallel.

  The model axis splits those of vocab, heads, d_ff that divide by 4.
  """
  sizes = config.dimension_sizes()
  model_rules = [f"{d}:model" for d in (modeling.VOCAB, modeling.HEADS,
                                        modeling.D_FF)
                 if sizes[d] % MODEL_AXIS == 0]
  candidates = [(f"batch:{cores}", "batch:batch")]
  if cores % MODEL_AXIS == 0:
    candidates.append((f"batch:{cores // MODEL_AXIS};model:{MODEL_AXIS}",
                       ";".join(["batch:batch"] + model_rules)))
  valid = []
  for shape, layout in candidates:
    try:
      check_layout(config, batch_shape, shape, layout)
    except partitioning.PartitioningError:
      continue
    valid.append((shape, layout))
  return valid


def _slice_name(device, cores):
  if device.name == "tpu-v4":  # named by TensorCores, 2 per (megacore) chip
    return f"v4-{2 * cores} ({cores} chips)"
  return f"v3-{cores} ({cores} cores)"


def table(config, utilization=0.5):
  """The README's Markdown table: RemBERT on v3 and v4 slices."""
  lines = []
  for mode, batch_shape in TABLE_RUNS:
    step = build_step(config, batch_shape)
    lines += ["", f"{mode}, batch {batch_shape.batch_size} x "
              f"{batch_shape.sequence_length}" +
              (f", {batch_shape.mlm_predictions} MLM predictions"
               if batch_shape.mlm_predictions else
               f", {NUM_CLASSES}-class head"), "",
              "| slice | mesh | layout | params | grads | optimizer | "
              "activations | total (GiB) | fits? | step at "
              f"{100 * utilization:.0f}% |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    smallest = {}
    for cores in TABLE_CORES:
      options = [plan(step, s, l) for s, l in
                 candidate_layouts(config, batch_shape, cores)]
      best = min(options, key=lambda p: p.total_bytes)
      for device in DEVICES.values():
        fits = best.total_bytes <= device.hbm_bytes
        if fits:
          smallest.setdefault(device.name, _slice_name(device, cores))
        lines.append(
            f"| {_slice_name(device, cores)} | {best.mesh_shape} | "
            f"{best.layout} | {best.parameter_bytes / GIB:.2f} | "
            f"{best.gradient_bytes / GIB:.2f} | "
            f"{best.optimizer_bytes / GIB:.2f} | "
            f"{best.activation_bytes / GIB:.2f} | "
            f"{best.total_bytes / GIB:.2f} | "
            f"{'yes' if fits else 'no'} "
            f"({100 * best.total_bytes / device.hbm_bytes:.0f}%) | "
            f"{best.step_seconds(device.peak_flops, utilization):.3g} s |")
    lines += ["", f"Smallest slice on which {mode} fits: " + "; ".join(
        f"{name}: {smallest.get(name, 'none of these')}" for name in DEVICES)
              + "."]
  return "\n".join(lines[1:])


# ----------------------------------------------------------------------------
# `rembert-mtf plan`
# ----------------------------------------------------------------------------


def add_arguments(parser, unused_command):
  parser.add_argument("--batch_size", type=int, default=2048,
                      help="examples per step, all cores (default 2048)")
  parser.add_argument("--sequence_length", type=int, default=512)
  parser.add_argument("--mlm_predictions", type=int, default=None,
                      help="masked positions per sequence (default: "
                      "floor(0.15 x sequence_length), the masking's cap)")
  parser.add_argument("--finetuning", action="store_true",
                      help="plan fine-tuning (encoder + a "
                      f"{NUM_CLASSES}-class head) instead of pre-training")
  parser.add_argument("--device", choices=sorted(DEVICES), default="tpu-v3",
                      help="peak FLOP/s and HBM per mesh core (tpu-v4: one "
                      "core = one megacore chip)")
  parser.add_argument("--peak_flops", type=float, default=None,
                      help="peak FLOP/s per core (overrides --device)")
  parser.add_argument("--hbm_bytes", type=float, default=None,
                      help="memory per core in bytes (overrides --device)")
  parser.add_argument("--utilization", type=float, default=0.5,
                      help="fraction of peak sustained (default 0.5)")
  parser.add_argument("--json", action="store_true",
                      help="print the figures as JSON")
  parser.add_argument("--table", action="store_true",
                      help="print the README's Markdown table for the gin "
                      "model (v3/v4 slices of 8-512 cores) and exit")


def _device(args):
  device = DEVICES[args.device]
  return dataclasses.replace(
      device,
      peak_flops=args.peak_flops or device.peak_flops,
      hbm_bytes=args.hbm_bytes or device.hbm_bytes)


def _batch_shape(args):
  for flag in ("batch_size", "sequence_length"):
    if getattr(args, flag) <= 0:
      raise errors.UserError(f"--{flag} must be positive, got "
                             f"{getattr(args, flag)}.")
  if not 0 < args.utilization <= 1:
    raise errors.UserError(f"--utilization must be in (0, 1], got "
                           f"{args.utilization}.")
  predictions = 0
  if not args.finetuning:
    predictions = (args.mlm_predictions if args.mlm_predictions is not None
                   else default_mlm_predictions(args.sequence_length))
    if predictions <= 0:
      raise ValueError(f"--mlm_predictions must be positive, got "
                             f"{predictions}.")
  return mesh_graph.BatchShape(args.batch_size, args.sequence_length,
                                     predictions)


def main(args):
  """Prints memory, FLOPs and step time per core, and whether it fits."""
  from rembert_mtf.cli import main as cli  # pylint: disable=g-import-not-at-top
  cli.load_gin(args)
  config = modeling.RemBertConfig()
  if args.table:
    print(table(config, args.utilization))
    return
  shape, layout = cli.mesh_from(args)
  device, batch_shape = _device(args), _batch_shape(args)
  check_layout(config, batch_shape, shape, layout)  # before the graph
  result = plan(build_step(config, batch_shape), shape, layout)
  figures = report(result, device, args.utilization)
  if args.json:
    print(json.dumps(figures, indent=2))
  else:
    _print_report(figures)
