"""The two labelled tasks over the synthetic languages.

Holds the pair task, PAWS-X in miniature (`generate_classification`: does
sentence 2 describe the same event as sentence 1?, made harder or easier
by a `PairTaskConfig`) and the topic task (`generate_topic_classification`:
is a two-sentence text about nature or about people?). Each is drawn once
as language-independent clauses (`abstract_pairs`, `abstract_topic_texts`),
seeded by (seed, split), then written in the language asked for, so eval
sets are parallel across languages. Labels alternate before shuffling
(balanced) and come from the concepts, never from a shared token.
"""

import collections
import dataclasses
import random
from typing import Mapping

from rembert_mtf.data.synthetic import concepts
from rembert_mtf.data.synthetic import grammar
from rembert_mtf.data.synthetic import lexicon
from rembert_mtf.data.synthetic import sampling

LABELS = ("different", "same")  # label 1: sentence 2 means sentence 1


def _split_rng(kind, seed, split):
  return random.Random(f"{kind}-{seed}-{split}")


def label_counts(examples):
  """Counter of label values of classification examples."""
  return collections.Counter(e["label"] for e in examples)


# ------------------------------------------------------------- pair task --


@dataclasses.dataclass(frozen=True)
class PairTaskConfig:
  """How hard the pair task is.

  Attributes:
    change_weights: meaning change name -> relative frequency in negatives
      (see `sampling.change_meaning`); leave a change out to never make it.
    p_synonym: per content word, probability that sentence 2 uses the other
      synonym (both classes).
    p_voice: probability that sentence 2 flips active/passive (both classes).
    p_move: probability that sentence 2 moves the adverbials (both classes).
    p_passive: probability that sentence 1 is passive.
  """
  change_weights: Mapping[str, float] = dataclasses.field(
      default_factory=lambda: dict(sampling.DEFAULT_CHANGE_WEIGHTS))
  p_synonym: float = 0.3
  p_voice: float = 0.3
  p_move: float = 0.5
  p_passive: float = 0.25


def abstract_pairs(split, num_examples, seed, config=None):
  """Language-independent pairs: (clause1, clause2, label, change).

  Labels alternate before shuffling, so a split has floor/ceil(n/2) of
  each. The second clause is a `paraphrase` of the first; the negatives'
  second clause also gets one `change_meaning`.

  Args:
    split: "train", "validation" or "test" (any string: it seeds).
    num_examples: number of pairs.
    seed: data seed.
    config: PairTaskConfig (default `PairTaskConfig()`).
  Returns:
    list of (Clause, Clause, int label, change name or "none").
  """
  config = config or PairTaskConfig()
  rng = _split_rng("pairs", seed, split)
  pairs = []
  for i in range(num_examples):
    first = sampling.random_event(rng, p_passive=config.p_passive)
    # Every second sentence differs on the surface, so "different words"
    # alone never means "different event".
    second = sampling.paraphrase(rng, first, config.p_synonym,
                                 config.p_voice, config.p_move)
    change = "none"
    if i % 2 == 0:
      change, second = sampling.change_meaning(rng, second,
                                               config.change_weights)
    label = int(grammar.same_meaning(first, second))
    pairs.append((first, second, label, change))
  rng.shuffle(pairs)
  return pairs


def generate_classification(split, num_examples, lang, seed, languages=None,
                            config=None):
  """The pair task ("same event?") in one language.

  The same (split, num_examples, seed, config) gives the same abstract
  pairs in every language: eval sets are parallel.

  Args:
    split: split name (seeds the examples).
    num_examples: number of examples.
    lang: language code, e.g. "lang_a".
    seed: data seed.
    languages: dict code -> Language (default `make_languages()` with enough
      languages for `lang`).
    config: PairTaskConfig (default `PairTaskConfig()`).
  Returns:
    list of {"id": int, "sentence1": str, "sentence2": str, "label": int (1
    same meaning, 0 not), "change": meaning change name or "none"}.
  """
  language = lexicon.language_of(lang, languages)
  return [{"id": i, "sentence1": grammar.realise(language, first),
           "sentence2": grammar.realise(language, second), "label": label,
           "change": change}
          for i, (first, second, label, change) in enumerate(
              abstract_pairs(split, num_examples, seed, config))]


# ------------------------------------------------------------ topic task --


def topic_event(rng, topic, p_passive=0.25):
  """A random event whose nouns and place all belong to `topic`."""
  nouns, places = concepts.TOPICS[topic]
  options = [(v, a, p)
             for v, (agents, patients) in sorted(concepts.TRANSITIVE.items())
             for a in nouns if a in agents
             for p in nouns if p in patients and p != a]
  options += [(v, a, None)
              for v, agents in sorted(concepts.INTRANSITIVE.items())
              for a in nouns if a in agents]
  verb, agent, patient = rng.choice(options)
  adverbials = sampling.random_adverbials(rng, 0.3, 0.5)
  if adverbials["place"]:
    adverbials["place"] = (adverbials["place"][0], rng.choice(places))
  return grammar.Clause(
      "event", sampling.random_mention(rng, agent),
      sampling.random_word(rng, verb),
      patient and sampling.random_mention(rng, patient),
      negated=rng.random() < 0.2,
      passive=bool(patient) and rng.random() < p_passive, **adverbials)


def abstract_topic_texts(split, num_examples, seed, num_sentences=2):
  """Language-independent topic examples: (clauses, label).

  Labels alternate before shuffling (balanced); label i is TOPIC_NAMES[i].
  """
  rng = _split_rng("topics", seed, split)
  examples = []
  for i in range(num_examples):
    label = i % len(concepts.TOPIC_NAMES)
    clauses = [topic_event(rng, concepts.TOPIC_NAMES[label])
               for _ in range(num_sentences)]
    examples.append((clauses, label))
  rng.shuffle(examples)
  return examples


def generate_topic_classification(split, num_examples, lang, seed,
                                  languages=None, num_sentences=2):
  """The single-text topic task in one language (parallel across languages).

  Args:
    split: split name (seeds the examples).
    num_examples: number of examples.
    lang: language code, e.g. "lang_a".
    seed: data seed.
    languages: dict code -> Language (default as `generate_classification`).
    num_sentences: sentences per text.
  Returns:
    list of {"id": int, "sentence": str (num_sentences sentences), "label":
    int index into TOPIC_NAMES}.
  """
  language = lexicon.language_of(lang, languages)
  return [{"id": i,
           "sentence": " ".join(grammar.realise(language, c)
                                for c in clauses),
           "label": label}
          for i, (clauses, label) in enumerate(abstract_topic_texts(
              split, num_examples, seed, num_sentences))]
