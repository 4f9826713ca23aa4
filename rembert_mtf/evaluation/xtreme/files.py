"""Where the protocol's files live, and reading and writing them.

  <output_dir>/<task>/lr=<lr>/seed=<seed>/results.json   one per run
  <output_dir>/results.md, results.csv, summary.json     the tables

JSON is written atomically (a temporary file renamed into place), so a
crash leaves the old file or none and a finished run is never half-read.
Paths go through tf.io.gfile (any file system TensorFlow reads), imported
only when a file is touched.
"""

import json
import os
from typing import Dict, Optional

from rembert_mtf.evaluation.xtreme import benchmarks

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.json"


def _gfile():
  # TensorFlow only when files are touched: the protocol's logic needs none.
  from rembert_mtf import compat  # pylint: disable=g-import-not-at-top
  return compat.tf.io.gfile


def run_dir(output_dir: str, task: str, learning_rate: float,
            seed: int) -> str:
  """The folder of one run: <output_dir>/<task>/lr=<lr>/seed=<seed>."""
  return os.path.join(output_dir, task,
                      f"lr={benchmarks.format_rate(learning_rate)}",
                      f"seed={seed}")


def read_results(path: str) -> Optional[dict]:
  """A results.json (or summary.json), or None if there is none."""
  gfile = _gfile()
  if not gfile.exists(path):
    return None
  with gfile.GFile(path) as f:
    return json.load(f)


def write_json(path: str, value) -> None:
  """Writes JSON atomically: a crash leaves the old file or none."""
  gfile = _gfile()
  gfile.makedirs(os.path.dirname(path))
  with gfile.GFile(path + ".tmp", "w") as f:
    json.dump(value, f, indent=1, sort_keys=True)
  gfile.rename(path + ".tmp", path, overwrite=True)


def write_text(path: str, text: str) -> None:
  """Writes a text file, creating its folder."""
  gfile = _gfile()
  gfile.makedirs(os.path.dirname(path))
  with gfile.GFile(path, "w") as f:
    f.write(text)


def collect(output_dir: str) -> Dict[str, list]:
  """Every results.json under output_dir, by task (for report and reruns)."""
  gfile = _gfile()
  pattern = os.path.join(output_dir, "*", "lr=*", "seed=*", RESULTS_FILE)
  runs = {}
  for path in sorted(gfile.glob(pattern)):
    results = read_results(path)
    runs.setdefault(results["task"], []).append(results)
  return runs
