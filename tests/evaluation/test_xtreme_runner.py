"""The zero-shot protocol runner with fake fine-tuning and prediction."""

import argparse
import csv
import json
import os
import subprocess
import sys
import types

import pytest

from rembert_mtf.cli import flags
from rembert_mtf.cli import xtreme as xtreme_cli
from rembert_mtf.evaluation.xtreme import backend as backend_lib
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import runner
from rembert_mtf.model import modeling
from rembert_mtf.training import config
from rembert_mtf.tasks import xtreme as xtreme_tasks
from rembert_mtf.tasks import xtreme_qa
from tests.evaluation import test_scoring as fixtures

N = 10  # examples per evaluation set
PAWSX = xtreme_tasks.PAWSX_LANGUAGES

# Correct answers out of N by (learning rate, seed). English dev favours
# 4e-5 (mean 8 vs 6 and 7); other languages' dev favour 5e-5; test favours
# 3e-5, so selecting on anything but English dev picks another rate.
EN_DEV = {3e-5: (6, 6, 6), 4e-5: (8, 9, 7), 5e-5: (7, 7, 7)}
OTHER_DEV = {3e-5: 5, 4e-5: 2, 5e-5: 10}


def correct(rate, seed, language, split):
  if split == "validation":
    return EN_DEV[rate][seed] if language == "en" else OTHER_DEV[rate]
  if rate == 4e-5:
    return 5 + seed if language == "de" else 4 + 2 * seed
  return 10 if rate == 3e-5 else 3


class FakeModels:
  """finetune_fn writes a "model" file; predict_fn answers from it."""

  def __init__(self, fail_after=None):
    self.finetuned = []
    self.predicted = []
    self.fail_after = fail_after

  def finetune(self, task, rate, seed, run_dir):
    if self.fail_after is not None and len(self.finetuned) >= self.fail_after:
      raise RuntimeError("interrupted")
    self.finetuned.append((task, rate, seed, run_dir))
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "model.json"), "w") as f:
      json.dump({"rate": rate, "seed": seed}, f)

  def predict(self, run_dir, task_name, split):
    self.predicted.append((run_dir, task_name, split))
    with open(os.path.join(run_dir, "model.json")) as f:
      model = json.load(f)
    right = correct(model["rate"], model["seed"], task_name.split("_")[-1],
                    split)
    gold = [i % 2 for i in range(N)]
    return [fixtures.cls_prediction(g, g if i < right else 1 - g)
            for i, g in enumerate(gold)]


def run(tmp_path, models, **kwargs):
  return runner.run_xtreme(str(tmp_path), ["pawsx"], models.finetune,
                           models.predict, **kwargs)


def test_selects_the_best_english_dev_rate_and_averages_seeds(tmp_path):
  models = FakeModels()
  summary = run(tmp_path, models)
  assert len(models.finetuned) == 9  # 3 rates x 3 seeds
  result = summary["tasks"]["pawsx"]
  assert result["learning_rate"] == 4e-5
  assert result["dev_scores"] == {"3e-05": pytest.approx(60.0),
                                  "4e-05": pytest.approx(80.0),
                                  "5e-05": pytest.approx(70.0)}
  assert result["seeds"] == [0, 1, 2]
  # de: 50, 60, 70; others: 40, 60, 80. Sample standard deviations.
  de = result["languages"]["de"]
  assert de["accuracy"]["mean"] == pytest.approx(60.0)
  assert de["accuracy"]["std"] == pytest.approx(10.0)
  assert de["score"] == de["accuracy"]
  assert result["languages"]["ja"]["accuracy"]["std"] == pytest.approx(20.0)
  # Per-seed task averages 290/7, 60, 550/7: mean 60, std 130/7.
  assert result["average"]["mean"] == pytest.approx(60.0)
  assert result["average"]["std"] == pytest.approx(130 / 7)
  assert summary["xtreme"]["avg"]["mean"] == pytest.approx(60.0)
  assert summary["xtreme"]["avg"]["std"] == pytest.approx(130 / 7)
  # Only the evaluation tasks were predicted, on their two splits.
  assert {t for _, t, _ in models.predicted} == {f"pawsx_eval_{l}"
                                                 for l in PAWSX}
  assert {s for _, _, s in models.predicted} == {"validation", "test"}


