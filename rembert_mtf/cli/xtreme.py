"""`rembert-mtf xtreme`: the XTREME protocol on a pre-trained model.

  rembert-mtf xtreme --model_dir=PRETRAINED [--tasks=xnli,pawsx,...,bucc]
      [--setting=zero-shot|translate-train|translate-train-all]
      [--protocol=xtreme|rembert] [--seeds=0,1,2] [--select_on=en|average]
      [--select_checkpoint=best_dev|last] [--eval_every_steps=N]
      [--learning_rates=...] [--batch_size=N] [--epochs=E]
      [--max_train_steps=N] [--output_dir=DIR] [gin and mesh flags]

Fine-tunes from PRETRAINED's latest checkpoint with its operative config
(then --gin_file / --gin_param on top), writes every run and the tables
under --output_dir (default PRETRAINED/xtreme for zero-shot,
PRETRAINED/xtreme-<setting> otherwise, so settings never mix) and prints
results.md. The protocol itself is rembert_mtf.evaluation.xtreme (see its
docstring); --setting and --tasks are checked against each other before
anything runs (translate-train data exist for xnli and pawsx only).
bucc and tatoeba are scored zero-shot from PRETRAINED's encoder states
(evaluation/retrieval.py; --retrieval_layer, --retrieval_pooling), first,
and reported in their own section of the tables.
"""

import argparse
import os

from rembert_mtf.cli import flags
from rembert_mtf.cli import train
from rembert_mtf.evaluation.xtreme import benchmarks


def _task_list(text):
  """argparse type: comma-separated benchmark names."""
  names = tuple(t.strip() for t in text.split(",") if t.strip())
  known = (*benchmarks.BENCHMARKS, *benchmarks.RETRIEVAL_TASKS)
  unknown = [n for n in names if n not in known]
  if unknown:
    raise argparse.ArgumentTypeError(
        f"unknown task {unknown[0]!r}; choose from {', '.join(known)}")
  if not names:
    raise argparse.ArgumentTypeError("give at least one task")
  return names


def _seed_list(text):
  """argparse type: comma-separated integers >= 0."""
  try:
    seeds = tuple(int(v) for v in text.split(",") if v.strip())
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a comma-separated list of whole numbers")
  if not seeds:
    raise argparse.ArgumentTypeError("give at least one seed")
  if min(seeds) < 0:
    raise argparse.ArgumentTypeError(f"seed {min(seeds)} must be >= 0")
  return seeds


def _rate_list(text):
  """argparse type: comma-separated learning rates > 0."""
  rates = tuple(flags.positive_float(v) for v in text.split(",")
                if v.strip())
  if not rates:
    raise argparse.ArgumentTypeError("give at least one learning rate")
  return rates


# Warm-up share of the steps, in [0, 1).
_fraction = flags.number_in(float, 0.0, 1.0, high_open=True)


def add_arguments(parser, command="xtreme"):
  """Flags of `rembert-mtf xtreme` (gin and mesh flags come from main.py)."""
  del command
  parser.add_argument("--model_dir", required=True,
                      help="pre-trained model (its latest checkpoint and "
                      "operative_config.gin)")
  translated = benchmarks.default_tasks(benchmarks.TRANSLATE_TRAIN)
  parser.add_argument("--tasks", type=_task_list, default=None,
                      help="comma-separated, of: "
                      f"{','.join(benchmarks.BENCHMARKS)} (fine-tuned), "
                      f"{','.join(benchmarks.RETRIEVAL_TASKS)} (zero-shot "
                      "retrieval from the encoder) (default: "
                      f"{','.join(benchmarks.XTREME_TASKS)}; with a "
                      "translate-train setting those that have its data: "
                      f"{','.join(translated)})")
  parser.add_argument("--setting", default=benchmarks.ZERO_SHOT,
                      choices=benchmarks.SETTINGS,
                      help="zero-shot: fine-tune on English; "
                      "translate-train: a model per language on its "
                      "translated training set; translate-train-all: one "
                      "model on English and every translation")
  parser.add_argument("--protocol", default="xtreme",
                      choices=benchmarks.PROTOCOLS,
                      help="xtreme: Table 10 sweeps, batch 32; rembert: "
                      "Table 15 settings")
  parser.add_argument("--seeds", type=_seed_list,
                      default=benchmarks.DEFAULT_SEEDS,
                      help="comma-separated fine-tuning seeds per learning "
                      "rate (default: 0,1,2)")
  parser.add_argument("--select_on", default="en",
                      choices=benchmarks.SELECT_ON,
                      help="dev score the learning rate is selected on")
  parser.add_argument("--select_checkpoint", default="best_dev",
                      choices=benchmarks.SELECT_CHECKPOINT,
                      help="best_dev: each run keeps its checkpoint with the "
                      "best English dev score (XTREME's rule); last: the "
                      "final one")
  parser.add_argument("--eval_every_steps", type=flags.positive_int,
                      default=None,
                      help="steps between English dev evaluations with "
                      "best_dev (default: a fifth of each run)")
  parser.add_argument("--learning_rates", type=_rate_list, default=None,
                      help="comma-separated; overrides the protocol's sweep")
  parser.add_argument("--batch_size", type=flags.positive_int, default=None,
                      help="overrides the protocol's batch size")
  parser.add_argument("--epochs", type=flags.positive_float,
                      default=benchmarks.DEFAULT_EPOCHS,
                      help="passes over the training set (default 3)")
  parser.add_argument("--max_train_steps", type=flags.positive_int,
                      default=None,
                      help="cap on fine-tuning steps (small runs)")
  parser.add_argument("--warmup_fraction", type=_fraction,
                      default=benchmarks.DEFAULT_WARMUP_FRACTION,
                      help="share of the steps of linear warm-up, in [0, 1)")
  parser.add_argument("--max_seq_length", type=flags.positive_int,
                      default=benchmarks.DEFAULT_MAX_SEQ_LENGTH,
                      help="classification and tagging sequence length")
  parser.add_argument("--qa_max_seq_length", type=flags.positive_int,
                      default=benchmarks.DEFAULT_QA_MAX_SEQ_LENGTH,
                      help="QA window length")
  parser.add_argument("--retrieval_layer", type=flags.non_negative_int,
                      default=None,
                      help="bucc/tatoeba: the hidden states of this layer "
                      "(0: the embeddings' output; default 8, XTREME's for "
                      "12-layer models)")
  parser.add_argument("--retrieval_pooling", default=None,
                      choices=("mean", "cls"),
                      help="bucc/tatoeba: pooling over a sentence's tokens "
                      "(default XTREME's: cls for bucc, mean for tatoeba)")
  parser.add_argument("--output_dir", default=None,
                      help="default <model_dir>/xtreme (zero-shot) or "
                      "<model_dir>/xtreme-<setting>")
  parser.add_argument("--num_devices", type=flags.positive_int, default=None,
                      help="virtual CPU devices (default trainer.num_devices)")
  parser.set_defaults(tpu=None)  # train.load_run reads it


