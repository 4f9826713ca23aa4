"""What each training objective reads, computes, and is scored by.

A head names the features it needs beyond the encoder's (input_ids,
token_type_ids, input_mask), builds its logits on top of the encoder, and
returns its loss, its predictions and the scalar metrics logged in training.

  mlm             masked_lm_positions/ids/weights   pre-training (the MLM head)
  classification  label                             XNLI, PAWS-X
  token           labels (-1 ignored)               NER, POS
  span            start_position, end_position      XQuAD, MLQA, TyDiQA
"""

import dataclasses
from typing import Callable, Tuple

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import modeling

mtf = compat.mtf
tf = compat.tf

ENCODER_FEATURES = ("input_ids", "token_type_ids", "input_mask")
# Read when the input has them: packed documents' ids (attention within).
OPTIONAL_ENCODER_FEATURES = ("segment_ids",)


@dataclasses.dataclass(frozen=True)
class HeadOutput:
  """What a head builds: the loss, what predict returns, training metrics.

  Attributes:
    loss: mtf scalar.
    predictions: {name: mtf tensor with a batch dim}, exported by predict.
    metrics: {name: mtf scalar}, logged during training.
    logits: the head's last layer before any masking: [batch,
      mlm_predictions, vocab] (mlm), [batch, classes], [batch, length,
      classes] (token) or [batch, length, span_ends] (span).
  """
  loss: object
  predictions: dict
  metrics: dict
  logits: object

  def __iter__(self):
    # (loss, predictions, metrics), as the trainer and planner unpack it.
    return iter((self.loss, self.predictions, self.metrics))


@dataclasses.dataclass(frozen=True)
class Head:
  """One objective.

  Attributes:
    name: its `trainer.head` name.
    features: its extra features, {name: per-example dim name or None for a
      scalar}.
    build: (features, sequence_output, bias, config, num_classes,
      is_training) -> HeadOutput.
    variable_prefix: the scope of the variables only this head creates.
  """
  name: str
  features: dict
  build: Callable
  variable_prefix: str


def _mlm(features, sequence_output, bias, config, unused_num_classes,
         is_training):
  logits = modeling.mlm_logits(sequence_output, bias,
                               features["masked_lm_positions"], config,
                               is_training)
  loss, accuracy, _ = modeling.mlm_loss(
      logits, features["masked_lm_ids"], features["masked_lm_weights"], config)
  vocab = logits.shape.get_dim_by_name(modeling.VOCAB)
  predictions = {"masked_lm_predictions": mtf.argmax(logits, vocab)}
  return HeadOutput(loss, predictions, {"mlm_accuracy": accuracy}, logits)


def _accuracy(logits, labels, classes, weights):
  correct = mtf.cast(mtf.equal(mtf.argmax(logits, classes), labels),
                     tf.float32)
  return mtf.reduce_sum(correct * weights) / (mtf.reduce_sum(weights) + 1e-5)


def _classification(features, sequence_output, unused_bias, config,
                    num_classes, is_training):
  logits = modeling.classification_logits(sequence_output, num_classes, config,
                                          is_training)
  classes = logits.shape.get_dim_by_name(modeling.CLASSES)
  labels = features["label"]
  loss = modeling.masked_cross_entropy(logits, labels, classes)
  valid = mtf.cast(mtf.greater_equal(labels, 0), tf.float32)
  predictions = {"predicted_label": mtf.argmax(logits, classes),
                 "logits": mtf.cast(logits, tf.float32)}
  return HeadOutput(loss, predictions, {
      "accuracy": _accuracy(logits, labels, classes, valid)}, logits)


def _token(features, sequence_output, unused_bias, config, num_classes,
           is_training):
  logits = modeling.token_logits(sequence_output, num_classes, config,
                                 is_training)
  classes = logits.shape.get_dim_by_name(modeling.CLASSES)
  labels = features["labels"]
  loss = modeling.masked_cross_entropy(logits, labels, classes)
  valid = mtf.cast(mtf.greater_equal(labels, 0), tf.float32)
  predictions = {"predicted_labels": mtf.argmax(logits, classes)}
  return HeadOutput(loss, predictions, {
      "token_accuracy": _accuracy(logits, labels, classes, valid)}, logits)


def _span(features, sequence_output, unused_bias, config, unused_num_classes,
          unused_is_training):
  start, end = modeling.span_logits(sequence_output, config)
  logits = mtf.stack([start, end], modeling.SPAN_ENDS, axis=-1)
  length = start.shape.get_dim_by_name(modeling.LENGTH)
  # Padding can never be an answer.
  padding = (1.0 - mtf.cast(features["input_mask"], start.dtype)) * -1e4
  start, end = start + padding, end + padding
  loss = 0.5 * (
      modeling.masked_cross_entropy(start, features["start_position"], length)
      + modeling.masked_cross_entropy(end, features["end_position"], length))
  predictions = {"start_logits": mtf.cast(start, tf.float32),
                 "end_logits": mtf.cast(end, tf.float32)}
  ones = mtf.ones(start.mesh, features["start_position"].shape)
  return HeadOutput(loss, predictions, {
      "start_accuracy": _accuracy(start, features["start_position"], length,
                                  ones)}, logits)


HEADS = {head.name: head for head in (
    Head("mlm", {"masked_lm_positions": modeling.MLM_PREDICTIONS,
                 "masked_lm_ids": modeling.MLM_PREDICTIONS,
                 "masked_lm_weights": modeling.MLM_PREDICTIONS}, _mlm,
         modeling.MLM_SCOPE + "/"),
    Head("classification", {"label": None}, _classification,
         modeling.CLASSIFIER_SCOPE + "/"),
    Head("token", {"labels": modeling.LENGTH}, _token,
         modeling.TOKEN_CLASSIFIER_SCOPE + "/"),
    Head("span", {"start_position": None, "end_position": None}, _span,
         modeling.SPAN_SCOPE + "/"),
)}


def get_head(name):
  if name not in HEADS:
    raise errors.UserError(f"unknown head {name!r}; `trainer.head` must be one of "
                           f"{', '.join(HEADS)}.")
  return HEADS[name]


def feature_dims(name, head, batch, length, mlm_predictions) -> Tuple:
  """The mtf dimensions of feature `name` for a batch."""
  per_example = (head.features.get(name, modeling.LENGTH)
                 if name not in ENCODER_FEATURES else modeling.LENGTH)
  sizes = {modeling.LENGTH: length, modeling.MLM_PREDICTIONS: mlm_predictions}
  dims = [mtf.Dimension(modeling.BATCH, batch)]
  if per_example is not None:
    dims.append(mtf.Dimension(per_example, sizes[per_example]))
  return tuple(dims)
