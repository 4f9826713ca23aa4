"""The benchmarks of the protocol, their sweeps, and the protocol's defaults.

Pure Python (no TensorFlow, seqio or numpy): `rembert_mtf.cli.xtreme` and
`rembert_mtf.cli.report` take their flag choices and defaults from here
when the parser is built.

Settings (`--setting`, XTREME's names for where the training data come
from):
  zero-shot            one model per run, fine-tuned on English only,
                       evaluated on every language (XTREME's protocol and
                       the RemBERT paper's).
  translate-train      one model per target language, fine-tuned on the
                       English training set machine-translated into that
                       language (English: the English training set itself)
                       and evaluated on that language only.
  translate-train-all  one model per run, fine-tuned on English plus every
                       translated training set together, evaluated on
                       every language (XTREME's "translate-train (multi-
                       task)").
Only XNLI and PAWS-X have translated training data in tasks/xtreme.py
(`<name>_translate_train_<lang>` tasks and `<name>_translate_train`
mixtures, from tfds xtreme_xnli and xtreme_pawsx); tasks/xtreme_qa.py has
none, so QA, NER and POS run zero-shot only.

Named `benchmarks`, not `protocol`: the runner and the backend take a
`protocol` argument ("xtreme" or "rembert"), which would shadow it.
"""

import dataclasses
from typing import Mapping, Optional, Tuple

from rembert_mtf import errors

QA_RATES = (2e-5, 3e-5, 4e-5)
NER_RATES = (1e-5, 2e-5, 3e-5, 4e-5, 5e-5)


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """One zero-shot benchmark.

  Attributes:
    name: --tasks name, e.g. "xnli".
    mixture: seqio mixture holding the `*_eval_<lang>` tasks.
    train_task: the English training task.
    learning_rates: the Table 10 sweep (protocol "xtreme").
    rembert: (learning rate, batch size) of Table 15 (protocol "rembert").
    train_examples: training set size in examples (None: ask seqio).
    test_split: the split reported as test.
    extra_dev_tasks: {language: task} scored on "validation" besides the
      mixture's evaluation tasks (XQuAD's English dev is SQuAD's).
    source_language: the training language (selection with --select_on=en).
    primary_metric: a language's score; None: (EM + F1) / 2 (QA). Explicit
      because POS reports both pos_f1 and word accuracy, and XTREME's POS
      score is the F1.
    dev_task: the source-language dev task (its "validation" split) on
      which each fine-tuning run keeps its best checkpoint; None: the run
      keeps its last checkpoint (TyDiQA-GoldP, whose dev split is its test
      set).
    translate_train: "{}"-pattern of the translate-train training task of
      a language (None: no translated training data).
    translate_train_all: the mixture of the English and every translated
      training task (its train split; None: none).
  """
  name: str
  mixture: str
  train_task: str
  learning_rates: Tuple[float, ...]
  rembert: Tuple[float, int]
  train_examples: Optional[int]
  test_split: str = "test"
  extra_dev_tasks: Mapping[str, str] = dataclasses.field(default_factory=dict)
  source_language: str = "en"
  primary_metric: Optional[str] = None
  dev_task: Optional[str] = None
  translate_train: Optional[str] = None
  translate_train_all: Optional[str] = None

  @property
  def selection_metric(self) -> str:
    """The metric the best checkpoint is kept by (QA: F1, as SQuAD's)."""
    return self.primary_metric or "f1"

  def train_task_for(self, setting: str, language: Optional[str] = None):
    """The seqio training task (or mixture) of a setting.

    Args:
      setting: one of SETTINGS (check_setting has vetted it).
      language: translate-train's target language.
    Returns:
      the name; translate-train's source language trains on train_task.
    """
    if setting == ZERO_SHOT or (setting == TRANSLATE_TRAIN and
                                language == self.source_language):
      return self.train_task
    if setting == TRANSLATE_TRAIN:
      return self.translate_train.format(language)
    return self.translate_train_all


