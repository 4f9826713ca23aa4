"""Fixture datasets in their upstream formats, read by the real XTREME tasks.

The end-to-end tests fine-tune and score the registered tasks themselves
(tasks/xtreme.py, tasks/xtreme_qa.py), not look-alikes: `mock_upstream()`
replaces what tfds reads from disk (`tfds.testing.mock_data` with an
`as_dataset_fn`) by records written here in each builder's own feature
format, so everything after tfds (seqio sources, the task's preprocessors,
postprocess_fn and metrics) is the code a real run executes.

  builder (tfds)            split        task       records
  multi_nli                 train        xnli_train_en
                            premise, hypothesis, label
  xnli                      validation   xnli_eval_en
                            premise {lang: text}, hypothesis {language,
                            translation}, label
  wikiann/en                train, validation   ner_{train,eval}_en
                            tokens, tags (BIO ids), langs, spans
  xtreme_pos/xtreme_pos_en  train, dev   pos_{train,eval}_en
                            tokens, upos (UD ids)
  squad/v1.1                train        squad_train_en
  xquad/en                  test         xquad_eval_en
                            id, title, context, question,
                            answers {text, answer_start}

A record that does not fit the builder's feature spec fails in
tf.data.Dataset.from_generator, so the formats are checked, not assumed.

Every fixture is LEARNABLE from which words appear, so a tiny model
fine-tuned for 150-300 steps must score far above chance:
  classification  the hypothesis's words are cue words of its class (each
                  word with probability 0.6, and at least one; 3 classes).
                  With a single cue word among fillers the tiny model
                  stayed near chance (34.4% after 300 steps).
  NER             person, organisation and place names come from fixed
                  first-word and second-word lists (B-X on a first word,
                  I-X on a second), every other word is O
  POS             each word has one UPOS tag (a fixed lexicon)
  QA              the context holds one person name (1-2 words): the answer
Words are two syllables of tests.trainer_tasks.SYLLABLES, which the
session's 256-piece SentencePiece model (tests/conftest.py) was trained on.

`e2e_mlm` (registered on import; `--module_import=tests.e2e.fixtures`) is
masked-LM pre-training over the same sentences.
"""

import contextlib
import functools
import itertools
import random
from unittest import mock

import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary
from rembert_mtf.tasks import xtreme
from tests.trainer_tasks import SYLLABLES

PRETRAIN_TASK = "e2e_mlm"

# --------------------------------------------------------------- lexicon ----

# All 64 two-syllable words, shuffled once, cut into the categories below.
_WORDS = ["".join(p) for p in itertools.product(SYLLABLES, repeat=2)]
random.Random(13).shuffle(_WORDS)
_POOL = iter(_WORDS)


def _take(count):
  return tuple(itertools.islice(_POOL, count))


FILLER = _take(23)
CUES = (_take(2), _take(2), _take(2))  # classification: cue words per class
ENTITY_TYPES = ("PER", "ORG", "LOC")
FIRST_WORDS = {kind: _take(3) for kind in ENTITY_TYPES}
SECOND_WORDS = {kind: _take(2) for kind in ENTITY_TYPES}
POS_LEXICON = {"DET": _take(3), "ADJ": _take(4), "NOUN": _take(6),
               "VERB": _take(4), "ADP": _take(3)}
assert next(_POOL, None) is None  # every word in exactly one category

NLI_CLASSES = 3
NER_TAGS = fp.tfds_label_names(xtreme.WIKIANN.format("en"), "tags")
UPOS_TAGS = fp.tfds_label_names(xtreme.XTREME_POS.format("en"), "upos")
# Sentences of the POS fixture: a template of categories, "." is PUNCT.
_POS_TEMPLATES = (("DET", "NOUN", "VERB"),
                  ("DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN"),
                  ("DET", "NOUN", "VERB", "DET", "ADJ", "NOUN"),
                  ("ADJ", "NOUN", "VERB", "ADP", "NOUN"))

TRAIN_SIZE = 256
EVAL_SIZE = 64

# ------------------------------------------------------------ generators ----


def _fillers(rng, low, high):
  return [rng.choice(FILLER) for _ in range(rng.randint(low, high))]


def nli_records(count, seed):
  """MultiNLI-format records: label = class of the hypothesis's cue word."""
  rng = random.Random(seed)
  records = []
  for i in range(count):
    label = i % NLI_CLASSES
    hypothesis = [rng.choice(CUES[label]) if rng.random() < 0.6 else
                  rng.choice(FILLER) for _ in range(rng.randint(2, 5))]
    hypothesis.insert(rng.randint(0, len(hypothesis)),
                      rng.choice(CUES[label]))
    records.append({"premise": " ".join(_fillers(rng, 4, 8)),
                    "hypothesis": " ".join(hypothesis), "label": label})
  rng.shuffle(records)
  return records


def xnli_records(count, seed):
  """XNLI-format records (every language; English is the fixture's text)."""
  languages = list(xtreme.XNLI_LANGUAGES)
  return [{"premise": {lang: r["premise"] for lang in languages},
           "hypothesis": {"language": languages,
                          "translation": [r["hypothesis"]] * len(languages)},
           "label": r["label"]} for r in nli_records(count, seed)]


def _entity(rng, kind):
  words = [rng.choice(FIRST_WORDS[kind])]
  if rng.random() < 0.5:
    words.append(rng.choice(SECOND_WORDS[kind]))
  return words


