"""The Estimator model_fn: features -> mesh model -> loss -> updates.

  features (tf) --import_tf_tensor--> mtf tensors with named dimensions
  --modeling.encode--> sequence output --head--> loss, predictions, metrics
  --optimizers.update_ops--> assignments --Lowering on the placement mesh-->
  tf ops of one Estimator step

Everything the graph is built from arrives in a config.Run; nothing here
reads gin.
"""

from tensorflow_estimator.python.estimator import model_fn as model_fn_lib

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import heads
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning
from rembert_mtf.training import hooks
from rembert_mtf.training import model_dir as model_dir_lib
from rembert_mtf.training import optimizers

mtf = compat.mtf
tf = compat.tf
ModeKeys = model_fn_lib.ModeKeys


def mtf_features(features, head, mesh, trainer_config):
  """The tf features the model reads, as mtf tensors with named dims."""
  batch, length = features["input_ids"].shape.as_list()
  names = heads.ENCODER_FEATURES + tuple(head.features) + tuple(
      n for n in heads.OPTIONAL_ENCODER_FEATURES if n in features)
  out = {}
  for name in names:
    dims = heads.feature_dims(name, head, batch, length,
                              trainer_config.mlm_predictions)
    dtype = tf.float32 if name == "masked_lm_weights" else tf.int32
    out[name] = mtf.import_tf_tensor(mesh, tf.cast(features[name], dtype),
                                     mtf.Shape(list(dims)))
  return out


def restore_from_init_checkpoint(init_checkpoint):
  """Fine-tuning: variables present in the pre-trained checkpoint load from
  it; the pre-training-only parts (cls/...) are never in this graph and the
  step starts at 0."""
  in_checkpoint = {n for n, _ in tf.train.list_variables(init_checkpoint)}
  assignment = {v.op.name: v for v in tf.global_variables()
                if v.op.name in in_checkpoint
                and v.op.name != model_dir_lib.GLOBAL_STEP}
  if not assignment:
    raise errors.UserError(f"{init_checkpoint} shares no variable with this "
                           "model; check `trainer.init_checkpoint`.")
  tf.train.init_from_checkpoint(init_checkpoint, assignment)


def make_model_fn(run, model_dir, devices):
  """An Estimator model_fn running `run`'s model on a placement mesh.

  Args:
    run: config.Run.
    model_dir: where checkpoints and summaries go.
    devices: the mesh's devices (this process's virtual CPUs, or those of
      every task of a TF cluster).
  """
  head = heads.get_head(run.trainer.head)
  shape = partitioning.parse_mesh_shape(run.mesh_shape)
  rules = partitioning.parse_layout(run.layout)
  trainer_config = run.trainer

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    is_training = mode == ModeKeys.TRAIN
    inputs = mtf_features(features, head, mesh, trainer_config)
    sequence_output, bias = modeling.encode(inputs, run.model, is_training)
    loss, predictions, metrics = head.build(
        inputs, sequence_output, bias, run.model,
        trainer_config.num_classes, is_training)
    if is_training:
      global_step = tf.train.get_or_create_global_step()
      learning_rate = optimizers.learning_rate(global_step, run.schedule)
      updates, metrics["gradient_norm"] = optimizers.update_ops(
          loss, graph, learning_rate, run.optimizer)
    partitioning.check_tensor_layouts(graph, shape, rules)
    impl = partitioning.placement_mesh_impl(shape, rules, devices)
    lowering = partitioning.lower(graph, mesh, impl)
    tf_loss = tf.cast(lowering.export_to_tf_tensor(loss), tf.float32)
    tf_metrics = {k: tf.cast(lowering.export_to_tf_tensor(v), tf.float32)
                  for k, v in metrics.items()}
    restore_hook = mtf.MtfRestoreHook(lowering)
    if mode == ModeKeys.PREDICT:
      outputs = {k: lowering.export_to_tf_tensor(v)
                 for k, v in predictions.items()}
      outputs.update({k: v for k, v in features.items() if k not in outputs})
      return model_fn_lib.EstimatorSpec(mode, predictions=outputs,
                                        prediction_hooks=[restore_hook])
    if mode == ModeKeys.EVAL:
      # Batch means of the training metrics; task metrics are computed from
      # predictions (evaluation/scoring.py), which also drop the fillers.
      ops = {"loss": tf.metrics.mean(tf_loss)}
      ops.update({k: tf.metrics.mean(v) for k, v in tf_metrics.items()})
      return model_fn_lib.EstimatorSpec(mode, loss=tf_loss,
                                        eval_metric_ops=ops,
                                        evaluation_hooks=[restore_hook])
    tf_updates = [lowering.lowered_operation(op) for op in updates]
    # The step advances only after the updates, which read the learning
    # rate from the step: without this order the read races the increment.
    with tf.control_dependencies(tf_updates):
      train_op = tf.assign_add(global_step, 1)
    if (trainer_config.init_checkpoint and
        not model_dir_lib.checkpoint_step(model_dir)):
      restore_from_init_checkpoint(trainer_config.init_checkpoint)
    saver = tf.train.Saver(tf.global_variables(), sharded=True,
                           max_to_keep=trainer_config.keep_checkpoint_max,
                           save_relative_paths=True)
    tf.add_to_collection(tf.GraphKeys.SAVERS, saver)
    checkpoints = hooks.MeshCheckpointHook(
        saver, lowering, model_dir, trainer_config.save_checkpoints_steps)
    real_tokens = tf.reduce_sum(tf.cast(features["input_mask"], tf.float32))
    progress = hooks.ProgressHook(
        {"loss": tf_loss, "learning_rate": learning_rate, **tf_metrics,
         hooks.REAL_TOKENS: real_tokens}, trainer_config, model_dir)
    return model_fn_lib.EstimatorSpec(
        mode, loss=tf_loss, train_op=train_op,
        training_chief_hooks=[restore_hook, checkpoints],
        training_hooks=[progress])

  return model_fn
