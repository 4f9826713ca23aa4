"""Pre-training documents: one scene per document, some things named.

Holds the scene sampler (2-4 entities and a place, most scenes on one of
`concepts.TOPICS`), the sentences a document says about its scene
(entities introduced, then events among them and attribute statements,
some events restated in other words, so a masked word is often
predictable from another sentence), `name_entities`, which gives persons
and nature places their proper names, and the generators:
`random_document` (abstract clauses), `generate_documents` (one
language's text) and `generate_corpus` (every language's).
"""

import dataclasses
import random
from typing import Mapping

from rembert_mtf.data.synthetic import concepts
from rembert_mtf.data.synthetic import grammar
from rembert_mtf.data.synthetic import lexicon
from rembert_mtf.data.synthetic import sampling

# How often pre-training documents name things (`name_entities`): a
# singular person entity, or a scene's nature place, is named with
# probability P_NAMED; each mention of a named one writes the name with
# probability P_NAME_WRITTEN. With these, about 37% of sentences (5% of
# words) carry a name; with 0.5 and 0.6 (13% of sentences) the demo's
# zero-shot accuracy stayed near chance (54.0 / 54.6 / 50.0).
P_NAMED = 1.0
P_NAME_WRITTEN = 0.9


def _scene(rng, p_on_topic=0.85):
  """A scene: 2-4 distinct entities (one animate at least) and a place.

  Most scenes keep to one topic (`TOPICS`), as real documents do, so
  nouns that share a topic co-occur in every language alike.
  """
  nouns, places = concepts.TOPICS[rng.choice(concepts.TOPIC_NAMES)]
  if rng.random() >= p_on_topic:
    nouns, places = concepts.NOUNS, concepts.LOCATIONS
  first = rng.choice([n for n in nouns if n in concepts.ANIMATE])
  others = rng.sample([n for n in nouns if n != first], rng.randint(1, 3))
  entities = [sampling.random_mention(rng, noun, p_adjective=0.6,
                                      p_plural=0.2)
              for noun in [first] + others]
  return entities, (rng.choice(concepts.ADPOSITIONS), rng.choice(places))


def _refer(rng, entity):
  """A definite mention of an entity with some of its attributes, in any
  synonyms (coreference across sentences)."""
  keep = lambda w: w if w and rng.random() < 0.4 else None
  mention = dataclasses.replace(entity, definite=True, size=keep(entity.size),
                                colour=keep(entity.colour))
  return sampling.redraw_forms(rng, mention, 0.5)


def _scene_event(rng, entities):
  """An event among the scene's entities (intransitive if none fits)."""
  agents = [e for e in entities if e.noun.concept in concepts.ANIMATE]
  agent = rng.choice(agents)
  candidates = [(v, p)
                for v, (a, ps) in sorted(concepts.TRANSITIVE.items())
                for p in entities
                if agent.noun.concept in a and p is not agent and
                p.noun.concept in ps]
  negated = rng.random() < 0.15
  adverbials = sampling.random_adverbials(rng, 0.25, 0.25)
  if candidates and rng.random() < 0.8:
    verb, patient = rng.choice(candidates)
    return grammar.Clause(
        "event", _refer(rng, agent), sampling.random_word(rng, verb),
        _refer(rng, patient), negated=negated,
        passive=rng.random() < 0.2, **adverbials)
  verbs = [v for v, a in sorted(concepts.INTRANSITIVE.items())
           if agent.noun.concept in a]
  return grammar.Clause(
      "event", _refer(rng, agent),
      sampling.random_word(rng, rng.choice(verbs)), negated=negated,
      **adverbials)


def _attribute(rng, entities):
  """An "<entity> is <adjective>" Clause, or None if none has one."""
  described = [e for e in entities if e.size or e.colour]
  if not described:
    return None
  entity = rng.choice(described)
  adjective = rng.choice([w for w in (entity.size, entity.colour) if w])
  bare = dataclasses.replace(entity, size=None, colour=None)
  return grammar.Clause(
      "attribute", _refer(rng, bare),
      adjective=sampling.random_word(rng, adjective.concept))


