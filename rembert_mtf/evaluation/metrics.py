"""XTREME metrics (percentages) and the benchmark summary.

Every function takes `targets` and `predictions` in the seqio/t5 metric_fn
order and returns a dict of percentages, so it can be a seqio metric_fn.
`accuracy` scores class ids (`postprocessors.class_id`) as they are; the
`chunk_*` metric_fns score the WordTags of `postprocessors.chunk_word_tags`,
putting split sentences back together first so each word counts once.

Sources of the semantics:
  * XTREME's evaluate.py (google-research/xtreme): accuracy for XNLI/PAWS-X,
    seqeval `f1_score` for both PAN-X (NER) and UD-POS, the SQuAD v1.1 script
    for XQuAD and TyDiQA-GoldP, the MLQA script for MLQA, per-task means over
    languages and (EM + F1) / 2 for QA tasks.
  * SQuAD v1.1 official evaluate-v1.1.py: normalisation and token F1, through
    t5.evaluation (whose qa_utils reproduces it).
  * MLQA's mlqa_evaluation_v1.py (facebookresearch/MLQA): language-aware
    normalisation, reimplemented here because t5 only has the SQuAD one.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)

import functools
import re
import statistics
import string
import sys
import unicodedata
import warnings

from seqeval import metrics as seqeval_metrics
from t5.evaluation import metrics as t5_metrics
from t5.evaluation import qa_utils

from rembert_mtf.data import postprocessors


def accuracy(targets, predictions):
  """Exact-match accuracy of labels.

  Args:
    targets: list of labels.
    predictions: list of labels, same length.
  Returns:
    {"accuracy": percentage}.
  """
  return {"accuracy": float(t5_metrics.accuracy(targets, predictions)
                            ["accuracy"])}


def span_f1(targets, predictions):
  """Entity-level micro F1 with conlleval semantics (XTREME's NER metric).

  seqeval's default mode is conlleval's chunking: an I-X after O or after a
  different type starts a new X entity; an entity must match in type, start
  and end to count.

  Args:
    targets: list of sentences, each a list of tag strings (B-/I-/O).
    predictions: same shape as targets.
  Returns:
    {"span_f1": percentage}.
  """
  return {"span_f1": 100.0 * seqeval_metrics.f1_score(
      targets, predictions, zero_division=0)}


def _as_seqeval_0_0_12_tag(tag):
  # seqeval <= 0.0.12 (what XTREME's `pip install seqeval` gave in 2020) read
  # a tag as (first character, text after the last '-'); 1.x reads the type
  # as the text after the first character, which splits e.g. CCONJ/SCONJ
  # differently. Spelling the old reading out as "<first>-<type>" makes 1.2.2
  # chunk exactly as 0.0.12 did.
  return tag[0] + "-" + tag.split("-")[-1] if tag else tag


def pos_f1(targets, predictions):
  """UD-POS score as XTREME reports it: seqeval chunk F1 over plain POS tags.

  XTREME's evaluate.py (and run_tag.py) scores UD-POS with the same seqeval
  `f1_score` as NER, on tags without B-/I- prefixes. seqeval then reads the
  first letter of each tag as its chunk prefix and the whole tag as its type,
  so this is NOT token accuracy:
    * a maximal run of the same tag is ONE chunk ("NOUN NOUN" is one NOUN
      span; predicting "NOUN VERB" for gold "NOUN NOUN" gets 0 chunks right);
    * tags starting with S (SCONJ, SYM) are single-token chunks, since S
      means "single" to seqeval, so "SYM SYM" is two chunks;
    * a chunk counts only if its type, start and end all match.
  We reproduce seqeval 0.0.12's reading with the installed seqeval 1.2.2.

  Args:
    targets: list of sentences, each a list of UPOS tags (e.g. "NOUN").
    predictions: same shape as targets.
  Returns:
    {"pos_f1": percentage}.
  """
  convert = lambda sents: [[_as_seqeval_0_0_12_tag(t) for t in s]
                           for s in sents]
  with warnings.catch_warnings():
    # seqeval warns that "N-NOUN" is not an NE tag; that is the point here.
    warnings.simplefilter("ignore", UserWarning)
    score = seqeval_metrics.f1_score(
        convert(targets), convert(predictions), zero_division=0)
  return {"pos_f1": 100.0 * score}


# Token-classification tasks' metric_fns: their postprocess_fn yields one
# WordTags per (possibly split) sequence; scoring is over whole sentences.
_sentences = postprocessors.reassemble_sentences


def chunk_span_f1(targets, predictions):
  """span_f1 over whole sentences from `chunk_word_tags` WordTags."""
  return span_f1(_sentences(targets), _sentences(predictions))


def chunk_pos_f1(targets, predictions):
  """pos_f1 (as XTREME reports it) from `chunk_word_tags` WordTags."""
  return pos_f1(_sentences(targets), _sentences(predictions))


def chunk_word_accuracy(targets, predictions):
  """Accuracy (percent) over all words from `chunk_word_tags` WordTags."""
  words = lambda chunks: [tag for tags in _sentences(chunks) for tag in tags]
  return accuracy(words(targets), words(predictions))


def squad_em_f1(targets, predictions):
  """SQuAD v1.1 exact match and token F1, max over gold answers.

  t5's `squad` metric has exactly the official v1.1 semantics: lowercase,
  drop string.punctuation, drop the words a/an/the, collapse whitespace;
  F1 over whitespace tokens; the max over each question's gold answers; the
  mean over questions.

  Args:
    targets: list (one per question) of lists of gold answer strings.
    predictions: list of predicted answer strings.
  Returns:
    {"em": percentage, "f1": percentage}.
  """
  scores = t5_metrics.squad(targets, predictions)
  return {"em": float(scores["em"]), "f1": float(scores["f1"])}


# MLQA's per-language article patterns (mlqa_evaluation_v1.py). Hindi and
# Chinese have none. MLQA's Arabic pattern has a first alternative that can
# never match (a `^` after consumed characters), so in effect every "ال"
# (alef lam, the definite article) is replaced by a space, inside words too.
_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": "ال",
}
# Languages MLQA segments per character for CJK (others: whitespace).
_MLQA_MIXED_SEGMENTATION = frozenset({"zh"})
# MLQA's own CJK test: U+4E00..U+9FA5, not the whole Unified Ideographs block.
_MLQA_CJK = re.compile("[\u4e00-\u9fa5]")


@functools.lru_cache(maxsize=1)
def _mlqa_punctuation():
  # Every Unicode P* character plus ASCII string.punctuation (which adds
  # symbols such as $ + < = > ^ ` | ~), as MLQA defines its PUNCT set.
  unicode_punct = {chr(i) for i in range(sys.maxunicode)
                   if unicodedata.category(chr(i)).startswith("P")}
  return frozenset(unicode_punct | set(string.punctuation))


def _mixed_segmentation(text):
  """Splits CJK characters (MLQA's range) one by one, other runs on spaces."""
  tokens, run = [], []
  punct = _mlqa_punctuation()
  for char in text:
    if _MLQA_CJK.match(char) or char in punct:
      tokens.extend("".join(run).split())
      run = []
      tokens.append(char)
    else:
      run.append(char)
  tokens.extend("".join(run).split())
  return tokens


def normalize_mlqa(text, lang):
  """MLQA's answer normalisation for one language.

  Lowercase; drop MLQA's punctuation; replace the language's articles by a
  space; segment (CJK characters one by one for zh, whitespace otherwise);
  join tokens by single spaces. Languages outside MLQA's seven (its script
  raises for them) get no article removal and whitespace segmentation, so
  MLQA-style scoring can be used for XQuAD and TyDiQA languages too.

  Args:
    text: an answer string.
    lang: ISO 639-1 code of the answer language.
  Returns:
    the normalised string.
  """
  punct = _mlqa_punctuation()
  text = "".join(ch for ch in text.lower() if ch not in punct)
  if lang in _MLQA_ARTICLES:
    text = re.sub(_MLQA_ARTICLES[lang], " ", text)
  if lang in _MLQA_MIXED_SEGMENTATION:
    tokens = _mixed_segmentation(text)
  else:
    tokens = text.split()
  return " ".join(t for t in tokens if t.strip())


def mlqa_em_f1(targets, predictions, lang):
  """MLQA exact match and token F1 with MLQA's language-aware normalisation.

  Args:
    targets: list (one per question) of lists of gold answer strings.
    predictions: list of predicted answer strings.
    lang: ISO 639-1 code of the context/answer language.
  Returns:
    {"em": percentage, "f1": percentage}.
  """
  targets = [[normalize_mlqa(t, lang) for t in golds] for golds in targets]
  predictions = [normalize_mlqa(p, lang) for p in predictions]
  # EM and F1 on normalised strings are the same as SQuAD's from here on.
  scores = qa_utils.qa_metrics(targets, predictions)
  return {"em": float(scores["em"]), "f1": float(scores["f1"])}


# The two averages the RemBERT paper prints, under names that say which:
#   xtreme_group_avg    Table 16's "Avg" (75.4 for RemBERT): the mean of
#                       XTREME's three task-group means below (the flat
#                       mean of its 7 tasks would be 74.4).
#   paper_ablation_avg  the ablation tables' "Avg" (62.3 for the coupled
#                       baseline): the flat mean of the six ABLATION_TASKS
#                       (no POS in those tables), QA as (EM + F1) / 2.
XTREME_TASK_GROUPS = {
    "classification": ("xnli", "pawsx"),
    "structured_prediction": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
}
ABLATION_TASKS = ("xnli", "panx", "pawsx", "xquad", "mlqa", "tydiqa")
_TASK_ALIASES = {"pos": "udpos", "ner": "panx", "wikiann": "panx",
                 "tydi": "tydiqa", "tydiqagoldp": "tydiqa"}
# Which metric is a non-QA task's score, in order of preference.
_PRIMARY_METRICS = ("accuracy", "span_f1", "pos_f1", "f1")


def canonical_task(name):
  """XTREME's name for a task ("PAWS-X" -> "pawsx", "POS" -> "udpos")."""
  key = re.sub(r"[^a-z0-9]", "", name.lower())
  return _TASK_ALIASES.get(key, key)


def language_score(scores):
  """One language's score: (EM + F1) / 2 for QA, else the primary metric.

  Args:
    scores: {metric: value} for one task and language.
  Returns:
    a float.
  Raises:
    ValueError: if it cannot tell which metric is the score.
  """
  em = scores.get("em", scores.get("exact_match"))
  if em is not None and "f1" in scores:
    return (em + scores["f1"]) / 2
  for metric in _PRIMARY_METRICS:
    if metric in scores:
      return scores[metric]
  if len(scores) == 1:
    return next(iter(scores.values()))
  raise ValueError(f"no primary metric among {sorted(scores)}")


def xtreme_summary(scores, groups=None):
  """Per-task scores, XTREME's group means and the paper's two averages.

  Per task: the mean over languages of each language's score, QA tasks as
  (EM + F1) / 2 (equal to XTREME's (mean EM + mean F1) / 2). Per group: the
  mean over its tasks present.

  Args:
    scores: {task: {language: {metric: value}}}; task names as XTREME or the
      papers spell them ("XNLI", "PAWS-X", "POS", "NER", "XQuAD", "MLQA",
      "TyDi").
    groups: {group: task names}; defaults to XTREME_TASK_GROUPS.
  Returns:
    {"tasks": {task: score}, "groups": {group: score},
     "xtreme_group_avg": the mean of the group means present (Table 16's
       Avg when all seven tasks are there),
     "xtreme_group_missing": grouped tasks absent (sorted),
     "paper_ablation_avg": the flat mean of the ABLATION_TASKS present
       (the ablation tables' Avg when all six are there), or None if none
       is,
     "paper_ablation_missing": ABLATION_TASKS absent}; tasks keyed by
    canonical name.
  Raises:
    ValueError: a task in no group, or a task without languages.
  """
  groups = XTREME_TASK_GROUPS if groups is None else groups
  task_group = {canonical_task(t): g for g, ts in groups.items() for t in ts}
  tasks = {}
  for task, by_language in scores.items():
    name = canonical_task(task)
    if name not in task_group:
      raise ValueError(f"task {task!r} is in no group of {sorted(groups)}")
    if not by_language:
      raise ValueError(f"task {task!r} has no language scores")
    tasks[name] = statistics.fmean(
        language_score(s) for s in by_language.values())
  group_scores = {}
  for group in groups:
    members = [s for t, s in tasks.items() if task_group[t] == group]
    if members:
      group_scores[group] = statistics.fmean(members)
  ablation = [tasks[t] for t in ABLATION_TASKS if t in tasks]
  return {
      "tasks": tasks, "groups": group_scores,
      "xtreme_group_avg": statistics.fmean(group_scores.values()),
      "xtreme_group_missing": sorted(set(task_group) - set(tasks)),
      "paper_ablation_avg": statistics.fmean(ablation) if ablation else None,
      "paper_ablation_missing": [t for t in ABLATION_TASKS
                                 if t not in tasks]}
