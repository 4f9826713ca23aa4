"""One forward (and backward) pass of the model lowered on a mesh, in a session.

The training loop (training/) runs the model through an Estimator; this
module is the small, synchronous counterpart used to inspect a model: read
hidden states, pooled outputs, the logits and loss of any head (MLM or a
task head, built by model/heads.py as the trainer builds it) and gradients
on a chosen mesh, and get or set the weights by their variable names.
Parity tests, parameter accounting, checkpoint import/export and `embed`
build on it.
"""

import dataclasses

import numpy as np

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import heads
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning

mtf = compat.mtf
tf = compat.tf

SEQUENCE_FEATURES = heads.ENCODER_FEATURES
MLM_FEATURES = tuple(heads.HEADS["mlm"].features)


@dataclasses.dataclass(frozen=True)
class BatchShape:
  batch_size: int
  sequence_length: int
  mlm_predictions: int = 0  # 0: no MLM head in the graph

  def dimension_sizes(self):
    return {modeling.BATCH: self.batch_size,
            modeling.LENGTH: self.sequence_length,
            modeling.MEMORY_LENGTH: self.sequence_length,
            modeling.MLM_PREDICTIONS: self.mlm_predictions}


def build_model(features, config, is_training, mlm=True, head=None,
                num_classes=None):
  """The mtf graph of the encoder and one head: a dict of named outputs.

  The head is built by model/heads.py's Head.build, as the trainer builds it.

  Args:
    features: dict of mtf tensors: SEQUENCE_FEATURES and the head's features.
    mlm: with head None: build the MLM head (True) or no head.
    head: a heads.HEADS name; None: "mlm" if `mlm`, else no head (the
      encoder and pooler only).
    num_classes: classes of the classification and token heads.
  Returns:
    {"sequence_output", "pooled_output"} without a head; with one, "loss",
    the head's predictions and metrics, and its logits: "mlm_logits" (mlm,
    [batch, mlm_predictions, vocab]) or "logits" ([batch, classes],
    [batch, length, classes], or for span [batch, length, span_ends], before
    the padding mask).
  """
  head = head or ("mlm" if mlm else None)
  sequence_output, bias = modeling.encode(features, config, is_training)
  outputs = {"sequence_output": sequence_output}
  if head is None:
    outputs["pooled_output"] = modeling.pooled_output(sequence_output, config)
    return outputs
  head = heads.HEADS[head]
  built = head.build(features, sequence_output, bias, config, num_classes,
                     is_training)
  outputs.update(built.predictions, **built.metrics, loss=built.loss)
  outputs["mlm_logits" if head.name == "mlm" else "logits"] = mtf.cast(
      built.logits, tf.float32)
  return outputs


