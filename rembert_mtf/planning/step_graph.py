"""The symbolic mtf graph of one training step, as the trainer builds it.

Encoder + head + mtf.gradients + the optimizer's updates
(training.optimizers.update_ops), on zero features shaped as the trainer
feeds them. An mtf graph holds only shapes: full RemBERT at batch 2048 x 512
costs seconds and no memory, and nothing is lowered. The planner reads its
figures off this graph (planning/costs.py), never from a formula.

The optimizer and schedule arrive as training.config.OptimizerConfig and
ScheduleConfig (the CLI builds them from gin); nothing here reads gin.
"""

import dataclasses

from rembert_mtf import compat
from rembert_mtf.model import heads
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers

mtf = compat.mtf
tf = compat.tf

# Fine-tuning plans use a sequence-classification head (XNLI's 3 classes).
NUM_CLASSES = 3


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


def recipe_configs():
  """(OptimizerConfig, ScheduleConfig) of the paper's recipe, not of gin.

  Every field is passed explicitly, so bindings parsed in this process do
  not fill them (as model_dir.make_config does for the model). The
  schedule's total steps are the default trainer.train_steps, as
  Run.resolved would make them; no figure of the planner depends on them.
  """
  def defaults(cls, **fields):
    values = {f.name: f.default for f in dataclasses.fields(cls)}
    return cls(**{**values, **fields})

  train_steps = defaults(config_lib.TrainerConfig).train_steps
  return (defaults(config_lib.OptimizerConfig),
          defaults(config_lib.ScheduleConfig, total_steps=train_steps))


def default_mlm_predictions(sequence_length):
  """The masking's cap on predictions per sequence: floor(0.15 x length).

  This is what the data asks for (76 at 512); trainer.mlm_predictions
  defaults to 20 whatever the length, which suits 128 only.
  """
  # Imported here: preprocessors pulls in seqio, which the graph does not
  # need (the CLI has imported it anyway).
  from rembert_mtf.data import preprocessors  # pylint: disable=g-import-not-at-top
  return preprocessors.default_max_predictions(sequence_length)


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


def build_step(config, batch_shape, optimizer=None, schedule=None,
               training=True, num_classes=NUM_CLASSES):
  """Builds (symbolically) the mtf graph of one step, as the trainer does.

  Args:
    config: modeling.RemBertConfig.
    batch_shape: mesh_graph.BatchShape; mlm_predictions > 0 gives the
      pre-training graph (MLM head), 0 the fine-tuning one (encoder +
      sequence classification head with `num_classes`).
    optimizer, schedule: training.config.OptimizerConfig and ScheduleConfig
      (total_steps resolved) of the updates; None: recipe_configs().
    training: add gradients and the optimizer's updates; False: the
      forward pass only.
  Returns:
    StepGraph.
  """
  recipe_optimizer, recipe_schedule = recipe_configs()
  optimizer = optimizer or recipe_optimizer
  schedule = schedule or recipe_schedule
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
      learning_rate = optimizers.learning_rate(
          tf.train.get_or_create_global_step(), schedule)
      updates, norm = optimizers.update_ops(loss, graph, learning_rate,
                                            optimizer)
      roots += [*updates, norm]
  slots = [v for v in graph.all_variables if v not in before]
  operations = live_operations(roots)
  index = {op: i for i, op in enumerate(graph.operations)}
  forward = frozenset(op for op in operations if index[op] < num_forward)
  return StepGraph(config, batch_shape, num_classes, graph, operations,
                   forward, parameters, slots)
