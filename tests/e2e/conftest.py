"""One pre-trained tiny model_dir per test session, as `rembert-mtf train`.

Every end-to-end test fine-tunes from it (`finetune --model_dir=PRETRAINED`
writes PRETRAINED/finetune/<mixture>), so the pre-training runs once. It
is masked-LM pre-training on the fixtures' own sentences (`e2e_mlm`,
tests/e2e/fixtures.py) with the session's 256-piece SentencePiece model,
on one device: the heads' tests fine-tune it on one device and on a 2x4
mesh, so a checkpoint crosses meshes as a real one would.
"""

import shutil

import pytest

from tests import cli_testing

# A decoupled RemBERT in miniature (E_in 16 < E_out 32 < H 64).
MODEL = {
    "RemBertConfig.vocab_size": 256, "RemBertConfig.input_embedding_size": 16,
    "RemBertConfig.output_embedding_size": 32,
    "RemBertConfig.hidden_size": 64, "RemBertConfig.num_layers": 2,
    "RemBertConfig.num_heads": 4, "RemBertConfig.head_size": 16,
    "RemBertConfig.intermediate_size": 128,
    "RemBertConfig.max_position_embeddings": 64,
}
PRETRAIN_STEPS = 60
ONE_DEVICE = ["--num_devices=1", "--mesh_shape=", "--mesh_layout="]
MESH_2X4 = ["--num_devices=8", "--mesh_shape=batch:2;model:4",
            "--mesh_layout=batch:batch;vocab:model;heads:model;d_ff:model"]
MODULE = "--module_import=tests.e2e.fixtures"


def gin_params(bindings):
  """--gin_param flags of {binding: value written as gin}."""
  return [f"--gin_param={k} = {v}" for k, v in bindings.items()]


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory, spm_path):
  """The model_dir of PRETRAIN_STEPS MLM steps (a str path)."""
  model_dir = str(tmp_path_factory.mktemp("e2e") / "pretrained")
  code = cli_testing.exit_code(
      ["train", f"--model_dir={model_dir}", MODULE, *ONE_DEVICE,
       *gin_params({
           **MODEL, "trainer.mixture_or_task_name": "'e2e_mlm'",
           "trainer.batch_size": 16, "trainer.sequence_length": 32,
           "trainer.mlm_predictions": 5,
           "trainer.train_steps": PRETRAIN_STEPS,
           "trainer.save_checkpoints_steps": PRETRAIN_STEPS,
           "trainer.log_every_steps": 10,
           "learning_rate_schedule.peak_learning_rate": 1e-3,
           "learning_rate_schedule.warmup_steps": 5,
           "get_vocabulary.sentencepiece_model_file": repr(spm_path)})])
  assert code == 0
  return model_dir


@pytest.fixture
def pretrained_copy(pretrained, tmp_path):
  """A copy of the pre-trained model_dir (without fine-tuning runs)."""
  copy = str(tmp_path / "pretrained")
  shutil.copytree(pretrained, copy, ignore=shutil.ignore_patterns("finetune"))
  return copy
