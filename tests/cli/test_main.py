"""The command table: every command parses, user errors are one line, bugs
keep their traceback."""

import pytest

from rembert_mtf import errors
from rembert_mtf.cli import main


def test_every_command_has_help(capsys):
  with pytest.raises(SystemExit) as exit_info:
    main.run(["--help"])
  assert exit_info.value.code == 0
  listing = capsys.readouterr().out
  for name in main.COMMANDS:
    assert name in listing
    with pytest.raises(SystemExit) as exit_info:
      main.run([name, "--help"])
    assert exit_info.value.code == 0
    assert f"rembert-mtf {name}" in capsys.readouterr().out


def test_a_user_error_is_one_line_and_exit_2(capsys):
  def fails(args):
    del args
    raise errors.MissingFileError("no checkpoint in /x; train first.\nmore")
  with pytest.raises(SystemExit) as exit_info:
    main.run_reporting_user_errors(fails, None)
  assert exit_info.value.code == 2
  assert capsys.readouterr().err == (
      "rembert-mtf: error: no checkpoint in /x; train first.\n")


def test_an_internal_bug_keeps_its_traceback():
  def buggy(args):
    del args
    raise ValueError("an invariant broke")  # not a UserError
  with pytest.raises(ValueError, match="an invariant broke"):
    main.run_reporting_user_errors(buggy, None)


def test_unknown_command_is_a_usage_error(capsys):
  with pytest.raises(SystemExit) as exit_info:
    main.run(["trian"])
  assert exit_info.value.code == 2
  assert "invalid choice: 'trian'" in capsys.readouterr().err
