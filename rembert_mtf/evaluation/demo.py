"""The paper's setting in miniature, with no download (`rembert-mtf demo`).

  1. synthetic languages (rembert_mtf.data.synthetic, tasks/demo.py): one grammar,
     disjoint words, shared digits and punctuation;
  2. a SentencePiece vocabulary trained on the smoothed mixture of them;
  3. MLM pre-training of a tiny decoupled RemBERT (gin/models/tiny.gin) on a
     2x4 mesh of virtual CPU devices with model parallelism;
  4. fine-tuning on the first language's topic task only (tasks/demo.py);
  5. zero-shot accuracy on every language, printed as a table and written to
     model_dir/demo_results.json, with the MLM loss curve as a PNG.

Everything is seeded; the sizes below fit in under 10 minutes on 2 cores.
"""

import dataclasses
import json
import os
import time

import gin
import numpy as np

from rembert_mtf import compat
from rembert_mtf.data import vocab_training
from rembert_mtf.evaluation import metrics
from rembert_mtf.training import config
from rembert_mtf.training import loop

tf = compat.tf

MESH_SHAPE = "batch:2;model:4"
LAYOUT = "batch:batch;vocab:model;heads:model;d_ff:model"


@gin.configurable("demo")
@dataclasses.dataclass(frozen=True)
class DemoConfig:
  """Sizes of the miniature; every field is a `demo.*` gin binding."""
  vocab_size: int = 768
  vocab_sentences: int = 20000
  sequence_length: int = 64
  mlm_predictions: int = 10
  pretrain_steps: int = 5000
  pretrain_batch_size: int = 32
  pretrain_learning_rate: float = 2e-3
  finetune_steps: int = 600
  finetune_batch_size: int = 32
  finetune_learning_rate: float = 5e-4
  seed: int = 0


def _schedule(peak, steps):
  """Warm-up over the first 10% of the steps, then linear decay to 0."""
  return config.ScheduleConfig(peak_learning_rate=peak,
                               warmup_steps=max(steps // 10, 1),
                               total_steps=steps)


def _stage(title):
  print(f"\n== {title}", flush=True)


def run(model_dir, base_run, demo=None):
  """Runs the five stages into model_dir; returns the results dict.

  Args:
    model_dir: where the vocabulary, checkpoints and results go.
    base_run: training.config.Run whose model (models/tiny.gin from the CLI)
      and optimizer the stages share; the demo sets the rest.
    demo: DemoConfig (default: the `demo.*` gin bindings).
  """
  from rembert_mtf.tasks import demo as demo_tasks  # pylint: disable=g-import-not-at-top
  demo = demo or DemoConfig()
  start = time.time()
  tf.io.gfile.makedirs(model_dir)

  _stage("1. vocabulary")
  spm_prefix = os.path.join(model_dir, "spm")
  if not tf.io.gfile.exists(spm_prefix + ".model"):
    vocab_training.train_vocabulary("demo_mlm", demo.vocab_size, spm_prefix,
                                    num_sentences=demo.vocab_sentences,
                                    seed=demo.seed)
  # The tasks' vocabulary is resolved through gin when they are read, as
  # seqio tasks are; the model's size is passed explicitly.
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     spm_prefix + ".model")
  model_config = dataclasses.replace(base_run.model,
                                     vocab_size=demo.vocab_size)
  print(f"{demo.vocab_size} pieces in {spm_prefix}.model")

  _stage(f"2. MLM pre-training on {', '.join(demo_tasks.LANGUAGES)} "
         f"({MESH_SHAPE} mesh)")
  pretrain_dir = os.path.join(model_dir, "pretrain")
  pretrain = config.Run(
      model=model_config, trainer=config.TrainerConfig(
          mixture_or_task_name="demo_mlm", head="mlm",
          batch_size=demo.pretrain_batch_size,
          sequence_length=demo.sequence_length,
          mlm_predictions=demo.mlm_predictions,
          train_steps=demo.pretrain_steps,
          save_checkpoints_steps=demo.pretrain_steps, log_every_steps=100,
          seed=demo.seed),
      optimizer=base_run.optimizer,
      schedule=_schedule(demo.pretrain_learning_rate, demo.pretrain_steps),
      mesh_shape=MESH_SHAPE, layout=LAYOUT)
  loop.train(pretrain_dir, pretrain)

  _stage(f"3. fine-tuning on {demo_tasks.TRAIN_LANGUAGE} only")
  finetune_dir = os.path.join(model_dir, "finetune")
  finetune = pretrain.replace(
      trainer=config.TrainerConfig(
          mixture_or_task_name=demo_tasks.cls_train_task_name(),
          head="classification", num_classes=2,
          batch_size=demo.finetune_batch_size,
          sequence_length=demo.sequence_length,
          train_steps=demo.finetune_steps,
          save_checkpoints_steps=demo.finetune_steps, log_every_steps=100,
          init_checkpoint=tf.train.latest_checkpoint(pretrain_dir),
          seed=demo.seed),
      schedule=_schedule(demo.finetune_learning_rate, demo.finetune_steps))
  loop.train(finetune_dir, finetune)

  _stage("4. zero-shot evaluation (validation split)")
  accuracy = {}
  for lang in demo_tasks.LANGUAGES:
    predictions = list(loop.predict(
        finetune_dir, finetune, demo_tasks.cls_eval_task_name(lang),
        "validation"))
    accuracy[lang] = metrics.accuracy(
        [int(p["label"]) for p in predictions],
        [int(p["predicted_label"]) for p in predictions])["accuracy"]
  results = _results(pretrain_dir, accuracy, demo_tasks.TRAIN_LANGUAGE,
                     time.time() - start)
  _stage("5. results")
  _print_table(results)
  _write(model_dir, results)
  return results


