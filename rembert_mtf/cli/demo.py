"""`rembert-mtf demo`: the end-to-end miniature (evaluation/demo.py)."""

from rembert_mtf.cli import flags


def add_arguments(parser, unused_command="demo"):
  parser.add_argument("--model_dir", default="/tmp/rembert_mtf_demo",
                      help="where the vocabulary, checkpoints and results go")


def main(args):
  # pylint: disable=g-import-not-at-top
  from rembert_mtf.cli import gin_config
  from rembert_mtf.evaluation import demo
  from rembert_mtf.training import config
  # pylint: enable=g-import-not-at-top
  gin_config.parse(["models/tiny.gin"])  # the user's flags come after
  flags.load_gin(args)
  demo.run(args.model_dir, config.Run(model=config.modeling.RemBertConfig(),
                                      trainer=config.TrainerConfig(),
                                      optimizer=config.OptimizerConfig()))
