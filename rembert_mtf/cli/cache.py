"""`rembert-mtf cache`: preprocess a mixture once with Apache Beam.

  rembert-mtf cache --mixture=NAME --output_dir=DIR [--runner=DirectRunner]
      [--split=train ...] [--gin_file/--gin_param ...] [-- BEAM_OPTIONS]

Writes seqio's cache of every task of NAME (rembert_mtf/data/cache.py says
what is cached and how it is checked); training reads it with
`trainer.cache_dir = 'DIR'`. DirectRunner runs on this machine; the same
command runs on Dataflow, Flink or Spark with --runner and that runner's
options after `--` (e.g. `-- --project=P --region=R
--temp_location=gs://B/tmp`).
"""


def add_arguments(parser, unused_command="cache"):
  parser.add_argument("--mixture", required=True,
                      help="registered seqio mixture (or task) to cache")
  parser.add_argument("--output_dir", required=True,
                      help="cache folder (local or gs://); tasks already "
                      "cached there for this vocabulary are skipped")
  parser.add_argument("--runner", default="DirectRunner",
                      help="Beam runner: DirectRunner (this machine), "
                      "DataflowRunner, FlinkRunner, SparkRunner, ...")
  parser.add_argument("--split", action="append", default=[],
                      help="split to cache (repeatable; default: every "
                      "split of each task)")
  parser.add_argument("pipeline_options", nargs="*", metavar="BEAM_OPTION",
                      help="after `--`: Beam pipeline options passed as "
                      "they are, e.g. -- --direct_num_workers=2")


def main(args):
  """Gin and --module_import first (user tasks), then the Beam job."""
  import logging  # pylint: disable=g-import-not-at-top
  from rembert_mtf.cli import flags  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import cache  # pylint: disable=g-import-not-at-top
  from rembert_mtf.data import registry  # pylint: disable=g-import-not-at-top
  # The shipped tasks first: they import the configurables (get_vocabulary)
  # that --gin_param binds.
  registry.ensure_registered()
  flags.load_gin(args)
  # Beam warns once per split about seqio's PreprocessTask generator (a
  # nested function's `return` read as the generator's); nothing to act on.
  logging.getLogger("apache_beam.transforms.core").setLevel(logging.ERROR)
  result = cache.cache_mixture(
      args.mixture, args.output_dir, runner=args.runner,
      options=args.pipeline_options, splits=args.split or None,
      modules=args.module_import)
  print(cache.format_summary(result, args.output_dir))
