"""The `rembert-mtf` command: flags, gin, one small module per command.

The parser is built from the table in main.py; a command's module imports
its library code only when the command runs, so `rembert-mtf --help` loads
no TensorFlow. Nothing below cli/ imports it.
"""
