"""Every fine-tuning head end to end through the CLI, and its bad input.

For each head (classification on XNLI, tagging on WikiANN and UD-POS,
extractive QA on SQuAD -> XQuAD): `rembert-mtf finetune
--model_dir=PRETRAINED` (the session's pre-trained tiny model_dir,
conftest.py) trains the real registered task reading fixture records in
the upstream format (fixtures.py), `rembert-mtf predict` writes the
predictions of the task's English evaluation split, and the task's own
metrics score them (evaluation/scoring.evaluate_task on the predict JSON).
Each run asserts:
  (a) step 0 is the pre-trained encoder, bit for bit: the graph `finetune`
      builds (model_fn of the Run the CLI derives, model_dir not yet
      written), its variables initialised as the Estimator initialises
      them, read before the first step;
  (b) no variable of the MLM head or the output embedding (cls/...) exists
      in that graph or in the fine-tuned checkpoint;
  (c) the loss falls (TensorBoard scalars of the run);
  (d) the learnable fixture scores far above chance (figure in each case).

Bad input, each one line on stderr, exit 2 and nothing written: labels
beyond trainer.num_classes (declared by the task, or found in the data),
a tagging sentence whose words and tags differ in count, QA answers that
are all outside their contexts, an init checkpoint of another
architecture. `predict` without any checkpoint is
tests/training/test_trainer.py::test_predict_without_a_checkpoint_is_one_line.
"""

import dataclasses
import json
import os
import shutil
import statistics

import gin
import numpy as np
import pytest

from rembert_mtf import compat
from rembert_mtf.cli import main as cli
from rembert_mtf.cli import train as train_cli
from rembert_mtf.evaluation import scoring
from rembert_mtf.model import heads
from rembert_mtf.model import partitioning
from rembert_mtf.training import input as input_lib
from rembert_mtf.training import loop
from rembert_mtf.training import model_dir as model_dir_lib
from rembert_mtf.training import model_fn as model_fn_lib
from tests import cli_testing
from tests.e2e import fixtures
from tests.e2e.conftest import MESH_2X4
from tests.e2e.conftest import MODULE
from tests.e2e.conftest import ONE_DEVICE
from tests.e2e.conftest import gin_params
from tests.training.test_trainer import _scalars

tf = compat.tf
BATCH = 16
# The MLM head's scope, the output embedding included (cls/predictions/...).
MLM_PREFIX = heads.HEADS["mlm"].variable_prefix


@dataclasses.dataclass(frozen=True)
class Case:
  """One head on one benchmark: what to fine-tune and what it must reach."""
  head: str
  mixture: str  # trainer.mixture_or_task_name (the XTREME mixture)
  num_classes: int
  eval_task: str
  eval_split: str
  sequence_length: int
  steps: int
  mesh: tuple
  metric: str
  minimum: float  # asserted; the measured figure is in CASES' comment

  @property
  def extra(self):
    # Overlapping QA windows (16 of 48 tokens apart) exercise the
    # max-context rule; XTREME's 128 would never split these contexts.
    return {"qa_windows.doc_stride": 16} if self.head == "span" else {}


# Measured with the session's pre-training (60 MLM steps), batch 16, peak
# learning rate 1e-3, 5 warm-up steps, on 64 evaluation examples (the runs
# are seeded: two runs gave the same figures):
CASES = {
    # 92.2% accuracy (loss 1.16 -> 0.10); chance 33.3% (22/21/21 labels).
    "xnli": Case("classification", "xnli", 3, "xnli_eval_en", "validation",
                 32, 300, tuple(ONE_DEVICE), "accuracy", 75.0),
    # Entity F1 72.0 on the 2x4 mesh (loss 1.21 -> 0.12); all-O scores 0.
    # (One device logs the same losses: test_..._fine_tune_alike, slow.)
    "ner": Case("token", "ner", 7, "ner_eval_en", "validation", 32, 150,
                tuple(MESH_2X4), "span_f1", 50.0),
    # EM 71.9 / F1 86.2 (loss 1.42 -> 0.10); a random context word: EM 4.4.
    "xquad": Case("span", "xquad", 2, "xquad_eval_en", "test", 48, 200,
                  tuple(ONE_DEVICE), "em", 55.0),
    # Slow: word accuracy 98.9% (loss 1.38 -> 0.0014); the most frequent
    # tag everywhere: 27.9%.
    "pos": Case("token", "pos", 18, "pos_eval_en", "validation", 32, 300,
                tuple(ONE_DEVICE), "accuracy", 90.0),
}


