"""The XTREME runner with fake fine-tuning and prediction, and one real run.

Fakes drive the runner (settings, selection, resumption, tables) and the
backend's Runs (checkpoint selection) in milliseconds; one fast test runs
the real backend (training.loop with evaluation.best.keep_if_best) on the
demo task, the whole CLI run is slow-marked.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import types

import pytest

from rembert_mtf import errors
from rembert_mtf.cli import flags
from rembert_mtf.cli import xtreme as xtreme_cli
# Imported here, with the real training.loop: the fake_loop fixture swaps
# that module, and best binds whichever it finds when first imported.
from rembert_mtf.evaluation import best as best_lib
from rembert_mtf.evaluation import scoring
from rembert_mtf.evaluation.xtreme import backend as backend_lib
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.evaluation.xtreme import runner
from rembert_mtf.model import modeling
from rembert_mtf.training import config
from rembert_mtf.tasks import xtreme as xtreme_tasks
from rembert_mtf.tasks import xtreme_qa
from tests import cli_testing
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

  def finetune(self, task, rate, seed, run_dir, train_task):
    if self.fail_after is not None and len(self.finetuned) >= self.fail_after:
      raise RuntimeError("interrupted")
    self.finetuned.append((task, rate, seed, run_dir))
    self.train_tasks = getattr(self, "train_tasks", []) + [train_task]
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "model.json"), "w") as f:
      json.dump({"rate": rate, "seed": seed, "train_task": train_task}, f)
    return {"rule": "best_dev", "step": 7}

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
  # PAWS-X alone: both averages are that one task's, and say what they lack.
  averages = summary["averages"]
  assert averages["xtreme_group_avg"]["mean"] == pytest.approx(60.0)
  assert averages["xtreme_group_avg"]["std"] == pytest.approx(130 / 7)
  assert averages["paper_ablation_avg"]["mean"] == pytest.approx(60.0)
  assert averages["paper_ablation_avg"]["missing"] == [
      "xnli", "panx", "xquad", "mlqa", "tydiqa"]
  assert "udpos" in averages["xtreme_group_avg"]["missing"]
  assert summary["setting"] == "zero-shot"
  assert result["checkpoints"] == {str(s): {"rule": "best_dev", "step": 7}
                                   for s in (0, 1, 2)}
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
  assert results["train_task"] == "pawsx_train_en"
  assert results["checkpoint"] == {"rule": "best_dev", "step": 7}
  assert results["settings"] == {"protocol": "xtreme", "setting": "zero-shot"}


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
  assert markdown.startswith("# Zero-shot cross-lingual results")
  assert "| pawsx | 4e-05 | 60.0 ± 18.6 |" in markdown
  assert ("| **XTREME group avg (Table 16: mean of the 3 group means; "
          "RemBERT 75.4); partial: without mlqa, panx, tydiqa, udpos, "
          "xnli, xquad, so not the paper's figure** | | 60.0 ± 18.6 |"
          in markdown)
  assert "| **Paper ablation avg (ablation tables: flat mean" in markdown
  assert "| accuracy | 60.0 ± 10.0 |" in markdown  # de is the first column
  assert "Test scores from the best-dev checkpoint of each run." in markdown
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  by_key = {(r["task"], r["language"], r["metric"]): r for r in rows}
  de = by_key[("pawsx", "de", "accuracy")]
  assert float(de["mean"]) == pytest.approx(60.0)
  assert float(de["std"]) == pytest.approx(10.0)
  assert de["num_seeds"] == "3" and de["learning_rate"] == "4e-05"
  for key in ("xtreme_group_avg", "paper_ablation_avg",
              "xtreme_group:classification"):
    assert float(by_key[("averages", "", key)]["mean"]) == pytest.approx(60.0)
  assert not [r for r in rows if r["task"] == "xtreme"]
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
  assert summary["averages"]["tasks"]["udpos"]["mean"] == pytest.approx(75.0)
  # POS is not in the ablation tables: no ablation average of POS alone.
  assert "paper_ablation_avg" not in summary["averages"]
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


# ---------------------------------------------------------------- settings --


def language_of(task_name):
  return task_name.rsplit("_", 1)[-1]


# Correct answers out of N of a translate-train model of language L by
# learning rate: on L's own dev set, and (L != en) on the English dev set.
# English dev of the non-English models favours 2e-5, their own dev sets
# 1e-5, and the English model alone (9 vs 5) 1e-5 too: only the mean over
# every model's English dev score picks 2e-5.
OWN_DEV = {1e-5: 9, 2e-5: 5}
SOURCE_DEV = {1e-5: 3, 2e-5: 7}


class FakeTranslated(FakeModels):
  """A model per language; answers depend on its and the task's language."""

  def predict(self, run_dir, task_name, split):
    self.predicted.append((run_dir, task_name, split))
    with open(os.path.join(run_dir, "model.json")) as f:
      model = json.load(f)
    own, task = language_of(model["train_task"]), language_of(task_name)
    if split == "test":
      right = 8 if task == own else 0
    else:
      right = (OWN_DEV if task == own else SOURCE_DEV)[model["rate"]]
    gold = [i % 2 for i in range(N)]
    return [fixtures.cls_prediction(g, g if i < right else 1 - g)
            for i, g in enumerate(gold)]


