"""A placement mesh over several TensorFlow server processes (a TF cluster).

    host1$ rembert-mtf server --cluster=host0:2222,host1:2222 \
               --task_index=1 --devices_per_task=4
    host0$ rembert-mtf train --cluster=host0:2222,host1:2222 \
               --devices_per_task=4 --model_dir=... (gin, mesh flags)

The cluster is one job, `worker`, with one task per process; each task has
--devices_per_task virtual CPU devices. The mesh's devices are
/job:worker/replica:0/task:{t}/device:CPU:{i}, task-major, so the mesh's
leading axis (batch in batch:2;model:4) spans the processes.

Task 0 is the training process itself: `train --cluster` starts task 0's
server in-process and is the session master (the Estimator's session target
is that server). `rembert-mtf server` runs every other task. Keeping task 0
in the client means that what the mesh does not place -- the input pipeline
(sentencepiece ops, Python data sources), the master variables and global
step, the Saver -- runs in the process that built the graph (TensorFlow
puts ops without a task on the master's task): checkpoints go
to the client's model_dir and the workers need no task code or data. The
Estimator stays in its ordinary single-client mode (no TF_CONFIG, no
chief/worker replication): one graph, whose ops the mesh places on the
tasks.

Before any graph is built the client waits (--cluster_timeout seconds) for
every other task to accept connections and checks each task's device count:
an unreachable worker or a cluster smaller than the mesh is one line, not a
hang. (A master session waits forever for a worker that never answers.)
During training a watchdog does the same for a worker that dies (_watch).
The servers run any graph a client sends: keep their ports on a trusted
network.
"""

import dataclasses
import os
import socket
import sys
import threading
import time

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import partitioning

tf = compat.tf

JOB = "worker"
DEFAULT_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class Cluster:
  """Worker addresses (task t at addresses[t]) and CPU devices per task."""
  addresses: tuple
  devices_per_task: int
  timeout: float = DEFAULT_TIMEOUT  # seconds to wait for the other tasks

  @property
  def num_tasks(self):
    return len(self.addresses)

  @property
  def num_devices(self):
    return self.num_tasks * self.devices_per_task

  @property
  def flag(self):
    return ",".join(self.addresses)

  def devices(self):
    """The mesh's devices, task-major."""
    return [f"/job:{JOB}/replica:0/task:{t}/device:CPU:{i}"
            for t in range(self.num_tasks)
            for i in range(self.devices_per_task)]

  def cluster_spec(self):
    return tf.train.ClusterSpec({JOB: list(self.addresses)})

  def describe(self):
    return (f"{self.num_tasks} tasks x {self.devices_per_task} = "
            f"{self.num_devices}")


def parse_cluster(spec, devices_per_task=None, num_devices=None,
                  timeout=DEFAULT_TIMEOUT):
  """--cluster=host:port,host:port,... -> Cluster.

  Args:
    spec: comma-separated worker addresses, task 0 first.
    devices_per_task: CPU devices of each task, or None for
      num_devices / number of tasks.
    num_devices: trainer.num_devices, for that default.
    timeout: seconds to wait for the other tasks.
  Raises:
    ValueError: one line naming the flag.
  """
  addresses = tuple(a.strip() for a in spec.split(",") if a.strip())
  if not addresses:
    raise errors.UserError(f"--cluster={spec!r} names no task: write "
                           "HOST:PORT,HOST:PORT,... (task 0 first).")
  for address in addresses:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
      raise errors.UserError(f"--cluster: {address!r} is not HOST:PORT (e.g. "
                             "localhost:2222).")
  if len(set(addresses)) != len(addresses):
    raise errors.UserError(f"--cluster={spec} names a task address twice; each "
                           "task needs its own HOST:PORT.")
  if devices_per_task is None:
    if not num_devices or num_devices % len(addresses):
      raise errors.UserError(
          f"trainer.num_devices = {num_devices} does not divide over the "
          f"{len(addresses)} tasks of --cluster; set --devices_per_task.")
    devices_per_task = num_devices // len(addresses)
  if devices_per_task <= 0:
    raise errors.UserError(f"--devices_per_task must be positive, got "
                           f"{devices_per_task}.")
  return Cluster(addresses, devices_per_task, timeout)


