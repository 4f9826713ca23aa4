"""Running `rembert-mtf` commands inside the test process, and refusals.

A subprocess per refusal costs a TensorFlow import (seconds) each; these
helpers call `rembert_mtf.cli.main.run(argv)` in-process instead, with
pytest's `capsys` to read what it printed. Keep a real subprocess only
where the entry point itself is what a test checks.

  code, out, err = cli_testing.run(["plan", "--json", ...], capsys)
  assert cli_testing.exit_code(["export-hf", ...]) == 0
  cli_testing.expect_refusal(["import-hf", src, "--model_dir", dst], capsys,
                             "config.json", destination=dst)
  cli_testing.expect_usage_error(["plan", "--utilization=0"], capsys,
                                 "--utilization")

A refusal is a user error (errors.UserError raised by the library): exit
code 2, nothing on stdout, and exactly one stderr line
`rembert-mtf: error: ...`. A usage error is argparse refusing a flag
(e.g. a flags.positive_int type): exit code 2, and a last stderr line
`rembert-mtf COMMAND: error: argument --flag: ...` after the usage.

Gin: a command parses its own gin files into the process's global config;
`run` restores the bindings that were there before, so tests do not leak
configuration into each other.
"""

import os

import gin

from rembert_mtf.cli import main as cli


def exit_code(argv):
  """Runs `rembert-mtf argv` in this process; its output stays captured.

  Args:
    argv: the command line after `rembert-mtf`, e.g. ["plan", "--json"].
  Returns:
    the exit code: 0 when the command returned.
  """
  saved = gin.config_str()
  try:
    cli.run(argv)
    return 0
  except SystemExit as e:
    return e.code
  finally:
    gin.clear_config()
    gin.parse_config(saved)


def run(argv, capsys):
  """Runs `rembert-mtf argv` in this process and reads what it printed.

  Args:
    argv: as `exit_code` takes it.
    capsys: pytest's fixture; what was captured before is discarded.
  Returns:
    (exit code, stdout, stderr).
  """
  capsys.readouterr()
  code = exit_code(argv)
  out, err = capsys.readouterr()
  return code, out, err


def assert_nothing_written(destination):
  """Neither `destination` nor a staging folder (.NAME.*) beside it exists."""
  parent, base = os.path.split(os.path.abspath(destination))
  assert not os.path.exists(destination), destination
  assert not [n for n in os.listdir(parent) if n.startswith(f".{base}.")]


def expect_refusal(argv, capsys, *fragments, destination=None):
  """Asserts `rembert-mtf argv` refuses with one error line.

  Args:
    argv, capsys: as `run` takes them.
    *fragments: texts the error line must contain.
    destination: a path the command must not have created (or None).
  Returns:
    the error line.
  """
  code, out, err = run(argv, capsys)
  err = err.strip()
  assert code == 2, (code, err)
  assert not out, out
  assert err.startswith("rembert-mtf: error: ") and "\n" not in err, err
  for fragment in fragments:
    assert fragment in err, err
  if destination is not None:
    assert_nothing_written(destination)
  return err


def expect_usage_error(argv, capsys, *fragments):
  """Asserts argparse refuses `rembert-mtf argv` before the command runs.

  Args:
    argv, capsys: as `run` takes them; argv[0] is the command.
    *fragments: texts the error line must contain.
  Returns:
    the error line (the last line on stderr).
  """
  code, out, err = run(argv, capsys)
  assert code == 2, (code, err)
  assert not out, out
  line = err.strip().splitlines()[-1]
  assert line.startswith(f"rembert-mtf {argv[0]}: error: argument "), err
  for fragment in fragments:
    assert fragment in line, line
  return line
