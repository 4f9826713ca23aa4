"""The pod-scale planner: a step's memory, FLOPs and time per core, reported.

`rembert-mtf plan` says whether a run fits and how long a step takes before
any TPU is reserved: `plan` counts a step's graph (step_graph.build_step)
on a mesh layout (what is counted: planning/costs.py), `report` adds the
device (planning/devices.py) and the step time, `format_report` words it,
and `table` is the README's Markdown table of RemBERT on v3 and v4 slices.
"""

from rembert_mtf import compat
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning
from rembert_mtf.planning import costs
from rembert_mtf.planning import devices
from rembert_mtf.planning import step_graph

mtf = compat.mtf


def _dimension_sizes(config, batch_shape, num_classes):
  return {**config.dimension_sizes(), **batch_shape.dimension_sizes(),
          modeling.CLASSES: num_classes}


def check_layout(config, batch_shape, mesh_shape="", layout="",
                 num_classes=step_graph.NUM_CLASSES):
  """partitioning's checks, before any graph: one-line PartitioningError.

  Returns:
    (mtf.Shape, mtf.LayoutRules)
  """
  shape = partitioning.parse_mesh_shape(mesh_shape)
  rules = partitioning.parse_layout(layout)
  partitioning.check_partitioning(
      shape, rules, _dimension_sizes(config, batch_shape, num_classes))
  return shape, rules


def plan(step, mesh_shape="", layout=""):
  """Memory and FLOPs per core of `step` (a StepGraph) on a mesh.

  Raises:
    partitioning.PartitioningError: a layout that does not divide or puts
      two dimensions of one tensor on one mesh axis.
  Returns:
    costs.Plan.
  """
  shape, rules = check_layout(step.config, step.batch_shape, mesh_shape,
                              layout, step.num_classes)
  partitioning.check_tensor_layouts(step.graph, shape, rules)
  impl = mtf.placement_mesh_impl.PlacementMeshImpl(shape, rules,
                                                   [""] * shape.size)
  activations, one_hot = costs.activation_bytes(step, impl)
  batch = mtf.Dimension(modeling.BATCH, step.batch_shape.batch_size)
  return costs.Plan(
      mode="pre-training" if step.batch_shape.mlm_predictions else
      "fine-tuning",
      activation_dtype=step.config.activation_dtype,
      batch_shape=step.batch_shape,
      mesh_shape=partitioning.mesh_shape_string(shape),
      layout=layout or "(none)",
      cores=shape.size,
      examples_per_core=batch.size // costs.split_factor([batch], shape,
                                                         rules),
      parameters=sum(v.shape.size for v in step.parameters),
      parameter_bytes=costs.variable_bytes(step.parameters, shape, rules,
                                           lambda v: v.slice_dtype),
      gradient_bytes=costs.variable_bytes(step.parameters, shape, rules,
                                          lambda v: v.activation_dtype),
      optimizer_bytes=costs.variable_bytes(step.slots, shape, rules,
                                           lambda v: v.slice_dtype),
      optimizer_slots=costs.slot_kinds(step),
      activation_bytes=activations,
      one_hot_bytes=one_hot,
      flops=costs.count_flops(step.operations, shape, rules))


def step_flops(config, batch_shape, mesh_shape="", layout="", training=True,
               optimizer=None, schedule=None):
  """FLOPs of one step (forward, + backward and update when `training`).

  For benchmarks: the same count `rembert-mtf plan` prints. optimizer and
  schedule as step_graph.build_step takes them.
  Returns:
    costs.Flops.
  """
  shape, rules = check_layout(config, batch_shape, mesh_shape, layout)
  step = step_graph.build_step(config, batch_shape, optimizer, schedule,
                               training=training)
  return costs.count_flops(step.operations, shape, rules)


# ----------------------------------------------------------------------------
# The report of one plan
# ----------------------------------------------------------------------------


def report(result, device, utilization):
  """The `rembert-mtf plan` figures as a dict (JSON-ready).

  Args:
    result: costs.Plan; device: devices.Device; utilization: the fraction
      of the peak FLOP/s sustained, in (0, 1].
  """
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
      "verdict": costs.verdict(result, device.hbm_bytes),
  }