def base_run(args):
  """(the pre-trained model's config.Run, its latest checkpoint).

  The Run is train.load_run's: args.model_dir's operative_config.gin, then
  the gin flags, then the mesh flags and --num_devices.
  """
  from rembert_mtf import compat  # pylint: disable=g-import-not-at-top
  from rembert_mtf import errors  # pylint: disable=g-import-not-at-top
  init_checkpoint = compat.tf.train.latest_checkpoint(args.model_dir)
  if not init_checkpoint:
    raise errors.MissingFileError(
        f"no checkpoint in --model_dir={args.model_dir} to fine-tune from.")
  return train.load_run(args), init_checkpoint


def retrieval_summary(args, tasks, output_dir):
  """Scores the retrieval tasks zero-shot; summary["retrieval"] or None."""
  if not tasks:
    return None
  # pylint: disable=g-import-not-at-top
  from rembert_mtf.evaluation import retrieval
  from rembert_mtf.evaluation.xtreme import selection
  from rembert_mtf.interop import embed
  # pylint: enable=g-import-not-at-top
  folder = os.path.join(output_dir, "retrieval")
  scores = retrieval.run_retrieval(
      args.model_dir, tasks, folder, layer=args.retrieval_layer,
      pooling=args.retrieval_pooling, embed_fn=embed.Embedder(args.model_dir))
  written = retrieval.read_results(folder)
  return selection.retrieval_summary(scores, written["settings"])


def main(args):
  """Runs the protocol; prints the Markdown table."""
  from rembert_mtf.evaluation.xtreme import backend  # pylint: disable=g-import-not-at-top
  from rembert_mtf.evaluation.xtreme import runner  # pylint: disable=g-import-not-at-top
  from rembert_mtf.evaluation.xtreme import selection  # pylint: disable=g-import-not-at-top
  from rembert_mtf.evaluation.xtreme import tables  # pylint: disable=g-import-not-at-top
  tasks = args.tasks or benchmarks.default_tasks(args.setting)
  retrieved = [t for t in tasks if t in benchmarks.RETRIEVAL_TASKS]
  finetuned = [t for t in tasks if t not in benchmarks.RETRIEVAL_TASKS]
  # Before the checkpoint and gin are read: a wrong pair fails at once.
  benchmarks.check_retrieval_setting(args.setting, tasks)
  benchmarks.check_setting(args.setting, finetuned)
  output_dir = args.output_dir or os.path.join(
      args.model_dir, benchmarks.default_output_folder(args.setting))
  if finetuned:
    run, init_checkpoint = base_run(args)  # parses the gin flags too
  else:
    flags.load_gin(args)
  # Retrieval first: minutes, not hours, and its checks (layer, vocabulary)
  # come before any fine-tuning starts.
  retrieval = retrieval_summary(args, retrieved, output_dir)
  if finetuned:
    trainer_backend = backend.TrainerBackend(
        output_dir, run, init_checkpoint, protocol=args.protocol,
        batch_size=args.batch_size, epochs=args.epochs,
        max_train_steps=args.max_train_steps,
        warmup_fraction=args.warmup_fraction,
        max_seq_length=args.max_seq_length,
        qa_max_seq_length=args.qa_max_seq_length,
        select_checkpoint=args.select_checkpoint,
        eval_every_steps=args.eval_every_steps)
    summary = runner.run_xtreme(
        output_dir, finetuned, trainer_backend.finetune,
        trainer_backend.predict, protocol=args.protocol, seeds=args.seeds,
        select_on=args.select_on, learning_rates=args.learning_rates,
        settings=trainer_backend.settings(), setting=args.setting)
  else:
    summary = selection.summarize({}, args.select_on, args.protocol,
                                  args.setting)
  if retrieval:
    summary["retrieval"] = retrieval
  tables.write_tables(summary, output_dir)
  print(tables.markdown_table(summary))
  print(f"\nwrote {os.path.join(output_dir, 'results.md')}, results.csv and "
        "summary.json")