def _finetune_argv(model_dir, case, **bindings):
  return ["finetune", f"--model_dir={model_dir}", MODULE, *case.mesh,
          *gin_params({
              "trainer.head": repr(case.head),
              "trainer.num_classes": case.num_classes,
              "trainer.mixture_or_task_name": repr(case.mixture),
              "trainer.batch_size": BATCH,
              "trainer.sequence_length": case.sequence_length,
              "trainer.train_steps": case.steps,
              "trainer.save_checkpoints_steps": case.steps,
              "trainer.log_every_steps": 10,
              "learning_rate_schedule.peak_learning_rate": 1e-3,
              "learning_rate_schedule.warmup_steps": 5,
              # The pre-training's operative config binds total_steps to
              # its own length; a fine-tuning run must state its own.
              "learning_rate_schedule.total_steps": case.steps,
              **case.extra, **bindings})]


def _step_zero(argv):
  """The variables the first step of `rembert-mtf argv` (finetune) reads.

  The Run is derived as the CLI derives it (cli.train.load_run, then
  loop.finetuning_run); the graph is the Estimator's (model_fn in TRAIN
  mode, which restores from trainer.init_checkpoint when the run's
  model_dir has no checkpoint); the variables are initialised as the
  Estimator's Scaffold does and read before any step.

  Returns:
    (the run's model_dir, {variable name: value}).
  """
  saved = gin.config_str()
  try:
    args = cli.build_parser().parse_args(argv)
    run_dir, run = loop.finetuning_run(args.model_dir,
                                       train_cli.load_run(args))
    trainer = run.trainer
    assert trainer.init_checkpoint and not os.path.exists(run_dir)
    with tf.Graph().as_default():
      spec = input_lib.dataset(trainer, trainer.mixture_or_task_name,
                               trainer.split, training=True).element_spec
      features = {k: tf.placeholder(s.dtype, s.shape)
                  for k, s in spec.items()}
      model_fn = model_fn_lib.make_model_fn(
          run, run_dir, partitioning.cpu_devices(trainer.num_devices))
      model_fn(features, None, model_fn_lib.ModeKeys.TRAIN, {})
      variables = tf.global_variables()
      with tf.Session(config=partitioning.cpu_session_config(
          trainer.num_devices, optimize_graph=False)) as session:
        session.run(tf.global_variables_initializer())
        values = session.run(variables)
  finally:  # the bindings load_run parsed (the vocabulary's among them)
    gin.clear_config()
    gin.parse_config(saved)
  return run_dir, {v.op.name: x for v, x in zip(variables, values)}


def _model_variables(path):
  return {n for n, _ in tf.train.list_variables(path)
          if model_dir_lib.is_model_variable(n)}


