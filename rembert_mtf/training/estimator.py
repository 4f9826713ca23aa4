"""The tf.estimator.Estimator of a run, on CPU devices or a TF cluster."""

from tensorflow_estimator.python.estimator import estimator as estimator_lib
from tensorflow_estimator.python.estimator import run_config as run_config_lib

from rembert_mtf.model import partitioning
from rembert_mtf.training import cluster as cluster_lib
from rembert_mtf.training import model_fn as model_fn_lib


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
