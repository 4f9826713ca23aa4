"""Training through the Estimator on a 2x4 CPU mesh: resume, faults, bad input."""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from rembert_mtf import compat
from tests import cli_testing

tf = compat.tf
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESH = ["--mesh_shape=batch:2;model:4",
        "--mesh_layout=batch:batch;vocab:model;heads:model;d_ff:model"]


def _tiny(spm_path, steps, task="trainer_mlm", **extra):
  bindings = {
      "RemBertConfig.vocab_size": 256, "RemBertConfig.input_embedding_size": 16,
      "RemBertConfig.output_embedding_size": 32, "RemBertConfig.hidden_size": 32,
      "RemBertConfig.num_layers": 2, "RemBertConfig.num_heads": 4,
      "RemBertConfig.head_size": 8, "RemBertConfig.intermediate_size": 64,
      "RemBertConfig.max_position_embeddings": 64,
      "trainer.mixture_or_task_name": repr(task), "trainer.batch_size": 4,
      "trainer.sequence_length": 16, "trainer.mlm_predictions": 3,
      "trainer.train_steps": steps, "trainer.save_checkpoints_steps": 10,
      "trainer.log_every_steps": 10,
      "learning_rate_schedule.peak_learning_rate": 1e-3,
      "learning_rate_schedule.warmup_steps": 5,
      "learning_rate_schedule.total_steps": steps,
      "get_vocabulary.sentencepiece_model_file": repr(spm_path),
  }
  bindings.update(extra)
  return [f"--gin_param={k} = {v}" for k, v in bindings.items()]


def _command(model_dir, params, command="train"):
  return [sys.executable, "-m", "rembert_mtf.cli.main", command,
          f"--model_dir={model_dir}", "--module_import=tests.trainer_tasks",
          *MESH, *params]


def _run(model_dir, params, check=True):
  return subprocess.run(_command(model_dir, params), cwd=REPO, text=True,
                        capture_output=True, check=check, timeout=600)


def _scalars(model_dir, tag):
  values = {}
  for path in sorted(glob.glob(os.path.join(model_dir, "events.out.*"))):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = value.simple_value
  return values


# Slow (60 s): the fast suite resumes in process
# (test_resume_restores_the_input_position_and_equals_a_straight_run) and
# after a SIGKILL across two processes (test_cluster.py).
@pytest.mark.slow
def test_sigkill_mid_training_resumes_to_the_same_final_loss(tmp_path,
                                                            spm_path,
                                                            reference_run):
  steps = 150
  params = _tiny(spm_path, steps)
  straight, stdout = reference_run
  assert f"step {steps}/{steps}" in stdout
  assert (straight / "operative_config.gin").exists()

  killed = tmp_path / "killed"
  process = subprocess.Popen(_command(killed, params), cwd=REPO,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not glob.glob(str(killed / "model.ckpt-20.index")):
    assert process.poll() is None and time.time() < deadline
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  interrupted_at = tf.train.latest_checkpoint(str(killed))
  assert interrupted_at and not interrupted_at.endswith(f"-{steps}")

  resumed = _run(killed, params)
  assert f"step {steps}/{steps}" in resumed.stdout
  expected = _scalars(str(straight), "loss")[steps]
  got = _scalars(str(killed), "loss")[steps]
  assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)
  # The resumed run really trained: 4.38 at step 10 -> 3.59 measured. The
  # masks are drawn anew each epoch (seqio applies the steps after the
  # cache placeholder after repeat), so the tiny corpus cannot be memorised
  # mask by mask.
  assert expected < 0.9 * _scalars(str(straight), "loss")[10]
  for tag in ("learning_rate", "gradient_norm", "mlm_accuracy",
              "examples_per_second"):
    assert steps in _scalars(str(straight), tag)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, spm_path,
                                                      capsys):
  model_dir = tmp_path / "nan"
  _train_in_process(model_dir, _tiny(
      spm_path, 6, **{"trainer.save_checkpoints_steps": 2}), capsys)
  code, out, err = cli_testing.run(
      ["train", f"--model_dir={model_dir}",
       "--module_import=tests.trainer_tasks", "--num_devices=1",
       "--mesh_shape=", "--mesh_layout=",
       *_tiny(spm_path, 10, task="trainer_nan_mlm")], capsys)
  # The saved input position is another task's: not restored.
  assert ("resuming at step 6: the input changed since the checkpoint "
          "(trainer.mixture_or_task_name); skipping 6 batches") in out
  # The run trained (and printed progress) until the NaN: one error line.
  assert code == 2, err[-2000:]
  assert err.strip() == (
      f"rembert-mtf: error: loss is nan at step 7; training stopped, the "
      f"last good checkpoint is {model_dir / 'model.ckpt-6'} (lower "
      "`learning_rate_schedule.peak_learning_rate` or check the data).")
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("model.ckpt-6")
  reader = tf.train.load_checkpoint(str(model_dir / "model.ckpt-6"))
  import numpy as np  # pylint: disable=g-import-not-at-top
  assert np.isfinite(reader.get_tensor("bert/embeddings/word_embeddings")).all()


