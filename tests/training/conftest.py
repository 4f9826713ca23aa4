"""One uninterrupted reference run, shared by the resume tests.

The trainer's SIGKILL test and the cluster's two-process test both compare
their final loss with the same uninterrupted 150-step run on a 2x4 mesh of
one process; it is trained once per test session.
"""

import subprocess

import pytest

from tests.training.test_trainer import REPO, _command, _tiny

REFERENCE_STEPS = 150


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, spm_path):
  """(model_dir, stdout) of `train` for REFERENCE_STEPS steps, uninterrupted."""
  model_dir = tmp_path_factory.mktemp("reference") / "straight"
  result = subprocess.run(
      _command(model_dir, _tiny(spm_path, REFERENCE_STEPS)), cwd=REPO,
      text=True, capture_output=True, check=True, timeout=600)
  return model_dir, result.stdout
