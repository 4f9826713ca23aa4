"""Meshes and layouts, kept apart from the model.

A mesh shape names the axes of the device grid ("batch:2;model:4"); layout
rules say which of the model's named tensor dimensions is split over which
mesh axis ("batch:batch;vocab:model;heads:model;d_ff:model"). Both use Mesh
TF's string syntax and are bound in gin (gin/layouts/) or given on the
command line (--mesh_shape, --mesh_layout).

`check_partitioning` runs before any graph is built: each problem becomes a
one-line `PartitioningError` that names the binding to change and the
numbers involved.
"""

import gin

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import modeling

mtf = compat.mtf
tf = compat.tf

SHAPE_BINDING = "mesh_shape (--mesh_shape or `partitioning.mesh.shape`)"
LAYOUT_BINDING = "mesh_layout (--mesh_layout or `partitioning.mesh.layout`)"


class PartitioningError(errors.UserError):
  """A mesh shape or layout that cannot work for this model."""


@gin.configurable("partitioning.mesh")
def mesh_spec(shape="", layout="", num_devices=None):
  """The bound mesh: (shape string, layout string, device count or None)."""
  return shape, layout, num_devices


def parse_mesh_shape(spec):
  """'batch:2;model:4' -> mtf.Shape; '' -> the 1-device mesh (no axes).

  Raises:
    PartitioningError: unparsable, or an axis of fewer than 1 core.
  """
  try:
    shape = mtf.convert_to_shape(spec or [])
  except (ValueError, IndexError) as e:
    raise PartitioningError(
        f"cannot parse {SHAPE_BINDING} {spec!r}: write it as "
        "'axis:size;axis:size', e.g. 'batch:2;model:4'") from e
  for axis in shape.dims:
    # mtf accepts any integer; a size of 0 fails much later, in a traceback.
    if axis.size < 1:
      raise PartitioningError(
          f"{SHAPE_BINDING} {spec!r}: mesh axis {axis.name!r} has size "
          f"{axis.size}; every axis needs at least 1 core.")
  return shape


def parse_layout(spec):
  """'vocab:model;heads:model' -> mtf.LayoutRules."""
  try:
    return mtf.convert_to_layout_rules(spec or [])
  except (ValueError, IndexError) as e:
    raise PartitioningError(
        f"cannot parse {LAYOUT_BINDING} {spec!r}: write it as "
        "'tensor_dim:mesh_axis;...', e.g. 'batch:batch;vocab:model'") from e


def check_partitioning(mesh_shape, layout_rules, dimension_sizes,
                       num_devices=None):
  """Checks a mesh and layout against the model's dimension sizes.

  Args:
    mesh_shape: mtf.Shape of the device grid.
    layout_rules: mtf.LayoutRules.
    dimension_sizes: {tensor dimension name: size} of the graph to build
      (the model's own sizes plus batch, length, ...).
    num_devices: devices available, or None to skip that check.
  Raises:
    PartitioningError: one line naming the binding and the numbers.
  """
  if num_devices is not None and mesh_shape.size != num_devices:
    raise PartitioningError(
        f"{SHAPE_BINDING} '{mesh_shape_string(mesh_shape)}' has "
        f"{mesh_shape.size} cores but {num_devices} devices are available; "
        f"make the mesh size {num_devices} or change the device count "
        "(--num_devices, or the TPU topology).")
  axes = {d.name: d.size for d in mesh_shape.dims}
  used = {}
  # LayoutRules keeps its (tensor dim, mesh axis) pairs private; no accessor.
  for tensor_dim, mesh_axis in layout_rules._pairs:  # pylint: disable=protected-access
    if tensor_dim not in modeling.DIMENSION_NAMES:
      raise PartitioningError(
          f"{LAYOUT_BINDING} names unknown tensor dimension {tensor_dim!r}; "
          f"known: {', '.join(modeling.DIMENSION_NAMES)}.")
    if mesh_axis not in axes:
      raise PartitioningError(
          f"{LAYOUT_BINDING} splits {tensor_dim!r} over mesh axis "
          f"{mesh_axis!r}, which {SHAPE_BINDING} "
          f"'{mesh_shape_string(mesh_shape)}' does not have.")
    if tensor_dim in used:
      raise PartitioningError(
          f"{LAYOUT_BINDING} splits {tensor_dim!r} twice (over "
          f"{used[tensor_dim]!r} and {mesh_axis!r}); keep one rule.")
    used[tensor_dim] = mesh_axis
    size = dimension_sizes.get(tensor_dim)
    if size is not None and size % axes[mesh_axis]:
      raise PartitioningError(
          f"{tensor_dim} = {size} is not divisible by mesh axis "
          f"{mesh_axis} = {axes[mesh_axis]} ({LAYOUT_BINDING} "
          f"'{tensor_dim}:{mesh_axis}'); change the model size, the mesh "
          "axis, or leave that dimension unsplit.")


