"""`rembert-mtf report`: training curves and per-language results as PNGs.

  rembert-mtf report --model_dir=DIR [--output_dir=DIR/report]
      [--xtreme_dir=DIR/xtreme] [--select_on=en|average]

Writes the figures of rembert_mtf.evaluation.report (see its docstring),
prints the results table of `rembert-mtf xtreme` and the files written.
"""

from rembert_mtf.evaluation.xtreme import benchmarks


def add_arguments(parser, command="report"):
  """Flags of `rembert-mtf report`."""
  del command
  parser.add_argument("--model_dir", required=True,
                      help="a training or fine-tuning folder")
  parser.add_argument("--output_dir", default=None,
                      help="where PNGs go (default <model_dir>/report)")
  parser.add_argument("--xtreme_dir", default=None,
                      help="results of `rembert-mtf xtreme` (default "
                      "<model_dir>/xtreme)")
  parser.add_argument("--select_on", default="en",
                      choices=benchmarks.SELECT_ON,
                      help="learning-rate selection when there is no "
                      "summary.json yet")


def main(args):
  """Writes the PNGs, prints the table and the paths."""
  from rembert_mtf.evaluation import report  # pylint: disable=g-import-not-at-top
  written, table = report.make_report(args.model_dir, args.output_dir,
                                      args.xtreme_dir, args.select_on)
  if table:
    print(table)
  for path in written:
    print(f"wrote {path}")