def test_average_selection_uses_every_dev_language(tmp_path):
  summary = run(tmp_path, FakeModels(), select_on="average")
  assert summary["tasks"]["pawsx"]["learning_rate"] == 5e-5


def test_each_run_writes_its_results_json(tmp_path):
  run(tmp_path, FakeModels())
  path = tmp_path / "pawsx" / "lr=4e-05" / "seed=1" / "results.json"
  results = json.loads(path.read_text())
  assert results["task"] == "pawsx" and results["seed"] == 1
  assert results["learning_rate"] == 4e-5
  assert sorted(results["dev"]) == sorted(PAWSX)
  assert results["dev"]["en"] == {"accuracy": pytest.approx(90.0)}
  assert results["test"]["de"] == {"accuracy": pytest.approx(60.0)}


def test_resume_runs_nothing_new_then_exactly_the_deleted_run(tmp_path):
  run(tmp_path, FakeModels())
  again = FakeModels()
  first = run(tmp_path, again)
  assert again.finetuned == [] and again.predicted == []
  os.remove(tmp_path / "pawsx" / "lr=5e-05" / "seed=2" / "results.json")
  third = FakeModels()
  second = run(tmp_path, third)
  assert [(t, r, s) for t, r, s, _ in third.finetuned] == [("pawsx", 5e-5, 2)]
  assert third.finetuned[0][3] == str(tmp_path / "pawsx" / "lr=5e-05" /
                                      "seed=2")
  assert second == first


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path):
  with pytest.raises(RuntimeError, match="interrupted"):
    run(tmp_path, FakeModels(fail_after=4))
  resumed = FakeModels()
  summary = run(tmp_path, resumed)
  assert [(r, s) for _, r, s, _ in resumed.finetuned] == [
      (4e-5, 1), (4e-5, 2), (5e-5, 0), (5e-5, 1), (5e-5, 2)]
  assert summary["tasks"]["pawsx"]["learning_rate"] == 4e-5


def test_other_settings_are_never_silently_reused(tmp_path):
  run(tmp_path, FakeModels(), settings={"batch_size": 32})
  with pytest.raises(ValueError, match="--output_dir"):
    run(tmp_path, FakeModels(), settings={"batch_size": 64})


def test_rembert_protocol_runs_table_15_rate(tmp_path):
  models = FakeModels()
  EN_DEV[8e-6], OTHER_DEV[8e-6] = (5, 5, 5), 5
  try:
    summary = run(tmp_path, models, protocol="rembert", seeds=(0, 1))
  finally:
    del EN_DEV[8e-6], OTHER_DEV[8e-6]
  assert {(r, s) for _, r, s, _ in models.finetuned} == {(8e-6, 0),
                                                        (8e-6, 1)}
  assert (tmp_path / "pawsx" / "lr=8e-06" / "seed=1" / "results.json").exists()
  assert summary["tasks"]["pawsx"]["languages"]["de"]["accuracy"][
      "std"] == 0.0


def test_markdown_and_csv_tables(tmp_path):
  run(tmp_path, FakeModels())
  markdown = (tmp_path / "results.md").read_text()
  assert "| pawsx | 4e-05 | 60.0 ± 18.6 |" in markdown
  assert "**XTREME avg**" in markdown
  assert "| accuracy | 60.0 ± 10.0 |" in markdown  # de is the first column
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  by_key = {(r["task"], r["language"], r["metric"]): r for r in rows}
  de = by_key[("pawsx", "de", "accuracy")]
  assert float(de["mean"]) == pytest.approx(60.0)
  assert float(de["std"]) == pytest.approx(10.0)
  assert de["num_seeds"] == "3" and de["learning_rate"] == "4e-05"
  assert float(by_key[("xtreme", "", "avg")]["mean"]) == pytest.approx(60.0)
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["tasks"]["pawsx"]["learning_rate"] == 4e-5


