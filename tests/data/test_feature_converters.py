"""EncoderFeatureConverter: fixed lengths, pad values, input_mask, errors."""

import numpy as np
import pytest
import seqio
import tensorflow.compat.v2 as tf

from rembert_mtf.data import feature_converters
from rembert_mtf.data import vocabulary

Converter = feature_converters.EncoderFeatureConverter


def make_ds(examples, specs):
  return tf.data.Dataset.from_generator(
      lambda: iter(examples), output_signature=specs)


def seq(dtype=tf.int32):
  return tf.TensorSpec([None], dtype)


def scalar(dtype=tf.int32):
  return tf.TensorSpec([], dtype)


MLM_SPECS = {
    "input_ids": seq(), "token_type_ids": seq(),
    "masked_lm_positions": seq(), "masked_lm_ids": seq(),
    "masked_lm_weights": seq(tf.float32),
}
MLM_EXAMPLE = {
    "input_ids": [2, 9, 4, 11, 3], "token_type_ids": [0] * 5,
    "masked_lm_positions": [2], "masked_lm_ids": [10],
    "masked_lm_weights": [1.0],
}


def test_mlm_features_are_padded_to_their_lengths():
  out = list(Converter()(make_ds([MLM_EXAMPLE], MLM_SPECS),
                         {"input_ids": 8, "masked_lm_positions": 3})
             .as_numpy_iterator())
  ex = out[0]
  np.testing.assert_array_equal(ex["input_ids"], [2, 9, 4, 11, 3, 0, 0, 0])
  np.testing.assert_array_equal(ex["input_mask"], [1, 1, 1, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(ex["token_type_ids"], [0] * 8)
  np.testing.assert_array_equal(ex["masked_lm_positions"], [2, 0, 0])
  np.testing.assert_array_equal(ex["masked_lm_ids"], [10, 0, 0])
  np.testing.assert_array_equal(ex["masked_lm_weights"], [1.0, 0.0, 0.0])
  assert ex["masked_lm_weights"].dtype == np.float32
  assert ex["input_mask"].dtype == np.int32


def test_static_shapes_for_batching():
  ds = Converter()(make_ds([MLM_EXAMPLE], MLM_SPECS),
                   {"input_ids": 8, "masked_lm_positions": 3})
  shapes = {k: v.shape.as_list() for k, v in ds.element_spec.items()}
  assert shapes == {"input_ids": [8], "token_type_ids": [8],
                    "input_mask": [8], "masked_lm_positions": [3],
                    "masked_lm_ids": [3], "masked_lm_weights": [3]}


def test_classification_scalars_pass_through_and_labels_pad_with_minus_one():
  specs = {"input_ids": seq(), "token_type_ids": seq(), "labels": seq(),
           "label": scalar(), "idx": scalar(tf.int64),
           "lang": scalar(tf.string)}
  example = {"input_ids": [2, 7, 3], "token_type_ids": [0, 0, 0],
             "labels": [-1, 4, -1], "label": 2, "idx": 5, "lang": b"sw"}
  ex = next(Converter()(make_ds([example], specs), {"input_ids": 5})
            .as_numpy_iterator())
  np.testing.assert_array_equal(ex["labels"], [-1, 4, -1, -1, -1])
  np.testing.assert_array_equal(ex["input_mask"], [1, 1, 1, 0, 0])
  assert (ex["label"], ex["idx"], ex["lang"]) == (2, 5, b"sw")


def test_input_ids_pad_with_the_vocabulary_pad_id(tmp_path):
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  text = tmp_path / "t.txt"
  text.write_text("\n".join(["uno dos tres cuatro cinco"] * 50))
  spm.SentencePieceTrainer.train(
      input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=24,
      pad_id=3, unk_id=0, bos_id=-1, eos_id=-1,
      user_defined_symbols=["[MASK]", "[SEP]", "[CLS]"], minloglevel=2,
      hard_vocab_limit=False)
  vocab = vocabulary.get_vocabulary(str(tmp_path / "m.model"))
  assert vocabulary.special_tokens(vocab).pad == 3
  ex = next(Converter(vocabulary=vocab)(
      make_ds([MLM_EXAMPLE], MLM_SPECS),
      {"input_ids": 7, "masked_lm_positions": 2}).as_numpy_iterator())
  np.testing.assert_array_equal(ex["input_ids"], [2, 9, 4, 11, 3, 3, 3])
  np.testing.assert_array_equal(ex["input_mask"], [1, 1, 1, 1, 1, 0, 0])
  np.testing.assert_array_equal(ex["token_type_ids"], [0] * 7)


@pytest.mark.parametrize("feature,lengths", [
    ("input_ids", {"input_ids": 4, "masked_lm_positions": 3}),
    ("masked_lm_positions", {"input_ids": 8, "masked_lm_positions": 0}),
])
def test_too_long_task_feature_is_an_error(feature, lengths):
  ds = Converter()(make_ds([MLM_EXAMPLE], MLM_SPECS), lengths)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=rf"Feature \\?'{feature}\\?'.*length of "
                     rf"{lengths[feature]}\b"):
    list(ds.as_numpy_iterator())


def test_too_long_follower_feature_is_an_error():
  example = dict(MLM_EXAMPLE, token_type_ids=[0] * 9)
  ds = Converter()(make_ds([example], MLM_SPECS),
                   {"input_ids": 8, "masked_lm_positions": 3})
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Feature \\?'token_type_ids\\?' is longer than "
                     r"its length 8 \(task_feature_lengths\["):
    list(ds.as_numpy_iterator())


def test_unknown_sequence_feature_asks_for_a_table_row():
  specs = {"input_ids": seq(), "char_offsets": seq()}
  with pytest.raises(ValueError, match="'char_offsets'.*PADDED_FEATURES"):
    Converter()(make_ds([], specs), {"input_ids": 8})


def test_missing_length_for_present_feature():
  with pytest.raises(ValueError, match="'masked_lm_positions'.*does not give"):
    Converter()(make_ds([], MLM_SPECS), {"input_ids": 8})


def test_unknown_length_key():
  with pytest.raises(ValueError, match=r"Unknown task_feature_lengths keys "
                     r"\['targets'\]"):
    Converter()(make_ds([], MLM_SPECS),
                {"input_ids": 8, "masked_lm_positions": 3, "targets": 4})


def test_packing_is_refused():
  with pytest.raises(ValueError, match="does not pack"):
    Converter(pack=True)


def test_usable_with_seqio_get_dataset(spm_path):
  vocab = vocabulary.get_vocabulary(spm_path)
  name = "test_feature_converters_classification"
  seqio.TaskRegistry.remove(name)
  seqio.TaskRegistry.add(
      name,
      source=seqio.FunctionDataSource(
          lambda split, shuffle_files, seed=None: tf.data.Dataset.from_tensors(
              {"input_ids": [2, 40, 41, 3], "label": 1}),
          splits=["train"]),
      preprocessors=[],
      output_features={"input_ids": seqio.Feature(vocab, add_eos=False),
                       "label": seqio.Feature(
                           seqio.PassThroughVocabulary(0), rank=0,
                           add_eos=False)})
  try:
    ds = seqio.get_dataset(name, {"input_ids": 6},
                           feature_converter=Converter.for_task(name))
    ex = next(ds.as_numpy_iterator())
  finally:
    seqio.TaskRegistry.remove(name)
  np.testing.assert_array_equal(ex["input_ids"], [2, 40, 41, 3, 0, 0])
  np.testing.assert_array_equal(ex["input_mask"], [1, 1, 1, 1, 0, 0])
  assert ex["label"] == 1
