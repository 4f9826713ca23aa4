"""The benchmarks of the protocol, their sweeps, and the protocol's defaults.

Pure Python (no TensorFlow, seqio or numpy): `rembert_mtf.cli.xtreme` and
`rembert_mtf.cli.report` take their flag choices and defaults from here
when the parser is built.

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


BENCHMARKS = {b.name: b for b in (
    Benchmark("xnli", "xnli", "xnli_train_en", (1e-5, 2e-5, 3e-5),
              (1e-5, 128), 392702, primary_metric="accuracy"),
    Benchmark("pawsx", "pawsx", "pawsx_train_en", (3e-5, 4e-5, 5e-5),
              (8e-6, 128), 49401, primary_metric="accuracy"),
    Benchmark("ner", "ner", "ner_train_en", NER_RATES, (8e-6, 64), 20000,
              primary_metric="span_f1"),
    Benchmark("pos", "pos", "pos_train_en", NER_RATES, (3e-5, 128), 21253,
              primary_metric="pos_f1"),
    Benchmark("xquad", "xquad", "squad_train_en", QA_RATES, (9e-6, 128),
              87599, extra_dev_tasks={"en": "squad_train_en"}),
    Benchmark("mlqa", "mlqa", "squad_train_en", QA_RATES, (9e-6, 128),
              87599),
    Benchmark("tydiqa", "tydiqa", "tydiqa_train_en", QA_RATES, (9e-6, 128),
              3696, test_split="validation"),
    # Not XTREME (left out of its average): the synthetic languages of
    # `rembert-mtf demo`, to try the protocol end to end in minutes.
    Benchmark("demo", "demo_cls", "demo_cls_train_lang_a", (1e-4, 3e-4),
              (1e-4, 32), None, source_language="lang_a",
              primary_metric="accuracy"),
)}
XTREME_TASKS = ("xnli", "pawsx", "ner", "pos", "xquad", "mlqa", "tydiqa")
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
