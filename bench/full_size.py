"""One pre-training step of the full RemBERT on this machine, with its memory.

  python -m bench.full_size [--optimizer=adam|adafactor] [--steps=3]
      [--batch_size=1] [--sequence_length=128]

The released architecture (gin/models/rembert.gin: 32 layers, H 1152, E_in
256, a 250,300 x 1664 output embedding; 995M parameters at pre-training),
MLM + Adam with weight decay (or Adafactor) + clipping, on one CPU device, batch 1 x 128
with 19 masked positions. Reports graph build, variable initialisation and
step times (median of `steps` after the first), and the process's peak
resident memory against the planner's per-device bytes.
"""

import argparse
import time

import numpy as np

from bench import common
from bench import throughput
from rembert_mtf.cli import gin_config
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.planning import planner
from rembert_mtf.planning import step_graph
from rembert_mtf.data import preprocessors
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers


def run(steps, batch_size, sequence_length, optimizer, log=print):
  # No warm-up, so the steps change the weights (and the loss) visibly.
  gin_config.parse(["models/rembert.gin"])
  config = modeling.RemBertConfig()
  optimizer_config = config_lib.OptimizerConfig(name=optimizer)
  schedule = config_lib.ScheduleConfig(warmup_steps=0, total_steps=1760000)
  batch_shape = mesh_graph.BatchShape(
      batch_size, sequence_length,
      preprocessors.default_max_predictions(sequence_length))
  log("building and initialising the graph (995M parameters)")
  start = time.perf_counter()
  graph = mesh_graph.MeshGraph(
      config, batch_shape,
      update_fn=optimizers.step_update_fn(optimizer_config, schedule))
  build_seconds = time.perf_counter() - start
  features = throughput.synthetic_batch(config, batch_shape)
  start = time.perf_counter()
  first = graph.train_step(features)
  first_seconds = time.perf_counter() - start
  log(f"  first step {first_seconds:.1f}s, loss {first['loss']:.3f}")
  seconds, losses = [], []
  for i in range(steps):
    start = time.perf_counter()
    out = graph.train_step(features)
    seconds.append(time.perf_counter() - start)
    losses.append(float(out["loss"]))
    log(f"  step {i + 2}: {seconds[-1]:.1f}s, loss {losses[-1]:.3f}")
  plan = planner.plan(step_graph.build_step(config, batch_shape,
                                            optimizer_config, schedule))
  return {
      "machine": common.machine(),
      "config": "gin/models/rembert.gin",
      "optimizer": optimizer,
      "parameters": plan.parameters,
      "batch": {"batch_size": batch_size, "sequence_length": sequence_length,
                "mlm_predictions": batch_shape.mlm_predictions},
      "build_and_init_seconds": build_seconds,
      "first_step_seconds": first_seconds,
      "median_step_seconds": float(np.median(seconds)),
      "losses": [float(first["loss"])] + losses,
      "peak_rss_gib": common.peak_rss_gib(),
      "planned_gib": plan.total_bytes / 2**30,
  }


def markdown(result):
  b = result["batch"]
  return "\n".join([
      "| full RemBERT pre-training step | |", "|---|---:|",
      f"| parameters | {result['parameters']:,} |",
      f"| optimizer | {result['optimizer']} |",
      f"| batch | {b['batch_size']} x {b['sequence_length']}, "
      f"{b['mlm_predictions']} masked |",
      f"| graph build + initialisation | {result['build_and_init_seconds']:.0f}"
      " s |",
      f"| first step | {result['first_step_seconds']:.1f} s |",
      f"| later steps (median) | {result['median_step_seconds']:.1f} s |",
      f"| loss over the steps | "
      f"{' -> '.join(f'{x:.3f}' for x in result['losses'])} |",
      f"| peak resident memory | {result['peak_rss_gib']:.1f} GiB |",
      f"| planner's estimate (params + grads + optimizer + activations) | "
      f"{result['planned_gib']:.1f} GiB |",
  ])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--batch_size", type=int, default=1)
  parser.add_argument("--sequence_length", type=int, default=128)
  parser.add_argument("--optimizer", default="adam",
                      choices=("adam", "adafactor"))
  args = parser.parse_args()
  result = run(args.steps, args.batch_size, args.sequence_length,
               args.optimizer)
  text = markdown(result)
  print(text)
  print("wrote", common.write_results(f"full_size_{args.optimizer}", result,
                                     text))


if __name__ == "__main__":
  main()