def translate(tmp_path, models, **kwargs):
  return runner.run_xtreme(str(tmp_path), ["pawsx"], models.finetune,
                           models.predict, seeds=(0,),
                           learning_rates=(1e-5, 2e-5),
                           setting="translate-train", **kwargs)


def test_translate_train_fine_tunes_a_model_per_language(tmp_path):
  models = FakeTranslated()
  summary = translate(tmp_path, models)
  # Each language's own translated training set; English its own set.
  assert sorted(models.train_tasks) == sorted(
      2 * (["pawsx_train_en"] + [f"pawsx_translate_train_{l}"
                                 for l in PAWSX if l != "en"]))
  # Each model is scored on its language (dev, test) and English dev only.
  run_dir = tmp_path / "pawsx" / "lr=1e-05" / "seed=0"
  for language in PAWSX:
    model_dir = str(run_dir / f"lang={language}")
    asked = sorted((t, s) for d, t, s in models.predicted if d == model_dir)
    expected = [(f"pawsx_eval_{language}", "test"),
                (f"pawsx_eval_{language}", "validation")]
    if language != "en":
      expected.insert(0, ("pawsx_eval_en", "validation"))
    assert asked == sorted(expected)
    assert (run_dir / f"lang={language}" / "results.json").exists()
  results = json.loads((run_dir / "results.json").read_text())
  assert results["train_tasks"]["de"] == "pawsx_translate_train_de"
  assert results["source_dev"]["de"] == {"accuracy": pytest.approx(30.0)}
  assert results["dev"]["de"] == {"accuracy": pytest.approx(90.0)}
  assert results["settings"]["setting"] == "translate-train"
  result = summary["tasks"]["pawsx"]
  # --select_on=en: the mean English dev score over the 7 models.
  assert result["dev_scores"] == {"1e-05": pytest.approx(270 / 7),
                                  "2e-05": pytest.approx(470 / 7)}
  assert result["learning_rate"] == 2e-5
  assert {l: s["accuracy"]["mean"] for l, s in result["languages"].items()
         } == {l: pytest.approx(80.0) for l in PAWSX}
  assert summary["setting"] == "translate-train"
  markdown = (tmp_path / "results.md").read_text()
  assert markdown.startswith("# Translate-train results (one model per "
                             "language")


def test_translate_train_average_selection_reads_own_language_dev(tmp_path):
  summary = translate(tmp_path, FakeTranslated(), select_on="average")
  assert summary["tasks"]["pawsx"]["learning_rate"] == 1e-5
  assert summary["tasks"]["pawsx"]["dev_scores"]["1e-05"] == (
      pytest.approx(90.0))


def test_translate_train_resumes_language_by_language(tmp_path):
  with pytest.raises(RuntimeError, match="interrupted"):
    translate(tmp_path, FakeTranslated(fail_after=3))
  resumed = FakeTranslated()
  translate(tmp_path, resumed)
  # Languages in order de, en, es, ...: the first three of 1e-5 were done.
  first = [language_of(t) for t in resumed.train_tasks[:4]]
  assert first == ["fr", "ja", "ko", "zh"]
  assert len(resumed.finetuned) == 4 + 7


def test_translate_train_all_is_one_model_on_every_training_set(tmp_path):
  models = FakeModels()
  summary = runner.run_xtreme(str(tmp_path), ["pawsx"], models.finetune,
                              models.predict, seeds=(0,),
                              learning_rates=(4e-5,),
                              setting="translate-train-all")
  assert models.train_tasks == ["pawsx_translate_train"]
  assert sorted({t for _, t, _ in models.predicted}) == sorted(
      f"pawsx_eval_{l}" for l in PAWSX)
  assert sorted(summary["tasks"]["pawsx"]["languages"]) == sorted(PAWSX)
  assert (tmp_path / "results.md").read_text().startswith(
      "# Translate-train-all results")