def _loss_curve(model_dir):
  values = {}
  for name in sorted(tf.io.gfile.listdir(model_dir)):
    if name.startswith("events.out"):
      for event in tf.train.summary_iterator(os.path.join(model_dir, name)):
        for value in event.summary.value:
          if value.tag == "loss":
            values[event.step] = value.simple_value
  return sorted(values.items())


def _results(pretrain_dir, accuracy, train_language, seconds):
  curve = _loss_curve(pretrain_dir)
  unseen = [v for k, v in accuracy.items() if k != train_language]
  return {
      "accuracy": accuracy, "train_language": train_language,
      "unseen_language_mean": float(np.mean(unseen)), "chance": 50.0,
      "mlm_loss_first": curve[0][1], "mlm_loss_last": curve[-1][1],
      "mlm_loss_curve": curve, "seconds": round(seconds, 1),
  }


def _print_table(results):
  print("| language | accuracy (%) |\n|---|---|")
  for lang, value in results["accuracy"].items():
    seen = " (fine-tuned)" if lang == results["train_language"] else ""
    print(f"| {lang}{seen} | {value:.1f} |")
  print(f"unseen languages: {results['unseen_language_mean']:.1f}% "
        f"(chance {results['chance']:.0f}%); MLM loss "
        f"{results['mlm_loss_first']:.3f} -> {results['mlm_loss_last']:.3f}; "
        f"{results['seconds']:.0f} s")


def _write(model_dir, results):
  with tf.io.gfile.GFile(os.path.join(model_dir, "demo_results.json"),
                         "w") as f:
    json.dump(results, f, indent=2)
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, (loss_axis, bar_axis) = pyplot.subplots(1, 2, figsize=(10, 4))
  steps, losses = zip(*results["mlm_loss_curve"])
  loss_axis.plot(steps, losses)
  loss_axis.set(xlabel="step", ylabel="MLM loss", title="pre-training")
  langs = list(results["accuracy"])
  bar_axis.bar(langs, [results["accuracy"][k] for k in langs])
  bar_axis.axhline(results["chance"], color="gray", linestyle="--")
  bar_axis.set(ylabel="accuracy (%)", ylim=(0, 100),
               title=f"fine-tuned on {results['train_language']} only")
  figure.tight_layout()
  figure.savefig(os.path.join(model_dir, "demo.png"))
  pyplot.close(figure)
