"""Where the shipped gin configurations live, from a checkout or an install.

The repository keeps them in the top-level `gin/` folder; a regular install
copies that folder to `rembert_mtf/gin/` (setup.py maps it). It is not a
Python package on purpose: a top-level `gin/__init__.py` would shadow the
gin-config library whenever the checkout is on sys.path.
"""

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def gin_dir():
  """The folder holding models/, layouts/, ... (checkout first)."""
  for candidate in (os.path.join(os.path.dirname(_PACKAGE_DIR), "gin"),
                    os.path.join(_PACKAGE_DIR, "gin")):
    if os.path.isdir(os.path.join(candidate, "models")):
      return candidate
  raise FileNotFoundError(
      "rembert-mtf's gin configurations are missing (looked for gin/models "
      f"beside {_PACKAGE_DIR}); reinstall the package.")