@pytest.mark.parametrize("setting", ["translate-train", "translate-train-all"])
def test_a_task_without_translations_is_a_one_line_error(tmp_path, setting):
  models = FakeModels()
  with pytest.raises(errors.UserError) as error:
    runner.run_xtreme(str(tmp_path / "out"), ["xnli", "ner", "xquad"],
                      models.finetune, models.predict, setting=setting)
  assert str(error.value) == (
      f"--setting={setting}: ner, xquad have no {setting} training data in "
      "tasks/; tasks with it: xnli, pawsx.")
  assert models.finetuned == [] and not (tmp_path / "out").exists()


def test_the_cli_refuses_a_setting_without_data_before_loading(tmp_path,
                                                               capsys):
  # No checkpoint in --model_dir: the setting is checked first.
  cli_testing.expect_refusal(
      ["xtreme", f"--model_dir={tmp_path}", "--setting=translate-train",
       "--tasks=pawsx,tydiqa"], capsys,
      "tydiqa has no translate-train training data", "xnli, pawsx")


def test_settings_never_share_a_folder(tmp_path):
  run(tmp_path, FakeModels(), seeds=(0,), learning_rates=(4e-5,))
  with pytest.raises(errors.UserError, match="holds zero-shot results"):
    translate(tmp_path, FakeTranslated())
  assert [benchmarks.default_output_folder(s) for s in benchmarks.SETTINGS
         ] == ["xtreme", "xtreme-translate-train",
               "xtreme-translate-train-all"]
  assert benchmarks.default_tasks("translate-train") == ("xnli", "pawsx")
  assert benchmarks.default_tasks("zero-shot") == benchmarks.XTREME_TASKS


def test_every_translate_train_task_is_registered():
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  for name in benchmarks.default_tasks("translate-train"):
    benchmark = benchmarks.BENCHMARKS[name]
    for language in runner.language_tasks(benchmark):
      task = registry.get_task_or_mixture(
          benchmark.train_task_for("translate-train", language))
      assert "train" in task.splits
    mixture = registry.get_task_or_mixture(
        benchmark.train_task_for("translate-train-all"))
    readers = [t.name for t in mixture.tasks if "train" in t.splits]
    assert len(readers) == len(runner.language_tasks(benchmark))


# ---------------------------------------------------------- single task --


def test_a_single_task_is_scored_as_its_language():
  # keep_if_best scores trainer.eval_mixture_name: a dev task alone.
  assert scoring.eval_task_names("squad_train_en", "validation") == [
      "squad_train_en"]
  assert scoring.eval_task_names("squad_train_en", "test") == []
  assert len(scoring.eval_task_names("xnli", "validation")) == 15
  squad = scoring.evaluate_mixture(
      "squad_train_en", lambda name, split: fixtures.qa_predictions(),
      "validation")
  assert list(squad) == ["en"] and squad["en"]["em"] == 50.0
  assert "f1" in squad["en"]
  xnli = scoring.evaluate_mixture(
      "xnli_eval_en",
      lambda name, split: [fixtures.cls_prediction(1, 1),
                           fixtures.cls_prediction(0, 1)], "validation")
  assert xnli == {"en": {"accuracy": 50.0}}


# ---------------------------------------------------------- default backend --


def backend(output_dir="/tmp/unused", **kwargs):
  run = config.Run(modeling.RemBertConfig(), config.TrainerConfig(),
                   mesh_shape="batch:1")
  return backend_lib.TrainerBackend(str(output_dir), run, "/ckpt", **kwargs)


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


