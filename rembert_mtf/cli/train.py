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
  parser.add_argument("--tpu", default=None,
                      help="Cloud TPU to run on: its name, grpc://HOST:PORT, "
                      "or 'local' on a TPU VM (see docs/tpu.md); needs "
                      "--tpu_topology")
  parser.add_argument("--tpu_zone", default=None)
  parser.add_argument("--gcp_project", default=None)
  parser.add_argument("--tpu_topology", default=None,
                      help="the slice: v3-8, v4-1024, ... or a chip grid "
                      "(XxY for v3, XxYxZ for v4); the mesh must have its "
                      "number of cores")
  parser.add_argument("--iterations_per_loop", type=flags.positive_int,
                      default=None,
                      help="TPU steps per host round trip (default: the "
                      "largest divisor of trainer.save_checkpoints_steps up "
                      "to 100)")
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
  keeps its model), then --gin_file and --gin_param; flags last. With
  --tpu the run is the slice's (tpu_run) and args.tpu_args is set to its
  training.tpu.TpuArgs (None without --tpu).

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
  topology = _tpu_topology(args)
  args.tpu_args = None
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
  if topology:
    run, args.tpu_args = tpu_run(args, run, topology)
    # Until loop.train/predict take the TPU arguments, a run that passed
    # the checks would train on CPU; remove with that wiring.
    import inspect  # pylint: disable=g-import-not-at-top
    if "tpu" not in inspect.signature(loop.train).parameters:
      raise errors.UserError(
          f"--tpu: the run fits {topology.name} ({topology.num_cores} "
          "cores), but TPUEstimator training is not wired into "
          "training/loop.py in this build; run on CPU devices.")
  return run


def _tpu_topology(args):
  """The parsed --tpu_topology, or None without --tpu; flags that do not go
  with --tpu are refused here, before gin or any file."""
  # pylint: disable=g-import-not-at-top
  from rembert_mtf import errors
  from rembert_mtf.training import tpu
  # pylint: enable=g-import-not-at-top
  if not args.tpu:
    for flag in ("tpu_topology", "iterations_per_loop", "tpu_zone",
                 "gcp_project"):
      if getattr(args, flag) is not None:
        raise errors.UserError(f"--{flag} needs --tpu (the TPU to run on).")
    return None
  if not args.tpu_topology:
    raise errors.UserError(
        f"--tpu needs {tpu.TOPOLOGY_FLAG} (e.g. v3-8, v4-1024): the mesh is "
        "checked against the slice's cores before anything runs.")
  for flag in ("cluster", "devices_per_task", "num_devices"):
    if getattr(args, flag, None):
      raise errors.UserError(
          f"--{flag} is for CPU meshes; with --tpu the cores come from "
          f"{tpu.TOPOLOGY_FLAG}.")
  return tpu.parse_topology(args.tpu_topology)


def tpu_run(args, run, topology):
  """(the run as the slice runs it, training.tpu.TpuArgs), checked.

  bfloat16 activations and trainer.num_devices = the slice's cores
  (tpu.for_tpu); then the mesh size, the layout, fused Adam and the loop
  length against the checkpoint interval (tpu.check_tpu_run): one line,
  before any graph or file.
  """
  import math  # pylint: disable=g-import-not-at-top
  from rembert_mtf.training import tpu  # pylint: disable=g-import-not-at-top
  run = tpu.for_tpu(run, topology)
  iterations = args.iterations_per_loop or math.gcd(
      100, run.trainer.save_checkpoints_steps)
  tpu.check_tpu_run(run, topology.num_cores, iterations)
  return run, tpu.TpuArgs(tpu=args.tpu, topology=topology, zone=args.tpu_zone,
                          project=args.gcp_project,
                          iterations_per_loop=iterations)


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