def mesh_shape_string(mesh_shape):
  return ";".join(f"{d.name}:{d.size}" for d in mesh_shape.dims) or "(1 core)"


def cpu_devices(num_devices):
  """Names of the virtual CPU devices of this process."""
  return [f"/job:localhost/replica:0/task:0/device:CPU:{i}"
          for i in range(num_devices)]


def cpu_session_config(num_devices, optimize_graph=True):
  """A session config that gives this process `num_devices` virtual CPUs.

  Args:
    optimize_graph: False turns grappler off: for one-off graphs (analysis,
      interop) its several seconds of rewriting cost more than they save.
  """
  config = tf.ConfigProto(device_count={"CPU": num_devices},
                          allow_soft_placement=False)
  if not optimize_graph:
    config.graph_options.rewrite_options.disable_meta_optimizer = True
  return config


def placement_mesh_impl(mesh_shape, layout_rules, devices):
  """The placement mesh: each slice of a tensor on its own device."""
  if not devices:
    raise PartitioningError("no devices to place the mesh on.")
  if mesh_shape.size == 1:
    devices = devices[:1]
  return mtf.placement_mesh_impl.PlacementMeshImpl(
      mesh_shape, layout_rules, devices)


def lower(mtf_graph, mesh, impl):
  """mtf.Lowering of `mesh` on `impl`.

  On one device the variables are not stacked: mtf gives a stacked variable
  a slice variable of its own beside the master, which doubles the memory
  of the variables and Adam slots (the full RemBERT's step did not fit in
  24 GB that way); unstacked, each master is its own slice. Operations
  that name variables directly (the fused Adam update) need them unstacked
  on any mesh.
  """
  unstacked = any(getattr(op, "reads_variables_directly", False)
                  for op in mtf_graph.operations)  # optimizers.FusedAdamUpdate
  return mtf.Lowering(mtf_graph, {mesh: impl},
                      autostack=impl.size > 1 and not unstacked)


def bytes_per_device(mesh_shape, layout_rules, shape, bytes_per_element=4):
  """Bytes one device holds of a tensor `shape` (an mtf.Shape) on this mesh."""
  impl = mtf.placement_mesh_impl.PlacementMeshImpl(
      mesh_shape, layout_rules, [""] * mesh_shape.size)
  return impl.slice_size(shape) * bytes_per_element


def check_tensor_layouts(mtf_graph, mesh_shape, layout_rules):
  """Checks every tensor of a built (not yet lowered) mtf graph.

  Two dimensions of one tensor split over the same mesh axis (vocab and
  emb_out over 'model', say) cannot be laid out; mtf finds it deep inside
  lowering, this names it first.
  """
  for op in mtf_graph.operations:
    for tensor in op.outputs:
      axes = {}
      for dim in tensor.shape.dims:
        axis = layout_rules.tensor_dimension_to_mesh_axis(dim, mesh_shape)
        if axis is None:
          continue
        if axis in axes:
          raise PartitioningError(
              f"{LAYOUT_BINDING} splits both {axes[axis]!r} and {dim.name!r} "
              f"over mesh axis {mesh_shape.dims[axis].name!r}, but tensor "
              f"{tensor.name} has both ({tensor.shape}); split one of them "
              "over another axis or not at all.")
        axes[axis] = dim.name
