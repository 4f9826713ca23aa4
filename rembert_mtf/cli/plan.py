"""`rembert-mtf plan`: memory, FLOPs and step time per core of a pod run.

  rembert-mtf plan --gin_file=models/rembert.gin --mesh_shape=batch:32;model:4
      --mesh_layout=batch:batch;vocab:model;d_ff:model [--batch_size=2048]
      [--sequence_length=512] [--finetuning] [--device=tpu-v4] [--json]
  rembert-mtf plan --gin_file=models/rembert.gin --table

The model, optimizer and schedule are the gin-bound ones (`RemBertConfig.*`,
`optimizer.*`, `learning_rate_schedule.*`); the mesh is --mesh_shape /
--mesh_layout or `partitioning.mesh.*`. Flags are range-checked by argparse
before anything is built; what is counted: rembert_mtf/planning/costs.py.
"""

import dataclasses
import json

from rembert_mtf.cli import flags
from rembert_mtf.planning import devices


# Share of peak sustained, in (0, 1].
_fraction = flags.number_in(float, 0.0, 1.0, low_open=True)


def add_arguments(parser, unused_command="plan"):
  parser.add_argument("--batch_size", type=flags.positive_int, default=2048,
                      help="examples per step, all cores (default 2048)")
  parser.add_argument("--sequence_length", type=flags.positive_int,
                      default=512)
  parser.add_argument("--mlm_predictions", type=flags.positive_int,
                      default=None,
                      help="masked positions per sequence (default: "
                      "floor(0.15 x sequence_length), the masking's cap)")
  parser.add_argument("--finetuning", action="store_true",
                      help="plan fine-tuning (encoder + a sequence-"
                      "classification head) instead of pre-training")
  parser.add_argument("--device", choices=sorted(devices.DEVICES),
                      default="tpu-v3",
                      help="peak FLOP/s and HBM per mesh core (tpu-v4: one "
                      "core = one megacore chip)")
  parser.add_argument("--peak_flops", type=flags.positive_float, default=None,
                      help="peak FLOP/s per core (overrides --device)")
  parser.add_argument("--hbm_bytes", type=flags.positive_float, default=None,
                      help="memory per core in bytes (overrides --device)")
  parser.add_argument("--utilization", type=_fraction, default=0.5,
                      help="fraction of peak sustained, in (0, 1] (default "
                      "0.5)")
  parser.add_argument("--json", action="store_true",
                      help="print the figures as JSON")
  parser.add_argument("--table", action="store_true",
                      help="print the README's Markdown table for the gin "
                      "model (v3/v4 slices of 8-512 cores) and exit")


def _device(args):
  device = devices.DEVICES[args.device]
  return dataclasses.replace(
      device,
      peak_flops=args.peak_flops or device.peak_flops,
      hbm_bytes=args.hbm_bytes or device.hbm_bytes)


def _batch_shape(args):
  """The planned batch: mesh_graph.BatchShape (0 MLM predictions: fine-tune)."""
  from rembert_mtf import errors  # pylint: disable=g-import-not-at-top
  from rembert_mtf.model import mesh_graph  # pylint: disable=g-import-not-at-top
  from rembert_mtf.planning import step_graph  # pylint: disable=g-import-not-at-top
  predictions = 0
  if not args.finetuning:
    predictions = (args.mlm_predictions or
                   step_graph.default_mlm_predictions(args.sequence_length))
    if predictions > args.sequence_length:
      raise errors.UserError(
          f"--mlm_predictions={predictions} exceeds --sequence_length="
          f"{args.sequence_length}.")
  return mesh_graph.BatchShape(args.batch_size, args.sequence_length,
                               predictions)


def main(args):
  """Prints memory, FLOPs and step time per core, and whether it fits."""
  from rembert_mtf.planning import planner  # pylint: disable=g-import-not-at-top
  from rembert_mtf.planning import step_graph  # pylint: disable=g-import-not-at-top
  from rembert_mtf.training import config as config_lib  # pylint: disable=g-import-not-at-top
  flags.load_gin(args)
  run = config_lib.Run.from_gin(mesh_shape=args.mesh_shape,
                                layout=args.mesh_layout)
  run.optimizer.validate()
  run.schedule.validate()
  if args.table:
    print(planner.table(run.model, args.utilization, run.optimizer,
                        run.schedule))
    return
  device, batch_shape = _device(args), _batch_shape(args)
  planner.check_layout(run.model, batch_shape, run.mesh_shape,
                       run.layout)  # one line, before the graph
  step = step_graph.build_step(run.model, batch_shape, run.optimizer,
                               run.schedule)
  figures = planner.report(planner.plan(step, run.mesh_shape, run.layout),
                           device, args.utilization)
  print(json.dumps(figures, indent=2) if args.json else
        planner.format_report(figures))
