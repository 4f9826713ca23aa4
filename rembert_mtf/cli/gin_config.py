"""Gin: where the shipped configurations live, and parsing user bindings.

The repository keeps the configurations in the top-level `gin/` folder; a
regular install copies it to `rembert_mtf/gin/` (setup.py maps it). It is not
a Python package on purpose: a top-level `gin/__init__.py` would shadow the
gin-config library whenever the checkout is on sys.path.
"""

import difflib
import os

import gin
from rembert_mtf import errors

# rembert_mtf/ (this file is rembert_mtf/cli/gin_config.py).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GinConfigError(errors.UserError):
  """A gin file or binding that cannot be used."""


def gin_dir():
  """The folder holding models/ and layouts/ (the checkout's first)."""
  for candidate in (os.path.join(os.path.dirname(_PACKAGE_DIR), "gin"),
                    os.path.join(_PACKAGE_DIR, "gin")):
    if os.path.isdir(os.path.join(candidate, "models")):
      return candidate
  raise errors.MissingFileError(
      "rembert-mtf's gin configurations are missing (looked for gin/models "
      f"beside {_PACKAGE_DIR}); reinstall the package.")


def _resolve(path, search_paths):
  if os.path.isabs(path):
    return path if os.path.exists(path) else None
  for base in search_paths:
    candidate = os.path.join(base, path)
    if os.path.exists(candidate):
      return candidate
  return None


def shipped_files():
  """Names of the shipped gin files relative to gin_dir(), e.g. models/tiny.gin."""
  root = gin_dir()
  return sorted(os.path.relpath(os.path.join(d, f), root)
                for d, _, files in os.walk(root) for f in files
                if f.endswith(".gin"))


def parse(gin_files=(), gin_params=(), search_paths=()):
  """Parses gin files then bindings, as t5's entry point does.

  Args:
    gin_files: paths, absolute or relative to the search paths (the current
      folder, --gin_search_path entries, then the shipped gin/ folder).
    gin_params: binding strings such as "RemBertConfig.num_layers = 4".
    search_paths: extra folders to look for gin files and includes in.
  Raises:
    GinConfigError: one line naming the file or binding and what to do.
  """
  paths = [os.getcwd(), *search_paths, gin_dir()]
  for path in paths[1:]:
    gin.add_config_file_search_path(path)
  resolved = []
  for name in gin_files:
    found = _resolve(name, paths)
    if found is None:
      close = difflib.get_close_matches(name, shipped_files(), n=3)
      hint = f"; did you mean {', '.join(close)}?" if close else ""
      raise GinConfigError(f"gin file {name!r} not found in "
                           f"{', '.join(paths)}{hint}")
    resolved.append(found)
  try:
    gin.parse_config_files_and_bindings(resolved, list(gin_params),
                                        finalize_config=False)
  except (ValueError, KeyError, SyntaxError, ImportError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    raise GinConfigError(f"gin: {first} (check --gin_param / --gin_file)") from e
