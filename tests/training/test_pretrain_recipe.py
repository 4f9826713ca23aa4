"""The README's full-scale recipe: its gin files parse into the paper's run."""

import dataclasses

import gin

from rembert_mtf.cli import gin_config
from rembert_mtf.model import modeling
from rembert_mtf.data import registry
from rembert_mtf.training import trainer


def test_rembert_110_recipe_is_the_papers_run():
  gin.clear_config()
  try:
    gin_config.parse(["models/rembert.gin", "layouts/rembert_pod.gin",
                      "pretrain/rembert_110.gin"])
    config = trainer.TrainerConfig()
    model = modeling.RemBertConfig()
    from rembert_mtf.model import partitioning  # pylint: disable=g-import-not-at-top
    shape, layout, _ = partitioning.mesh_spec()
    assert (config.batch_size, config.sequence_length, config.mlm_predictions,
            config.train_steps) == (2048, 512, 76, 1760000)
    assert gin.query_parameter("learning_rate_schedule.peak_learning_rate") \
        == 2e-4
    assert gin.query_parameter("learning_rate_schedule.warmup_steps") == 15000
    assert registry.get_task_or_mixture(config.mixture_or_task_name)
    # The pod layout divides every dimension on 512 devices.
    trainer.check_run(model, dataclasses.replace(config, num_devices=512),
                      shape, layout)
  finally:
    gin.clear_config()
