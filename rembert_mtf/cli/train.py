"""`rembert-mtf train | finetune | predict`: one run of the Estimator trainer.

The run's configuration is built once here (training.config.Run.from_gin,
after model_dir's operative config, then --gin_file and --gin_param, then
the flags) and passed down.
"""

from rembert_mtf.cli import flags


def add_cluster_arguments(parser):
  """--cluster, --devices_per_task, --cluster_timeout (see training/cluster.py)."""
  parser.add_argument("--cluster", default=None,
                      help="TF cluster HOST:PORT,HOST:PORT,... (one task per "
                      "process, this process is task 0; start the others "
                      "with `rembert-mtf server`)")
  parser.add_argument("--devices_per_task", type=flags.positive_int,
                      default=None,
                      help="virtual CPU devices of each task (default: "
                      "trainer.num_devices / tasks)")
  parser.add_argument("--cluster_timeout", type=flags.positive_float,
                      default=60.0,
                      help="seconds to wait for the other tasks (default 60)")


def add_arguments(parser, command):
  parser.add_argument("--model_dir", required=True,
                      help="checkpoints, operative config and summaries")
  parser.add_argument("--num_devices", type=flags.positive_int, default=None,
                      help="virtual CPU devices (default trainer.num_devices)")
  add_cluster_arguments(parser)
  parser.add_argument("--tpu", default=None, help="TPU name (not supported "
                      "in this build: see README)")
  parser.add_argument("--tpu_zone", default=None)
  parser.add_argument("--gcp_project", default=None)
  if command == "finetune":
    parser.add_argument("--init_checkpoint", default=None,
                        help="pre-trained checkpoint or model_dir (default: "
                        "trainer.init_checkpoint)")
  if command == "predict":
    parser.add_argument("--task", required=True, help="seqio task to read")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--out", required=True,
                        help="JSON-lines file of predictions")


def load_run(args):
  """The Run of a command on args.model_dir.

  Gin: model_dir/operative_config.gin first (a resumed or fine-tuned run
  keeps its model), then --gin_file and --gin_param; flags last.

  Returns:
    training.config.Run
  """
  # pylint: disable=g-import-not-at-top
  import os
  from rembert_mtf import compat
  from rembert_mtf import errors
  from rembert_mtf.training import config
  from rembert_mtf.training import loop
  from rembert_mtf.training import model_dir as model_dir_lib
  # pylint: enable=g-import-not-at-top
  if args.tpu:
    raise errors.UserError(
        "--tpu: TPU execution (TPUEstimator with the SIMD mesh) is not "
        "implemented in this build; run on CPU devices.")
  operative = os.path.join(args.model_dir, model_dir_lib.OPERATIVE_CONFIG)
  if compat.tf.io.gfile.exists(operative):
    args.gin_file = [operative] + list(args.gin_file)
  flags.load_gin(args)
  overrides = {}
  if args.num_devices:
    overrides["num_devices"] = args.num_devices
  shape, layout = flags.mesh_from(args)
  run = config.Run.from_gin(shape, layout, **overrides)
  init = getattr(args, "init_checkpoint", None) or run.trainer.init_checkpoint
  if init:
    run = run.replace(init_checkpoint=loop.checkpoint_path(init))
  return run


def main(args):
  """Dispatches train, finetune and predict."""
  # pylint: disable=g-import-not-at-top
  import json
  from rembert_mtf import compat
  from rembert_mtf import errors
  from rembert_mtf.evaluation import best
  from rembert_mtf.training import cluster as cluster_lib
  from rembert_mtf.training import loop
  # pylint: enable=g-import-not-at-top
  tf = compat.tf
  run = load_run(args)
  cluster = cluster_lib.from_flags(args.cluster, args.devices_per_task,
                                   args.cluster_timeout,
                                   run.trainer.num_devices, run.mesh_shape)
  if cluster:
    run = run.replace(num_devices=cluster.num_devices)
  if args.command in ("train", "finetune"):
    model_dir = args.model_dir
    if args.command == "finetune":
      if run.trainer.head == "mlm":
        raise errors.UserError(
            "finetune needs a task head: bind `trainer.head` to "
            "classification, token or span.")
      model_dir, run = loop.finetuning_run(model_dir, run)
    loop.train(model_dir, run, cluster,
               on_eval=best.keep_if_best if run.trainer.eval_every_steps
               else None)
    return
  count = 0
  partial = args.out + ".tmp"
  try:
    with tf.io.gfile.GFile(partial, "w") as f:
      for prediction in loop.predict(args.model_dir, run, args.task,
                                     args.split, cluster=cluster):
        f.write(json.dumps({k: _jsonable(v) for k, v in prediction.items()})
                + "\n")
        count += 1
  except BaseException:
    # A data error (or Ctrl-C) midway: no half-written predictions left.
    if tf.io.gfile.exists(partial):
      tf.io.gfile.remove(partial)
    raise
  tf.io.gfile.rename(partial, args.out, overwrite=True)
  print(f"wrote {count} predictions to {args.out}")


def _jsonable(value):
  import numpy as np  # pylint: disable=g-import-not-at-top
  value = np.asarray(value)
  if value.dtype.kind in "SO":
    return (value.item().decode("utf-8", "replace") if value.ndim == 0
            else [v.decode("utf-8", "replace") for v in value.tolist()])
  return value.tolist()