def test_pos_scores_by_its_f1_not_word_accuracy(tmp_path):
  # The fixture sentence has POS F1 75 and word accuracy 80.
  gold = ["NOUN", "NOUN", "VERB", "DET", "ADJ"]
  predicted = ["NOUN", "NOUN", "VERB", "NOUN", "ADJ"]

  class FakeTagger(FakeModels):

    def predict(self, run_dir, task_name, split):
      del run_dir, task_name, split
      return [fixtures.tag_sequence(0, 0, gold, predicted, fixtures.POS_TAGS)]

  models = FakeTagger()
  summary = runner.run_xtreme(str(tmp_path), ["pos"], models.finetune,
                              models.predict, seeds=(0,),
                              learning_rates=(1e-5,))
  de = summary["tasks"]["pos"]["languages"]["de"]
  assert de["accuracy"]["mean"] == pytest.approx(80.0)
  assert de["score"]["mean"] == pytest.approx(75.0)
  assert summary["tasks"]["pos"]["dev_scores"]["1e-05"] == pytest.approx(75.0)
  assert summary["xtreme"]["tasks"]["udpos"]["mean"] == pytest.approx(75.0)
  assert len(summary["tasks"]["pos"]["languages"]) == len(
      xtreme_tasks.POS_LANGUAGES)


# ----------------------------------------------------------------------- QA --


class FakeQa(FakeModels):
  """Every QA task answers the two fixture questions (q1 right, q2 half)."""

  def predict(self, run_dir, task_name, split):
    self.predicted.append((run_dir, task_name, split))
    return fixtures.qa_predictions()


def test_xquad_selects_on_squad_dev_and_writes_answers(tmp_path):
  models = FakeQa()
  summary = runner.run_xtreme(str(tmp_path), ["xquad"], models.finetune,
                              models.predict, seeds=(0,))
  dev_tasks = {t for _, t, s in models.predicted if s == "validation"}
  assert dev_tasks == {"squad_train_en"}
  languages = summary["tasks"]["xquad"]["languages"]
  assert sorted(languages) == sorted(xtreme_qa.XQUAD_LANGUAGES)
  assert languages["de"]["em"]["mean"] == pytest.approx(50.0)
  assert languages["de"]["score"]["mean"] == pytest.approx(
      (50.0 + (100 + 200 / 3) / 2) / 2)
  answers = (tmp_path / "xquad" / "lr=2e-05" / "seed=0" / "predictions" /
             "xquad_eval_th.test.json")
  assert json.loads(answers.read_text()) == {"q1": "lo mi", "q2": "ne"}


def test_tydiqa_test_is_its_dev_split_predicted_once(tmp_path):
  models = FakeQa()
  runner.run_xtreme(str(tmp_path), ["tydiqa"], models.finetune,
                    models.predict, seeds=(0,), learning_rates=(3e-5,))
  assert {s for _, _, s in models.predicted} == {"validation"}
  assert len(models.predicted) == 9  # one per language
  results = json.loads((tmp_path / "tydiqa" / "lr=3e-05" / "seed=0" /
                        "results.json").read_text())
  assert results["dev"] == results["test"] and len(results["test"]) == 9


# ---------------------------------------------------------- default backend --


def backend(**kwargs):
  run = config.Run(modeling.RemBertConfig(), config.TrainerConfig(),
                   mesh_shape="batch:1")
  return backend_lib.TrainerBackend("/tmp/unused", run, "/ckpt", **kwargs)


def test_steps_from_training_set_size_batch_and_cap():
  assert backend().train_steps(benchmarks.BENCHMARKS["pawsx"]) == 4632
  rembert = backend(protocol="rembert")
  assert rembert.train_steps(benchmarks.BENCHMARKS["pawsx"]) == 1158
  assert rembert.train_steps(benchmarks.BENCHMARKS["ner"]) == 938  # batch 64
  assert backend(max_train_steps=10).train_steps(
      benchmarks.BENCHMARKS["xnli"]) == 10
  # The demo's size comes from its seqio source: 3 epochs at batch 32.
  import math  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  pairs = registry.get_task_or_mixture(
      "demo_cls_train_lang_a").num_input_examples("train")
  assert pairs > 1000
  assert backend().train_steps(benchmarks.BENCHMARKS["demo"]) == math.ceil(
      3 * pairs / 32)


class FakeLoop:
  """training.loop's train and predict, recording the Runs they get."""

  def __init__(self):
    self.trained, self.predicted = [], []

  def train(self, model_dir, run):
    self.trained.append((model_dir, run))

  def predict(self, model_dir, run, task_name, split):
    self.predicted.append((model_dir, run, task_name, split))
    return iter(())