def test_translated_training_sets_count_as_the_english_one():
  xnli = benchmarks.BENCHMARKS["xnli"]
  # One language's translation: MultiNLI's size; all: English + 14.
  assert backend().train_steps(xnli, "xnli_translate_train_de") == 36816
  assert backend().train_steps(xnli, "xnli_translate_train") == (
      -(-3 * 15 * 392702 // 32))
  assert backend().train_steps(benchmarks.BENCHMARKS["pawsx"],
                               "pawsx_translate_train") == (
                                   -(-3 * 7 * 49401 // 32))


class FakeLoop:
  """training.loop's train and predict, recording what they get.

  train leaves what evaluation.best.keep_if_best would: best/best.json
  naming the checkpoint of step `best_step`, when it gets on_eval.
  """

  def __init__(self):
    self.trained, self.predicted = [], []
    self.best_step = 40
    self.writes_best = True

  def train(self, model_dir, run, on_eval=None):
    self.trained.append((model_dir, run, on_eval))
    if on_eval is not None and self.writes_best:
      os.makedirs(os.path.join(model_dir, "best"), exist_ok=True)
      with open(os.path.join(model_dir, "best", "best.json"), "w") as f:
        json.dump({"step": self.best_step, "metric": run.trainer.best_metric,
                   "score": 55.0, "checkpoint": f"model.ckpt-{self.best_step}",
                   "scores": {}}, f)

  def predict(self, model_dir, run, task_name, split, checkpoint_path=None):
    self.predicted.append((model_dir, run, task_name, split, checkpoint_path))
    return iter(())

  def checkpoint_path(self, model_dir):
    return os.path.join(model_dir, "model.ckpt-100")


@pytest.fixture
def fake_loop(monkeypatch):
  """Installs FakeLoop as rembert_mtf.training.loop (imported lazily)."""
  from rembert_mtf import training  # pylint: disable=g-import-not-at-top
  loop = FakeLoop()
  module = types.SimpleNamespace(train=loop.train, predict=loop.predict,
                                 checkpoint_path=loop.checkpoint_path)
  monkeypatch.setitem(sys.modules, "rembert_mtf.training.loop", module)
  monkeypatch.setattr(training, "loop", module, raising=False)
  return loop


def test_run_configs_derive_runs_without_touching_gin(fake_loop, tmp_path):
  import gin  # pylint: disable=g-import-not-at-top
  saved = gin.config_str()
  ner = backend().finetuning_run("ner_train_en", 2e-5, 32, 2, 100).trainer
  assert (ner.head, ner.num_classes, ner.sequence_length, ner.seed,
          ner.init_checkpoint) == ("token", 7, 128, 2, "/ckpt")
  assert (ner.eval_mixture_name, ner.eval_every_steps) == (None, 0)
  xquad = benchmarks.BENCHMARKS["xquad"]
  squad = backend().finetuning_run("squad_train_en", 3e-5, 32, 0, 50, xquad)
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
  assert "trainer.eval_mixture_name = 'squad_train_en'" in bindings
  # A whole run through the backend: loop gets the run, gin stays as it was.
  trainer = backend(tmp_path, max_train_steps=50)
  trainer.finetune("xquad", 3e-5, 0, "m", "squad_train_en")
  trainer.predict("m", "xquad_eval_de", "test")
  (trained_dir, trained, _), = fake_loop.trained
  assert trained_dir == str(tmp_path / "checkpoints" / "squad_train_en" /
                            "lr=3e-05" / "seed=0")
  assert trained == squad
  (predicted_dir, predicted, task, split, _), = fake_loop.predicted
  assert (predicted_dir, task, split) == (trained_dir, "xquad_eval_de",
                                          "test")
  assert predicted.trainer.mixture_or_task_name == "xquad_eval_de"
  assert predicted.trainer.sequence_length == 384
  assert predicted.schedule == squad.schedule
  assert gin.config_str() == saved
  assert config.TrainerConfig() != squad.trainer  # the trainer reads the Run


def test_best_dev_scores_english_dev_and_predicts_from_the_kept_copy(
    fake_loop, tmp_path):
  trainer = backend(tmp_path, max_train_steps=100)
  record = trainer.finetune("xnli", 2e-5, 0, "m", "xnli_translate_train_de")
  (checkpoints, run_config, on_eval), = fake_loop.trained
  assert on_eval is best_lib.keep_if_best
  t = run_config.trainer
  # Every fifth of the 100 steps, English dev, the task's own metric.
  assert (t.mixture_or_task_name, t.eval_mixture_name, t.eval_split,
          t.eval_every_steps, t.best_metric) == (
              "xnli_translate_train_de", "xnli_eval_en", "validation", 20,
              "accuracy")
  kept = os.path.join(checkpoints, "best", "model.ckpt-40")
  assert record == {"rule": "best_dev", "selected_on": "xnli_eval_en",
                    "metric": "accuracy", "score": 55.0, "step": 40,
                    "path": kept}
  trainer.predict("m", "xnli_eval_de", "test")
  # Not the last checkpoint (step 100): the best one's copy.
  assert fake_loop.predicted[0][4] == kept


@pytest.mark.parametrize("task, dev_task, metric", [
    ("pawsx", "pawsx_eval_en", "accuracy"), ("ner", "ner_eval_en", "span_f1"),
    ("pos", "pos_eval_en", "pos_f1"), ("xquad", "squad_train_en", "f1"),
    ("mlqa", "squad_train_en", "f1"),
    ("demo", "demo_cls_eval_lang_a", "accuracy")])
def test_each_benchmark_selects_on_its_english_dev_task(task, dev_task,
                                                        metric):
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  benchmark = benchmarks.BENCHMARKS[task]
  trainer = backend(max_train_steps=7).finetuning_run(
      benchmark.train_task, 1e-5, 32, 0, 7, benchmark).trainer
  assert (trainer.eval_mixture_name, trainer.best_metric,
          trainer.eval_every_steps) == (dev_task, metric, 2)
  assert "validation" in registry.get_task_or_mixture(dev_task).splits
  source = benchmark.source_language
  assert scoring.eval_task_names(dev_task, "validation") == [dev_task]
  assert scoring.task_language(dev_task) in (source, "en")


def test_each_selection_metric_is_one_its_dev_task_reports():
  # What keep_if_best reads from evaluate_mixture's scores.
  ner = fixtures.tag_sequence(0, 0, ["B-PER", "O"], ["B-PER", "O"],
                              fixtures.NER_TAGS)
  pos = fixtures.tag_sequence(0, 0, ["NOUN"], ["NOUN"], fixtures.POS_TAGS)
  for task, predictions in (("ner", [ner]), ("pos", [pos]),
                            ("xquad", fixtures.qa_predictions()),
                            ("xnli", [fixtures.cls_prediction(1, 1)])):
    benchmark = benchmarks.BENCHMARKS[task]
    scores = scoring.evaluate_mixture(
        benchmark.dev_task, lambda name, split, p=predictions: p,
        "validation")
    assert benchmark.selection_metric in scores["en"], (task, scores)


def test_tydiqa_and_last_keep_the_final_checkpoint(fake_loop, tmp_path):
  tydiqa = backend(tmp_path, max_train_steps=10)
  record = tydiqa.finetune("tydiqa", 3e-5, 0, "t", "tydiqa_train_en")
  assert record["rule"] == "last" and "reason" in record
  last = backend(tmp_path, max_train_steps=10, select_checkpoint="last")
  record = last.finetune("xnli", 3e-5, 0, "x", "xnli_train_en")
  assert record["rule"] == "last" and "reason" not in record
  for _, run_config, on_eval in fake_loop.trained:
    assert on_eval is None
    assert run_config.trainer.eval_every_steps == 0
  last.predict("x", "xnli_eval_de", "test")
  assert fake_loop.predicted[0][4] == record["path"] == os.path.join(
      fake_loop.trained[1][0], "model.ckpt-100")
  assert last.settings()["select_checkpoint"] == "last"


def test_eval_every_steps_overrides_the_fifth(fake_loop, tmp_path):
  trainer = backend(tmp_path, max_train_steps=100, eval_every_steps=7)
  trainer.finetune("pawsx", 3e-5, 0, "p", "pawsx_train_en")
  assert fake_loop.trained[0][1].trainer.eval_every_steps == 7
  assert trainer.settings()["eval_every_steps"] == 7


def test_a_finished_run_without_a_best_copy_is_a_one_line_error(
    fake_loop, tmp_path):
  fake_loop.writes_best = False
  with pytest.raises(errors.MissingFileError, match="without "
                     "--select_checkpoint=best_dev; delete it or pass"):
    backend(tmp_path, max_train_steps=10).finetune("xnli", 3e-5, 0, "m",
                                                   "xnli_train_en")


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
  # None: the setting's tasks (benchmarks.default_tasks), chosen in main.
  assert args.tasks is None and args.setting == "zero-shot"
  assert args.seeds == (0, 1, 2) and args.learning_rates is None
  assert (args.protocol, args.select_on, args.epochs) == ("xtreme", "en", 3)
  assert (args.max_seq_length, args.qa_max_seq_length) == (128, 384)
  assert (args.select_checkpoint, args.eval_every_steps) == ("best_dev", None)
  args = parse("--tasks=demo, pawsx", "--seeds=3", "--learning_rates=1e-4,2e-4",
               "--warmup_fraction=0", "--setting=translate-train-all",
               "--select_checkpoint=last", "--eval_every_steps=50")
  assert args.tasks == ("demo", "pawsx") and args.seeds == (3,)
  assert args.learning_rates == (1e-4, 2e-4) and args.warmup_fraction == 0.0
  assert (args.setting, args.select_checkpoint, args.eval_every_steps) == (
      "translate-train-all", "last", 50)


@pytest.mark.parametrize("flag, message", [
    ("--tasks=xnli,xnlii", "unknown task 'xnlii'; choose from xnli, pawsx"),
    ("--tasks=,", "at least one task"),
    ("--seeds=0,-1", "seed -1 must be >= 0"),
    ("--seeds=a", "whole numbers"),
    ("--warmup_fraction=1", "must be in [0, 1)"),
    ("--learning_rates=1e-5,0", "must be greater than 0"),
    ("--batch_size=0", "must be at least 1"),
    ("--epochs=-1", "must be greater than 0"),
    ("--setting=translate-test", "invalid choice: 'translate-test'"),
    ("--select_checkpoint=best", "invalid choice: 'best'"),
    ("--eval_every_steps=0", "must be at least 1"),
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


def test_the_real_trainer_keeps_and_scores_the_best_dev_checkpoint(
    tmp_path, demo_vocabulary):
  """TrainerBackend over training.loop and keep_if_best, 4 steps (12-35 s).

  A 1-layer model from random weights (selection, not transfer, is what
  this checks) trains 4 steps on demo lang_a, scored on lang_a's dev set
  after steps 2 and 4; predictions must come from the kept checkpoint.
  """
  import gin  # pylint: disable=g-import-not-at-top
  saved = gin.config_str()
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     demo_vocabulary)
  try:
    tiny = modeling.RemBertConfig(
        vocab_size=768, input_embedding_size=16, output_embedding_size=32,
        hidden_size=32, num_layers=1, num_heads=4, head_size=8,
        intermediate_size=64, max_position_embeddings=64)
    base = config.Run(tiny, config.TrainerConfig(num_devices=1),
                      mesh_shape="batch:1").resolved()
    trainer = backend_lib.TrainerBackend(
        str(tmp_path), base, None, batch_size=8, max_train_steps=4,
        max_seq_length=48, eval_every_steps=2)
    model = str(tmp_path / "demo" / "m")
    record = trainer.finetune("demo", 1e-3, 0, model, "demo_cls_train_lang_a")
    kept = json.loads((tmp_path / "checkpoints" / "demo_cls_train_lang_a" /
                       "lr=0.001" / "seed=0" / "best" / "best.json"
                       ).read_text())
    dev = scoring.evaluate_task(
        "demo_cls_eval_lang_a",
        trainer.predict(model, "demo_cls_eval_lang_a", "validation"),
        "validation")
  finally:
    gin.clear_config()
    gin.parse_config(saved)
  assert (record["rule"], record["selected_on"], record["metric"]) == (
      "best_dev", "demo_cls_eval_lang_a", "accuracy")
  assert record["step"] == kept["step"] and kept["step"] in (2, 4)
  # One task scored (the dev task alone), keyed by its language.
  assert set(kept["scores"]) == {"lang_a"}
  assert record["path"].endswith(os.path.join("best", kept["checkpoint"]))
  # Predicting through the backend reads the kept copy: the same score.
  assert dev["accuracy"] == pytest.approx(kept["score"], abs=1e-9)


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
  checkpoints = model_dir / "xtreme" / "checkpoints" / "demo_cls_train_lang_a"
  assert (checkpoints / "lr=0.0001" / "seed=1" / "model.ckpt-3.index").exists()
  # best_dev (the default): the runner's lang_a dev score is the kept
  # checkpoint's, as the trainer's evaluation recorded it.
  for seed in (0, 1):
    kept = json.loads((checkpoints / "lr=0.0001" / f"seed={seed}" / "best" /
                       "best.json").read_text())
    results = json.loads((model_dir / "xtreme" / "demo" / "lr=0.0001" /
                          f"seed={seed}" / "results.json").read_text())
    assert results["checkpoint"]["step"] == kept["step"]
    assert results["dev"]["lang_a"]["accuracy"] == pytest.approx(
        kept["score"], abs=1e-9)
  operative = (checkpoints / "lr=0.0001" / "seed=1" /
               "operative_config.gin").read_text()
  assert "trainer.head = 'classification'" in operative
  assert "peak_learning_rate = 0.0001" in operative
  assert "| demo |" in result.stdout
