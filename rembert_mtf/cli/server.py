"""`rembert-mtf server`: serve one task of a TF cluster for `train --cluster`."""

from rembert_mtf.cli import flags


def add_arguments(parser, unused_command="server"):
  parser.add_argument("--cluster", required=True,
                      help="HOST:PORT,HOST:PORT,... as given to `train "
                      "--cluster` (task 0 first)")
  parser.add_argument("--task_index", type=int, required=True,
                      help="this process's task (1 .. tasks-1; task 0 is the "
                      "training process)")
  parser.add_argument("--devices_per_task", type=flags.positive_int,
                      default=None,
                      help="virtual CPU devices (default: trainer.num_devices "
                      "/ tasks)")


def main(args):
  """Serves one task of the cluster until interrupted."""
  # pylint: disable=g-import-not-at-top
  from rembert_mtf.training import cluster as cluster_lib
  from rembert_mtf.training import config
  # pylint: enable=g-import-not-at-top
  num_devices = None
  if args.devices_per_task is None:
    flags.load_gin(args)
    num_devices = config.TrainerConfig().num_devices
  cluster_lib.serve(args.cluster, args.task_index, args.devices_per_task,
                    num_devices)
