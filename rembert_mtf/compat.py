"""Import-order fixes that let mesh_tensorflow 0.1.21 run on TensorFlow 2.15.

Every entry point imports this module before anything that imports
mesh_tensorflow. Why: mesh_tensorflow calls
`tensorflow.python.framework.ops.register_tensor_conversion_function`, which
TensorFlow 2.13 moved to `tensor_conversion_registry`; binding the old name to
the new function is all mesh_tensorflow needs.
"""

import os
import sys
import warnings

if sys.version_info[:2] != (3, 11):
  raise RuntimeError(
      "rembert-mtf needs Python 3.11 (TensorFlow 2.15, the last release with "
      "tf.estimator, has wheels for 3.9-3.11 only and the lock file is for "
      f"3.11); this is Python {sys.version.split()[0]}. Run `make venv`.")

# TensorFlow's C++ start-up chatter (CUDA plugin registration on a CPU-only
# machine) would bury the one-line errors the CLI prints; set it to 0 to see.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# tensorflow_hub (via tensorflow_text) imports the deprecated pkg_resources.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

# pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow.compat.v1 as tf  # noqa: E402
from tensorflow.python.framework import ops as _tf_ops  # noqa: E402
from tensorflow.python.framework import tensor_conversion_registry as _registry  # noqa: E402

if not hasattr(_tf_ops, "register_tensor_conversion_function"):
  _tf_ops.register_tensor_conversion_function = (
      _registry.register_tensor_conversion_function)

import mesh_tensorflow as mtf  # noqa: E402,F401

__all__ = ["mtf", "tf"]
