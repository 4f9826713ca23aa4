"""The user-facing example task registers and yields MLM features."""

import gin
import pytest
import seqio

from rembert_mtf.data import feature_converters
from rembert_mtf.tasks import example  # noqa: F401  (registers example_mlm)


def test_example_task_reads_user_files(tmp_path, spm_path):
  (tmp_path / "a.txt").write_text("kalo mine suta ripo nemi taka\n" * 5)
  gin.clear_config()
  gin.parse_config([f"example_corpus.pattern = '{tmp_path}/*.txt'",
                    f"get_vocabulary.sentencepiece_model_file = '{spm_path}'"])
  ds = seqio.get_dataset(
      "example_mixture", {"input_ids": 16, "masked_lm_positions": 3},
      dataset_split="train", shuffle=False, num_epochs=1,
      feature_converter=feature_converters.EncoderFeatureConverter.for_task(
          "example_mlm"))
  batch = list(ds.take(3).as_numpy_iterator())
  gin.clear_config()
  assert len(batch) == 3
  assert batch[0]["input_ids"].shape == (16,)
  assert batch[0]["input_ids"][0] == 2  # [CLS] of the fixture vocabulary
  assert batch[0]["masked_lm_positions"].shape == (3,)


def test_missing_corpus_is_named(tmp_path):
  gin.clear_config()
  gin.parse_config([f"example_corpus.pattern = '{tmp_path}/none*.txt'"])
  with pytest.raises(FileNotFoundError, match="example_corpus.pattern"):
    example.example_corpus()
  gin.clear_config()