def _argv(model_dir, params, command="train"):
  """The command line of _command, for an in-process run (cli_testing)."""
  return _command(model_dir, params, command)[3:]


# Slow (30 s, a subprocess run first): the fast suite refuses an init
# checkpoint of another architecture in tests/e2e/test_finetune_heads.py.
@pytest.mark.slow
def test_checkpoint_of_another_architecture_is_refused(tmp_path, spm_path,
                                                       capsys):
  model_dir = tmp_path / "arch"
  _run(model_dir, _tiny(spm_path, 2))
  before = (model_dir / "operative_config.gin").read_text()
  files = sorted(os.listdir(model_dir))
  line = cli_testing.expect_refusal(
      _argv(model_dir, _tiny(spm_path, 4) +
            ["--gin_param=RemBertConfig.hidden_size = 48"]), capsys,
      "written for another architecture")
  assert "[32, 4, 8]" in line or "[256, 16]" in line or "[16, 32]" in line
  assert (model_dir / "operative_config.gin").read_text() == before
  assert sorted(os.listdir(model_dir)) == files


@pytest.mark.parametrize("param,message", [
    ("RemBertConfig.vocab_size = 300", "vocabulary has 256 pieces but "
     "RemBertConfig.vocab_size = 300"),
    ("trainer.mixture_or_task_name = 'trainer_mlmm'",
     "unknown task or mixture 'trainer_mlmm'; closest: trainer_mlm"),
    ("RemBertConfig.num_heads = 3", "heads = 3 is not divisible by mesh axis "
     "model = 4"),
    ("trainer.unknown = 1", "trainer"),
])
def test_bad_configuration_one_line_nothing_written(tmp_path, spm_path, param,
                                                    message, capsys):
  model_dir = tmp_path / "bad"
  cli_testing.expect_refusal(
      _argv(model_dir, _tiny(spm_path, 2) + [f"--gin_param={param}"]),
      capsys, message, destination=model_dir)


@pytest.mark.parametrize("flag,message", [
    ("--num_devices=0", "--num_devices: 0 must be at least 1"),
    ("--cluster_timeout=-1", "--cluster_timeout: -1 must be greater than 0"),
])
def test_out_of_range_flags_are_usage_errors(tmp_path, spm_path, flag,
                                             message, capsys):
  cli_testing.expect_usage_error(
      _argv(tmp_path / "bad", _tiny(spm_path, 2) + [flag]), capsys, message)


def test_predict_without_a_checkpoint_is_one_line(tmp_path, spm_path, capsys):
  empty = tmp_path / "empty"
  cli_testing.expect_refusal(
      _argv(empty, _tiny(spm_path, 2), "predict") +
      ["--task=trainer_mlm", f"--out={tmp_path / 'p.jsonl'}"], capsys,
      f"no checkpoint in {empty}")
  assert not (tmp_path / "p.jsonl").exists()