class MeshGraph:
  """A model lowered on a placement mesh of virtual CPU devices.

  Args:
    config: modeling.RemBertConfig.
    batch_shape: BatchShape of the features fed to run / train_step.
    mesh_shape, layout: Mesh TF strings ("" for one device).
    num_devices: virtual CPU devices (default: the mesh's size).
    with_gradients: also fetch every variable's gradient ("grad/<name>").
    update_fn: update_fn(loss, mtf_graph, global_step) -> (mtf assignment
      ops, gradient norm) to build a training step (train_step), e.g.
      training.optimizers.step_update_fn(optimizer, schedule); None: a
      forward graph.
    head: the heads.HEADS head to build ("mlm", "classification", "token",
      "span"), fed its features and fetching its logits and loss (see
      build_model); None: "mlm" if batch_shape.mlm_predictions, else the
      encoder and pooler only.
    num_classes: classes of the classification and token heads.

  Attributes:
    head: the heads.Head built (None: encoder and pooler only).
    variable_names: names of the model's variables, in creation order.
    variable_shapes: {name: tuple shape}.
  """

  def __init__(self, config, batch_shape, mesh_shape="", layout="",
               num_devices=None, with_gradients=False, update_fn=None,
               head=None, num_classes=None):
    if head is None and batch_shape.mlm_predictions > 0:
      head = "mlm"
    if head == "mlm" and batch_shape.mlm_predictions <= 0:
      raise ValueError("the mlm head needs BatchShape.mlm_predictions > 0.")
    if head in ("classification", "token") and not num_classes:
      raise ValueError(f"the {head} head needs num_classes.")
    self.head = heads.get_head(head) if head else None
    self._num_classes = num_classes
    mesh_shape = partitioning.parse_mesh_shape(mesh_shape)
    layout_rules = partitioning.parse_layout(layout)
    num_devices = num_devices or mesh_shape.size
    partitioning.check_partitioning(
        mesh_shape, layout_rules,
        {**config.dimension_sizes(), **batch_shape.dimension_sizes(),
         modeling.CLASSES: num_classes},
        num_devices=num_devices)
    self.config = config
    self.batch_shape = batch_shape
    self._num_devices = num_devices
    self.graph = tf.Graph()
    with self.graph.as_default():
      self._build(mesh_shape, layout_rules, with_gradients, update_fn)

  def _build(self, mesh_shape, layout_rules, with_gradients, update_fn):
    trainable = update_fn is not None
    names = SEQUENCE_FEATURES + tuple(self.head.features if self.head else ())
    shapes = {n: self._feature_shape(n) for n in names}
    self._placeholders = {n: tf.placeholder(
        tf.float32 if n == "masked_lm_weights" else tf.int32,
        shapes[n].to_integer_list, name=n) for n in names}
    mtf_graph = mtf.Graph()
    mesh = mtf.Mesh(mtf_graph, "mesh")
    features = {n: mtf.import_tf_tensor(mesh, t, shapes[n])
                for n, t in self._placeholders.items()}
    outputs = build_model(features, self.config, is_training=False,
                          head=self.head.name if self.head else None,
                          mlm=False, num_classes=self._num_classes)
    variables = mtf_graph.trainable_variables
    if with_gradients:
      grads = mtf.gradients([outputs["loss"]],
                            [v.outputs[0] for v in variables])
      outputs.update({"grad/" + v.name: g for v, g in zip(variables, grads)})
    if trainable:
      global_step = tf.train.get_or_create_global_step()
      updates, outputs["gradient_norm"] = update_fn(
          outputs["loss"], mtf_graph, global_step)
    partitioning.check_tensor_layouts(mtf_graph, mesh_shape, layout_rules)
    # Names and shapes before lowering: Lowering stacks same-shaped variables.
    self.variable_names = [v.name for v in mtf_graph.all_variables]
    self.variable_shapes = {v.name: tuple(v.shape.to_integer_list)
                            for v in mtf_graph.all_variables}
    impl = partitioning.placement_mesh_impl(
        mesh_shape, layout_rules,
        partitioning.cpu_devices(self._num_devices))
    lowering = partitioning.lower(mtf_graph, mesh, impl)
    self._fetches = {k: lowering.export_to_tf_tensor(v)
                     for k, v in outputs.items()}
    if trainable:
      with tf.control_dependencies(
          [lowering.lowered_operation(op) for op in updates]):
        self._train_op = tf.assign_add(global_step, 1)  # after: see trainer
    # The full-shape "master" tf.Variables, one per model variable: what
    # checkpoints hold; the per-device slices are copied from and to them.
    self._masters = {v.op.name: v for v in tf.global_variables()
                     if v.op.name in self.variable_shapes}
    self._to_slices = lowering.copy_masters_to_slices()
    self._to_masters = lowering.copy_slices_to_masters()
    self._placeholders_for_load = {
        name: tf.placeholder(master.dtype, master.shape)
        for name, master in self._masters.items()}
    self._loads = {name: self._masters[name].assign(p)
                   for name, p in self._placeholders_for_load.items()}
    init = tf.global_variables_initializer()
    self.session = tf.Session(
        graph=self.graph,
        config=partitioning.cpu_session_config(max(self._num_devices, 1),
                                               optimize_graph=trainable))
    self.session.run(init)
    self.session.run(self._to_slices)

  def _feature_shape(self, name):
    """The mtf shape of feature `name`, as the trainer gives it."""
    b = self.batch_shape
    # Any head gives the encoder's features their [batch, length].
    head = self.head or heads.HEADS["mlm"]
    return mtf.Shape(list(heads.feature_dims(
        name, head, b.batch_size, b.sequence_length, b.mlm_predictions)))

  def set_weights(self, weights):
    """Assigns {variable name: numpy array}; names must exist, shapes match."""
    unknown = sorted(set(weights) - set(self._masters))
    if unknown:
      raise errors.MissingKeyError(
          f"no variable named {unknown[0]} in this model "
          f"({len(unknown)} unknown names).")
    feed = {}
    for name, value in weights.items():
      if tuple(value.shape) != self.variable_shapes[name]:
        raise errors.UserError(
            f"variable {name} has shape {self.variable_shapes[name]}, got "
            f"{value.shape}.")
      feed[self._placeholders_for_load[name]] = value
    self.session.run([self._loads[name] for name in weights], feed)
    self.session.run(self._to_slices)

  def get_weights(self):
    """{variable name: numpy array} of every variable."""
    self.session.run(self._to_masters)
    return self.session.run(self._masters)

  def run(self, features, outputs=None):
    """Runs the graph on a batch of numpy features.

    Args:
      features: {feature name: numpy array} matching the batch shape.
      outputs: names to fetch (default: all but gradients).
    Returns:
      {output name: numpy array}.
    """
    outputs = outputs or [k for k in self._fetches if not k.startswith("grad/")]
    feed = {self._placeholders[n]: np.asarray(features[n])
            for n in self._placeholders}
    return self.session.run({k: self._fetches[k] for k in outputs}, feed)

  def train_step(self, features, options=None, run_metadata=None):
    """One optimizer step (graph built with an update_fn); returns outputs.

    Args:
      options, run_metadata: tf.RunOptions / tf.RunMetadata, for profiling.
    """
    feed = {self._placeholders[n]: np.asarray(features[n])
            for n in self._placeholders}
    fetches = {k: v for k, v in self._fetches.items()
               if not k.startswith("grad/")}
    return self.session.run([fetches, self._train_op], feed, options=options,
                            run_metadata=run_metadata)[0]

  def gradient_names(self):
    return [k for k in self._fetches if k.startswith("grad/")]

  def close(self):
    self.session.close()