def check_mesh_size(cluster, mesh_shape):
  """The mesh must use exactly the cluster's devices (mesh_shape: mtf.Shape)."""
  size = mesh_shape.size
  if size == cluster.num_devices:
    return
  if size % cluster.num_tasks == 0:
    fix = (f"set --devices_per_task={size // cluster.num_tasks} (on the "
           "servers too)")
  else:
    fix = (f"use a mesh whose size is a multiple of the {cluster.num_tasks} "
           "tasks")
  raise partitioning.PartitioningError(
      f"mesh {partitioning.mesh_shape_string(mesh_shape)} needs {size} "
      f"devices; the cluster offers {cluster.describe()}: {fix}.")


# ----------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------

# Task 0's in-process server, by cluster flag: a process can start a port's
# server once and TensorFlow cannot stop one, so it lives with the process.
_SERVERS = {}


def start_server(cluster, task_index):
  """Starts task `task_index`'s tf server with its virtual CPU devices."""
  config = tf.ConfigProto(device_count={"CPU": cluster.devices_per_task})
  try:
    return tf.train.Server(cluster.cluster_spec(), job_name=JOB,
                           task_index=task_index, config=config, start=True)
  except (tf.errors.UnknownError, tf.errors.InvalidArgumentError) as e:
    raise errors.UserError(
        f"cannot start task {task_index}'s server on "
        f"{cluster.addresses[task_index]} (is the port in use?): "
        f"{str(e).strip().splitlines()[0]}") from e


def _reachable(address, timeout):
  host, _, port = address.rpartition(":")
  try:
    with socket.create_connection((host.strip("[]"), int(port)),
                                  timeout=timeout):
      return True
  except OSError:
    return False


def wait_for_workers(cluster):
  """Waits up to cluster.timeout s for tasks 1.. to accept connections."""
  deadline = time.monotonic() + cluster.timeout
  for task in range(1, cluster.num_tasks):
    address = cluster.addresses[task]
    while not _reachable(address, timeout=1.0):
      if time.monotonic() > deadline:
        raise errors.UserError(
            f"cluster task {task} at {address} is unreachable after "
            f"{cluster.timeout:g} s: start `rembert-mtf server "
            f"--cluster={cluster.flag} --task_index={task} "
            f"--devices_per_task={cluster.devices_per_task}` there (or raise "
            "--cluster_timeout).")
      time.sleep(0.2)


def check_devices(cluster, target):
  """Each task must have cluster.devices_per_task CPU devices."""
  with tf.Graph().as_default(), tf.Session(target) as session:
    names = [d.name for d in session.list_devices()]
  for task in range(cluster.num_tasks):
    prefix = f"/job:{JOB}/replica:0/task:{task}/device:CPU:"
    count = sum(name.startswith(prefix) for name in names)
    if count != cluster.devices_per_task:
      raise errors.UserError(
          f"cluster task {task} at {cluster.addresses[task]} has {count} CPU "
          f"devices but --devices_per_task={cluster.devices_per_task}: "
          "restart its server with the same --devices_per_task.")


def _watch(cluster, every=2.0):
  """Ends this process (exit 2, one line) when a task stays unreachable.

  A session whose worker died waits forever for it to come back: with the
  worker back within cluster.timeout, TensorFlow recreates the session from
  the last checkpoint and training goes on; otherwise this stops the
  process, as a SIGKILL would, and a rerun resumes from the checkpoint.
  """
  down_since = {}
  while True:
    time.sleep(every)
    for task in range(1, cluster.num_tasks):
      address = cluster.addresses[task]
      if _reachable(address, timeout=1.0):
        down_since.pop(task, None)
        continue
      since = down_since.setdefault(task, time.monotonic())
      if time.monotonic() - since > cluster.timeout:
        print(f"rembert-mtf: error: cluster task {task} at {address} stopped "
              f"answering for {cluster.timeout:g} s: restart its server "
              f"(`rembert-mtf server --cluster={cluster.flag} "
              f"--task_index={task} --devices_per_task="
              f"{cluster.devices_per_task}`) and rerun this command to resume "
              "from the last checkpoint.", file=sys.stderr, flush=True)
        os._exit(2)  # pylint: disable=protected-access


