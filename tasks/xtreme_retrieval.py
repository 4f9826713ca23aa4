"""XTREME sentence retrieval tasks: BUCC 2018 and Tatoeba (zero-shot).

Retrieval is scored without fine-tuning, from the encoder's hidden states
(rembert_mtf.evaluation.retrieval), so these tasks have evaluation splits
only, no training task and no metric_fns. Tasks are named after their tfds
configs, mixtures after the tfds builders:

  task           tfds                        splits (seqio = tfds)
  bucc_<lang>    bucc/bucc_<lang>:1.0.0      validation (BUCC "sample" gold:
                                             XTREME's dev), test (BUCC
                                             "training" gold: XTREME's test)
  tatoeba_<lang> tatoeba/tatoeba_<lang>:1.0.0  test = tfds "train" (its only
                                             split: XTREME's test set)

  mixture  tasks
  bucc     bucc_de, bucc_fr, bucc_ru, bucc_zh
  tatoeba  tatoeba_<lang> for XTREME's 36 languages

Source sentences are in <lang>, targets in English. One example is one gold
pair; tfds's BUCC keeps only the gold pairs of each corpus, not the
non-parallel sentences BUCC mines among (see evaluation/retrieval.py).

Features (unpadded; the encoder reads each sentence on its own, token type
0, as XTREME's retrieval code feeds it):
  source_input_ids  int32 [n]  [CLS] pieces of source_sentence [SEP]
  target_input_ids  int32 [m]  [CLS] pieces of target_sentence [SEP]
  source_id, target_id  string  BUCC only: the sentence ids of the gold pair
Pieces beyond sequence_length[key] - 2 are cut, as XTREME cuts them.

The vocabulary is the gin-configured one (`get_vocabulary`), resolved on first
use, so importing this module needs no SentencePiece file.
"""

import functools

import seqio

from rembert_mtf import compat  # noqa: F401  (import fix before tensorflow)
from rembert_mtf import errors
from rembert_mtf.data import vocabulary
import tensorflow as tf  # pylint: disable=g-bad-import-order

# ----------------------------------------------------------------- tables ----

# XTREME's evaluate.py (XTREME_TASK2LANGS): bucc2018 and tatoeba.
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")
TATOEBA_LANGUAGES = ("af", "ar", "bg", "bn", "de", "el", "es", "et", "eu",
                     "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
                     "jv", "ka", "kk", "ko", "ml", "mr", "nl", "pt", "ru",
                     "sw", "ta", "te", "th", "tl", "tr", "ur", "vi", "zh")

BUCC = "bucc/bucc_{}:1.0.0"
TATOEBA = "tatoeba/tatoeba_{}:1.0.0"

BUCC_SPLITS = {"validation": "validation", "test": "test"}
TATOEBA_SPLITS = {"test": "train"}

SENTENCE_FEATURES = ("source_input_ids", "target_input_ids")
TEXT_KEYS = {"source_input_ids": "source_sentence",
             "target_input_ids": "target_sentence"}
BUCC_KEYS = dict(TEXT_KEYS, source_id="source_id", target_id="target_id")

VOCABULARY = vocabulary.DeferredVocabulary()
OUTPUT_FEATURES = {key: seqio.Feature(VOCABULARY, add_eos=False)
                   for key in SENTENCE_FEATURES}

# ---------------------------------------------------------------- helpers ----


def frame_sentences(dataset, sequence_length, output_features):
  """Each sentence feature, a string, to [CLS] pieces [SEP] ids.

  Here rather than in data/finetune_preprocessors.py: those build one
  sequence per example (input_ids), retrieval reads two independent ones.
  """
  for key in SENTENCE_FEATURES:
    length = (sequence_length or {}).get(key)
    if not length or length <= 2:
      raise errors.UserError(
          f"sequence_length[{key!r}] must be more than 2 ([CLS] and [SEP]); "
          f"got {length}.")
  vocab = output_features[SENTENCE_FEATURES[0]].vocabulary
  if hasattr(type(vocab), "resolve"):  # a DeferredVocabulary
    vocab = vocab.resolve()
  specials = vocabulary.special_tokens(vocab)

  @seqio.map_over_dataset
  def frame(ex):
    out = dict(ex)
    for key in SENTENCE_FEATURES:
      pieces = tf.cast(vocab.encode_tf(ex[key]), tf.int32)
      out[key] = tf.concat([[specials.cls],
                            pieces[:sequence_length[key] - 2],
                            [specials.sep]], axis=0)
    return out

  return frame(dataset)


def _retrieval_task(name, tfds_name, splits, key_map):
  seqio.TaskRegistry.add(
      name,
      source=seqio.TfdsDataSource(tfds_name, splits=splits),
      output_features=OUTPUT_FEATURES,
      preprocessors=[
          functools.partial(seqio.preprocessors.rekey, key_map=key_map),
          frame_sentences,
      ],
      metric_fns=[])


# ---------------------------------------------------------- registrations ----

for _lang in BUCC_LANGUAGES:
  _retrieval_task(f"bucc_{_lang}", BUCC.format(_lang), BUCC_SPLITS, BUCC_KEYS)
for _lang in TATOEBA_LANGUAGES:
  _retrieval_task(f"tatoeba_{_lang}", TATOEBA.format(_lang), TATOEBA_SPLITS,
                  TEXT_KEYS)

seqio.MixtureRegistry.add("bucc", [f"bucc_{l}" for l in BUCC_LANGUAGES],
                          default_rate=1.0)
seqio.MixtureRegistry.add("tatoeba",
                          [f"tatoeba_{l}" for l in TATOEBA_LANGUAGES],
                          default_rate=1.0)
