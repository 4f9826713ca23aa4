"""RemBERT pre-training tasks and mixtures (registrations only).

Tasks (raw text -> masked LM, `preprocessors.mlm_preprocessors`):
  wiki_<lang>  tfds `wikipedia/<WIKIPEDIA_DATE>.<lang>`, mBERT's languages.
  mc4_<lang>   tfds `c4/multilingual` (mC4), one split per language
               (`<lang>` for train, `<lang>-validation`); "-" becomes "_" and
               the name is lower-cased (mc4_bg_latn) since seqio names
               allow no "-".
Mixtures, rate n_l ** alpha per task (`preprocessors.smoothed_rate`, gin
`smoothed_rate.alpha`, 0.5 as in RemBERT; n_l from tfds split info, read
lazily, see `preprocessors.example_count` for the fallback):
  wiki_104     all wiki_* tasks.
  mc4_110      all mc4_* tasks.
  rembert_110  both; each (source, language) task is smoothed on its own.

Language lists:
  * mBERT's "104 languages" name Chinese (Simplified) and Chinese
    (Traditional) separately; both are the one zh Wikipedia, so wiki_104 has
    103 tasks: the 100 original languages plus Thai and Mongolian, which the
    cased release added.
  * The paper's 110-language list is not published in a usable form, so
    mc4_110 uses every language split tfds has for mC4 in this version: 101
    languages plus 6 romanised variants (bg/el/hi/ja/ru/zh-Latn), 107 tasks.
    The undetermined-language split ("und") is left out.

Every task reads input_ids' vocabulary from gin
(`get_vocabulary.sentencepiece_model_file`) only when first used, so this
module imports without a SentencePiece file.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)

import seqio

from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary

# The newest Wikipedia dump tfds 4.9.10 has configs for.
WIKIPEDIA_DATE = "20230601"
WIKIPEDIA_VERSION = "1.0.0"
MC4_VERSION = "3.1.0"

# Wikipedia codes of multilingual BERT's languages (zh serves both scripts).
MBERT_WIKI_LANGUAGES = (
    "af", "an", "ar", "ast", "az", "azb", "ba", "bar", "be", "bg", "bn",
    "bpy", "br", "bs", "ca", "ce", "ceb", "cs", "cv", "cy", "da", "de", "el",
    "en", "es", "et", "eu", "fa", "fi", "fr", "fy", "ga", "gl", "gu", "he",
    "hi", "hr", "ht", "hu", "hy", "id", "io", "is", "it", "ja", "jv", "ka",
    "kk", "kn", "ko", "ky", "la", "lb", "lmo", "lt", "lv", "mg", "min", "mk",
    "ml", "mn", "mr", "ms", "my", "nds", "ne", "new", "nl", "nn", "no", "oc",
    "pa", "pl", "pms", "pnb", "pt", "ro", "ru", "scn", "sco", "sh", "sk",
    "sl", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tl", "tr",
    "tt", "uk", "ur", "uz", "vi", "vo", "war", "yo", "zh",
)

# mC4 language splits of tfds c4/multilingual 3.1.0 (its MC4_LANGUAGES).
MC4_LANGUAGES = (
    "af", "am", "ar", "az", "be", "bg", "bg-Latn", "bn", "ca", "ceb", "co",
    "cs", "cy", "da", "de", "el", "el-Latn", "en", "eo", "es", "et", "eu",
    "fa", "fi", "fil", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "haw", "hi",
    "hi-Latn", "hmn", "ht", "hu", "hy", "id", "ig", "is", "it", "iw", "ja",
    "ja-Latn", "jv", "ka", "kk", "km", "kn", "ko", "ku", "ky", "la", "lb",
    "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my",
    "ne", "nl", "no", "ny", "pa", "pl", "ps", "pt", "ro", "ru", "ru-Latn",
    "sd", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "st", "su", "sv",
    "sw", "ta", "te", "tg", "th", "tr", "uk", "ur", "uz", "vi", "xh", "yi",
    "yo", "zh", "zh-Latn", "zu",
)


def wiki_task_name(lang):
  return f"wiki_{lang}"


def mc4_task_name(lang):
  return "mc4_" + lang.replace("-", "_").lower()


OUTPUT_FEATURES = preprocessors.mlm_output_features(
    vocabulary.DeferredVocabulary())

for _lang in MBERT_WIKI_LANGUAGES:
  seqio.TaskRegistry.add(
      wiki_task_name(_lang),
      source=preprocessors.TfdsDataSource(
          f"wikipedia/{WIKIPEDIA_DATE}.{_lang}:{WIKIPEDIA_VERSION}",
          splits=("train",)),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=OUTPUT_FEATURES,
      metric_fns=[])

for _lang in MC4_LANGUAGES:
  seqio.TaskRegistry.add(
      mc4_task_name(_lang),
      source=preprocessors.TfdsDataSource(
          f"c4/multilingual:{MC4_VERSION}",
          splits={"train": _lang, "validation": f"{_lang}-validation"}),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=OUTPUT_FEATURES,
      metric_fns=[])

WIKI_TASKS = tuple(wiki_task_name(lang) for lang in MBERT_WIKI_LANGUAGES)
MC4_TASKS = tuple(mc4_task_name(lang) for lang in MC4_LANGUAGES)

for _name, _tasks in (("wiki_104", WIKI_TASKS), ("mc4_110", MC4_TASKS),
                      ("rembert_110", WIKI_TASKS + MC4_TASKS)):
  seqio.MixtureRegistry.add(
      _name, _tasks, default_rate=preprocessors.smoothed_rate)
