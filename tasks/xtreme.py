"""XTREME classification and tagging tasks, zero-shot cross-lingual protocol.

Each benchmark has an English training task (`*_train_en`, split "train"
only), one evaluation task per language (`*_eval_<lang>`, splits
"validation" and/or "test" only, so no target-language training data can
leak into training), and a mixture named after the benchmark holding both.
`Mixture.get_dataset(split="train")` therefore yields English only; an
evaluator runs every sub-task on its evaluation split. The
`*_translate_train` mixtures add machine-translated training data for every
language (XTREME's "translate-train-all").

The vocabulary is the gin-configured one (`get_vocabulary`), resolved on first
use, so importing this module needs no SentencePiece file.
"""

import functools

import seqio

from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.data import postprocessors
from rembert_mtf.data import vocabulary
from rembert_mtf.evaluation import metrics

# ----------------------------------------------------------------- tables ----

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw",
                  "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
NER_LANGUAGES = ("af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu",
                 "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja", "jv",
                 "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru",
                 "sw", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh")
POS_LANGUAGES = ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa",
                 "fi", "fr", "he", "hi", "hu", "id", "it", "ja", "kk", "ko",
                 "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur",
                 "vi", "yo", "zh")
# tfds 4.9 swaps Tamil and Tagalog: config xtreme_pos_ta reads the UD Tagalog
# treebank and xtreme_pos_tl the Tamil one; tasks are named by ISO code.
POS_TFDS_CONFIG = dict({lang: lang for lang in POS_LANGUAGES},
                       ta="tl", tl="ta")
# UD v2.5 has no dev file for these (kk has train+test; tl, th, yo test only).
POS_TEST_ONLY = ("kk", "th", "tl", "yo")

MULTI_NLI = "multi_nli:1.1.0"
XNLI = "xnli:1.1.0"
XTREME_XNLI = "xtreme_xnli:1.1.0"
PAWSX = "paws_x_wiki/{}:1.0.0"
XTREME_PAWSX = "xtreme_pawsx/{}:1.0.0"
WIKIANN = "wikiann/{}:1.0.0"
XTREME_POS = "xtreme_pos/xtreme_pos_{}:1.0.0"

TRAIN_SPLITS = {"train": "train"}
EVAL_SPLITS = {"validation": "validation", "test": "test"}
POS_EVAL_SPLITS = {"validation": "dev", "test": "test"}

NLI_KEYS = {"text_a": "premise", "text_b": "hypothesis", "label": "label"}
PAWSX_KEYS = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}
NER_KEYS = {"words": "tokens", "tags": "tags"}
POS_KEYS = {"words": "tokens", "tags": "upos"}

VOCABULARY = vocabulary.DeferredVocabulary()

# ---------------------------------------------------------------- helpers ----


def _features(label_key, num_labels, rank):
  """input_ids, token_type_ids and a label feature, all without EOS."""
  return {
      "input_ids": seqio.Feature(VOCABULARY, add_eos=False),
      "token_type_ids": seqio.Feature(seqio.PassThroughVocabulary(2),
                                      add_eos=False),
      label_key: seqio.Feature(seqio.PassThroughVocabulary(num_labels),
                               add_eos=False, rank=rank),
  }


def _pair_task(name, tfds_name, splits, num_classes, key_map=None,
               xnli_language=None):
  """Registers a sentence-pair classification task."""
  if xnli_language:
    select = functools.partial(fp.select_xnli_language,
                               language=xnli_language, skip_key=name)
  else:
    select = functools.partial(seqio.preprocessors.rekey, key_map=key_map)
  seqio.TaskRegistry.add(
      name,
      source=seqio.TfdsDataSource(tfds_name, splits=splits),
      output_features=_features("label", num_classes, rank=0),
      preprocessors=[select, fp.pair_classification],
      postprocess_fn=postprocessors.class_id,
      metric_fns=[metrics.accuracy])


