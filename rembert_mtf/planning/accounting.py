"""Parameter accounting from the built graph: sizes, and bytes per device.

Counts come from the variables an mtf graph actually creates (symbolically:
nothing is allocated), never from a formula:
  pre-training  = the encoder + MLM head (+ extra output layers); the pooler
                  is not in it (RemBERT pre-trains with MLM only, no NSP);
  fine-tuning   = the encoder alone: output embedding, MLM head, extra
                  layers, pooler and task heads excluded, as in the paper.
"""

import dataclasses

from rembert_mtf import compat
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning

mtf = compat.mtf
tf = compat.tf

# Adam keeps two float32 slots (m, v) the shape of each variable.
ADAM_SLOTS = 2


@dataclasses.dataclass
class Account:
  """Parameters of one graph and what one device holds of them."""
  variables: dict  # name -> mtf.Shape
  bytes_per_device: int  # float32 variables on the most loaded device

  @property
  def parameters(self):
    return sum(shape.size for shape in self.variables.values())


def _graph_variables(config, mlm):
  """{name: mtf.Shape} of the variables the model creates (symbolically)."""
  batch = mesh_graph.BatchShape(1, 2, 1 if mlm else 0)
  with tf.Graph().as_default():
    mesh = mtf.Mesh(mtf.Graph(), "mesh")
    features = {
        name: mtf.zeros(mesh, mtf.Shape(
            [mtf.Dimension(modeling.BATCH, 1),
             mtf.Dimension(modeling.MLM_PREDICTIONS if name in
                           mesh_graph.MLM_FEATURES else modeling.LENGTH,
                           batch.mlm_predictions if name in
                           mesh_graph.MLM_FEATURES else 2)]),
            tf.float32 if name == "masked_lm_weights" else tf.int32)
        for name in mesh_graph.SEQUENCE_FEATURES +
        (mesh_graph.MLM_FEATURES if mlm else ())}
    mesh_graph.build_model(features, config, is_training=False, mlm=mlm)
    return {v.name: v.shape for v in mesh.graph.all_variables}


def account(config, mesh_shape="", layout="", finetuning=False):
  """Parameters of the pre-training or fine-tuning graph and bytes/device.

  Args:
    config: modeling.RemBertConfig.
    mesh_shape, layout: Mesh TF strings ("" = one device).
    finetuning: count the fine-tuning encoder instead of pre-training.
  Returns:
    Account.
  """
  shape = partitioning.parse_mesh_shape(mesh_shape)
  rules = partitioning.parse_layout(layout)
  partitioning.check_partitioning(shape, rules, config.dimension_sizes())
  variables = _graph_variables(config, mlm=not finetuning)
  if finetuning:
    variables = {n: s for n, s in variables.items()
                 if not n.startswith(modeling.TASK_HEAD_PREFIXES)}
  per_device = sum(partitioning.bytes_per_device(shape, rules, s)
                   for s in variables.values())
  return Account(variables, per_device)


def report(config, mesh_shape="", layout=""):
  """The `rembert-mtf params` figures as a dict (JSON-ready)."""
  pre = account(config, mesh_shape, layout)
  fine = account(config, mesh_shape, layout, finetuning=True)
  return {
      "pretraining_parameters": pre.parameters,
      "finetuning_parameters": fine.parameters,
      "mesh_shape": mesh_shape or "(1 core)",
      "mesh_layout": layout or "(none)",
      "pretraining_bytes_per_device": {
          "variables": pre.bytes_per_device,
          "adam_slots": ADAM_SLOTS * pre.bytes_per_device,
      },
      "finetuning_bytes_per_device": {
          "variables": fine.bytes_per_device,
          "adam_slots": ADAM_SLOTS * fine.bytes_per_device,
      },
  }

