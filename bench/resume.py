"""Resuming pre-training input at step N: skipping batches vs restoring the
saved input position.

  python -m bench.resume [--step=100000] [--processes=3]

The demo mixture (demo_mlm, the only corpus on this machine) as training
reads it (`training.input.dataset`: mixture sampling, tokenization,
packing, masking, batching) at the demo's pre-training shape, batch 32 x
length 64, with the demo's 768-piece vocabulary.

  skip     a fresh process builds the pipeline with `.skip(N)` (what the
           trainer did before the input position was saved, and still does
           for a checkpoint without one) and reads its first batch: every
           batch before N is tokenized, packed and masked again.
  restore  a fresh process builds the same pipeline, restores the iterator
           state saved at step N (hooks.InputCheckpointHook saves the same
           state with every checkpoint: tf.data's SerializeIterator) and
           reads its first batch.

The figure is seconds from process start (Python's, before TensorFlow is
imported) to the first batch at step N + 1, and each restored process's
first batches must equal, bit for bit, the batches the skip process read
after step N. The skip process runs once (it takes minutes per 10,000
steps); the restore process --processes times (median, min-max).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

START = time.time()  # before TensorFlow: the process's own start

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np

from bench import common

MIXTURE = "demo_mlm"
VOCAB_SIZE = 768
BATCH, LENGTH = 32, 64
COMPARED = 3  # batches after step N compared bit for bit


def _dataset(vocab_file, step):
  """The training pipeline at the demo's shape, skipping `step` batches."""
  import gin
  from rembert_mtf.data import preprocessors
  from rembert_mtf.data import registry
  from rembert_mtf.training import config as config_lib
  from rembert_mtf.training import input as input_lib
  registry.ensure_registered()
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file", vocab_file)
  config = config_lib.TrainerConfig(
      mixture_or_task_name=MIXTURE, batch_size=BATCH,
      sequence_length=LENGTH,
      mlm_predictions=preprocessors.default_max_predictions(LENGTH))
  return input_lib.dataset(config, MIXTURE, "train", training=True,
                           start_step=step)


def _child(mode, vocab_file, step, state, out):
  """One measured process: writes {"seconds", "batches"} to `out`."""
  from rembert_mtf import compat  # noqa: F401  (first: the mtf fix)
  import tensorflow as tf2  # TF2's Checkpoint: eager iterators
  iterator = iter(_dataset(vocab_file, step))
  checkpoint = tf2.train.Checkpoint(input=iterator)
  if mode == "restore":
    checkpoint.read(state).assert_consumed()
  first = next(iterator)
  seconds = time.time() - START
  if mode == "skip":  # the position after step N: what a checkpoint saves
    checkpoint.write(state)
  batches = [first] + [next(iterator) for _ in range(COMPARED - 1)]
  np.savez(out + ".npz", **{f"{i}/{k}": v.numpy() for i, b in
                            enumerate(batches) for k, v in b.items()})
  with open(out, "w") as f:
    json.dump({"seconds": seconds}, f)


def _run_child(mode, vocab_file, step, state, work_dir, index, log):
  out = os.path.join(work_dir, f"{mode}-{index}.json")
  # The state is written after the first batch at N + 1 is read, so the
  # restore process restores to N + 1 and its first batch is skip's second:
  # both are compared from there.
  subprocess.run([sys.executable, "-m", "bench.resume", "--child", mode,
                  "--vocab_file", vocab_file, f"--step={step}",
                  "--state", state, "--out", out], check=True,
                 cwd=os.path.dirname(os.path.dirname(
                     os.path.abspath(__file__))))
  with open(out) as f:
    seconds = json.load(f)["seconds"]
  log(f"{mode} #{index}: first batch after step {step} at {seconds:.1f} s")
  return seconds, dict(np.load(out + ".npz"))


def run(step, processes, work_dir, log=print):
  from rembert_mtf.data import registry
  from rembert_mtf.data import vocab_training
  registry.ensure_registered()
  prefix = os.path.join(work_dir, "spm")
  log(f"training a {VOCAB_SIZE}-piece vocabulary on {MIXTURE}")
  vocab_training.train_vocabulary(MIXTURE, VOCAB_SIZE, prefix,
                                  num_sentences=40000)
  vocab_file = prefix + ".model"
  state = os.path.join(work_dir, "input_state")
  skip_seconds, skip_batches = _run_child("skip", vocab_file, step, state,
                                          work_dir, 0, log)
  restored = [_run_child("restore", vocab_file, step, state, work_dir, i,
                         log) for i in range(processes)]
  # skip's batches N+1, N+2, N+3; restore's N+2, N+3, N+4.
  equal = True
  for _, batches in restored:
    for i in range(COMPARED - 1):
      for key in [k for k in skip_batches if k.startswith(f"{i + 1}/")]:
        other = batches[f"{i}/{key.split('/', 1)[1]}"]
        equal &= bool(np.array_equal(skip_batches[key], other))
  seconds = [s for s, _ in restored]
  return {"machine": common.machine(), "step": step, "batch_size": BATCH,
          "sequence_length": LENGTH, "skip_seconds": skip_seconds,
          "restore_seconds": seconds,
          "restore_median": statistics.median(seconds),
          "bit_identical": equal}


def markdown(result):
  step = result["step"]
  seconds = result["restore_seconds"]
  return (
      f"Resuming the demo mixture's input (batch {result['batch_size']} x "
      f"{result['sequence_length']}) at step {step:,}: seconds from process "
      "start to the first new batch.\n\n"
      "| resume | seconds |\n|---|---:|\n"
      f"| skip {step:,} batches (1 process) | {result['skip_seconds']:,.1f} |"
      f"\n| restore the saved input position (median of {len(seconds)} "
      f"processes, {min(seconds):.1f}-{max(seconds):.1f}) | "
      f"{result['restore_median']:.1f} |\n\n"
      f"The restored batches equal the skipped pipeline's bit for bit: "
      f"{'yes' if result['bit_identical'] else 'NO'}. Goal: the first step "
      "within 30 s of the process start.\n")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--step", type=int, default=100000)
  parser.add_argument("--processes", type=int, default=3)
  parser.add_argument("--child", choices=("skip", "restore"), default=None,
                      help=argparse.SUPPRESS)
  parser.add_argument("--vocab_file", help=argparse.SUPPRESS)
  parser.add_argument("--state", help=argparse.SUPPRESS)
  parser.add_argument("--out", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    _child(args.child, args.vocab_file, args.step, args.state, args.out)
    return
  with tempfile.TemporaryDirectory() as work_dir:
    result = run(args.step, args.processes, work_dir)
  text = markdown(result)
  print(text)
  print("wrote", common.write_results("resume", result, text))


if __name__ == "__main__":
  main()