def _tagging_task(name, tfds_name, splits, key_map, metric_fns):
  """Registers a token-classification task; tag names come from tfds."""
  tag_names = fp.tfds_label_names(tfds_name, key_map["tags"])
  seqio.TaskRegistry.add(
      name,
      source=seqio.TfdsDataSource(tfds_name, splits=splits),
      output_features=_features("labels", len(tag_names), rank=1),
      preprocessors=[
          functools.partial(seqio.preprocessors.rekey, key_map=key_map),
          functools.partial(fp.token_classification, skip_key=name),
      ],
      postprocess_fn=functools.partial(postprocessors.chunk_word_tags,
                                       tag_names=tag_names),
      metric_fns=metric_fns)


def _mixture(name, task_names):
  seqio.MixtureRegistry.add(name, list(task_names), default_rate=1.0)


# ---------------------------------------------------------- registrations ----

# XNLI: train on MultiNLI, evaluate XNLI per language.
_pair_task("xnli_train_en", MULTI_NLI, TRAIN_SPLITS, 3, key_map=NLI_KEYS)
for _lang in XNLI_LANGUAGES:
  _pair_task(f"xnli_eval_{_lang}", XNLI, EVAL_SPLITS, 3, xnli_language=_lang)
  if _lang != "en":
    _pair_task(f"xnli_translate_train_{_lang}", XTREME_XNLI, TRAIN_SPLITS, 3,
               xnli_language=_lang)

# PAWS-X: train on English PAWS-X, evaluate per language.
_pair_task("pawsx_train_en", PAWSX.format("en"), TRAIN_SPLITS, 2,
           key_map=PAWSX_KEYS)
for _lang in PAWSX_LANGUAGES:
  _pair_task(f"pawsx_eval_{_lang}", PAWSX.format(_lang), EVAL_SPLITS, 2,
             key_map=PAWSX_KEYS)
  if _lang != "en":
    _pair_task(f"pawsx_translate_train_{_lang}", XTREME_PAWSX.format(_lang),
               TRAIN_SPLITS, 2, key_map=PAWSX_KEYS)

# NER: WikiANN, entity-level F1.
_tagging_task("ner_train_en", WIKIANN.format("en"), TRAIN_SPLITS, NER_KEYS,
              [metrics.chunk_span_f1])
for _lang in NER_LANGUAGES:
  _tagging_task(f"ner_eval_{_lang}", WIKIANN.format(_lang), EVAL_SPLITS,
                NER_KEYS, [metrics.chunk_span_f1])

# POS: Universal Dependencies v2.5 as XTREME selects it.
_tagging_task("pos_train_en", XTREME_POS.format("en"), TRAIN_SPLITS, POS_KEYS,
              [metrics.chunk_pos_f1, metrics.chunk_word_accuracy])
for _lang in POS_LANGUAGES:
  _tagging_task(
      f"pos_eval_{_lang}", XTREME_POS.format(POS_TFDS_CONFIG[_lang]),
      {"test": "test"} if _lang in POS_TEST_ONLY else POS_EVAL_SPLITS,
      POS_KEYS, [metrics.chunk_pos_f1, metrics.chunk_word_accuracy])

_XNLI_EVAL = [f"xnli_eval_{lang}" for lang in XNLI_LANGUAGES]
_PAWSX_EVAL = [f"pawsx_eval_{lang}" for lang in PAWSX_LANGUAGES]
_mixture("xnli", ["xnli_train_en"] + _XNLI_EVAL)
_mixture("xnli_translate_train",
         ["xnli_train_en"] + _XNLI_EVAL +
         [f"xnli_translate_train_{l}" for l in XNLI_LANGUAGES if l != "en"])
_mixture("pawsx", ["pawsx_train_en"] + _PAWSX_EVAL)
_mixture("pawsx_translate_train",
         ["pawsx_train_en"] + _PAWSX_EVAL +
         [f"pawsx_translate_train_{l}" for l in PAWSX_LANGUAGES if l != "en"])
_mixture("ner", ["ner_train_en"] + [f"ner_eval_{l}" for l in NER_LANGUAGES])
_mixture("pos", ["pos_train_en"] + [f"pos_eval_{l}" for l in POS_LANGUAGES])