@pytest.fixture
def fake_loop(monkeypatch):
  """Installs FakeLoop as rembert_mtf.training.loop (imported lazily)."""
  from rembert_mtf import training  # pylint: disable=g-import-not-at-top
  loop = FakeLoop()
  module = types.SimpleNamespace(train=loop.train, predict=loop.predict)
  monkeypatch.setitem(sys.modules, "rembert_mtf.training.loop", module)
  monkeypatch.setattr(training, "loop", module, raising=False)
  return loop


def test_run_configs_derive_runs_without_touching_gin(fake_loop):
  import gin  # pylint: disable=g-import-not-at-top
  saved = gin.config_str()
  ner = backend().finetuning_run("ner_train_en", 2e-5, 32, 2, 100).trainer
  assert (ner.head, ner.num_classes, ner.sequence_length, ner.seed,
          ner.init_checkpoint) == ("token", 7, 128, 2, "/ckpt")
  squad = backend().finetuning_run("squad_train_en", 3e-5, 32, 0, 50)
  assert (squad.trainer.head, squad.trainer.sequence_length) == ("span", 384)
  # The schedule is the derived Run's own, not a gin binding.
  assert squad.schedule == config.ScheduleConfig(
      peak_learning_rate=3e-5, warmup_steps=5, total_steps=50,
      final_learning_rate=0.0)
  assert (squad.trainer.train_steps, squad.trainer.keep_checkpoint_max,
          squad.trainer.save_checkpoints_steps) == (50, 1, 50)
  bindings = squad.gin_bindings()
  assert "trainer.head = 'span'" in bindings
  assert "learning_rate_schedule.peak_learning_rate = 3e-05" in bindings
  # A whole run through the backend: loop gets the run, gin stays as it was.
  xquad = backend(max_train_steps=50)
  xquad.finetune("xquad", 3e-5, 0, "/tmp/unused/xquad/lr=3e-05/seed=0")
  xquad.predict("/tmp/unused/xquad/lr=3e-05/seed=0", "xquad_eval_de", "test")
  (trained_dir, trained), = fake_loop.trained
  assert trained_dir == os.path.join("/tmp/unused", "checkpoints",
                                     "squad_train_en", "lr=3e-05", "seed=0")
  assert trained == squad
  (predicted_dir, predicted, task, split), = fake_loop.predicted
  assert (predicted_dir, task, split) == (trained_dir, "xquad_eval_de",
                                          "test")
  assert predicted.trainer.mixture_or_task_name == "xquad_eval_de"
  assert predicted.trainer.sequence_length == 384
  assert predicted.schedule == squad.schedule
  assert gin.config_str() == saved
  assert config.TrainerConfig() != squad.trainer  # the trainer reads the Run


def test_predict_before_finetune_is_a_bug(fake_loop):
  del fake_loop
  with pytest.raises(ValueError, match="predict before finetune"):
    backend().predict("/tmp/unused/x", "xnli_eval_de", "test")


def test_unknown_task_is_a_one_line_error():
  with pytest.raises(ValueError, match="unknown task 'xnlii'"):
    runner.run_xtreme("/tmp/unused", ["xnlii"], None, None)


# -------------------------------------------------------------- CLI flags ---


def parse(*argv):
  parser = argparse.ArgumentParser(
      parents=[flags.gin_flags(), flags.mesh_flags()])
  xtreme_cli.add_arguments(parser, "xtreme")
  return parser.parse_args(["--model_dir=/m", *argv])


def test_flag_defaults_are_the_protocol():
  args = parse()
  assert args.tasks == benchmarks.XTREME_TASKS
  assert args.seeds == (0, 1, 2) and args.learning_rates is None
  assert (args.protocol, args.select_on, args.epochs) == ("xtreme", "en", 3)
  assert (args.max_seq_length, args.qa_max_seq_length) == (128, 384)
  args = parse("--tasks=demo, pawsx", "--seeds=3", "--learning_rates=1e-4,2e-4",
               "--warmup_fraction=0")
  assert args.tasks == ("demo", "pawsx") and args.seeds == (3,)
  assert args.learning_rates == (1e-4, 2e-4) and args.warmup_fraction == 0.0


