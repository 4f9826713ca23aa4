"""`rembert-mtf report` on a synthetic model_dir: event files and results."""

import argparse
import os

from matplotlib import container
from matplotlib import image as mpimg
import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf.cli import report as report_cli
from rembert_mtf.evaluation import report
from rembert_mtf.evaluation.xtreme import files
from rembert_mtf.evaluation.xtreme import selection

tf = compat.tf


def write_events(directory, scalars_by_step, suffix=""):
  """One event file of {step: {tag: value}}, as the trainer's hook writes."""
  # The trainer writes from inside the Estimator's graph; so do we.
  with tf.Graph().as_default():
    writer = tf.compat.v1.summary.FileWriter(str(directory),
                                             filename_suffix=suffix)
    for step, scalars in scalars_by_step.items():
      writer.add_summary(tf.compat.v1.Summary(value=[
          tf.compat.v1.Summary.Value(tag=tag, simple_value=value)
          for tag, value in scalars.items()]), step)
    writer.close()


def pretraining_events(model_dir):
  """Steps 10..50 then a resumed run rewriting 40..80 with other values."""
  write_events(model_dir, {s: {"loss": 10.0 - s / 10, "learning_rate": 1e-4,
                               "gradient_norm": 2.0}
                           for s in range(10, 60, 10)}, ".a")
  write_events(model_dir, {s: {"loss": 5.0 - s / 100,
                               "learning_rate": 2e-4,
                               "examples_per_second": 30.0 + s}
                           for s in range(40, 90, 10)}, ".b")


def results(task, rate, seed, test):
  return {"task": task, "learning_rate": rate, "seed": seed,
          "dev": {"en": {"accuracy": 80.0 + seed}},
          "test": test, "settings": {"protocol": "xtreme"}}


def write_runs(xtreme_dir):
  """PAWS-X: 2 rates x 2 seeds; 2e-5 wins on dev; test de 70/80, ja 50/60."""
  for rate, bonus in ((1e-5, 0.0), (2e-5, 5.0)):
    for seed in (0, 1):
      run = results("pawsx", rate, seed, {
          "de": {"accuracy": 70.0 + 10 * seed},
          "ja": {"accuracy": 50.0 + 10 * seed}})
      run["dev"]["en"]["accuracy"] += bonus
      files.write_json(os.path.join(
          files.run_dir(xtreme_dir, "pawsx", rate, seed),
          files.RESULTS_FILE), run)


@pytest.fixture
def model_dir(tmp_path):
  root = tmp_path / "model"
  root.mkdir()
  pretraining_events(root)
  for seed in (0, 1):
    write_events(root / "xtreme" / "checkpoints" / "xnli_train_en" /
                 "lr=1e-05" / f"seed={seed}",
                 {s: {"loss": 1.0 + seed - s / 100} for s in (1, 2, 3)})
  write_runs(str(root / "xtreme"))
  return root


def test_scalars_of_a_resumed_run_prefer_the_later_file(model_dir):
  scalars = report.read_scalars(str(model_dir))
  steps, values = zip(*scalars["loss"])
  assert steps == (10, 20, 30, 40, 50, 60, 70, 80)
  assert values == pytest.approx([9.0, 8.0, 7.0, 4.6, 4.5, 4.4, 4.3, 4.2])
  assert [s for s, _ in scalars["gradient_norm"]] == [10, 20, 30, 40, 50]
  assert scalars["examples_per_second"][-1] == (80, 110.0)


def test_curve_figures_hold_the_logged_points(model_dir):
  groups = report.curve_groups(str(model_dir), report.event_dirs(
      str(model_dir)))
  assert sorted(groups) == ["loss", "loss_xnli_train_en"]
  assert sorted(groups["loss_xnli_train_en"]) == ["lr=1e-05/seed=0",
                                                  "lr=1e-05/seed=1"]
  curves = {label: report.read_scalars(d)["loss"]
            for label, d in groups["loss_xnli_train_en"].items()}
  fig = report.plot_curves(curves, "fine-tuning")
  lines = fig.axes[0].get_lines()
  assert [l.get_label() for l in lines] == list(curves)
  np.testing.assert_allclose(lines[1].get_xydata(),
                             [[1, 1.99], [2, 1.98], [3, 1.97]], rtol=1e-6)


def test_bars_show_the_selected_rate_mean_and_std(model_dir):
  summary = report.load_summary(str(model_dir / "xtreme"))
  result = summary["tasks"]["pawsx"]
  assert result["learning_rate"] == 2e-5
  fig = report.task_bars("pawsx", result)
  ax = fig.axes[0]
  heights = [p.get_height() for p in ax.patches]
  assert heights == pytest.approx([75.0, 55.0])  # de, ja
  assert [t.get_text() for t in ax.get_xticklabels()] == ["de", "ja"]
  # Error bars: the sample standard deviation of (70, 80) = 7.07.
  errorbars = [c for c in ax.containers
               if isinstance(c, container.ErrorbarContainer)]
  segments = errorbars[0].lines[2][0].get_segments()
  assert [s[1][1] - s[0][1] for s in segments] == pytest.approx(
      [2 * 50 ** 0.5] * 2)
  average = [l for l in ax.get_lines() if l.get_linestyle() == "--"][0]
  assert average.get_ydata()[0] == pytest.approx(65.0)


def test_report_writes_nontrivial_pngs_and_prints_the_table(model_dir,
                                                            capsys):
  parser = argparse.ArgumentParser()
  report_cli.add_arguments(parser, "report")
  report_cli.main(parser.parse_args([f"--model_dir={model_dir}"]))
  out = model_dir / "report"
  expected = {"loss.png", "training.png", "loss_xnli_train_en.png",
              "results_pawsx.png", "results_overview.png"}
  assert {p.name for p in out.iterdir()} == expected
  for name in expected:
    assert (out / name).stat().st_size > 10_000, name
    pixels = mpimg.imread(str(out / name))
    assert pixels.ndim == 3 and pixels.shape[0] >= 300
    assert pixels.std() > 0.01, name  # not a blank canvas
  printed = capsys.readouterr().out
  assert "| pawsx | 2e-05 | 65.0 ± 7.1 |" in printed
  assert "**XTREME group avg (Table 16" in printed


def test_summary_json_is_preferred_over_loose_results(model_dir):
  summary = selection.summarize(files.collect(str(model_dir / "xtreme")),
                                "en")
  summary["tasks"]["pawsx"]["learning_rate"] = 1e-5  # as if selected so
  files.write_json(str(model_dir / "xtreme" / "summary.json"), summary)
  loaded = report.load_summary(str(model_dir / "xtreme"))
  assert loaded["tasks"]["pawsx"]["learning_rate"] == 1e-5


def test_errors_are_one_line(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    report.make_report(str(tmp_path / "missing"))
  with pytest.raises(FileNotFoundError, match="nothing to report"):
    report.make_report(str(tmp_path))