def _finetune_predict_score(pretrained, case, capsys, tmp_path):
  """Runs the head's checks (a)-(d); returns (scores, loss curve)."""
  argv = _finetune_argv(pretrained, case)
  head = heads.get_head(case.head)
  reader = tf.train.load_checkpoint(pretrained)
  stored = _model_variables(pretrained)
  encoder = {n for n in stored if n.startswith(loop.ENCODER_PREFIXES)}
  with fixtures.mock_upstream():
    run_dir, initial = _step_zero(argv)
    # (a) Every encoder variable starts as pre-trained, bit for bit.
    assert encoder and encoder <= set(initial)
    for name in sorted(encoder):
      expected = reader.get_tensor(name)
      assert initial[name].dtype == expected.dtype, name
      assert initial[name].tobytes() == expected.tobytes(), name
    # (b) The graph has the task head and nothing of the MLM head.
    assert not [n for n in initial if n.startswith(MLM_PREFIX)]
    assert [n for n in initial if n.startswith(head.variable_prefix)]

    code, out, err = cli_testing.run(argv, capsys)
    assert code == 0, err[-3000:]
    assert f"fine-tuning from {pretrained}" in out
    tuned = _model_variables(run_dir)
    assert not [n for n in tuned if n.startswith(MLM_PREFIX)], tuned
    head_variables = {n for n in tuned if n.startswith(head.variable_prefix)}
    assert encoder <= tuned and head_variables
    assert not head_variables & stored
    # Fine-tuning trains the encoder too, not the head alone.
    embeddings = "bert/embeddings/word_embeddings"
    assert not np.array_equal(
        tf.train.load_checkpoint(run_dir).get_tensor(embeddings),
        reader.get_tensor(embeddings))

    out_file = tmp_path / f"{case.eval_task}.jsonl"
    code, out, err = cli_testing.run(
        ["predict", f"--model_dir={run_dir}", f"--task={case.eval_task}",
         f"--split={case.eval_split}", f"--out={out_file}",
         *gin_params(case.extra)], capsys)
    assert code == 0, err[-3000:]
    predictions = [json.loads(line) for line in open(out_file)]
  scores = scoring.evaluate_task(case.eval_task, predictions,
                                 case.eval_split)
  losses = _scalars(run_dir, "loss")
  return scores, [losses[s] for s in sorted(losses)]


def _check_learnt(case, scores, losses):
  # (c) Means of the first and last three logged losses.
  first, last = statistics.mean(losses[:3]), statistics.mean(losses[-3:])
  assert last < 0.5 * first, losses
  # (d)
  assert scores[case.metric] >= case.minimum, scores


@pytest.mark.parametrize("name", [
    "xnli", "ner", "xquad", pytest.param("pos", marks=pytest.mark.slow)])