def name_entities(rng, clauses, entities, place, p_named=P_NAMED,
                  p_written=P_NAME_WRITTEN):
  """A document's persons and its nature place get proper names.

  A named person keeps its name (a PERSON_NAMES string, distinct ones in a
  document) throughout the document, written as an apposition in a
  p_written share of its mentions; likewise the scene's place if it is
  one of the nature topic's (`TOPICS`), with a PLACE_NAMES string. Other
  nouns and places are never named, so names co-occur with their topic's
  words.

  Args:
    rng: random.Random (its own stream: the unnamed sentences do not
      depend on it).
    clauses: a document's clauses (`random_document`).
    entities: its scene's entities; place: its scene's (adposition,
      location).
    p_named: probability of naming each singular person and the place.
    p_written: probability that a mention of a named one shows the name.
  Returns:
    list of Clause, the same but for names.
  """
  persons = [e.noun.concept for e in entities
             if e.noun.concept in concepts.PERSON and e.count == 1 and
             rng.random() < p_named]
  names = dict(zip(persons, rng.sample(concepts.PERSON_NAMES, len(persons))))
  place_name = None
  if place[1] in concepts.TOPICS["nature"][1] and rng.random() < p_named:
    place_name = rng.choice(concepts.PLACE_NAMES)

  def named(mention):
    if (mention and mention.count == 1 and mention.noun.concept in names and
        rng.random() < p_written):
      return dataclasses.replace(mention, name=names[mention.noun.concept])
    return mention

  out = []
  for clause in clauses:
    clause = dataclasses.replace(clause, agent=named(clause.agent),
                                 patient=named(clause.patient))
    if (place_name and clause.place and clause.place[1] == place[1] and
        rng.random() < p_written):
      clause = dataclasses.replace(clause, place_name=place_name)
    out.append(clause)
  return out


def random_document(rng, name_rng=None):
  """Abstract sentences about one scene.

  Entities are introduced ("there is a big red ball in the garden"), then
  3-6 events among them and attribute statements follow; an event is
  restated (other voice and synonyms, with the discourse marker) with
  probability 0.3. With `name_rng`, persons and a nature place are
  named (`name_entities`); the rest of the document is the same.

  Args:
    rng: random.Random for the scene and its sentences.
    name_rng: random.Random for the names, or None for no names.
  Returns:
    list of Clause.
  """
  entities, place = _scene(rng)
  clauses = [grammar.Clause("exist", dataclasses.replace(e, definite=False),
                            place=place if rng.random() < 0.5 else None,
                            fronted=rng.random() < 0.5)
             for e in entities]
  for _ in range(rng.randint(3, 6)):
    if rng.random() < 0.2:
      clause = _attribute(rng, entities)
      clauses += [clause] if clause else []
      continue
    event = _scene_event(rng, entities)
    clauses.append(event)
    if rng.random() < 0.3:
      restated = sampling.paraphrase(rng, event, p_synonym=0.5, p_voice=0.7)
      clauses.append(dataclasses.replace(restated, marker=True))
  if name_rng is not None:
    clauses = name_entities(name_rng, clauses, entities, place)
  return clauses


def generate_documents(num_documents, lang, seed, languages=None):
  """Pre-training documents of one language.

  Args:
    num_documents: how many.
    lang: language code.
    seed: data seed (each language has its own stream: not parallel).
    languages: dict code -> Language (default `make_languages()`).
  Returns:
    list of document strings, one sentence per line; some name persons
    and places (`name_entities`).
  """
  language = lexicon.language_of(lang, languages)
  rng = random.Random(f"documents-{seed}-{lang}")
  name_rng = random.Random(f"names-{seed}-{lang}")
  return ["\n".join(grammar.realise(language, c)
                    for c in random_document(rng, name_rng))
          for _ in range(num_documents)]


def generate_corpus(num_documents_per_language, seed, languages=None):
  """The multilingual pre-training corpus.

  Args:
    num_documents_per_language: int, or dict code -> int (unequal sizes,
      as in real corpora).
    seed: data seed.
    languages: dict code -> Language (default `make_languages()`).
  Returns:
    dict code -> list of document strings.
  """
  languages = languages or lexicon.make_languages()
  counts = num_documents_per_language
  if not isinstance(counts, Mapping):
    counts = {code: counts for code in languages}
  return {code: generate_documents(counts[code], code, seed, languages)
          for code in languages if counts.get(code)}
