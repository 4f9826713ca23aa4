"""What every benchmark shares: the machine record, timing, results files.

A benchmark here is a script that prints and writes figures (medians over
alternated repetitions: the machine is shared and noisy), never a test.
Results go to bench/results/<name>.json and .md, each with the machine, the
commit and the exact command that produced them.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from rembert_mtf import compat

tf = compat.tf

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "results")


def _cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def _commit():
  root = os.path.dirname(os.path.dirname(RESULTS_DIR))
  try:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                          capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--",
                            "rembert_mtf", "bench", "gin"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return head.stdout.strip() + ("+uncommitted" if dirty else "")


def machine():
  """The facts a reader needs to compare figures across runs."""
  with open("/proc/meminfo") as f:
    mem_kib = int(f.readline().split()[1])
  return {
      "cpu": _cpu_model(),
      "cores": os.cpu_count(),
      "memory_gib": round(mem_kib / 2**20, 1),
      "python": platform.python_version(),
      "tensorflow": tf.__version__,
      "commit": _commit(),
      "command": " ".join([os.path.basename(sys.executable), "-m"] +
                          [_module_name()] + sys.argv[1:]),
      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
  }


def _module_name():
  main = sys.modules["__main__"]
  spec = getattr(main, "__spec__", None)
  return spec.name if spec else sys.argv[0]


def peak_rss_gib():
  """Peak resident memory of this process so far (Linux: KiB units)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure_peak_matmul_flops(n=2048, chain=8, repeats=5, dtype="float32"):
  """The machine's matmul FLOP/s in `dtype` as TensorFlow reaches it here.

  A chain of `chain` [n, n] x [n, n] products (large enough that the time is
  all in the matmul kernel); the median of `repeats` runs.
  """
  with tf.Graph().as_default():
    a = tf.cast(tf.Variable(tf.random.normal([n, n], seed=1)), dtype)
    b = tf.cast(tf.Variable(tf.random.normal([n, n], seed=2) * (1.0 / n)),
                dtype)
    x = a
    for _ in range(chain):
      x = tf.matmul(x, b)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      session.run(x.op)
      seconds = []
      for _ in range(repeats):
        start = time.perf_counter()
        session.run(x.op)
        seconds.append(time.perf_counter() - start)
  return chain * 2 * n ** 3 / float(np.median(seconds))


def alternate(contenders, rounds, warmup=2, log=print):
  """Times each contender's step, alternating them round by round.

  Args:
    contenders: {name: zero-argument callable running one step}.
    rounds: timed steps per contender.
    warmup: untimed steps per contender first.
  Returns:
    {name: list of step seconds}.
  """
  for name, step in contenders.items():
    for _ in range(warmup):
      step()
    log(f"  warmed up {name}")
  seconds = {name: [] for name in contenders}
  for r in range(rounds):
    for name, step in contenders.items():
      start = time.perf_counter()
      step()
      seconds[name].append(time.perf_counter() - start)
    log(f"  round {r + 1}/{rounds}: " + ", ".join(
        f"{name} {times[-1]:.2f}s" for name, times in seconds.items()))
  return seconds


def write_results(name, result, markdown):
  """Writes bench/results/<name>.json and <name>.md; returns the .md path."""
  os.makedirs(RESULTS_DIR, exist_ok=True)
  with open(os.path.join(RESULTS_DIR, name + ".json"), "w") as f:
    json.dump(result, f, indent=2)
  path = os.path.join(RESULTS_DIR, name + ".md")
  m = result["machine"]
  header = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
            f"Python {m['python']}, TensorFlow {m['tensorflow']}; commit "
            f"{m['commit']}; {m['date']}.\nCommand: `{m['command']}`\n\n")
  with open(path, "w") as f:
    f.write(header + markdown.rstrip() + "\n")
  return path
