"""Trains the project's SentencePiece vocabulary from a seqio mixture.

The core of `rembert-mtf vocab --mixture=NAME --vocab_size=N --out=PREFIX`:
sample raw text (before tokenization) from each task of the mixture with the
pre-training language smoothing, then train a unigram SentencePiece model
with pad=0, unk=1, no BOS/EOS and [CLS], [SEP], [MASK] reserved right after
them (`vocabulary.RESERVED_USER_SYMBOLS`). PREFIX.model and PREFIX.vocab
are written atomically (trained in a temporary folder, then renamed).

    train_vocabulary("wiki_104", 250_000, "/data/rembert")
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import itertools
import os
import re
import shutil
import tempfile

from absl import logging
import sentencepiece as spm

from rembert_mtf.data import preprocessors
from rembert_mtf.data import registry
from rembert_mtf.data import vocabulary

DEFAULT_NUM_SENTENCES = 1_000_000
# High coverage for 100+ scripts; only the rarest characters become <unk>.
DEFAULT_CHARACTER_COVERAGE = 0.99995


def task_probabilities(provider, alpha=None):
  """Sampling probability of each task of a mixture.

  Args:
    provider: a seqio.Mixture or seqio.Task.
    alpha: None to use the mixture's own rates (for the pre-training
      mixtures, p_l proportional to n_l ** smoothed_rate.alpha, n_l pooled
      per language); a number to smooth with it instead (the same pooling;
      a task whose rate is not a smoothed one is its own language).
  Returns:
    dict task name -> probability, summing to 1.
  Raises:
    preprocessors.MissingSizeError: one line naming the tasks without a size
      and the fix (prepare the tfds data, or bind `smoothed_rate.sizes`).
  """
  if not registry.is_mixture(provider):
    return {provider.name: 1.0}
  return preprocessors.mixture_probabilities(provider, alpha)


def sentence_quotas(probabilities, num_sentences):
  """Splits num_sentences by probability (largest remainder: sums exactly)."""
  exact = {name: p * num_sentences for name, p in probabilities.items()}
  quotas = {name: int(x) for name, x in exact.items()}
  by_remainder = sorted(exact, key=lambda n: quotas[n] - exact[n])
  for name in by_remainder[:num_sentences - sum(quotas.values())]:
    quotas[name] += 1
  return quotas


def read_lines(task, quota, text_key=preprocessors.TEXT_KEY, split="train",
               seed=0):
  """Up to `quota` non-blank lines of raw text from a task's source.

  A source with fewer lines is cycled, so small languages are over-sampled
  as the smoothing asks (SentencePiece learns from piece frequencies).

  Args:
    task: a seqio.Task.
    quota: number of lines wanted.
    text_key: the source's raw text feature.
    split: the source split read.
    seed: shuffling seed of the source.
  Returns:
    a list of `quota` strings, or [] if the source has no text.
  Raises:
    ValueError: the source has no `text_key` feature.
  """
  if quota <= 0:
    return []
  ds = task.source.get_dataset(split=split, shuffle=True, seed=seed)
  if text_key not in ds.element_spec:
    raise errors.UserError(
        f"Task '{task.name}' source has no '{text_key}' feature (has "
        f"{', '.join(sorted(ds.element_spec))}); pass text_key=.")
  lines = []
  for example in ds.as_numpy_iterator():
    text = example[text_key].decode("utf-8", errors="replace")
    lines.extend(line.strip() for line in text.splitlines() if line.strip())
    if len(lines) >= quota:
      return lines[:quota]
  if not lines:
    logging.warning("Task %s has no text in split %s; skipped.", task.name,
                    split)
    return []
  return list(itertools.islice(itertools.cycle(lines), quota))


def sample_sentences(provider, num_sentences, alpha=None,
                     text_key=preprocessors.TEXT_KEY, split="train", seed=0):
  """Raw text lines of each task, in proportion to the smoothed rates.

  Returns:
    dict task name -> list of lines (tasks with a zero quota are absent).
  """
  quotas = sentence_quotas(task_probabilities(provider, alpha), num_sentences)
  tasks = {task.name: task for task in getattr(provider, "tasks", [provider])}
  return {name: read_lines(tasks[name], quota, text_key, split, seed)
          for name, quota in quotas.items() if quota > 0}


def train_vocabulary(mixture_name, vocab_size, out_prefix,
                     num_sentences=DEFAULT_NUM_SENTENCES, alpha=None,
                     text_key=preprocessors.TEXT_KEY, split="train", seed=0,
                     character_coverage=DEFAULT_CHARACTER_COVERAGE,
                     trainer_options=None):
  """Trains a unigram SentencePiece model on text sampled from a mixture.

  Args:
    mixture_name: a registered seqio mixture (or task).
    vocab_size: number of pieces, including pad, unk, [CLS], [SEP], [MASK].
    out_prefix: writes out_prefix + ".model" and ".vocab".
    num_sentences: lines of text sampled over all tasks.
    alpha: see `task_probabilities` (None: the mixture's rates).
    text_key: raw text feature of the tasks' sources.
    split: split sampled.
    seed: sampling seed.
    character_coverage: SentencePiece character_coverage.
    trainer_options: extra SentencePieceTrainer keyword arguments.
  Returns:
    the path of the .model file.
  Raises:
    ValueError: one line, for an unknown mixture, no text, or a vocab_size
      the text cannot support (naming the supported bound).
  """
  provider = registry.get_task_or_mixture(mixture_name)
  sentences = sample_sentences(provider, num_sentences, alpha, text_key,
                               split, seed)
  num_lines = sum(len(lines) for lines in sentences.values())
  if not num_lines:
    raise errors.UserError(f"No text sampled from '{mixture_name}' (split "
                           f"{split}, feature {text_key}).")
  out_dir = os.path.dirname(os.path.abspath(out_prefix))
  os.makedirs(out_dir, exist_ok=True)
  # Same folder as the output, so the final rename is atomic.
  work_dir = tempfile.mkdtemp(prefix=".vocab-", dir=out_dir)
  try:
    text_file = os.path.join(work_dir, "text.txt")
    with open(text_file, "w", encoding="utf-8") as f:
      for lines in sentences.values():
        f.writelines(line + "\n" for line in lines)
    work_prefix = os.path.join(work_dir, "spm")
    _train(text_file, work_prefix, vocab_size, character_coverage,
           trainer_options, mixture_name, num_lines)
    for suffix in (".vocab", ".model"):
      os.replace(work_prefix + suffix, out_prefix + suffix)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  logging.info("Wrote %s.model (%d pieces) from %d lines of %s.", out_prefix,
               vocab_size, num_lines, mixture_name)
  return out_prefix + ".model"


def _train(text_file, model_prefix, vocab_size, character_coverage,
           trainer_options, mixture_name, num_lines):
  """Runs SentencePieceTrainer; turns its size errors into one-line ones."""
  options = dict(
      input=text_file, model_prefix=model_prefix, vocab_size=vocab_size,
      model_type="unigram", character_coverage=character_coverage,
      pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
      user_defined_symbols=list(vocabulary.RESERVED_USER_SYMBOLS),
      num_threads=os.cpu_count() or 1, minloglevel=2)
  options.update(trainer_options or {})
  try:
    spm.SentencePieceTrainer.train(**options)
  except RuntimeError as e:
    message = str(e)
    too_high = re.search(r"Vocabulary size too high .*<= (\d+)", message)
    too_low = re.search(r"smaller than required_chars\. \d+ vs (\d+)",
                        message)
    where = f"the text sampled from '{mixture_name}' ({num_lines} lines)"
    if too_high:
      raise errors.UserError(
          f"vocab_size {vocab_size} is too large for {where}: it supports at "
          f"most {too_high.group(1)}; lower vocab_size or sample more "
          "sentences.") from None
    if too_low:
      raise errors.UserError(
          f"vocab_size {vocab_size} is too small for {where}: it needs at "
          f"least {too_low.group(1)} pieces to cover its characters.") from None
    raise
