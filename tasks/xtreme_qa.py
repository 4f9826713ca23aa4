"""XTREME extractive QA tasks: SQuAD v1.1, XQuAD, MLQA, TyDiQA-GoldP.

Zero-shot protocol (XTREME), named as tasks/xtreme.py names its tasks: an
English training task `*_train_en`, one evaluation task per language
`*_eval_<lang>` with evaluation splits only, and a mixture per benchmark
holding both (as mT5's zero-shot mixtures), so `get_dataset(split="train")`
of a mixture yields English training data only.

  task               tfds                  splits (seqio = tfds names)
  squad_train_en     squad/v1.1:3.0.0      train, validation (English dev)
  xquad_eval_<lang>  xquad/<lang>:3.0.0    test (XQuAD's only split)
  mlqa_eval_<lang>   mlqa/<lang>:1.0.0     validation, test (context
                                           language = question language)
  tydiqa_train_en    tydi_qa/goldp:3.0.0   train, English examples
  tydiqa_eval_<lang> tydi_qa/goldp:3.0.0   validation, that language's

  mixture  tasks                             evaluate on split
  xquad    squad_train_en + xquad_eval_*     test
  mlqa     squad_train_en + mlqa_eval_*      test (or validation)
  tydiqa   tydiqa_train_en + tydiqa_eval_*   validation

TyDiQA-GoldP's train and validation splits hold all nine languages in one
split; a task keeps its language's examples by the id prefix (ids look like
"arabic-2387335860751143628-1"). tfds 3.0.0 also has `validation-<lang>`
splits with the same examples.

Features: see rembert_mtf.data.qa_windows (unpadded windows plus
post-processing metadata; windows are sequence_length["input_ids"] long at
most, doc_stride and max_query_length are gin `qa_windows.*`). Metrics:
{"em", "f1"} over questions, from the windows' logits
(rembert_mtf.evaluation.qa_answers); SQuAD v1.1 scoring for SQuAD, XQuAD
and TyDiQA and MLQA's language-aware scoring for MLQA, as XTREME's
evaluate.py. Bind `qa_scoring.style = "mlqa"` (or "squad") to score every
QA task one way.
"""

import functools

import gin
import seqio

from rembert_mtf import compat  # noqa: F401  (import fix before tensorflow)
from rembert_mtf import errors
from rembert_mtf.data import postprocessors
from rembert_mtf.data import qa_windows
from rembert_mtf.data import vocabulary
from rembert_mtf.evaluation import metrics
from rembert_mtf.evaluation import qa_answers
import tensorflow as tf  # pylint: disable=g-bad-import-order

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi",
                   "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
# TyDiQA-GoldP language code -> the id prefix of its examples.
TYDIQA_LANGUAGES = {"ar": "arabic", "bn": "bengali", "en": "english",
                    "fi": "finnish", "id": "indonesian", "ko": "korean",
                    "ru": "russian", "sw": "swahili", "te": "telugu"}

# (task, tfds name, {seqio split: tfds split}, language, id prefix or None,
#  default scoring)
QA_TASKS = (
    [("squad_train_en", "squad/v1.1:3.0.0",
      {"train": "train", "validation": "validation"}, "en", None, "squad")] +
    [(f"xquad_eval_{lang}", f"xquad/{lang}:3.0.0", {"test": "test"}, lang,
      None, "squad") for lang in XQUAD_LANGUAGES] +
    [(f"mlqa_eval_{lang}", f"mlqa/{lang}:1.0.0",
      {"validation": "validation", "test": "test"}, lang, None, "mlqa")
     for lang in MLQA_LANGUAGES] +
    [("tydiqa_train_en", "tydi_qa/goldp:3.0.0", {"train": "train"}, "en",
      "english", "squad")] +
    [(f"tydiqa_eval_{lang}", "tydi_qa/goldp:3.0.0",
      {"validation": "validation"}, lang, prefix, "squad")
     for lang, prefix in TYDIQA_LANGUAGES.items()])

QA_MIXTURES = {
    "xquad": ["squad_train_en"] + [f"xquad_eval_{l}" for l in XQUAD_LANGUAGES],
    "mlqa": ["squad_train_en"] + [f"mlqa_eval_{l}" for l in MLQA_LANGUAGES],
    "tydiqa": ["tydiqa_train_en"] + [f"tydiqa_eval_{l}"
                                     for l in TYDIQA_LANGUAGES],
}


VOCABULARY = vocabulary.DeferredVocabulary()
OUTPUT_FEATURES = {
    "input_ids": seqio.Feature(VOCABULARY, add_eos=False),
    "token_type_ids": seqio.Feature(seqio.PassThroughVocabulary(2),
                                    add_eos=False),
    "start_position": seqio.Feature(seqio.PassThroughVocabulary(1),
                                    add_eos=False, rank=0),
    "end_position": seqio.Feature(seqio.PassThroughVocabulary(1),
                                  add_eos=False, rank=0),
}


@gin.configurable
def qa_scoring(style=None):
  """None: each task's default scoring; "squad" or "mlqa": all QA tasks."""
  if style not in (None, "squad", "mlqa"):
    raise errors.UserError(
        f"qa_scoring.style must be 'squad' or 'mlqa', not {style!r}.")
  return style


def score_fn(style, lang):
  """(targets, predictions) -> {"em", "f1"} in the given scoring style."""
  if style == "mlqa":
    return functools.partial(metrics.mlqa_em_f1, lang=lang)
  return metrics.squad_em_f1


def qa_metric_fn(lang, default_style):
  """A seqio metric_fn scoring a QA task's windows (see score_windows)."""

  def qa_em_f1(targets, predictions):
    style = qa_scoring() or default_style
    return qa_answers.score_windows(targets, predictions,
                                    score_fn(style, lang))

  return qa_em_f1


def filter_by_id_prefix(dataset, prefix):
  """Keeps examples whose id starts with `prefix` + "-"."""
  return dataset.filter(
      lambda ex: tf.strings.regex_full_match(ex["id"], prefix + "-.*"))


def register_qa_tasks():
  """Registers QA_TASKS and QA_MIXTURES (replacing same-named ones)."""
  for name, tfds_name, splits, lang, prefix, style in QA_TASKS:
    preprocessors = [qa_windows.qa_windows]
    if prefix:
      preprocessors.insert(0, functools.partial(filter_by_id_prefix,
                                                prefix=prefix))
    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name,
        source=seqio.TfdsDataSource(tfds_name=tfds_name, splits=splits),
        output_features=OUTPUT_FEATURES,
        preprocessors=preprocessors,
        postprocess_fn=postprocessors.qa_window_metadata,
        metric_fns=[qa_metric_fn(lang, style)])
  for name, tasks in QA_MIXTURES.items():
    seqio.MixtureRegistry.remove(name)
    seqio.MixtureRegistry.add(name, tasks, default_rate=1.0)


register_qa_tasks()