def connect(cluster):
  """Task 0 in this process, the others checked; returns the session target.

  From then on a watchdog thread ends the process if another task stays
  unreachable for cluster.timeout seconds (see _watch).
  """
  server = _SERVERS.get(cluster.flag)
  if server is None:
    server = start_server(cluster, 0)
    wait_for_workers(cluster)
    check_devices(cluster, server.target)
    _SERVERS[cluster.flag] = server
    threading.Thread(target=_watch, args=(cluster,), daemon=True,
                     name="cluster-watchdog").start()
  return server.target


def session_config():
  """Session config of the client's sessions on the cluster.

  Variables and other state of a session stay private to it on every task
  (workers outlive clients, and may serve another model next).
  """
  config = tf.ConfigProto(allow_soft_placement=False,
                          isolate_session_state=True)
  # As the single-process trainer: grappler's rewriting of a placement-mesh
  # graph costs more than it saves.
  config.graph_options.rewrite_options.disable_meta_optimizer = True
  return config


# ----------------------------------------------------------------------------
# `train | finetune | predict --cluster`
# ----------------------------------------------------------------------------


def from_flags(spec, devices_per_task, timeout, num_devices, mesh_shape):
  """The Cluster of --cluster (None without it), checked against the mesh.

  Args:
    spec: --cluster (None or "": one process).
    devices_per_task: --devices_per_task, or None.
    timeout: --cluster_timeout seconds.
    num_devices: trainer.num_devices.
    mesh_shape: the mesh shape string.
  """
  if not spec:
    if devices_per_task:
      raise errors.UserError("--devices_per_task needs --cluster (on one "
                             "process, use --num_devices).")
    return None
  cluster = parse_cluster(spec, devices_per_task, num_devices, timeout)
  check_mesh_size(cluster, partitioning.parse_mesh_shape(mesh_shape))
  return cluster


# ----------------------------------------------------------------------------
# `rembert-mtf server`
# ----------------------------------------------------------------------------


def serve(spec, task, devices_per_task=None, num_devices=None):
  """Serves task `task` of the cluster `spec` until interrupted.

  Args:
    spec: the --cluster string (task 0 first).
    task: this process's task index (1 .. tasks - 1).
    devices_per_task: virtual CPU devices, or None to split num_devices.
    num_devices: trainer.num_devices (used when devices_per_task is None).
  """
  cluster = parse_cluster(spec, devices_per_task, num_devices)
  if not 0 <= task < cluster.num_tasks:
    raise errors.UserError(f"--task_index={task} is not a task of --cluster "
                           f"({cluster.num_tasks} tasks: 0 .. "
                           f"{cluster.num_tasks - 1}).")
  if task == 0:
    raise errors.UserError("task 0 is the training process (`rembert-mtf train "
                           f"--cluster={cluster.flag}` runs it); start servers for "
                           f"tasks 1 .. {cluster.num_tasks - 1}.")
  start_server(cluster, task)
  print(f"server task {task} of {cluster.num_tasks} listening on "
        f"{cluster.addresses[task]} with {cluster.devices_per_task} CPU "
        "devices", flush=True)
  # The server runs on its own threads; sleeping (not server.join(), which
  # holds off signals) keeps Ctrl-C working.
  try:
    while True:
      time.sleep(3600)
  except KeyboardInterrupt:
    print(f"server task {task} stopped", flush=True)
