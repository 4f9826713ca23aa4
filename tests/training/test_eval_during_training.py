"""Evaluation during training keeps the best checkpoint by a metric."""

import json

import gin
import pytest

from rembert_mtf.evaluation import best as best_lib
from rembert_mtf.model import modeling
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import loop


# Slow (30 s): the fast suite keeps the best-dev checkpoint through the real
# trainer in tests/evaluation/test_xtreme_runner.py
# (test_the_real_trainer_keeps_and_scores_the_best_dev_checkpoint).
@pytest.mark.slow
def test_best_checkpoint_is_kept_by_dev_accuracy(tmp_path, demo_vocabulary):
  gin.clear_config()
  from rembert_mtf.tasks import demo  # pylint: disable=g-import-not-at-top
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     demo_vocabulary)
  config = modeling.RemBertConfig(
      vocab_size=768, input_embedding_size=16, output_embedding_size=32,
      hidden_size=32, num_layers=1, num_heads=4, head_size=8,
      intermediate_size=64, max_position_embeddings=64)
  run = config_lib.Run(model=config, trainer=config_lib.TrainerConfig(
      mixture_or_task_name=demo.cls_train_task_name(), head="classification",
      num_classes=2, batch_size=8, sequence_length=48, train_steps=20,
      save_checkpoints_steps=10, eval_mixture_name="demo_cls",
      eval_every_steps=10, num_devices=1)).resolved()
  model_dir = str(tmp_path / "run")
  loop.train(model_dir, run, on_eval=best_lib.keep_if_best)
  gin.clear_config()
  best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
  assert best["step"] in (10, 20)
  assert set(best["scores"]) == set(demo.LANGUAGES)
  mean = sum(v["accuracy"] for v in best["scores"].values()) / 4
  assert abs(best["score"] - mean) < 1e-9
  assert (tmp_path / "run" / "best" / (best["checkpoint"] + ".index")).exists()