BENCHMARKS = {b.name: b for b in (
    Benchmark("xnli", "xnli", "xnli_train_en", (1e-5, 2e-5, 3e-5),
              (1e-5, 128), 392702, primary_metric="accuracy",
              dev_task="xnli_eval_en",
              translate_train="xnli_translate_train_{}",
              translate_train_all="xnli_translate_train"),
    Benchmark("pawsx", "pawsx", "pawsx_train_en", (3e-5, 4e-5, 5e-5),
              (8e-6, 128), 49401, primary_metric="accuracy",
              dev_task="pawsx_eval_en",
              translate_train="pawsx_translate_train_{}",
              translate_train_all="pawsx_translate_train"),
    Benchmark("ner", "ner", "ner_train_en", NER_RATES, (8e-6, 64), 20000,
              primary_metric="span_f1", dev_task="ner_eval_en"),
    Benchmark("pos", "pos", "pos_train_en", NER_RATES, (3e-5, 128), 21253,
              primary_metric="pos_f1", dev_task="pos_eval_en"),
    # XQuAD and MLQA share the SQuAD-trained models, so they share its
    # English dev set (SQuAD v1.1 dev) for checkpoint selection too.
    Benchmark("xquad", "xquad", "squad_train_en", QA_RATES, (9e-6, 128),
              87599, extra_dev_tasks={"en": "squad_train_en"},
              dev_task="squad_train_en"),
    Benchmark("mlqa", "mlqa", "squad_train_en", QA_RATES, (9e-6, 128),
              87599, dev_task="squad_train_en"),
    Benchmark("tydiqa", "tydiqa", "tydiqa_train_en", QA_RATES, (9e-6, 128),
              3696, test_split="validation"),
    # Not XTREME (left out of its averages): the synthetic languages of
    # `rembert-mtf demo`, to try the protocol end to end in minutes.
    Benchmark("demo", "demo_cls", "demo_cls_train_lang_a", (1e-4, 3e-4),
              (1e-4, 32), None, source_language="lang_a",
              primary_metric="accuracy", dev_task="demo_cls_eval_lang_a"),
)}
XTREME_TASKS = ("xnli", "pawsx", "ner", "pos", "xquad", "mlqa", "tydiqa")
# XTREME's sentence retrieval: scored zero-shot from the pre-trained
# encoder's states, with no fine-tuning, sweep or seeds
# (evaluation/retrieval.py), so they are not Benchmarks. Not in the
# default --tasks: the RemBERT paper reports no retrieval results.
RETRIEVAL_TASKS = ("bucc", "tatoeba")
ZERO_SHOT = "zero-shot"
TRANSLATE_TRAIN = "translate-train"
TRANSLATE_TRAIN_ALL = "translate-train-all"
SETTINGS = (ZERO_SHOT, TRANSLATE_TRAIN, TRANSLATE_TRAIN_ALL)
SELECT_CHECKPOINT = ("best_dev", "last")
# Evaluations on the English dev set per fine-tuning run when
# --eval_every_steps is not given: every 1/5 of the run (0.6 epoch at 3
# epochs), the last at the final step. XTREME's scripts evaluate every
# 100 (XNLI), 200 (PAWS-X), 1,000 (NER) or 500 (POS) steps of batch 32.
DEFAULT_EVALS_PER_RUN = 5
PROTOCOLS = ("xtreme", "rembert")
SELECT_ON = ("en", "average")
DEFAULT_BATCH_SIZE = 32
DEFAULT_EPOCHS = 3
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_WARMUP_FRACTION = 0.1  # BERT's fine-tuning default
DEFAULT_MAX_SEQ_LENGTH = 128  # classification and tagging
DEFAULT_QA_MAX_SEQ_LENGTH = 384  # QA windows


def get_benchmark(name: str) -> Benchmark:
  """BENCHMARKS[name]; an unknown name is a one-line error naming --tasks."""
  if name not in BENCHMARKS:
    raise errors.UserError(f"unknown task {name!r} for --tasks; choose from "
                           f"{', '.join(BENCHMARKS)}.")
  return BENCHMARKS[name]


def has_setting(benchmark: Benchmark, setting: str) -> bool:
  """Whether the registrations give the benchmark training data for it."""
  if setting == TRANSLATE_TRAIN:
    return benchmark.translate_train is not None
  if setting == TRANSLATE_TRAIN_ALL:
    return benchmark.translate_train_all is not None
  return True


def check_setting(setting: str, tasks) -> None:
  """One line naming the tasks that have the setting's data, if some lack it.

  Args:
    setting: one of SETTINGS.
    tasks: benchmark names (each must be in BENCHMARKS).
  Raises:
    errors.UserError: an unknown setting, or a task without its data.
  """
  if setting not in SETTINGS:
    raise errors.UserError(f"unknown --setting={setting}; choose from "
                           f"{', '.join(SETTINGS)}.")
  lacking = [t for t in tasks if not has_setting(get_benchmark(t), setting)]
  if lacking:
    having = [b for b in BENCHMARKS if has_setting(BENCHMARKS[b], setting)]
    raise errors.UserError(
        f"--setting={setting}: {', '.join(lacking)} "
        f"{'has' if len(lacking) == 1 else 'have'} no {setting} training "
        f"data in tasks/; tasks with it: {', '.join(having)}.")


def check_retrieval_setting(setting: str, tasks) -> None:
  """Retrieval is zero-shot only: one line if asked under another setting."""
  retrieval = [t for t in tasks if t in RETRIEVAL_TASKS]
  if retrieval and setting != ZERO_SHOT:
    raise errors.UserError(
        f"--setting={setting}: {', '.join(retrieval)} "
        f"{'is' if len(retrieval) == 1 else 'are'} zero-shot retrieval from "
        "the pre-trained encoder (nothing is fine-tuned); drop "
        f"{'it' if len(retrieval) == 1 else 'them'} from --tasks or run "
        f"--setting={ZERO_SHOT}.")


def default_tasks(setting: str) -> Tuple[str, ...]:
  """--tasks when not given: XTREME's, or those that have the setting."""
  return tuple(t for t in XTREME_TASKS
               if has_setting(BENCHMARKS[t], setting))


def default_output_folder(setting: str) -> str:
  """<model_dir>/<this>: each setting's runs and tables apart."""
  return "xtreme" if setting == ZERO_SHOT else f"xtreme-{setting}"


def benchmark_of(task: str) -> Benchmark:
  """BENCHMARKS[task], or defaults for a task run by other means."""
  return BENCHMARKS.get(task) or Benchmark(task, task, "", (), (0.0, 0), None)


def sweep_for(benchmark: Benchmark,
              protocol: str) -> Tuple[Tuple[float, ...], int]:
  """(learning rates, batch size) of a protocol for one benchmark."""
  if protocol == "xtreme":
    return benchmark.learning_rates, DEFAULT_BATCH_SIZE
  if protocol == "rembert":
    rate, batch = benchmark.rembert
    return (rate,), batch
  # The CLI offers only PROTOCOLS: anything else is a caller's bug.
  raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not "
                   f"{protocol!r}.")


def format_rate(learning_rate: float) -> str:
  """3e-05 -> "3e-05" (shortest exact form; the folder name lr=<this>)."""
  return repr(float(learning_rate))
