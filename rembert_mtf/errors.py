"""The exception types of problems a user can fix.

Raised where the problem is found, with one line that names it and the fix
(the flag, the gin binding, the file, the numbers). The CLI prints that
line as `rembert-mtf: error: ...` and exits 2; every other exception is a
bug and keeps its traceback. They subclass the built-in type a caller
would expect (ValueError, FileNotFoundError, KeyError) so library callers
can catch them as before.
"""


class UserError(ValueError):
  """A configuration, flag or input the user can fix."""


class MissingFileError(UserError, FileNotFoundError):
  """A file or checkpoint the user named (or must create) does not exist."""


class MissingKeyError(UserError, KeyError):
  """A checkpoint or weight file lacks a variable the model needs."""

  def __str__(self):
    # KeyError's str() is the repr of its argument; ours is a sentence.
    return str(self.args[0]) if self.args else ""


def first_line(error):
  """The first non-empty line of an exception's message (or its repr)."""
  text = str(error).strip()
  return text.splitlines()[0].strip() if text else repr(error)
