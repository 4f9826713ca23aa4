"""The Estimator of a run: on CPU devices, a TF cluster, or a TPU slice.

  make_estimator(model_dir, run, cluster)      tf.estimator.Estimator over
      the placement mesh (this process's virtual CPUs, or a cluster's)
  make_tpu_estimator(model_dir, run, tpu_args) TPUEstimator over the SIMD
      mesh (training/tpu.py); with tpu_args.use_tpu False the same model_fn
      on the placement mesh of this process's CPUs
"""

from tensorflow_estimator.python.estimator import estimator as estimator_lib
from tensorflow_estimator.python.estimator import run_config as run_config_lib
from tensorflow_estimator.python.estimator.tpu import tpu_config
from tensorflow_estimator.python.estimator.tpu import tpu_estimator

from rembert_mtf import compat
from rembert_mtf.model import partitioning
from rembert_mtf.training import cluster as cluster_lib
from rembert_mtf.training import model_fn as model_fn_lib
from rembert_mtf.training import tpu as tpu_lib

tf = compat.tf


class _MasterRunConfig(run_config_lib.RunConfig):
  """A RunConfig whose sessions run on a given master (a grpc target).

  RunConfig takes a remote master only from TF_CONFIG, and a TF_CONFIG
  cluster would put the Estimator in replicated (chief/worker/ps) training;
  here one client runs one graph, placed on the tasks by the mesh.
  """

  def __init__(self, master, **kwargs):
    super().__init__(**kwargs)
    self._remote_master = master

  @property
  def master(self):
    return self._remote_master

  @property
  def evaluation_master(self):
    return self._remote_master


def make_estimator(model_dir, run, cluster=None):
  """An Estimator running `run` (a config.Run) over the placement mesh.

  The mesh's devices are trainer.num_devices virtual CPUs of this process,
  or with `cluster` (a cluster.Cluster) those of every task of the cluster.
  """
  kwargs = dict(
      model_dir=model_dir, tf_random_seed=run.trainer.seed,
      # Checkpoints, summaries and step counts come from our own hooks.
      save_checkpoints_steps=None, save_checkpoints_secs=None,
      save_summary_steps=None, log_step_count_steps=None)
  if cluster:
    run_config = _MasterRunConfig(
        cluster_lib.connect(cluster),
        session_config=cluster_lib.session_config(), **kwargs)
    devices = cluster.devices()
  else:
    run_config = run_config_lib.RunConfig(
        session_config=partitioning.cpu_session_config(
            run.trainer.num_devices, optimize_graph=False), **kwargs)
    devices = partitioning.cpu_devices(run.trainer.num_devices)
  return estimator_lib.Estimator(
      model_fn=model_fn_lib.make_model_fn(run, model_dir, devices),
      config=run_config)


def make_tpu_estimator(model_dir, run, tpu_args):
  """A TPUEstimator running `run` on the slice of `tpu_args` (tpu.TpuArgs).

  The input is BROADCAST (every core reads the whole batch and slices its
  part; outputs come from core 0), one core per replica, as Mesh TF's TPU
  trainer runs. Pass the run through tpu.for_tpu and tpu.check_tpu_run
  first (the CLI does). With tpu_args.use_tpu False nothing is resolved or
  contacted: the model_fn runs on run.trainer.num_devices virtual CPUs.
  Feed it tpu.device_input_fn(input_fn): strings cannot be infed.
  """
  trainer = run.trainer
  kwargs = dict(
      model_dir=model_dir, tf_random_seed=trainer.seed,
      # Checkpoints come from tpu.LoopCheckpointHook, scalars from the
      # host_call; TPUEstimator's examples/sec every log_every_steps.
      save_checkpoints_steps=None, save_checkpoints_secs=None,
      save_summary_steps=None, log_step_count_steps=trainer.log_every_steps,
      tpu_config=tpu_config.TPUConfig(
          iterations_per_loop=tpu_args.iterations_per_loop,
          num_shards=tpu_args.topology.num_cores, num_cores_per_replica=1,
          per_host_input_for_training=(
              tpu_config.InputPipelineConfig.BROADCAST)))
  if tpu_args.use_tpu:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu_args.tpu, zone=tpu_args.zone, project=tpu_args.project)
    # Grappler's rewrites cost minutes of start-up on a pod graph and XLA
    # compiles the TPU part anyway (as Mesh TF's trainer sets it).
    session_config = tf.ConfigProto(allow_soft_placement=True)
    session_config.graph_options.rewrite_options.disable_meta_optimizer = True
    run_config = tpu_config.RunConfig(cluster=resolver,
                                      session_config=session_config, **kwargs)
  else:
    run_config = tpu_config.RunConfig(
        session_config=partitioning.cpu_session_config(
            trainer.num_devices, optimize_graph=False), **kwargs)
  return tpu_estimator.TPUEstimator(
      model_fn=tpu_lib.make_model_fn(run, model_dir),
      config=run_config, use_tpu=tpu_args.use_tpu,
      train_batch_size=trainer.batch_size, eval_batch_size=trainer.batch_size,
      predict_batch_size=trainer.batch_size, export_to_tpu=False)
