"""The demo runs end to end (few steps) and writes its table and plot."""

import json
import shutil

import gin

from rembert_mtf.cli import gin_config
from rembert_mtf.evaluation import demo
from rembert_mtf.training import config


def test_demo_runs_end_to_end_in_miniature(tmp_path, demo_vocabulary):
  gin.clear_config()
  gin_config.parse(["models/tiny.gin"])
  # The session's demo vocabulary: the demo trains one only if none exists.
  shutil.copy(demo_vocabulary, tmp_path / "spm.model")
  results = demo.run(str(tmp_path), config.Run.from_gin(), demo.DemoConfig(
      vocab_sentences=5000, pretrain_steps=20, pretrain_batch_size=8,
      finetune_steps=10, finetune_batch_size=8))
  gin.clear_config()
  written = json.loads((tmp_path / "demo_results.json").read_text())
  assert written["accuracy"] == results["accuracy"]
  assert set(results["accuracy"]) == {"lang_a", "lang_b", "lang_c", "lang_d"}
  assert all(0 <= v <= 100 for v in results["accuracy"].values())
  assert results["mlm_loss_curve"][-1][0] == 20
  assert (tmp_path / "demo.png").stat().st_size > 10_000
  assert (tmp_path / "spm.model").exists()
