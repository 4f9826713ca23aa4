"""The run configuration: built once from gin, derived without gin, checked."""

import gin
import pytest

from rembert_mtf import errors
from rembert_mtf.training import config as config_lib


@pytest.fixture
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_from_gin_binds_every_part_and_the_schedule_follows_the_steps(
    clean_gin):
  gin.parse_config(["trainer.train_steps = 300",
                    "trainer.mixture_or_task_name = 'xnli'",
                    "optimizer.name = 'adafactor'",
                    "learning_rate_schedule.warmup_steps = 30",
                    "RemBertConfig.num_layers = 3",
                    "partitioning.mesh.shape = 'batch:8'"])
  run = config_lib.Run.from_gin(layout="batch:batch", num_devices=8)
  assert run.trainer.train_steps == 300 and run.trainer.num_devices == 8
  assert run.schedule.total_steps == 300  # stated once, in train_steps
  assert run.schedule.warmup_steps == 30
  assert run.optimizer.name == "adafactor" and run.model.num_layers == 3
  assert (run.mesh_shape, run.layout) == ("batch:8", "batch:batch")


def test_replace_derives_a_run_without_touching_gin(clean_gin):
  base = config_lib.Run.from_gin(mixture_or_task_name="xnli")
  before = gin.config_str()
  derived = base.replace(train_steps=50, seed=3)
  assert derived.trainer.train_steps == 50 and derived.schedule.total_steps == 50
  assert derived.trainer.seed == 3 and base.trainer.seed == 0
  explicit = base.replace(schedule=config_lib.ScheduleConfig(
      peak_learning_rate=1e-5, warmup_steps=5, total_steps=70), train_steps=60)
  assert explicit.schedule.total_steps == 70  # given, not derived
  assert gin.config_str() == before


def test_mlm_predictions_follow_the_sequence_length_when_unbound(clean_gin):
  gin.parse_config(["trainer.mlm_predictions = None",
                    "trainer.sequence_length = 512"])
  assert config_lib.Run.from_gin().trainer.mlm_predictions == 76
  assert config_lib.Run.from_gin(
      sequence_length=128).trainer.mlm_predictions == 19


def test_gin_bindings_rebuild_the_same_run(clean_gin):
  run = config_lib.Run.from_gin(mixture_or_task_name="xnli", head="span",
                                batch_size=7).replace(
                                    optimizer=config_lib.OptimizerConfig(
                                        fused=True, clip_norm=None))
  gin.clear_config()
  gin.parse_config(run.gin_bindings())
  assert config_lib.Run.from_gin() == run


@pytest.mark.parametrize("binding,message", [
    ("trainer.batch_size = 0", "trainer.batch_size must be positive, got 0"),
    ("trainer.log_every_steps = -1", "trainer.log_every_steps must be positive"),
    ("trainer.mlm_predictions = 200", "trainer.mlm_predictions = 200 exceeds"),
    ("trainer.eval_every_steps = -5", "trainer.eval_every_steps must be >= 0"),
    ("optimizer.name = 'sgd'", "optimizer.name must be 'adam' or 'adafactor'"),
    ("optimizer.beta_2 = 1.0", "optimizer.beta_2 must be in [0, 1)"),
    ("optimizer.clip_norm = -1.0", "optimizer.clip_norm must be >= 0"),
    ("learning_rate_schedule.peak_learning_rate = 0.0",
     "peak_learning_rate must be > 0"),
    ("learning_rate_schedule.warmup_steps = -1", "warmup_steps must be >= 0"),
])
def test_out_of_range_bindings_are_one_line_user_errors(clean_gin, binding,
                                                        message):
  gin.parse_config(["trainer.mixture_or_task_name = 'xnli'", binding])
  with pytest.raises(errors.UserError) as error:
    config_lib.Run.from_gin().validate()
  assert message in str(error.value)
  assert len(str(error.value).splitlines()) == 1
