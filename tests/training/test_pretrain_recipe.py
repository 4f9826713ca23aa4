"""The README's full-scale recipe: its gin files parse into the paper's run."""

import gin

from rembert_mtf.cli import gin_config
from rembert_mtf.data import registry
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import loop


def test_rembert_110_recipe_is_the_papers_run():
  gin.clear_config()
  try:
    gin_config.parse(["models/rembert.gin", "layouts/rembert_pod.gin",
                      "pretrain/rembert_110.gin"])
    run = config_lib.Run.from_gin()
    config = run.trainer
    assert (config.batch_size, config.sequence_length, config.mlm_predictions,
            config.train_steps) == (2048, 512, 76, 1760000)
    assert run.schedule == config_lib.ScheduleConfig(
        peak_learning_rate=2e-4, warmup_steps=15000, total_steps=1760000,
        final_learning_rate=0.0)
    # The run's length is stated once: the schedule follows train_steps.
    assert "learning_rate_schedule.total_steps =" not in open(
        gin_config.gin_dir() + "/pretrain/rembert_110.gin").read()
    assert run.optimizer == config_lib.OptimizerConfig(
        name="adam", weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
        epsilon=1e-6, clip_norm=1.0)
    assert run.mesh_shape == "batch:128;model:4"
    assert registry.get_task_or_mixture(config.mixture_or_task_name)
    # The pod layout divides every dimension on 512 devices.
    loop.check_run(run.replace(num_devices=512))
  finally:
    gin.clear_config()
