"""Demo tasks over the synthetic languages (`rembert_mtf.data.synthetic`).

The demo is a miniature of RemBERT's protocol: masked-LM pre-training on
every language with smoothed rates, fine-tuning on the first language only,
zero-shot evaluation on all. Data are generated on the fly from the seed
(`demo_data_seed`, gin, default 0), so nothing is downloaded and every run
reads the same examples.

Tasks (LANG = lang_a .. lang_d; splits in brackets):
  demo_mlm_<LANG>        raw {"text": document} -> masked LM features
                         (`preprocessors.mlm_preprocessors`) [train,
                         validation]. Languages have unequal sizes
                         (DOCUMENTS), as real corpora do.
  demo_cls_train_lang_a  the topic task: is a two-sentence text about
                         nature or about people? (`synthetic.
                         generate_topic_classification`); features of
                         `fp.single_sentence_classification`: input_ids,
                         token_type_ids, label [train].
  demo_cls_eval_<LANG>   the same task, parallel across languages
                         [validation, test]; no training split, so nothing
                         of another language can be trained on.
  demo_pairs_train_lang_a, demo_pairs_eval_<LANG>
                         the harder "same event?" sentence-pair task
                         (`synthetic.generate_classification`, PAWS-X in
                         miniature), features of `pair_classification`.
Mixtures:
  demo_mlm    every demo_mlm_* task, rate n_l ** alpha with n_l the UTF-8
              bytes of the language's generated training documents
              (`mlm_train_bytes`; `preprocessors.smoothed_rate_per_language`,
              alpha 0.5 as in RemBERT).
  demo_cls    the topic training task and every evaluation task.
  demo_pairs  the same for the pair task.

Why the demo's task is the topic one: a tiny encoder fine-tuned for a few
hundred steps learns it on lang_a, and on the other languages it scores
above chance only as far as pre-training aligned their words; the pair task
needs a cross-segment comparison that such a model does not learn in that
budget even on lang_a.

The vocabulary is the gin-bound one (`get_vocabulary`), resolved on first
use, so importing this module needs no SentencePiece file. Train it with
`rembert-mtf vocab --mixture=demo_mlm ...`.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)

import functools

import gin
import seqio
import tensorflow.compat.v2 as tf

from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.data import postprocessors
from rembert_mtf.data import preprocessors
from rembert_mtf.data import synthetic
from rembert_mtf.data import vocabulary
from rembert_mtf.evaluation import metrics

LANGUAGES = synthetic.language_codes(synthetic.DEFAULT_NUM_LANGUAGES)
TRAIN_LANGUAGE = LANGUAGES[0]
# Documents per language and split: a high-resource first language and
# smaller others, so the alpha = 0.5 smoothing has something to do.
DOCUMENTS = {
    "lang_a": {"train": 4000, "validation": 200},
    "lang_b": {"train": 2000, "validation": 200},
    "lang_c": {"train": 2000, "validation": 200},
    "lang_d": {"train": 1000, "validation": 200},
}
TOPIC_TEXTS = {"train": 2000, "validation": 500, "test": 500}
PAIRS = {"train": 4000, "validation": 500, "test": 500}
TOPIC_KEYS = {"text_a": "sentence", "label": "label"}
PAIR_KEYS = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}


@gin.configurable
def demo_data_seed(seed=0):
  """The data seed of every demo task (gin: `demo_data_seed.seed`)."""
  return seed


def mlm_task_name(lang):
  return f"demo_mlm_{lang}"


def cls_train_task_name(lang=TRAIN_LANGUAGE, task="cls"):
  """demo_cls_train_lang_a (topic) or, task="pairs", demo_pairs_train_..."""
  return f"demo_{task}_train_{lang}"


def cls_eval_task_name(lang, task="cls"):
  return f"demo_{task}_eval_{lang}"


# ----------------------------------------------------------- data sources ---


@functools.lru_cache(maxsize=32)
def _documents(lang, split, num_documents, seed):
  # The split is part of the data seed: validation documents are new ones.
  return tuple(synthetic.generate_documents(
      num_documents, lang, f"{seed}-{split}"))


@functools.lru_cache(maxsize=32)
def _pairs(lang, split, num_examples, seed):
  return tuple(synthetic.generate_classification(
      split, num_examples, lang, seed))


@functools.lru_cache(maxsize=32)
def _topic_texts(lang, split, num_examples, seed):
  return tuple(synthetic.generate_topic_classification(
      split, num_examples, lang, seed))


def documents_dataset(split, shuffle_files=False, seed=None, *, lang):
  """seqio dataset_fn: {"text": document} of one language.

  Args:
    split: "train" or "validation".
    shuffle_files: unused (one in-memory "file"; seqio shuffles examples).
    seed: unused (the data are fixed by `demo_data_seed`).
    lang: language code.
  Returns:
    tf.data.Dataset of {"text": string}, DOCUMENTS[lang][split] long.
  """
  del shuffle_files, seed
  texts = _documents(lang, split, DOCUMENTS[lang][split], demo_data_seed())
  return tf.data.Dataset.from_tensor_slices({"text": list(texts)})


def pairs_dataset(split, shuffle_files=False, seed=None, *, lang):
  """seqio dataset_fn: the pair task in one language.

  Returns:
    tf.data.Dataset of {"id": int64, "sentence1", "sentence2": string,
    "label": int64, "change": string (the meaning change, "none" for
    positives)}, PAIRS[split] long.
  """
  del shuffle_files, seed
  rows = _pairs(lang, split, PAIRS[split], demo_data_seed())
  columns = {key: [row[key] for row in rows] for key in synthetic.TSV_COLUMNS}
  return tf.data.Dataset.from_tensor_slices(columns)


def topic_dataset(split, shuffle_files=False, seed=None, *, lang):
  """seqio dataset_fn: the topic task in one language.

  Returns:
    tf.data.Dataset of {"id": int64, "sentence": string, "label": int64
    (index into synthetic.TOPIC_NAMES)}, TOPIC_TEXTS[split] long.
  """
  del shuffle_files, seed
  rows = _topic_texts(lang, split, TOPIC_TEXTS[split], demo_data_seed())
  columns = {key: [row[key] for row in rows]
             for key in ("id", "sentence", "label")}
  return tf.data.Dataset.from_tensor_slices(columns)


def _source(dataset_fn, lang, sizes):
  return seqio.FunctionDataSource(
      functools.partial(dataset_fn, lang=lang), splits=tuple(sizes),
      num_input_examples=dict(sizes))


# ---------------------------------------------------------- registrations ---

VOCABULARY = vocabulary.DeferredVocabulary()
MLM_OUTPUT_FEATURES = preprocessors.mlm_output_features(
    VOCABULARY)
CLS_OUTPUT_FEATURES = {
    "input_ids": seqio.Feature(VOCABULARY, add_eos=False),
    "token_type_ids": seqio.Feature(seqio.PassThroughVocabulary(2),
                                    add_eos=False),
    "label": seqio.Feature(seqio.PassThroughVocabulary(2), add_eos=False,
                           rank=0),
}


def _register_mlm(lang):
  seqio.TaskRegistry.add(
      mlm_task_name(lang),
      source=_source(documents_dataset, lang, DOCUMENTS[lang]),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=MLM_OUTPUT_FEATURES,
      metric_fns=[])


# task -> (dataset_fn, sizes, rekey map, features preprocessor)
_CLASSIFICATION = {
    "cls": (topic_dataset, TOPIC_TEXTS, TOPIC_KEYS,
            fp.single_sentence_classification),
    "pairs": (pairs_dataset, PAIRS, PAIR_KEYS, fp.pair_classification),
}


def _register_classification(task, lang, splits):
  dataset_fn, sizes, key_map, features = _CLASSIFICATION[task]
  name = (cls_train_task_name(lang, task) if splits == ("train",)
          else cls_eval_task_name(lang, task))
  seqio.TaskRegistry.add(
      name,
      source=_source(dataset_fn, lang, {s: sizes[s] for s in splits}),
      preprocessors=[
          functools.partial(seqio.preprocessors.rekey, key_map=key_map),
          features,
      ],
      output_features=CLS_OUTPUT_FEATURES,
      postprocess_fn=postprocessors.class_id,
      metric_fns=[metrics.accuracy])


for _lang in LANGUAGES:
  _register_mlm(_lang)
for _task in _CLASSIFICATION:
  _register_classification(_task, TRAIN_LANGUAGE, ("train",))
  for _lang in LANGUAGES:
    _register_classification(_task, _lang, ("validation", "test"))

_MLM_LANGUAGES = {mlm_task_name(lang): lang for lang in LANGUAGES}


def mlm_train_bytes(task_name):
  """n_l of a demo_mlm task: UTF-8 bytes of its training documents.

  The sources are in memory, so tfds has no split info to read; these are
  the documents the task's source yields (the same cached corpus, for the
  gin-bound `demo_data_seed`), generated on first use.

  Args:
    task_name: a demo_mlm_<LANG> task name.
  Returns:
    int bytes, or None for any other task.
  """
  lang = _MLM_LANGUAGES.get(task_name)
  if lang is None:
    return None
  texts = _documents(lang, "train", DOCUMENTS[lang]["train"],
                     demo_data_seed())
  return sum(len(text.encode("utf-8")) for text in texts)


seqio.MixtureRegistry.add(
    "demo_mlm", list(_MLM_LANGUAGES),
    default_rate=preprocessors.smoothed_rate_per_language(
        _MLM_LANGUAGES, sizes=mlm_train_bytes))
for _task in _CLASSIFICATION:
  seqio.MixtureRegistry.add(
      f"demo_{_task}", [cls_train_task_name(task=_task)] +
      [cls_eval_task_name(lang, _task) for lang in LANGUAGES],
      default_rate=1.0)