@pytest.mark.parametrize("flag, message", [
    ("--tasks=xnli,xnlii", "unknown task 'xnlii'; choose from xnli, pawsx"),
    ("--tasks=,", "at least one task"),
    ("--seeds=0,-1", "seed -1 must be >= 0"),
    ("--seeds=a", "whole numbers"),
    ("--warmup_fraction=1", "must be in [0, 1)"),
    ("--learning_rates=1e-5,0", "must be greater than 0"),
    ("--batch_size=0", "must be at least 1"),
    ("--epochs=-1", "must be greater than 0"),
])
def test_bad_flags_are_one_line_usage_errors(flag, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    parse(flag)
  assert exit_info.value.code == 2
  error = capsys.readouterr().err.strip().splitlines()[-1]
  assert message in error and flag.split("=")[0] in error


def test_the_cli_module_loads_without_tensorflow():
  code = ("import sys; import rembert_mtf.cli.xtreme, rembert_mtf.cli.report;"
          " print(sorted(m for m in ('tensorflow', 'seqio', 'mesh_tensorflow',"
          " 'numpy') if m in sys.modules))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True, timeout=120)
  assert result.stdout.strip() == "[]"


# ------------------------------------------------------------- end to end ---


@pytest.mark.slow
def test_end_to_end_on_the_demo_task(tmp_path, spm_path):
  """Pre-train a tiny model 4 steps, then the real backend on `demo`."""
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  model_dir = tmp_path / "pretrained"
  tiny = [
      "RemBertConfig.vocab_size = 256", "RemBertConfig.hidden_size = 32",
      "RemBertConfig.input_embedding_size = 16",
      "RemBertConfig.output_embedding_size = 32",
      "RemBertConfig.num_layers = 2", "RemBertConfig.num_heads = 4",
      "RemBertConfig.head_size = 8", "RemBertConfig.intermediate_size = 64",
      "RemBertConfig.max_position_embeddings = 64",
      f"get_vocabulary.sentencepiece_model_file = '{spm_path}'",
      "trainer.mixture_or_task_name = 'trainer_mlm'", "trainer.batch_size = 4",
      "trainer.sequence_length = 16", "trainer.mlm_predictions = 3",
      "trainer.train_steps = 4", "learning_rate_schedule.warmup_steps = 1",
  ]
  mesh = ["--mesh_shape=batch:2;model:4",
          "--mesh_layout=batch:batch;vocab:model;heads:model;d_ff:model"]
  subprocess.run(
      [sys.executable, "-m", "rembert_mtf.cli.main", "train",
       f"--model_dir={model_dir}", "--module_import=tests.trainer_tasks",
       *mesh, *[f"--gin_param={p}" for p in tiny]],
      cwd=repo, check=True, capture_output=True, timeout=600)
  script = (
      "import argparse, sys\n"
      "from rembert_mtf.cli import flags, xtreme\n"
      "parser = argparse.ArgumentParser(parents=[flags.gin_flags(), "
      "flags.mesh_flags()])\n"
      "xtreme.add_arguments(parser, 'xtreme')\n"
      "xtreme.main(parser.parse_args(sys.argv[1:]))\n")
  result = subprocess.run(
      [sys.executable, "-c", script, f"--model_dir={model_dir}",
       "--tasks=demo", "--seeds=0,1", "--learning_rates=1e-4",
       "--batch_size=8", "--max_train_steps=3", "--max_seq_length=32",
       *mesh], cwd=repo, capture_output=True, text=True, timeout=1200)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads((model_dir / "xtreme" / "summary.json").read_text())
  languages = summary["tasks"]["demo"]["languages"]
  assert sorted(languages) == ["lang_a", "lang_b", "lang_c", "lang_d"]
  for stats in languages.values():
    assert 0.0 <= stats["accuracy"]["mean"] <= 100.0
  checkpoints = model_dir / "xtreme" / "checkpoints" / "demo_cls_train_lang_a"
  assert (checkpoints / "lr=0.0001" / "seed=1" / "model.ckpt-3.index").exists()
  operative = (checkpoints / "lr=0.0001" / "seed=1" /
               "operative_config.gin").read_text()
  assert "trainer.head = 'classification'" in operative
  assert "peak_learning_rate = 0.0001" in operative
  assert "| demo |" in result.stdout
