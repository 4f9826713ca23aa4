"""Where the training step's time goes, by TensorFlow op type.

  python -m bench.profile_step [--mesh_shape=... --mesh_layout=...] [--steps=3]

Runs the `small` config's training step (batch 32 x 128, as bench.throughput)
with TensorFlow's full trace (tf.RunOptions.FULL_TRACE) and sums each op's
execution time over all devices by op type: the table that says which change
would pay. Times add over devices, so on a mesh they exceed the wall time.
"""

import argparse
import collections

from bench import common
from bench import throughput
from rembert_mtf import compat
from rembert_mtf.cli import gin_config
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers

tf = compat.tf


def op_seconds(run_metadata):
  """{op type: seconds} summed over every node of every device."""
  totals = collections.Counter()
  for device in run_metadata.step_stats.dev_stats:
    for node in device.node_stats:
      # timeline_label is "name = Type(inputs)"; the type is what we group.
      label = node.timeline_label.split(" = ", 1)
      op_type = label[1].split("(", 1)[0] if len(label) == 2 else node.node_name
      totals[op_type] += node.all_end_rel_micros / 1e6
  return totals


def run(mesh_shape, layout, steps):
  gin_config.parse(["models/small.gin"])
  config = modeling.RemBertConfig()
  batch_shape = mesh_graph.BatchShape(32, 128, 20)
  graph = mesh_graph.MeshGraph(
      config, batch_shape, mesh_shape, layout,
      num_devices=8 if mesh_shape else 1,
      update_fn=optimizers.step_update_fn(config_lib.OptimizerConfig(),
                                          throughput.RECIPE_SCHEDULE))
  features = throughput.synthetic_batch(config, batch_shape)
  graph.train_step(features)
  totals = collections.Counter()
  for _ in range(steps):
    metadata = tf.RunMetadata()
    graph.train_step(features, options=tf.RunOptions(
        trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
    totals.update(op_seconds(metadata))
  return {"machine": common.machine(), "mesh_shape": mesh_shape or "(1 device)",
          "layout": layout, "steps": steps,
          "seconds_per_step_by_op": {k: v / steps
                                     for k, v in totals.most_common()}}


def markdown(result, top=15):
  by_op = result["seconds_per_step_by_op"]
  total = sum(by_op.values())
  lines = [f"Mesh {result['mesh_shape']} {result['layout']}; op time summed "
           f"over devices, mean of {result['steps']} traced steps: "
           f"{total:.2f} s.", "", "| op type | s / step | share |",
           "|---|---:|---:|"]
  for name, seconds in list(by_op.items())[:top]:
    lines.append(f"| {name} | {seconds:.3f} | {100 * seconds / total:.1f}% |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--mesh_shape", default="")
  parser.add_argument("--mesh_layout", default="")
  parser.add_argument("--steps", type=int, default=3)
  args = parser.parse_args()
  result = run(args.mesh_shape, args.mesh_layout, args.steps)
  text = markdown(result)
  print(text)
  name = "profile_" + ("1device" if not args.mesh_shape else
                       args.mesh_shape.replace(";", "_").replace(":", ""))
  print("wrote", common.write_results(name, result, text))


if __name__ == "__main__":
  main()
