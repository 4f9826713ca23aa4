"""Task metrics from the prediction dicts of `trainer.predict`.

`trainer.predict` yields, per real example of a task, the head's outputs
plus every input feature of that example:

  head            model output the task's postprocess_fn reads
  classification  predicted_label            (int, the argmax class)
  token           predicted_labels [length]  (tag id per piece)
  span            start_logits, end_logits [length]

`evaluate_task` runs the task's own seqio postprocess_fn on each dict twice,
as seqio's Evaluator does (`is_target=True` for the gold side from the
example's features, `is_target=False` on the model output), then the task's
own metric_fns:

  classification  class_id -> accuracy
  token           chunk_word_tags -> reassemble_sentences -> span_f1 /
                  pos_f1 / word_accuracy (split sentences are put back
                  together before scoring, so each word counts once)
  span            window metadata + logits -> windows grouped by example_id,
                  n-best spans, answer text from the context -> EM / F1

so the numbers are exactly those a seqio evaluation of the same predictions
would report. For QA it can also write the official-format predictions JSON
{question id: answer text} that the SQuAD / MLQA scripts read.

`evaluate_mixture` does this for every evaluation task (`*_eval_<lang>`) of
a benchmark mixture that has the requested split, keyed by language (or
for one task named instead of a mixture).
"""

import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

from rembert_mtf import errors
from rembert_mtf.data import registry
from rembert_mtf.evaluation import qa_answers

EVAL_MARKER = "_eval_"
# Which feature of a task tells which head it is trained with.
_HEAD_BY_FEATURE = (("label", "classification"), ("labels", "token"),
                    ("start_position", "span"))


def task_head(task) -> str:
  """The head ("classification", "token" or "span") a seqio task needs.

  Args:
    task: a seqio.Task.
  Returns:
    the head name of rembert_mtf.model.heads.
  Raises:
    ValueError: the task has none of the fine-tuning label features.
  """
  for feature, head in _HEAD_BY_FEATURE:
    if feature in task.output_features:
      return head
  raise errors.UserError(f"task {task.name} has no label, labels or start_position "
                         "feature: it is not a fine-tuning task.")


def num_classes(task) -> int:
  """Classes of a classification or tagging task (2 for QA, unused there)."""
  head = task_head(task)
  if head == "span":
    return 2
  key = "label" if head == "classification" else "labels"
  return task.output_features[key].vocabulary.vocab_size


def task_language(task_name: str) -> str:
  """"xnli_eval_de" -> "de"; a task without "_eval_" keeps its last part."""
  if EVAL_MARKER in task_name:
    return task_name.split(EVAL_MARKER, 1)[1]
  return task_name.rsplit("_", 1)[-1]


def model_output(prediction: Mapping[str, Any], head: str):
  """What the task's postprocess_fn takes as the model output.

  Args:
    prediction: one dict of trainer.predict.
    head: the task's head.
  Returns:
    the predicted label, the per-piece tag ids, or the span logits dict.
  """
  try:
    if head == "classification":
      return prediction["predicted_label"]
    if head == "token":
      return prediction["predicted_labels"]
    return {"start_logits": prediction["start_logits"],
            "end_logits": prediction["end_logits"]}
  except KeyError as e:
    raise errors.UserError(f"a {head} prediction needs {e.args[0]!r}; got "
                           f"{sorted(prediction)} (predicted with another head?)"
                           ) from e


def postprocessed(task, predictions):
  """(targets, predictions) as the task's metric_fns take them.

  Args:
    task: a seqio.Task.
    predictions: list of trainer.predict dicts of that task.
  Returns:
    two aligned lists, the gold side from each example's own features.
  """
  head = task_head(task)
  targets = [task.postprocess_fn(None, example=p, is_target=True)
             for p in predictions]
  outputs = [task.postprocess_fn(model_output(p, head), example=p,
                                 is_target=False) for p in predictions]
  return targets, outputs


def evaluate_task(task_name: str, predictions: Iterable[Mapping[str, Any]],
                  split: str, output_path: Optional[str] = None
                  ) -> Dict[str, float]:
  """Scores one task's predictions with the task's own metric_fns.

  Args:
    task_name: a registered seqio task, e.g. "xnli_eval_de".
    predictions: trainer.predict dicts of that task and split (any
      iterable; read once).
    split: the split they were predicted on (checked against the task).
    output_path: for QA tasks, where to write {question id: answer text}
      as JSON (the official scripts' format); ignored for other tasks.
  Returns:
    {metric: value} merged over the task's metric_fns, as floats.
  Raises:
    ValueError: unknown task or split, no predictions, or predictions of
      another head.
  """
  task = registry.get_task_or_mixture(task_name)
  if split not in task.splits:
    raise errors.UserError(f"task {task_name} has no split {split!r} (it has "
                           f"{', '.join(task.splits)}).")
  predictions = list(predictions)
  if not predictions:
    raise errors.UserError(f"no predictions for {task_name} ({split}).")
  targets, outputs = postprocessed(task, predictions)
  scores = {}
  # Score-based metrics need log-likelihoods an encoder does not produce.
  for metric_fn in task.predict_metric_fns:
    scores.update(metric_fn(targets, outputs))
  if output_path and task_head(task) == "span":
    windows = [{**t, **o} for t, o in zip(targets, outputs)]
    qa_answers.write_predictions(qa_answers.best_answers(windows), output_path)
  return {name: float(value) for name, value in scores.items()}


def eval_task_names(mixture_name: str, split: str):
  """The evaluation tasks of a mixture, or a task itself, having `split`.

  A mixture's evaluation tasks are its names with "_eval_" (its training
  task is not one); a task named directly is scored whatever its name
  (e.g. squad_train_en's validation split, SQuAD's English dev set).
  """
  provider = registry.get_task_or_mixture(mixture_name)
  if not registry.is_mixture(provider):
    return [provider.name] if split in provider.splits else []
  return [t.name for t in provider.tasks
          if EVAL_MARKER in t.name and split in t.splits]


def evaluate_mixture(mixture_name: str,
                     predict_fn: Callable[[str, str], Iterable[Mapping]],
                     split: str, out_dir: Optional[str] = None
                     ) -> Dict[str, Dict[str, float]]:
  """Scores every evaluation task of a benchmark mixture on one split.

  Args:
    mixture_name: e.g. "xnli", "ner", "xquad"; or one task, e.g.
      "xnli_eval_en" or "squad_train_en" (keyed by its language).
    predict_fn: (task_name, split) -> iterable of trainer.predict dicts.
    split: e.g. "validation" or "test"; tasks without it are skipped (e.g.
      the POS languages that have no dev set).
    out_dir: if given, QA tasks write <out_dir>/<task>.<split>.json.
  Returns:
    {language: {metric: value}}, e.g. {"de": {"accuracy": 81.2}, ...}.
  Raises:
    ValueError: no evaluation task has the split, or two tasks share a
      language.
  """
  names = eval_task_names(mixture_name, split)
  if not names:
    raise errors.UserError(f"mixture {mixture_name} has no evaluation task "
                           f"(*{EVAL_MARKER}*) with split {split!r}.")
  results = {}
  for name in names:
    language = task_language(name)
    if language in results:
      raise errors.UserError(f"mixture {mixture_name}: two evaluation tasks for "
                             f"language {language!r}.")
    path = os.path.join(out_dir, f"{name}.{split}.json") if out_dir else None
    results[language] = evaluate_task(name, predict_fn(name, split), split,
                                      output_path=path)
  return results
