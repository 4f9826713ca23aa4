"""Is the input pipeline ever the bottleneck? Examples/s in and out.

  python -m bench.input_pipeline [--sequence_length=512] [--rounds=6]

In: MLM examples/s of the seqio pre-training pipeline exactly as training
reads it (`training.input.dataset`: mixture sampling at rate n_l ** 0.5,
SentencePiece tokenization, document packing, BERT masking, feature
conversion, batching) at sequence length 512, on the demo's generated
4-language corpus (the only corpus on this machine: tfds sources can't be
downloaded here; the pipeline after the source is the one `wiki_*`/`mc4_*`
tasks use, `preprocessors.mlm_preprocessors`).
Out: examples/s the training step consumes, the `small` config's step
(gin/models/small.gin, 1 device) at the same sequence length; rounds of
pipeline batches and steps alternate.
The goal: the pipeline at least 5x the step's rate per core.
"""

import argparse
import os
import tempfile
import time

import gin
import numpy as np

from bench import common
from bench import throughput
from rembert_mtf import compat
from rembert_mtf.cli import gin_config
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.data import preprocessors
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import input as input_lib
from rembert_mtf.data import vocab_training

tf = compat.tf

MIXTURE = "demo_mlm"
VOCAB_SIZE = 768  # the demo corpus supports < 1000 pieces


def pipeline_batches(vocab_file, batch_size, sequence_length, seed=0):
  """An iterator over the training dataset's numpy batches."""
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file", vocab_file)
  config = config_lib.TrainerConfig(
      mixture_or_task_name=MIXTURE, batch_size=batch_size,
      sequence_length=sequence_length,
      mlm_predictions=preprocessors.default_max_predictions(sequence_length),
      seed=seed)
  # Eager iteration: what a host's input pipeline hands to the step.
  return input_lib.dataset(config, MIXTURE, "train",
                           training=True).as_numpy_iterator()


def run(batch_size, sequence_length, rounds, block, work_dir, log=print):
  """Returns the result dict (see module docstring)."""
  from rembert_mtf.tasks import demo  # noqa: F401  (registers demo_mlm)  pylint: disable=g-import-not-at-top,unused-import
  vocab_prefix = os.path.join(work_dir, "spm")
  log(f"training a {VOCAB_SIZE}-piece vocabulary on {MIXTURE}")
  vocab_training.train_vocabulary(MIXTURE, VOCAB_SIZE, vocab_prefix,
                                  num_sentences=40000)
  iterator = pipeline_batches(vocab_prefix + ".model", batch_size,
                              sequence_length)
  next(iterator)  # the corpus is generated (and cached) on first read

  gin_config.parse(["models/small.gin"])
  config = modeling.RemBertConfig()
  batch_shape = mesh_graph.BatchShape(
      batch_size, sequence_length,
      preprocessors.default_max_predictions(sequence_length))
  step = throughput.rembert_mtf_step(
      config, batch_shape, throughput.synthetic_batch(config, batch_shape))
  step()
  # Blocks, not single batches: tf.data prefetches in the background, so a
  # batch taken right after a step may have been made during it.
  log(f"pipeline and step in turn, {rounds} rounds")
  step_seconds, block_rates, token_rates = [], [], []
  for r in range(rounds):
    start, tokens = time.perf_counter(), 0
    for _ in range(block):
      tokens += int(next(iterator)["input_mask"].sum())
    seconds = time.perf_counter() - start
    block_rates.append(block * batch_size / seconds)
    token_rates.append(tokens / seconds)
    start = time.perf_counter()
    step()
    step_seconds.append(time.perf_counter() - start)
    log(f"  round {r + 1}/{rounds}: pipeline {token_rates[-1]:.0f} tokens/s, "
        f"step {step_seconds[-1]:.2f}s")
  step_rate = batch_size / float(np.median(step_seconds))
  # The demo's documents are short (most examples are one padded document):
  # real tokens/s over L is the rate for examples full of text, the honest
  # figure for Wikipedia-length documents.
  pipeline_rate = float(np.median(token_rates)) / sequence_length
  cores = os.cpu_count()
  return {
      "machine": common.machine(),
      "mixture": MIXTURE,
      "sequence_length": sequence_length,
      "batch_size": batch_size,
      "rounds": rounds,
      "batches_per_block": block,
      "pipeline_examples_per_second": pipeline_rate,
      "pipeline_examples_per_second_as_read": float(np.median(block_rates)),
      "pipeline_real_tokens_per_second": float(np.median(token_rates)),
      "step_examples_per_second": step_rate,
      "ratio": pipeline_rate / step_rate,
      "pipeline_examples_per_second_per_core": pipeline_rate / cores,
      "ratio_per_core": pipeline_rate / cores / step_rate,
  }


def markdown(result):
  return "\n".join([
      "| | examples/s |", "|---|---:|",
      f"| seqio pipeline (`training.input.dataset`, {result['mixture']}, length "
      f"{result['sequence_length']}), as read | "
      f"{result['pipeline_examples_per_second_as_read']:,.0f} |",
      f"| the same in full-length examples (real tokens/s / "
      f"{result['sequence_length']}) | "
      f"{result['pipeline_examples_per_second']:,.0f} |",
      f"| full-length examples per core ({result['machine']['cores']} cores) | "
      f"{result['pipeline_examples_per_second_per_core']:,.0f} |",
      f"| training step consumes (small config, 1 device) | "
      f"{result['step_examples_per_second']:,.1f} |",
      "",
      f"Pipeline / step: {result['ratio']:.0f}x; per core "
      f"{result['ratio_per_core']:.0f}x (goal >= 5x). Medians over "
      f"{result['rounds']} rounds of {result['batches_per_block']} pipeline "
      f"batches of {result['batch_size']} then one step; "
      f"the pipeline made {result['pipeline_real_tokens_per_second']:,.0f} "
      "real tokens/s. Ratios use full-length examples.",
  ])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sequence_length", type=int, default=512)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--block", type=int, default=10,
                      help="pipeline batches timed together per round")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as work_dir:
    result = run(args.batch_size, args.sequence_length, args.rounds,
                 args.block, work_dir)
  text = markdown(result)
  print(text)
  print("wrote", common.write_results("input_pipeline", result, text))


if __name__ == "__main__":
  main()