def format_report(figures):
  """The figures of `report` as the lines `rembert-mtf plan` prints."""
  per_core, device = figures["bytes_per_core"], figures["device"]
  size = costs.format_bytes
  mlm = (f", {figures['mlm_predictions']} MLM predictions"
         if figures["mlm_predictions"] else "")
  flops, core_flops = figures["flops_per_step"], figures["flops_per_core"]
  return "\n".join([
      f"{figures['mode']}: batch {figures['batch_size']} x "
      f"{figures['sequence_length']}{mlm}; {figures['parameters']:,} "
      "parameters",
      f"mesh {figures['mesh_shape']} ({figures['cores']} cores), layout "
      f"{figures['mesh_layout']}; {figures['examples_per_core']} examples "
      "per core",
      f"device {device['name']}: one core = {device['core']}; "
      f"{device['hbm_bytes'] / devices.GIB:.1f} GiB HBM, "
      f"{device['peak_flops'] / 1e12:.1f} TFLOP/s peak",
      "per core:",
      f"  parameters   {size(per_core['parameters']):>11}",
      f"  gradients    {size(per_core['gradients']):>11}",
      f"  optimizer    {size(per_core['optimizer']):>11}  "
      f"({', '.join(figures['optimizer_slots']) or 'no slots'})",
      f"  activations  {size(per_core['activations']):>11}  (estimate: the "
      "forward tensors the backward pass reads, one-hot tensors "
      f"{size(figures['one_hot_bytes_per_core'])} of it; no "
      "rematerialization, fusion or allocator overhead)",
      f"  total        {size(per_core['total']):>11}",
      f"FLOPs per step: {flops['model']:.3e} model + {flops['lookup']:.3e} "
      f"one-hot lookups; per core {core_flops['model']:.3e} + "
      f"{core_flops['lookup']:.3e}",
      f"step time at {100 * figures['utilization']:.0f}% of peak: "
      f"{figures['step_seconds']:.3g} s from model FLOPs "
      f"({figures['step_seconds_with_lookups']:.3g} s with the lookups as "
      f"matmuls); {figures['tokens_per_second']:,.0f} tokens/s",
      figures["verdict"],
  ])


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
  Returns:
    [(mesh shape, layout)] of the candidates that pass check_layout.
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


def _table_row(best, device, utilization):
  fits = best.total_bytes <= device.hbm_bytes
  gib = [x / devices.GIB for x in (
      best.parameter_bytes, best.gradient_bytes, best.optimizer_bytes,
      best.activation_bytes, best.total_bytes)]
  return (f"| {devices.slice_name(device, best.cores)} | {best.mesh_shape} "
          f"| {best.layout} | " + " | ".join(f"{x:.2f}" for x in gib) +
          f" | {'yes' if fits else 'no'} "
          f"({100 * best.total_bytes / device.hbm_bytes:.0f}%) | "
          f"{best.step_seconds(device.peak_flops, utilization):.3g} s |")


def table(config, utilization=0.5, optimizer=None, schedule=None):
  """The README's Markdown table: RemBERT on v3 and v4 slices.

  Args:
    config: modeling.RemBertConfig; utilization as `report` takes it;
      optimizer, schedule as step_graph.build_step takes them.
  Returns:
    the Markdown text.
  """
  lines = []
  for mode, batch_shape in TABLE_RUNS:
    step = step_graph.build_step(config, batch_shape, optimizer, schedule)
    lines += ["", f"{mode}, batch {batch_shape.batch_size} x "
              f"{batch_shape.sequence_length}" +
              (f", {batch_shape.mlm_predictions} MLM predictions"
               if batch_shape.mlm_predictions else
               f", {step_graph.NUM_CLASSES}-class head"), "",
              "| slice | mesh | layout | params | grads | optimizer | "
              "activations | total (GiB) | fits? | step at "
              f"{100 * utilization:.0f}% |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    smallest = {}
    for cores in TABLE_CORES:
      options = [plan(step, s, l) for s, l in
                 candidate_layouts(config, batch_shape, cores)]
      best = min(options, key=lambda p: p.total_bytes)
      for device in devices.DEVICES.values():
        if best.total_bytes <= device.hbm_bytes:
          smallest.setdefault(device.name, devices.slice_name(device, cores))
        lines.append(_table_row(best, device, utilization))
    lines += ["", f"Smallest slice on which {mode} fits: " + "; ".join(
        f"{name}: {smallest.get(name, 'none of these')}"
        for name in devices.DEVICES) + "."]
  return "\n".join(lines[1:])