def test_predict_stopped_by_a_data_error_leaves_no_file(tmp_path, spm_path,
                                                        capsys, monkeypatch):
  # loop.predict as it fails on a broken example after the first batch:
  # one prediction out, then the data error (a UserError, as
  # loop.reporting_data_errors raises it).
  from rembert_mtf import errors  # pylint: disable=g-import-not-at-top
  from rembert_mtf.training import loop  # pylint: disable=g-import-not-at-top

  def predict(*args, **kwargs):
    del args, kwargs
    yield {"prediction": 1}
    raise errors.UserError("task t: the sentence at index 9 has 3 words but "
                           "2 tags")

  monkeypatch.setattr(loop, "predict", predict)
  out = tmp_path / "p.jsonl"
  cli_testing.expect_refusal(
      _argv(tmp_path / "m", _tiny(spm_path, 2), "predict") +
      ["--task=trainer_mlm", f"--out={out}"], capsys,
      "the sentence at index 9 has 3 words but 2 tags")
  assert not out.exists() and not (tmp_path / "p.jsonl.tmp").exists()


# ------------------------------------------------- resume without re-reading


def _train_in_process(model_dir, params, capsys):
  code, out, err = cli_testing.run(
      ["train", f"--model_dir={model_dir}",
       "--module_import=tests.trainer_tasks", "--num_devices=1",
       "--mesh_shape=", "--mesh_layout=", *params], capsys)
  assert code == 0, err[-3000:]
  return out


def test_resume_restores_the_input_position_and_equals_a_straight_run(
    tmp_path, spm_path, capsys):
  # Every step logged; checkpoints (model and input) every 2 steps; one
  # schedule over 8 steps whichever train_steps a leg stops at.
  def params(steps):
    return _tiny(spm_path, steps, **{
        "trainer.save_checkpoints_steps": 2, "trainer.log_every_steps": 1,
        "learning_rate_schedule.total_steps": 8})

  straight = tmp_path / "straight"
  _train_in_process(straight, params(8), capsys)
  resumed = tmp_path / "resumed"
  _train_in_process(resumed, params(4), capsys)
  assert sorted(n for n in os.listdir(resumed) if n.startswith("input.ckpt")
                and n.endswith(".json")) == [
                    "input.ckpt-2.json", "input.ckpt-4.json"]
  skipped = tmp_path / "skipped"
  shutil.copytree(resumed, skipped)
  for name in os.listdir(skipped):
    if name.startswith(("input.ckpt", "checkpoint_input")):
      os.remove(skipped / name)
  out = _train_in_process(resumed, params(8), capsys)
  assert "resuming at step 4: input position restored from input.ckpt-4" \
      in out
  out = _train_in_process(skipped, params(8), capsys)
  assert "resuming at step 4: no input position saved with the checkpoint; " \
      "skipping 4 batches" in out
  assert " real tokens/s  ETA" in out
  want = _scalars(str(straight), "loss")
  assert set(range(6, 9)) <= set(want)
  # Real tokens per example: packed to the length, so near trainer's 16;
  # counted per step from input_mask, timed over the same interval.
  tokens = _scalars(str(straight), "real_tokens_per_second")
  examples = _scalars(str(straight), "examples_per_second")
  for step in range(6, 9):
    assert 12 < tokens[step] / examples[step] <= 16, (tokens, examples)
  for run_dir in (resumed, skipped):
    got = _scalars(str(run_dir), "loss")
    # Bit for bit: the same batches in the same order, the same float ops.
    # (A leg's first step is not logged: the progress line needs a time.)
    assert {s: got.get(s) for s in range(6, 9)} == {
        s: want[s] for s in range(6, 9)}, (run_dir, got, want)
  # The restored pipeline's own positions are saved again, with the skip
  # it was built with (none).
  with open(resumed / "input.ckpt-8.json") as f:
    record = json.load(f)
  assert record["skipped"] == 0
  assert record["input"]["mixture_or_task_name"] == "trainer_mlm"
  assert record["input"]["batch_size"] == 4
  with open(skipped / "input.ckpt-8.json") as f:
    assert json.load(f)["skipped"] == 4


def test_mixture_of_tasks_with_other_features_is_refused(tmp_path, spm_path,
                                                         capsys):
  model_dir = tmp_path / "mixed"
  cli_testing.expect_refusal(
      ["train", f"--model_dir={model_dir}",
       "--module_import=tests.trainer_tasks", "--num_devices=1",
       "--mesh_shape=", "--mesh_layout=",
       *_tiny(spm_path, 2, task="trainer_mixed_vocabularies")], capsys,
      "mixture trainer_mixed_vocabularies: task trainer_mlm_bytes and task "
      "trainer_mlm give different features (input_ids",
      "must share their output_features", destination=str(model_dir))
