"""Language-independent sentences and how each language writes them.

Holds the abstract sentence (`Word`, `Mention`, `Clause`) and what it
means (`meaning`, `same_meaning`: everything but voice, synonyms and word
order), `realise`, which writes a clause in one `lexicon.Language`
following its profile (order, adjective and determiner position,
adpositions, negation, plural and passive suffixes), and the inverse
direction: `words_of` (the tokens of a text) and `gloss` (a sentence read
back into concepts).
"""

import dataclasses
import re
from typing import NamedTuple, Optional, Tuple

from rembert_mtf.data.synthetic import concepts


class Word(NamedTuple):
  """A content concept and which of its synonyms is written."""
  concept: str
  form: int = 0


@dataclasses.dataclass(frozen=True)
class Mention:
  """A noun phrase: noun, optional size and colour, count (1 or 2-9), and
  an optional proper name in apposition (a NAMES string, pre-training
  documents only)."""
  noun: Word
  count: int = 1
  size: Optional[Word] = None
  colour: Optional[Word] = None
  definite: bool = True
  name: Optional[str] = None

  def meaning(self):
    return (self.noun.concept, self.count, self.size and self.size.concept,
            self.colour and self.colour.concept, self.name)


@dataclasses.dataclass(frozen=True)
class Clause:
  """One sentence, language-independent.

  Attributes:
    kind: "event", "exist" ("there is <agent>") or "attribute" ("<agent> is
      <adjective>").
    agent: subject of the event (the doer, also in the passive).
    verb: the event's verb (None for exist/attribute).
    patient: object of a transitive event.
    adjective: the predicate of an attribute clause.
    negated: negation.
    passive: patient written as subject, agent in a "by" phrase.
    time: a TIMES concept or None.
    place: (adposition, location) or None.
    fronted: adverbials before the clause (followed by ",") not after it.
    marker: starts with the discourse marker ("indeed,").
    place_name: a PLACE_NAMES string naming the place, or None.
  """
  kind: str
  agent: Mention
  verb: Optional[Word] = None
  patient: Optional[Mention] = None
  adjective: Optional[Word] = None
  negated: bool = False
  passive: bool = False
  time: Optional[str] = None
  place: Optional[Tuple[str, str]] = None
  fronted: bool = False
  marker: bool = False
  place_name: Optional[str] = None


def meaning(clause):
  """What a clause says: everything but voice, synonyms and word order."""
  return (clause.kind, clause.agent.meaning(),
          clause.verb and clause.verb.concept,
          clause.patient and clause.patient.meaning(),
          clause.adjective and clause.adjective.concept, clause.negated,
          clause.time, clause.place, clause.place_name)


def same_meaning(clause1, clause2):
  """Whether two clauses say the same (`meaning`), however written."""
  return meaning(clause1) == meaning(clause2)


# -------------------------------------------------------------- realising --


def _noun_phrase(lang, mention):
  """Tokens of a mention in `lang` (count as a digit, suffix for plural,
  a name right after the noun)."""
  noun = lang.word(*mention.noun)
  if mention.count > 1:
    noun += lang.plural_suffix
  nominal = [noun] + ([mention.name] if mention.name else [])
  adjectives = [lang.word(*w) for w in (mention.size, mention.colour) if w]
  core = (nominal + adjectives if lang.profile.adjective_after_noun
          else adjectives + nominal)
  if mention.count > 1:
    determiner = str(mention.count)
  else:
    determiner = lang.word("DEF" if mention.definite else "INDEF")
  return (core + [determiner] if lang.profile.determiner_after_noun
          else [determiner] + core)


def _adpositional(lang, adposition, phrase):
  marker = lang.word(adposition)
  return phrase + [marker] if lang.profile.postpositions else [marker] + phrase


def _subject_verb_object(lang, clause):
  """(subject, verb group, object) token lists of a clause."""
  if clause.kind == "exist":
    verb, subject, obj = lang.word("EXIST"), clause.agent, []
  elif clause.kind == "attribute":
    verb, subject = lang.word("COP"), clause.agent
    obj = [lang.word(*clause.adjective)]
  else:
    verb = lang.word(*clause.verb)
    subject = clause.agent
    obj = _noun_phrase(lang, clause.patient) if clause.patient else []
    if clause.passive:
      verb += lang.passive_suffix
      subject = clause.patient
      obj = _adpositional(lang, "BY", _noun_phrase(lang, clause.agent))
  group = [verb]
  if clause.negated:
    negation = lang.word("NEG")
    group = ([verb, negation] if lang.profile.negation_after_verb
             else [negation, verb])
  return _noun_phrase(lang, subject), group, obj


def _adverbials(lang, clause):
  tokens = [lang.word(clause.time)] if clause.time else []
  if clause.place:
    adposition, location = clause.place
    phrase = _noun_phrase(lang, Mention(Word(location),
                                        name=clause.place_name))
    tokens += _adpositional(lang, adposition, phrase)
  return tokens


def realise_tokens(lang, clause):
  """The clause in `lang` as a list of words and punctuation tokens."""
  parts = dict(zip("SVO", _subject_verb_object(lang, clause)))
  core = [t for slot in lang.profile.order for t in parts[slot]]
  adverbials = _adverbials(lang, clause)
  if adverbials and clause.fronted:
    tokens = adverbials + [","] + core
  else:
    tokens = core + adverbials
  if clause.marker:
    tokens = [lang.word("DISC"), ","] + tokens
  return tokens + ["."]


def realise(lang, clause):
  """The clause in `lang` as text; punctuation sticks to the word before."""
  return re.sub(r" ([.,])", r"\1", " ".join(realise_tokens(lang, clause)))


# ---------------------------------------------------------------- reading --


def words_of(text):
  """Whitespace words with punctuation split off: the unit of overlap."""
  return re.findall(r"[^\W\d_]+|\d|[^\w\s]", text)


def gloss(lang, text):
  """Concepts of a sentence in `lang`, in its word order.

  Args:
    lang: a Language.
    text: a sentence `realise` wrote.
  Returns:
    list of concept names ("dog", "PL", "NEG", ...), digits and punctuation.
  Raises:
    KeyError: a word that is not of `lang`.
  """
  table = lang.surface_forms()
  out = []
  for token in words_of(text):
    out.extend((token,) if token in concepts.SHARED_TOKENS else table[token])
  return out
