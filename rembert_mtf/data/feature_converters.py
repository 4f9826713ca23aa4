"""Pads encoder-only (BERT-style) task features to fixed lengths.

`EncoderFeatureConverter` turns the variable-length features of a task into
fixed-shape model features and adds `input_mask`:

  ds = seqio.get_dataset(
      "wiki_en", {"input_ids": 512, "masked_lm_positions": 76},
      feature_converter=EncoderFeatureConverter.for_task("wiki_en"))

Which length each feature follows, and what it is padded with, is the table
`PADDED_FEATURES` below: add a row for a new per-token or per-prediction
feature. Rank-0 features (label, start_position, end_position, ids, string
metadata) pass through unchanged. A feature longer than its length is an
error naming the feature and the length, never a silent truncation.

Why not seqio's own EncoderFeatureConverter: it expects aligned
"inputs"/"targets" sequences and derives the loss from [MASK] positions,
while RemBERT's masked LM predicts at `masked_lm_positions` (a separate,
shorter axis) and classification tasks have no targets sequence at all.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import copy
import dataclasses
from typing import Mapping, Optional, Union

import gin
import seqio
import tensorflow.compat.v2 as tf

from rembert_mtf.data import vocabulary as vocabulary_lib

# pad_value placeholder: the vocabulary's pad id (see EncoderFeatureConverter).
VOCAB_PAD = "vocab_pad"


@dataclasses.dataclass(frozen=True)
class PadSpec:
  """How one rank-1 feature is padded.

  Attributes:
    length_of: the task_feature_lengths key giving the padded length.
    pad_value: the padding value, or VOCAB_PAD for the vocabulary's pad id.
  """
  length_of: str
  pad_value: Union[int, float, str] = 0


# Fine-tuning engineers: add a row per new padded feature.
PADDED_FEATURES = {
    # Per-token features: follow input_ids.
    "input_ids": PadSpec("input_ids", VOCAB_PAD),
    "token_type_ids": PadSpec("input_ids", 0),
    # Packed pre-training with attention within documents: 1, 2, ... per
    # document (seqio's convention), 0 on padding.
    "segment_ids": PadSpec("input_ids", 0),
    "labels": PadSpec("input_ids", -1),  # token classification; -1: ignored
    # Extractive QA: context character span of each token (-1: not context)
    # and whether this window gives the token its most context.
    "token_char_start": PadSpec("input_ids", -1),
    "token_char_end": PadSpec("input_ids", -1),
    "token_is_max_context": PadSpec("input_ids", 0),
    # Per-prediction features: follow masked_lm_positions.
    "masked_lm_positions": PadSpec("masked_lm_positions", 0),
    "masked_lm_ids": PadSpec("masked_lm_positions", 0),
    "masked_lm_weights": PadSpec("masked_lm_positions", 0),
}
# Added by the converter: 1 on real tokens, 0 on padding.
INPUT_MASK = "input_mask"

_Spec = seqio.FeatureConverter.FeatureSpec


@gin.configurable(module="rembert_mtf")
class EncoderFeatureConverter(seqio.FeatureConverter):
  """Pads BERT-style features; see the module docstring.

  Input (per example): the task's features, rank 1 ones listed in
  PADDED_FEATURES, any others rank 0. task_feature_lengths gives one length
  per `length_of` key used, e.g. {"input_ids": 512, "masked_lm_positions":
  76} for pre-training or {"input_ids": 128} for classification.
  Output: every PADDED_FEATURES feature padded to its length, input_mask
  int32 [len(input_ids)], rank-0 features unchanged.
  """

  # seqio requires class-level specs; the per-call ones follow the dataset.
  TASK_FEATURES = {"input_ids": _Spec(dtype=tf.int32)}
  MODEL_FEATURES = {"input_ids": _Spec(dtype=tf.int32),
                    INPUT_MASK: _Spec(dtype=tf.int32)}
  PACKING_FEATURE_DTYPES = {}

  def __init__(self, pad_id: Optional[int] = None, vocabulary=None,
               pack: bool = False, **kwargs):
    """Constructor.

    Args:
      pad_id: input_ids padding id. Ignored when `vocabulary` is given.
      vocabulary: a SentencePiece vocabulary; input_ids are padded with its
        pad id (`vocabulary.special_tokens`). With neither argument the pad
        is 0, the pad of every model `rembert-mtf vocab` trains; use
        `for_task` to follow a task's vocabulary.
      pack: must be False: several sequences in one row would need
        per-sequence masks and shifted masked_lm_positions.
      **kwargs: passed to seqio.FeatureConverter (e.g. apply_length_check).
    """
    if pack:
      raise errors.UserError("EncoderFeatureConverter does not pack; use "
                             "pack=False (masked_lm_positions index one sequence).")
    super().__init__(pack=False, **kwargs)
    self._pad_id = pad_id
    self._vocabulary = vocabulary
    self._padded = {}

  @classmethod
  def for_task(cls, task_or_name, **kwargs):
    """A converter padding input_ids with the pad id of a task's vocabulary."""
    task = (seqio.get_mixture_or_task(task_or_name)
            if isinstance(task_or_name, str) else task_or_name)
    return cls(vocabulary=task.output_features["input_ids"].vocabulary,
               **kwargs)

  @property
  def input_pad_id(self) -> int:
    if self._vocabulary is not None:
      return vocabulary_lib.special_tokens(self._vocabulary).pad
    return 0 if self._pad_id is None else self._pad_id

  def __call__(self, ds: tf.data.Dataset,
               task_feature_lengths: Mapping[str, int]) -> tf.data.Dataset:
    """Pads `ds`; seqio's validations run on specs derived from `ds`.

    Args:
      ds: unbatched task dataset.
      task_feature_lengths: length per `length_of` key.
    Returns:
      the padded dataset.
    Raises:
      ValueError: a rank-1 feature missing from PADDED_FEATURES, a length
        missing for a feature present, or an unknown length key.
    """
    # seqio's __call__ checks features against class-level tables; ours
    # depend on the task, so a configured copy carries per-call tables.
    configured = copy.copy(self)
    configured.configure(ds.element_spec, task_feature_lengths)
    return seqio.FeatureConverter.__call__(configured, ds, task_feature_lengths)

  def configure(self, element_spec, task_feature_lengths):
    """Sets TASK_FEATURES, MODEL_FEATURES and the padded-feature table.

    Called by __call__ on a copy; validates the dataset's features.

    Args:
      element_spec: the task dataset's element_spec.
      task_feature_lengths: length per `length_of` key.
    """
    if "input_ids" not in task_feature_lengths:
      raise errors.UserError("task_feature_lengths needs an 'input_ids' length; "
                             f"got {dict(task_feature_lengths)}.")
    length_keys = {spec.length_of for spec in PADDED_FEATURES.values()}
    unknown = set(task_feature_lengths) - length_keys
    if unknown:
      raise errors.UserError(f"Unknown task_feature_lengths keys {sorted(unknown)};"
                             f" lengths are given for {sorted(length_keys)}.")
    self._padded, model = {}, {}
    for name, spec in element_spec.items():
      rank = spec.shape.rank
      if rank == 0:
        model[name] = _Spec(dtype=spec.dtype, rank=0)
        continue
      if name not in PADDED_FEATURES:
        raise errors.UserError(
            f"Feature '{name}' has rank {rank} but no row in "
            "rembert_mtf.data.feature_converters.PADDED_FEATURES; add one saying "
            "which length it follows and its pad value.")
      pad = PADDED_FEATURES[name]
      if pad.length_of not in task_feature_lengths:
        raise errors.UserError(
            f"Feature '{name}' follows the length of '{pad.length_of}', "
            "which task_feature_lengths does not give: "
            f"{dict(task_feature_lengths)}.")
      self._padded[name] = pad
      model[name] = _Spec(dtype=spec.dtype, rank=rank)
    model[INPUT_MASK] = _Spec(dtype=tf.int32)
    self.MODEL_FEATURES = model  # pylint: disable=invalid-name
    self.TASK_FEATURES = {  # pylint: disable=invalid-name
        key: _Spec(dtype=element_spec[key].dtype)
        for key in task_feature_lengths if key in element_spec}
    missing = set(task_feature_lengths) - set(self.TASK_FEATURES)
    if missing:
      raise errors.UserError(f"The dataset has no feature {sorted(missing)} for "
                             "which task_feature_lengths gives a length.")

  def _pad_value(self, pad, dtype):
    value = self.input_pad_id if pad.pad_value == VOCAB_PAD else pad.pad_value
    return tf.cast(value, dtype)

  def _convert_features(self, ds, task_feature_lengths):
    """Pads every PADDED_FEATURES feature, adds input_mask."""
    padded = dict(self._padded)
    pad_values = {name: self._pad_value(pad, tf.as_dtype(
        ds.element_spec[name].dtype)) for name, pad in padded.items()}

    def pad_to(name, value, length):
      size = tf.shape(value)[0]
      check = tf.debugging.assert_less_equal(
          size, length,
          message=f"Feature '{name}' is longer than its length {length} "
          f"(task_feature_lengths['{padded[name].length_of}']).")
      with tf.control_dependencies([check]):
        out = tf.pad(value, [[0, length - size]] + [[0, 0]] * (
            value.shape.rank - 1), constant_values=pad_values[name])
      return tf.ensure_shape(out, [length] + value.shape[1:].as_list())

    # Hand-written: seqio.utils.trim_and_pad_dataset pads with 0 only and
    # silently truncates.
    def convert(ex):
      out = dict(ex)
      for name, pad in padded.items():
        out[name] = pad_to(name, ex[name], task_feature_lengths[pad.length_of])
      num_tokens = tf.shape(ex["input_ids"])[0]
      length = task_feature_lengths["input_ids"]
      out[INPUT_MASK] = tf.ensure_shape(tf.pad(
          tf.ones([tf.minimum(num_tokens, length)], tf.int32),
          [[0, tf.maximum(length - num_tokens, 0)]]), [length])
      return out

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

  def get_model_feature_lengths(self, task_feature_lengths):
    """Length of each model feature (0 for rank-0 ones, which seqio skips)."""
    lengths = {name: 0 for name in self.MODEL_FEATURES}
    for name, pad in self._padded.items():
      lengths[name] = task_feature_lengths[pad.length_of]
    lengths[INPUT_MASK] = task_feature_lengths["input_ids"]
    return lengths