def test_head_fine_tunes_predicts_and_scores(name, pretrained, capsys,
                                             tmp_path):
  case = CASES[name]
  scores, losses = _finetune_predict_score(pretrained, case, capsys, tmp_path)
  print(name, scores, f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
  _check_learnt(case, scores, losses)
  if case.head == "span":
    assert scores["f1"] >= scores["em"]


@pytest.mark.slow
def test_one_device_and_the_2x4_mesh_fine_tune_alike(pretrained, tmp_path,
                                                     capsys):
  # The same fine-tuning, placed on 1 device and on 8 (batch 2 x model 4).
  losses = {}
  for name, mesh in (("one", ONE_DEVICE), ("2x4", MESH_2X4)):
    model_dir = str(tmp_path / name)
    shutil.copytree(pretrained, model_dir,
                    ignore=shutil.ignore_patterns("finetune"))
    case = dataclasses.replace(CASES["ner"], mesh=tuple(mesh), steps=50)
    with fixtures.mock_upstream():
      code, _, err = cli_testing.run(_finetune_argv(model_dir, case), capsys)
    assert code == 0, err[-3000:]
    losses[name] = _scalars(
        os.path.join(model_dir, "finetune", case.mixture), "loss")
  one, mesh = losses["one"], losses["2x4"]
  assert sorted(one) == sorted(mesh) == list(range(10, 51, 10))
  for step, loss in one.items():
    # Measured: within 4.7e-7 (relative) at every logged step.
    assert mesh[step] == pytest.approx(loss, rel=1e-5), (step, one, mesh)


# ------------------------------------------------------------ bad input ----


def _refused(pretrained_copy, case, capsys, *fragments, overrides=None,
             **bindings):
  """Asserts `finetune` refuses with one line and writes no run."""
  with fixtures.mock_upstream(overrides):
    return cli_testing.expect_refusal(
        _finetune_argv(pretrained_copy, case, **bindings), capsys,
        *fragments, destination=os.path.join(pretrained_copy, "finetune"))


def test_task_with_more_classes_than_num_classes_is_refused(pretrained_copy,
                                                            capsys):
  _refused(pretrained_copy, CASES["xnli"], capsys,
           "task xnli_train_en has 3 classes", "trainer.num_classes = 2",
           "bind `trainer.num_classes = 3`", **{"trainer.num_classes": 2})


def test_label_beyond_num_classes_in_the_data_is_refused(pretrained_copy,
                                                         capsys):
  # The task declares 3 classes; the data holds a 4th.
  records = fixtures.nli_records(fixtures.TRAIN_SIZE, 1)
  records[3] = dict(records[3], label=3)
  _refused(pretrained_copy, CASES["xnli"], capsys,
           "task xnli: label 3 found but trainer.num_classes = 3",
           "labels must be 0 to 2",
           overrides={("multi_nli", None, "train"): records})


def test_label_beyond_num_classes_mid_training_stops_with_one_line(
    pretrained_copy, capsys):
  # Past the first batch (which check_first_batch reads before anything is
  # written): training starts, then stops at the first shuffled batch that
  # holds one; its run directory then has the operative config and the
  # event file, and no checkpoint.
  records = fixtures.nli_records(fixtures.TRAIN_SIZE, 1)
  records[100:] = [dict(r, label=7) for r in records[100:]]
  case = CASES["xnli"]
  with fixtures.mock_upstream({("multi_nli", None, "train"): records}):
    code, out, err = cli_testing.run(_finetune_argv(
        pretrained_copy, case, **{"trainer.train_steps": 30}), capsys)
  run_dir = os.path.join(pretrained_copy, "finetune", case.mixture)
  assert code == 2, err[-3000:]
  assert err.strip() == ("rembert-mtf: error: task xnli: label 7 found but "
                         "trainer.num_classes = 3 (labels must be 0 to 2, "
                         "or -1 to ignore); bind `trainer.num_classes` to "
                         "the number of classes of the task, or fix its "
                         "labels.")
  assert tf.train.latest_checkpoint(run_dir) is None


def test_tagging_sentence_with_fewer_tags_than_words_is_refused(
    pretrained_copy, capsys):
  records = fixtures.wikiann_records(fixtures.TRAIN_SIZE, 3)
  records[2] = dict(records[2], tags=records[2]["tags"][:-1])
  words = len(records[2]["tokens"])
  _refused(pretrained_copy, CASES["ner"], capsys,
           f"task ner_train_en: the sentence at index 2 has {words} words "
           f"but {words - 1} tags; every word needs exactly one tag",
           overrides={("wikiann", "en", "train"): records})


def _shifted(records, shift):
  """SQuAD records whose answer_start points `shift` characters late."""
  return [dict(r, answers={"text": r["answers"]["text"], "answer_start": [
      s + shift for s in r["answers"]["answer_start"]]}) for r in records]


def test_qa_answers_all_outside_their_contexts_are_refused(pretrained_copy,
                                                           capsys):
  records = _shifted(fixtures.squad_records(fixtures.TRAIN_SIZE, 7), 3)
  _refused(pretrained_copy, CASES["xquad"], capsys,
           "task xquad: none of the", "QA examples of the first training "
           "batch has its answer text at its answer_start",
           overrides={("squad", "v1.1", "train"): records})


@pytest.mark.parametrize("layers,fragment", [
    (3, "lacks bert/encoder/layer_2/"),
    (1, "holds bert/encoder/layer_1/"),
])
def test_init_checkpoint_of_another_architecture_is_refused(
    pretrained_copy, capsys, layers, fragment):
  # Same shapes, other depth: without the check, a third layer would start
  # from random weights (and a dropped second one go unnoticed).
  line = _refused(pretrained_copy, CASES["xnli"], capsys, fragment,
                  "written for another architecture",
                  **{"RemBertConfig.num_layers": layers})
  assert os.path.basename(pretrained_copy) in line