def wikiann_records(count, seed):
  """WikiANN-format records: tokens, BIO tag ids, langs, spans."""
  rng = random.Random(seed)
  records = []
  for _ in range(count):
    tokens, tags, spans = [], [], []
    for _ in range(rng.randint(1, 2)):
      tokens += _fillers(rng, 1, 3)
      tags += [NER_TAGS.index("O")] * (len(tokens) - len(tags))
      kind = rng.choice(ENTITY_TYPES)
      words = _entity(rng, kind)
      tokens += words
      tags += [NER_TAGS.index(f"B-{kind}")] + [
          NER_TAGS.index(f"I-{kind}")] * (len(words) - 1)
      spans.append(f"{kind}: {' '.join(words)}")
    tokens += _fillers(rng, 0, 3)
    tags += [NER_TAGS.index("O")] * (len(tokens) - len(tags))
    records.append({"tokens": tokens, "tags": tags,
                    "langs": ["en"] * len(tokens), "spans": spans})
  return records


def udpos_records(count, seed):
  """UD-POS-format records (xtreme_pos): tokens, UPOS tag ids."""
  rng = random.Random(seed)
  records = []
  for _ in range(count):
    template = rng.choice(_POS_TEMPLATES) + ("PUNCT",)
    tokens = ["." if c == "PUNCT" else rng.choice(POS_LEXICON[c])
              for c in template]
    records.append({"tokens": tokens,
                    "upos": [UPOS_TAGS.index(c) for c in template]})
  return records


def squad_records(count, seed, prefix="q"):
  """SQuAD v1.1-format records: the answer is the context's person name."""
  rng = random.Random(seed)
  records = []
  for i in range(count):
    before, after = _fillers(rng, 1, 10), _fillers(rng, 1, 10)
    answer = " ".join(_entity(rng, "PER"))
    context = " ".join(before + [answer] + after)
    start = len(" ".join(before)) + 1
    assert context[start:start + len(answer)] == answer
    records.append({
        "id": f"{prefix}{i}", "title": "fixture", "context": context,
        "question": " ".join(_fillers(rng, 2, 4)) + " ?",
        "answers": {"text": [answer], "answer_start": [start]}})
  return records


@functools.lru_cache(maxsize=None)
def upstream_records():
  """{(builder, config or None, split): records} the tests read by default."""
  return {
      ("multi_nli", None, "train"): nli_records(TRAIN_SIZE, 1),
      ("xnli", None, "validation"): xnli_records(EVAL_SIZE, 2),
      ("wikiann", "en", "train"): wikiann_records(TRAIN_SIZE, 3),
      ("wikiann", "en", "validation"): wikiann_records(EVAL_SIZE, 4),
      ("xtreme_pos", "xtreme_pos_en", "train"): udpos_records(TRAIN_SIZE, 5),
      ("xtreme_pos", "xtreme_pos_en", "dev"): udpos_records(EVAL_SIZE, 6),
      ("squad", "v1.1", "train"): squad_records(TRAIN_SIZE, 7),
      ("xquad", "en", "test"): squad_records(EVAL_SIZE, 8, prefix="x"),
  }


# ------------------------------------------------------------------ tfds ----


@contextlib.contextmanager
def mock_upstream(overrides=None):
  """tfds reads the fixture records instead of prepared files.

  Args:
    overrides: {(builder, config or None, split): records} replacing or
      adding to upstream_records() (e.g. bad input).
  Yields:
    nothing; inside, every tfds builder yields its fixture records, and a
    split without records fails naming it.
  """
  records = {**upstream_records(), **(overrides or {})}

  def rows(builder, split):
    config = builder.builder_config.name if builder.builder_config else None
    key = (builder.name, config, str(split))
    if key not in records:
      raise KeyError(f"no fixture records for {key}; have {sorted(records)}")
    return records[key]

  def as_dataset(builder, split, *args, **kwargs):
    del args, kwargs  # decoders, read_config, shuffle_files: not needed
    examples = rows(builder, split)
    return tf.data.Dataset.from_generator(
        lambda: iter(examples),
        output_signature=builder.info.features.get_tensor_spec())

  def size(loader, split):
    # seqio asks the prepared files' metadata how many examples a split
    # has (to cache small ones); mocked builders have no metadata.
    # pylint: disable=protected-access
    return len(rows(loader._get_builder(split), loader._map_split(split)))

  with tfds.testing.mock_data(as_dataset_fn=as_dataset), mock.patch.object(
      seqio.utils.LazyTfdsLoader, "size", size):
    yield


# ------------------------------------------------------ pre-training text ----


def pretraining_documents():
  """The fixture sentences as MLM documents of eight sentences each."""
  sentences = []
  for r in nli_records(TRAIN_SIZE, 1):
    sentences += [r["premise"], r["hypothesis"]]
  for r in wikiann_records(TRAIN_SIZE, 3) + udpos_records(TRAIN_SIZE, 5):
    sentences.append(" ".join(r["tokens"]))
  for r in squad_records(TRAIN_SIZE, 7):
    sentences += [r["context"], r["question"]]
  random.Random(0).shuffle(sentences)
  return [" ".join(sentences[i:i + 8]) for i in range(0, len(sentences), 8)]


def _documents_source(split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  return tf.data.Dataset.from_tensor_slices({"text": pretraining_documents()})


if PRETRAIN_TASK not in seqio.TaskRegistry.names():
  seqio.TaskRegistry.add(
      PRETRAIN_TASK,
      source=seqio.FunctionDataSource(_documents_source, splits=["train"]),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=preprocessors.mlm_output_features(
          vocabulary.DeferredVocabulary()))
