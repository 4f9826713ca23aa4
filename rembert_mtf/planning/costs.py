"""What one core holds and computes in one step, and whether that fits.

Read off a step's mtf graph (planning/step_graph.py) on a mesh layout:
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
The step time is the model FLOPs per core over a sustained fraction of the
device's peak; the verdict compares the bytes with its HBM.
"""

import dataclasses
import math

from rembert_mtf import compat
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import partitioning
from rembert_mtf.planning import devices

mtf = compat.mtf


@dataclasses.dataclass(frozen=True)
class Flops:
  """FLOPs of one step: all cores together, and on one core."""
  model: int
  lookup: int  # one-hot embedding lookups done as matmuls
  per_core: int  # model FLOPs on one core
  lookup_per_core: int


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


# ----------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------


def split_factor(dims, shape, rules):
  """How many ways the mesh splits work over `dims`: each axis counts once."""
  axes = {rules.tensor_dimension_to_mesh_axis(d, shape) for d in dims}
  return math.prod(shape.dims[a].size for a in axes if a is not None)


def count_flops(operations, mesh_shape, layout_rules):
  """FLOPs of the einsums among `operations` (see the module docstring).

  Args:
    operations: mtf Operations (e.g. step_graph.live_operations(...)).
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
    per_core = flops // split_factor(dims, mesh_shape, layout_rules)
    if any(isinstance(x.operation, mtf.OneHotOperation) for x in op.inputs):
      totals["lookup"] += flops
      totals["lookup_per_core"] += per_core
    else:
      totals["model"] += flops
      totals["per_core"] += per_core
  return Flops(**totals)


# ----------------------------------------------------------------------------
# Bytes
# ----------------------------------------------------------------------------


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

  Args:
    step: step_graph.StepGraph.
    impl: a mesh implementation of the layout (its slice_size).
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


def variable_bytes(variables, shape, rules, dtype_of):
  """Per-core bytes of mtf.Variables, each in the dtype dtype_of(v) gives."""
  return sum(partitioning.bytes_per_device(shape, rules, v.shape,
                                           dtype_of(v).size)
             for v in variables)


def slot_kinds(step):
  """What the optimizer keeps, read from its variables' names ('adam_m')."""
  parameter_names = sorted((v.name for v in step.parameters), key=len,
                           reverse=True)
  kinds = set()
  for slot in step.slots:
    owner = next((n for n in parameter_names if slot.name.startswith(n)), "")
    kinds.add(slot.name[len(owner):].lstrip("/_"))
  return sorted(kinds)


# ----------------------------------------------------------------------------
# The verdict
# ----------------------------------------------------------------------------


def format_bytes(n, digits=2):
  """'1.23 GiB', or MiB / KiB below that."""
  for unit, size in (("GiB", devices.GIB), ("MiB", 2.0 ** 20),
                     ("KiB", 1024.0)):
    if n >= size or unit == "KiB":
      return f"{n / size:.{digits}f} {unit}"


def verdict(result, hbm_bytes):
  """'fits in X GiB (Y% used)' or 'does NOT fit: ...; try ...'.

  Args:
    result: Plan; hbm_bytes: memory of one core.
  """
  if result.total_bytes <= hbm_bytes:
    return (f"fits in {format_bytes(hbm_bytes, 1)} "
            f"({100 * result.total_bytes / hbm_bytes:.0f}% used)")
  return (f"does NOT fit: needs {format_bytes(result.total_bytes, 1)}, has "
          f"{format_bytes(hbm_bytes, 1)}; try {_advice(result, hbm_bytes)}")


def _advice(result, hbm_bytes):
  """What to change, from what takes the memory."""
  fixed = result.total_bytes - result.activation_bytes
  adam = "adam_m" in result.optimizer_slots
  tips = []
  if fixed >= hbm_bytes / 2:
    tips.append("splitting more of the model over a model axis (vocab, d_ff, "
                "emb_out, heads)" + (" or Adafactor's factored slots "
                                     "(optimizer.name = 'adafactor')"
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
