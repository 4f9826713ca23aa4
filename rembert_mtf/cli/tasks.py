"""`rembert-mtf tasks [--filter=REGEX]`: the registered tasks and mixtures."""


def add_arguments(parser, unused_command="tasks"):
  parser.add_argument("--filter", default=None,
                      help="regular expression on task and mixture names")


def main(args):
  """Lists registered tasks and mixtures (after --module_import modules)."""
  from rembert_mtf.cli import flags  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  flags.load_gin(args)
  registry.print_registered(args.filter)
