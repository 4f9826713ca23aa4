"""Seeded synthetic multilingual data: a miniature of RemBERT's setting.

The paper pre-trains one encoder on many languages, fine-tunes on English
only and evaluates zero-shot on the others. The demo needs the same setting
with no download, so this module makes it up, from its own code only:

* One underlying grammar over abstract concepts: 30 nouns in semantic
  classes (people, animals, small things, food, large things), sizes,
  colours, 12 transitive verbs with selectional restrictions (only people
  build, the eaten is food, ...), 6 intransitive verbs, negation, passive
  voice, counts 2-9, time and place adverbials, existential and copular
  clauses.
* K languages (`make_languages`, at most `len(PROFILES)` = 7) realise it.
  Each has its own script, so no two share a letter (Latin, Cyrillic, Greek,
  Georgian, Armenian, Hiragana, Katakana), its own words built from its own
  CV syllables (two synonyms per content concept), its own word order (SVO,
  SOV, VSO; adjectives and determiners before or after the noun; pre- or
  postpositions; negation before or after the verb) and its own plural and
  passive suffixes. Like real languages they share only the digits 2-9,
  the punctuation "." and "," and, as real languages share names, a few
  proper names (`SHARED_TOKENS`).
* Names (`PERSON_NAMES`, `PLACE_NAMES`) are spelled identically in every
  language and written in capitals, which no language uses for its words,
  so they share no letter with any word. They occur in pre-training
  documents only (`name_entities`): a singular person entity is named by
  an apposition ("the farmer ADA") in most of its mentions, and so is a
  scene's place if it is a nature one ("near the lake TANA"); about a
  third of the sentences carry a name. A person name thus co-occurs with
  people words and a place name with nature words in every language
  alike: like the named entities of real Wikipedias, they anchor the
  languages' topics to the same shared tokens. No labelled example
  contains a name, so zero-shot transfer measures what pre-training
  aligned, not a classifier reading names.
* Pre-training documents (`generate_corpus`) describe one scene each, most
  scenes keeping to one topic (`TOPICS`: nature or people): entities are
  introduced, then act on each other, have their attributes stated, and
  events are sometimes restated in other words (other voice, synonyms), so
  a masked word is often predictable from another sentence.
* Two labelled tasks; eval sets are parallel (the same abstract examples,
  seeded by (seed, split), realised in every language), so languages
  differ only on the surface. Labels are balanced and computed from the
  concepts, never from a word: no shared token carries label information.
  - topic (`generate_topic_classification`, the demo's task): is a
    two-sentence text about nature or about people? Every noun and place
    of a text is of its topic, so the label is redundant over many words
    and insensitive to word order: a bag of words learns it on lang_a
    (100%) and a model transfers it exactly as far as pre-training has
    aligned the languages' words, which is what the demo is about.
  - pairs (`generate_classification`), PAWS-X in miniature: does sentence
    2 describe the same event as sentence 1? In both classes sentence 2 is
    sentence 1 with meaning-preserving surface changes (synonyms, active
    <-> passive, fronted <-> final adverbials); in a negative pair it also
    gets one meaning change (another agent, patient, verb, adjective,
    place or time, negation flipped, or agent and patient swapped). Its
    comparison mechanism is language-independent, but a tiny encoder does
    not learn it in a few hundred fine-tuning steps even on lang_a, hence
    not the demo's default.
"""

import collections
import csv
import dataclasses
import functools
import itertools
import json
import os
import random
import re
import types
from typing import Mapping, NamedTuple, Optional, Tuple
from rembert_mtf import errors

# ----------------------------------------------------------------- concepts --

PERSON = ("child", "woman", "farmer", "teacher", "king")
ANIMAL = ("dog", "cat", "horse", "bird", "fish", "cow", "fox", "goat")
SMALL = ("ball", "cup", "book", "box", "hat", "key", "stone")
FOOD = ("apple", "bread", "egg", "cake")
LARGE = ("house", "tree", "boat", "cart", "table", "wall")
NOUNS = PERSON + ANIMAL + SMALL + FOOD + LARGE
ANIMATE = PERSON + ANIMAL
INANIMATE = SMALL + FOOD + LARGE
SIZES = ("big", "small")
COLOURS = ("red", "blue", "green", "white", "black", "yellow")
# verb -> (nouns that may be its agent, nouns that may be its patient).
TRANSITIVE = {
    "see": (ANIMATE, NOUNS),
    "like": (ANIMATE, NOUNS),
    "find": (ANIMATE, NOUNS),
    "chase": (ANIMATE, ANIMATE),
    "follow": (ANIMATE, ANIMATE),
    "help": (PERSON, ANIMATE),
    "eat": (ANIMATE, FOOD),
    "carry": (PERSON + ("horse", "cow", "dog"), SMALL + FOOD),
    "push": (ANIMATE, INANIMATE),
    "build": (PERSON, ("house", "boat", "cart", "table", "wall", "box")),
    "wash": (PERSON, NOUNS),
    "throw": (PERSON, SMALL + FOOD),
}
# verb -> nouns that may be its subject.
INTRANSITIVE = {
    "sleep": ANIMATE,
    "run": PERSON + ("dog", "cat", "horse", "fox", "goat", "cow"),
    "sing": PERSON + ("bird",),
    "swim": PERSON + ("fish", "dog", "horse"),
    "fall": NOUNS,
    "wait": ANIMATE,
}
LOCATIONS = ("garden", "river", "forest", "market", "hill", "field",
             "village", "lake")
ADPOSITIONS = ("IN", "NEAR")
TIMES = ("morning", "evening", "night", "today", "yesterday")
# DEF/INDEF articles, negation, "there is", "is", passive agent marker "by",
# discourse marker "indeed".
FUNCTION_WORDS = ("DEF", "INDEF", "NEG", "EXIST", "COP", "BY", "DISC")
# Content concepts have NUM_SYNONYMS words each; the others one.
CONTENT_CONCEPTS = (NOUNS + SIZES + COLOURS + tuple(TRANSITIVE) +
                    tuple(INTRANSITIVE))
PLAIN_CONCEPTS = LOCATIONS + ADPOSITIONS + TIMES + FUNCTION_WORDS
NUM_SYNONYMS = 2
DIGITS = tuple("23456789")
PUNCTUATION = (".", ",")
# Proper names, the same in every language; in capitals, a script no
# language's words use. Persons are of the people topic, places (rivers,
# lakes, mountains) of the nature topic (`TOPICS`).
PERSON_NAMES = ("ADA", "OMAR", "IVAN", "MEI")
PLACE_NAMES = ("ETNA", "TANA", "NILE", "ELBA")
NAMES = PERSON_NAMES + PLACE_NAMES
SHARED_TOKENS = frozenset(DIGITS + PUNCTUATION + NAMES)

# -------------------------------------------------------------- languages --

_LATIN = ("ptkbdgmnlrsfvhz", "aeiou")
_CYRILLIC = ("птквдгмнлрсфжшз", "аеиоуыя")
_GREEK = ("πτκβδγμνλρσφθχξ", "αειουηω")
_GEORGIAN = ("პტკბდგმნლრსფვხზ", "აეიოუ")
_ARMENIAN = ("պտկբդգմնլրսֆվխզ", "աեիոէ")
# Syllabaries: each kana is a consonant-vowel syllable already.
_HIRAGANA = tuple("かきくけこさしすせそたちつてとなにぬねの"
                  "はひふへほまみむめもやゆよらりるれろわ")
_KATAKANA = tuple("カキクケコサシスセソタチツテトナニヌネノ"
                  "ハヒフヘホマミムメモヤユヨラリルレロワ")


def _cv_syllables(consonants_vowels):
  consonants, vowels = consonants_vowels
  return tuple(c + v for c in consonants for v in vowels)


@dataclasses.dataclass(frozen=True)
class Profile:
  """How one language orders and marks what the grammar says.

  Attributes:
    code: language code, e.g. "lang_a".
    syllables: its syllable inventory (no character shared with another).
    order: clause order of "S", "V", "O", e.g. "SOV".
    adjective_after_noun: "dog red" rather than "red dog".
    determiner_after_noun: article or count after the noun phrase.
    postpositions: "garden in" rather than "in garden".
    negation_after_verb: "chases not" rather than "not chases".
  """
  code: str
  syllables: Tuple[str, ...]
  order: str
  adjective_after_noun: bool
  determiner_after_noun: bool
  postpositions: bool
  negation_after_verb: bool


PROFILES = (
    Profile("lang_a", _cv_syllables(_LATIN), "SVO", False, False, False,
            False),
    Profile("lang_b", _cv_syllables(_CYRILLIC), "SOV", False, True, True,
            True),
    Profile("lang_c", _cv_syllables(_GREEK), "VSO", True, False, False,
            False),
    Profile("lang_d", _cv_syllables(_GEORGIAN), "SVO", True, True, False,
            True),
    Profile("lang_e", _cv_syllables(_ARMENIAN), "SOV", True, False, True,
            False),
    Profile("lang_f", _HIRAGANA, "VSO", False, True, False, True),
    Profile("lang_g", _KATAKANA, "SVO", True, False, True, False),
)
MAX_LANGUAGES = len(PROFILES)
DEFAULT_NUM_LANGUAGES = 4


@dataclasses.dataclass(frozen=True, eq=False)
class Language:
  """A profile plus its lexicon.

  Attributes:
    profile: word order and marking (`Profile`).
    words: concept -> its words (NUM_SYNONYMS for content concepts).
    plural_suffix: appended to plural nouns.
    passive_suffix: appended to passive verbs.
  """
  profile: Profile
  words: Mapping[str, Tuple[str, ...]]
  plural_suffix: str
  passive_suffix: str

  @property
  def code(self):
    return self.profile.code

  def word(self, concept, form=0):
    """The surface word of `concept` (synonym number `form`)."""
    forms = self.words[concept]
    return forms[form % len(forms)]

  def surface_forms(self):
    """Every word type the language can write -> its concepts (a gloss)."""
    table = {}
    for concept, forms in self.words.items():
      for form in forms:
        table[form] = (concept,)
        if concept in NOUNS:
          table[form + self.plural_suffix] = (concept, "PL")
        if concept in TRANSITIVE:
          table[form + self.passive_suffix] = (concept, "PASS")
    return table


def _new_word(rng, syllables, num_syllables, taken):
  """A word of `num_syllables` random syllables not in `taken`."""
  for _ in range(1000):
    word = "".join(rng.choice(syllables) for _ in range(num_syllables))
    if word not in taken:
      taken.add(word)
      return word
  raise RuntimeError("syllable inventory too small for the lexicon")


def _draw_lexicon(profile, rng):
  """Draws suffixes and words; returns None if derived forms collide."""
  taken = set()
  suffixes = [_new_word(rng, profile.syllables, 1, taken) for _ in range(2)]
  words = {}
  for concept in PLAIN_CONCEPTS:
    # Function words are short, as in real languages.
    size = 1 if concept in FUNCTION_WORDS + ADPOSITIONS else 2
    words[concept] = (_new_word(rng, profile.syllables, size, taken),)
  for concept in CONTENT_CONCEPTS:
    words[concept] = tuple(
        _new_word(rng, profile.syllables, rng.choice((2, 3)), taken)
        for _ in range(NUM_SYNONYMS))
  language = Language(profile, types.MappingProxyType(words), *suffixes)
  # A suffixed form must not spell another word, or glosses are ambiguous.
  num_forms = sum(len(f) for f in words.values())
  num_derived = sum(NUM_SYNONYMS for c in words if c in NOUNS + tuple(
      TRANSITIVE))
  if len(language.surface_forms()) != num_forms + num_derived:
    return None
  if set(suffixes) & set(language.surface_forms()):
    return None
  return language


@functools.lru_cache(maxsize=None)
def make_language(profile, seed=0):
  """The language of `profile`; its words depend only on (seed, code)."""
  rng = random.Random(f"lexicon-{seed}-{profile.code}")
  while True:
    language = _draw_lexicon(profile, rng)
    if language is not None:
      return language


def make_languages(num_languages=DEFAULT_NUM_LANGUAGES, seed=0):
  """The first `num_languages` languages of PROFILES.

  The languages (lexicons, orders) are fixed by this seed alone, so one
  vocabulary serves data of every data seed.

  Args:
    num_languages: 1..MAX_LANGUAGES.
    seed: lexicon seed.
  Returns:
    dict code -> Language, in PROFILES order ("lang_a" first).
  """
  if not 1 <= num_languages <= MAX_LANGUAGES:
    raise errors.UserError(f"num_languages must be in 1..{MAX_LANGUAGES} (one "
                           f"script each); got {num_languages}.")
  return {p.code: make_language(p, seed) for p in PROFILES[:num_languages]}


def language_codes(num_languages=DEFAULT_NUM_LANGUAGES):
  return tuple(p.code for p in PROFILES[:num_languages])


# ------------------------------------------------------ abstract sentences --


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
    out.extend((token,) if token in SHARED_TOKENS else table[token])
  return out


# ------------------------------------------------------- random sentences --


def _pick(rng, options, exclude=()):
  options = [o for o in options if o not in exclude]
  return rng.choice(options) if options else None


def _word(rng, concept):
  return Word(concept, rng.randrange(NUM_SYNONYMS))


def _random_mention(rng, noun, p_adjective=0.5, p_plural=0.2,
                    definite=True):
  return Mention(
      _word(rng, noun),
      count=rng.randint(2, 9) if rng.random() < p_plural else 1,
      size=_word(rng, rng.choice(SIZES)) if rng.random() < p_adjective
      else None,
      colour=_word(rng, rng.choice(COLOURS)) if rng.random() < p_adjective
      else None,
      definite=definite)


def _random_adverbials(rng, p_time, p_place):
  time = rng.choice(TIMES) if rng.random() < p_time else None
  place = ((rng.choice(ADPOSITIONS), rng.choice(LOCATIONS))
           if rng.random() < p_place else None)
  return dict(time=time, place=place, fronted=rng.random() < 0.5)


def random_event(rng, p_transitive=0.85, p_negated=0.2, p_passive=0.25):
  """A standalone event sentence with a random meaning and surface.

  Args:
    rng: random.Random.
    p_transitive, p_negated, p_passive: probabilities.
  Returns:
    a Clause of kind "event" (agent != patient noun).
  """
  adverbials = _random_adverbials(rng, 0.5, 0.5)
  if rng.random() < p_transitive:
    verb = rng.choice(tuple(TRANSITIVE))
    agents, patients = TRANSITIVE[verb]
    agent = rng.choice(agents)
    patient = _pick(rng, patients, exclude=(agent,))
    return Clause("event", _random_mention(rng, agent), _word(rng, verb),
                  _random_mention(rng, patient),
                  negated=rng.random() < p_negated,
                  passive=rng.random() < p_passive, **adverbials)
  verb = rng.choice(tuple(INTRANSITIVE))
  return Clause("event", _random_mention(rng, rng.choice(INTRANSITIVE[verb])),
                _word(rng, verb), negated=rng.random() < p_negated,
                **adverbials)


def generate_parallel(num_sentences, seed, languages=None):
  """Parallel sentences: one abstract event realised in every language.

  Args:
    num_sentences: how many.
    seed: data seed.
    languages: dict code -> Language (default `make_languages()`).
  Returns:
    list of dicts {"clause": Clause, code: sentence for each language}.
  """
  languages = languages or make_languages()
  rng = random.Random(f"parallel-{seed}")
  rows = []
  for _ in range(num_sentences):
    clause = random_event(rng)
    rows.append(dict({c: realise(l, clause) for c, l in languages.items()},
                     clause=clause))
  return rows


# ------------------------------------------------------ surface variation --


def _redraw_forms(rng, mention, p):
  """The mention with each word's synonym redrawn with probability p."""
  def redraw(word):
    if word is None or rng.random() >= p:
      return word
    return Word(word.concept, (word.form + 1) % NUM_SYNONYMS)
  return dataclasses.replace(mention, noun=redraw(mention.noun),
                             size=redraw(mention.size),
                             colour=redraw(mention.colour))


def paraphrase(rng, clause, p_synonym=0.3, p_voice=0.3, p_move=0.5):
  """A same-meaning clause: synonyms, voice and adverbial position vary.

  Args:
    rng: random.Random.
    clause: an event Clause.
    p_synonym: probability of switching each content word's synonym.
    p_voice: probability of active <-> passive (transitive only).
    p_move: probability of moving the adverbials (if any).
  Returns:
    a Clause with `same_meaning(clause, result)`; the sentence it writes
    differs from the input's in every language (it retries until it does,
    and if the probabilities allow no change, it switches the verb's
    synonym).
  """
  for _ in range(100):
    verb = clause.verb
    if verb and rng.random() < p_synonym:
      verb = Word(verb.concept, (verb.form + 1) % NUM_SYNONYMS)
    new = dataclasses.replace(
        clause, verb=verb,
        agent=_redraw_forms(rng, clause.agent, p_synonym),
        patient=clause.patient and _redraw_forms(rng, clause.patient,
                                                 p_synonym),
        passive=clause.passive != (bool(clause.patient) and
                                   rng.random() < p_voice),
        fronted=clause.fronted != (bool(clause.time or clause.place) and
                                   rng.random() < p_move))
    if new != clause:
      return new
  return dataclasses.replace(
      clause, verb=Word(clause.verb.concept,
                        (clause.verb.form + 1) % NUM_SYNONYMS))


# ---------------------------------------------------------- meaning change --


def _change_noun(rng, clause, role):
  mention = getattr(clause, role)
  if clause.patient is None:
    allowed = INTRANSITIVE[clause.verb.concept]
  else:
    allowed = TRANSITIVE[clause.verb.concept][role == "patient"]
  other = clause.patient if role == "agent" else clause.agent
  noun = _pick(rng, allowed, exclude=(mention.noun.concept,
                                      other and other.noun.concept))
  if noun is None:
    return None
  new = dataclasses.replace(mention, noun=_word(rng, noun))
  return dataclasses.replace(clause, **{role: new})


def _change_verb(rng, clause):
  agent = clause.agent.noun.concept
  if clause.patient is None:
    options = [v for v, a in INTRANSITIVE.items() if agent in a]
  else:
    patient = clause.patient.noun.concept
    options = [v for v, (a, p) in TRANSITIVE.items()
               if agent in a and patient in p]
  verb = _pick(rng, options, exclude=(clause.verb.concept,))
  return verb and dataclasses.replace(clause, verb=_word(rng, verb))


def _change_adjective(rng, clause):
  slots = [(role, attr) for role in ("agent", "patient")
           for attr in ("size", "colour")
           if getattr(clause, role) and getattr(getattr(clause, role), attr)]
  if not slots:
    return None
  role, attr = rng.choice(slots)
  mention = getattr(clause, role)
  values = SIZES if attr == "size" else COLOURS
  value = _pick(rng, values, exclude=(getattr(mention, attr).concept,))
  new = dataclasses.replace(mention, **{attr: _word(rng, value)})
  return dataclasses.replace(clause, **{role: new})


def _swap_roles(unused_rng, clause):
  if clause.patient is None:
    return None
  agents, patients = TRANSITIVE[clause.verb.concept]
  if (clause.patient.noun.concept not in agents or
      clause.agent.noun.concept not in patients):
    return None
  return dataclasses.replace(clause, agent=clause.patient,
                             patient=clause.agent)


def _change_adverbial(rng, clause):
  if clause.place and (not clause.time or rng.random() < 0.5):
    adposition, location = clause.place
    new = _pick(rng, LOCATIONS, exclude=(location,))
    return dataclasses.replace(clause, place=(adposition, new))
  if clause.time:
    return dataclasses.replace(
        clause, time=_pick(rng, TIMES, exclude=(clause.time,)))
  return None


MEANING_CHANGES = {
    "agent": lambda rng, c: _change_noun(rng, c, "agent"),
    "patient": lambda rng, c: (_change_noun(rng, c, "patient")
                               if c.patient else None),
    "verb": _change_verb,
    "adjective": _change_adjective,
    "negation": lambda rng, c: dataclasses.replace(c, negated=not c.negated),
    "swap": _swap_roles,
    "adverbial": _change_adverbial,
}
# Relative frequency of each change in negative pairs.
# Swaps apply to few events (both nouns must fit both roles): weighed up.
DEFAULT_CHANGE_WEIGHTS = {"agent": 2, "patient": 2, "verb": 2,
                          "adjective": 1, "negation": 2, "swap": 4,
                          "adverbial": 1}


def change_meaning(rng, clause, weights=None):
  """One meaning change of an event clause.

  Args:
    rng: random.Random.
    clause: an event Clause.
    weights: change name -> relative frequency (DEFAULT_CHANGE_WEIGHTS).
  Returns:
    (change name, new Clause), `same_meaning` False. Changes that do not
    apply (no adjective to change, roles that cannot swap) are redrawn.
  """
  weights = weights or DEFAULT_CHANGE_WEIGHTS
  names = sorted(weights)
  while True:
    name = rng.choices(names, [weights[n] for n in names])[0]
    new = MEANING_CHANGES[name](rng, clause)
    if new is not None and not same_meaning(new, clause):
      return name, new


# ----------------------------------------------------------- the task -------

LABELS = ("different", "same")  # label 1: sentence 2 means sentence 1


def _split_rng(kind, seed, split):
  return random.Random(f"{kind}-{seed}-{split}")


@dataclasses.dataclass(frozen=True)
class PairTaskConfig:
  """How hard the pair task is.

  Attributes:
    change_weights: meaning change name -> relative frequency in negatives
      (see `change_meaning`); leave a change out to never make it.
    p_synonym: per content word, probability that sentence 2 uses the other
      synonym (both classes).
    p_voice: probability that sentence 2 flips active/passive (both classes).
    p_move: probability that sentence 2 moves the adverbials (both classes).
    p_passive: probability that sentence 1 is passive.
  """
  change_weights: Mapping[str, float] = dataclasses.field(
      default_factory=lambda: dict(DEFAULT_CHANGE_WEIGHTS))
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
    first = random_event(rng, p_passive=config.p_passive)
    # Every second sentence differs on the surface, so "different words"
    # alone never means "different event".
    second = paraphrase(rng, first, config.p_synonym, config.p_voice,
                        config.p_move)
    change = "none"
    if i % 2 == 0:
      change, second = change_meaning(rng, second, config.change_weights)
    pairs.append((first, second, int(same_meaning(first, second)), change))
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
  language = _language(lang, languages)
  return [{"id": i, "sentence1": realise(language, first),
           "sentence2": realise(language, second), "label": label,
           "change": change}
          for i, (first, second, label, change) in enumerate(
              abstract_pairs(split, num_examples, seed, config))]


def _language(code, languages=None):
  if languages:
    return languages[code]
  codes = language_codes(MAX_LANGUAGES)
  if code not in codes:
    raise errors.UserError(f"unknown language {code!r}; one of {', '.join(codes)}")
  return make_languages(codes.index(code) + 1)[code]


# ---------------------------------------------------------- topic task -----

# Two topics, each a pool of nouns and places; sentences about a topic use
# only its nouns, so the label is a property of the concepts (of many
# words at once), not of any one word or of word order.
TOPICS = {
    "nature": (ANIMAL + ("tree", "stone", "egg", "apple"),
               ("river", "forest", "hill", "field", "lake")),
    "people": (PERSON + ("ball", "cup", "book", "box", "hat", "key", "bread",
                         "cake", "house", "boat", "cart", "table", "wall"),
               ("garden", "market", "village")),
}
TOPIC_NAMES = tuple(TOPICS)


def topic_event(rng, topic, p_passive=0.25):
  """A random event whose nouns and place all belong to `topic`."""
  nouns, places = TOPICS[topic]
  options = [(v, a, p) for v, (agents, patients) in sorted(TRANSITIVE.items())
             for a in nouns if a in agents
             for p in nouns if p in patients and p != a]
  options += [(v, a, None) for v, agents in sorted(INTRANSITIVE.items())
              for a in nouns if a in agents]
  verb, agent, patient = rng.choice(options)
  adverbials = _random_adverbials(rng, 0.3, 0.5)
  if adverbials["place"]:
    adverbials["place"] = (adverbials["place"][0], rng.choice(places))
  return Clause("event", _random_mention(rng, agent), _word(rng, verb),
                patient and _random_mention(rng, patient),
                negated=rng.random() < 0.2,
                passive=bool(patient) and rng.random() < p_passive,
                **adverbials)


def abstract_topic_texts(split, num_examples, seed, num_sentences=2):
  """Language-independent topic examples: (clauses, label).

  Labels alternate before shuffling (balanced); label i is TOPIC_NAMES[i].
  """
  rng = _split_rng("topics", seed, split)
  examples = []
  for i in range(num_examples):
    label = i % len(TOPIC_NAMES)
    clauses = [topic_event(rng, TOPIC_NAMES[label])
               for _ in range(num_sentences)]
    examples.append((clauses, label))
  rng.shuffle(examples)
  return examples


def generate_topic_classification(split, num_examples, lang, seed,
                                  languages=None, num_sentences=2):
  """The single-text topic task in one language (parallel across languages).

  Returns:
    list of {"id": int, "sentence": str (num_sentences sentences), "label":
    int index into TOPIC_NAMES}.
  """
  language = _language(lang, languages)
  return [{"id": i, "sentence": " ".join(realise(language, c)
                                         for c in clauses), "label": label}
          for i, (clauses, label) in enumerate(abstract_topic_texts(
              split, num_examples, seed, num_sentences))]


# ------------------------------------------------------------ documents -----


def _scene(rng, p_on_topic=0.85):
  """A scene: 2-4 distinct entities (one animate at least) and a place.

  Most scenes keep to one topic (`TOPICS`), as real documents do, so
  nouns that share a topic co-occur in every language alike.
  """
  nouns, places = TOPICS[rng.choice(TOPIC_NAMES)]
  if rng.random() >= p_on_topic:
    nouns, places = NOUNS, LOCATIONS
  first = rng.choice([n for n in nouns if n in ANIMATE])
  others = rng.sample([n for n in nouns if n != first], rng.randint(1, 3))
  entities = [_random_mention(rng, noun, p_adjective=0.6, p_plural=0.2)
              for noun in [first] + others]
  return entities, (rng.choice(ADPOSITIONS), rng.choice(places))


def _refer(rng, entity):
  """A definite mention of an entity with some of its attributes, in any
  synonyms (coreference across sentences)."""
  keep = lambda w: w if w and rng.random() < 0.4 else None
  mention = dataclasses.replace(entity, definite=True, size=keep(entity.size),
                                colour=keep(entity.colour))
  return _redraw_forms(rng, mention, 0.5)


def _scene_event(rng, entities):
  """An event among the scene's entities, or None if none fits."""
  agents = [e for e in entities if e.noun.concept in ANIMATE]
  agent = rng.choice(agents)
  candidates = [(v, p) for v, (a, ps) in sorted(TRANSITIVE.items())
                for p in entities
                if agent.noun.concept in a and p is not agent and
                p.noun.concept in ps]
  negated = rng.random() < 0.15
  adverbials = _random_adverbials(rng, 0.25, 0.25)
  if candidates and rng.random() < 0.8:
    verb, patient = rng.choice(candidates)
    return Clause("event", _refer(rng, agent), _word(rng, verb),
                  _refer(rng, patient), negated=negated,
                  passive=rng.random() < 0.2, **adverbials)
  verbs = [v for v, a in sorted(INTRANSITIVE.items())
           if agent.noun.concept in a]
  return Clause("event", _refer(rng, agent), _word(rng, rng.choice(verbs)),
                negated=negated, **adverbials)


def _attribute(rng, entities):
  described = [e for e in entities if e.size or e.colour]
  if not described:
    return None
  entity = rng.choice(described)
  adjective = rng.choice([w for w in (entity.size, entity.colour) if w])
  return Clause("attribute", _refer(rng, dataclasses.replace(
      entity, size=None, colour=None)), adjective=_word(rng,
                                                        adjective.concept))


# How often pre-training documents name things (`name_entities`): a
# singular person entity, or a scene's nature place, is named with
# probability P_NAMED; each mention of a named one writes the name with
# probability P_NAME_WRITTEN. With these, about 37% of sentences (5% of
# words) carry a name; with 0.5 and 0.6 (13% of sentences) the demo's
# zero-shot accuracy stayed near chance (54.0 / 54.6 / 50.0).
P_NAMED = 1.0
P_NAME_WRITTEN = 0.9


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
             if e.noun.concept in PERSON and e.count == 1 and
             rng.random() < p_named]
  names = dict(zip(persons, rng.sample(PERSON_NAMES, len(persons))))
  place_name = None
  if place[1] in TOPICS["nature"][1] and rng.random() < p_named:
    place_name = rng.choice(PLACE_NAMES)

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

  Returns:
    list of Clause.
  """
  entities, place = _scene(rng)
  clauses = [Clause("exist", dataclasses.replace(e, definite=False),
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
      clauses.append(dataclasses.replace(
          paraphrase(rng, event, p_synonym=0.5, p_voice=0.7), marker=True))
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
  language = _language(lang, languages)
  rng = random.Random(f"documents-{seed}-{lang}")
  name_rng = random.Random(f"names-{seed}-{lang}")
  return ["\n".join(realise(language, c)
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
  languages = languages or make_languages()
  counts = num_documents_per_language
  if not isinstance(counts, Mapping):
    counts = {code: counts for code in languages}
  return {code: generate_documents(counts[code], code, seed, languages)
          for code in languages if counts.get(code)}


# ----------------------------------------------------------------- files ----


def write_corpus(corpus, folder):
  """Writes <folder>/<lang>.txt: a sentence a line, documents apart by a
  blank line (BERT's pre-training text format).

  Returns:
    dict code -> path.
  """
  os.makedirs(folder, exist_ok=True)
  paths = {}
  for code, documents in corpus.items():
    paths[code] = os.path.join(folder, f"{code}.txt")
    with open(paths[code], "w", encoding="utf-8") as f:
      f.write("\n\n".join(documents) + "\n")
  return paths


def read_corpus_file(path):
  """Documents of a `write_corpus` file (inverse of it)."""
  with open(path, encoding="utf-8") as f:
    return [d.strip("\n") for d in f.read().split("\n\n") if d.strip()]


TSV_COLUMNS = ("id", "sentence1", "sentence2", "label", "change")
TOPIC_TSV_COLUMNS = ("id", "sentence", "label")


def write_classification(examples, path, columns=TSV_COLUMNS):
  """Writes examples as a TSV with a header row (PAWS-X style for pairs)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, columns, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(examples)
  return path


def read_classification(path):
  """Examples of a `write_classification` file (ints restored)."""
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))
  return [dict(r, id=int(r["id"]), label=int(r["label"])) for r in rows]


# Task folder -> (generator, TSV columns).
_TASK_FILES = {
    "topic": (generate_topic_classification, TOPIC_TSV_COLUMNS),
    "pairs": (generate_classification, TSV_COLUMNS),
}


def write_demo_files(folder, seed=0, num_documents=1000, num_train=2000,
                     num_eval=500, num_languages=DEFAULT_NUM_LANGUAGES):
  """Writes the whole demo data set for users to read.

  Layout:
    corpus/<lang>.txt                   pre-training text (`write_corpus`)
    {topic,pairs}/train.<first>.tsv     each task's training set
    {topic,pairs}/{validation,test}.<lang>.tsv  every language (parallel)
    lexicon.json                        concept -> words, per language

  Args:
    folder: output folder.
    seed: data seed.
    num_documents: int or dict code -> int, documents per language.
    num_train, num_eval: examples per training / eval split.
    num_languages: number of languages.
  Returns:
    dict "corpus/<lang>", "<task>/<split>.<lang>", "lexicon" -> path.
  """
  languages = make_languages(num_languages)
  corpus = generate_corpus(num_documents, seed, languages)
  paths = {f"corpus/{c}": p for c, p in
           write_corpus(corpus, os.path.join(folder, "corpus")).items()}
  first = next(iter(languages))
  splits = [("train", first, num_train)] + [
      (s, c, num_eval) for s in ("validation", "test") for c in languages]
  for task, (generate, columns) in _TASK_FILES.items():
    for split, code, n in splits:
      name = f"{task}/{split}.{code}"
      paths[name] = write_classification(
          generate(split, n, code, seed, languages),
          os.path.join(folder, f"{name}.tsv"), columns)
  paths["lexicon"] = os.path.join(folder, "lexicon.json")
  with open(paths["lexicon"], "w", encoding="utf-8") as f:
    json.dump(lexicon_table(languages), f, ensure_ascii=False, indent=1)
  return paths


def lexicon_table(languages):
  """{code: {"order": ..., "words": {concept: [words]}, suffixes}}."""
  return {code: {"order": lang.profile.order,
                 "plural_suffix": lang.plural_suffix,
                 "passive_suffix": lang.passive_suffix,
                 "words": {c: list(f) for c, f in lang.words.items()}}
          for code, lang in languages.items()}


# --------------------------------------------------------------- overlap ----


def _types_by_language(corpus, tokenize):
  return {code: set(itertools.chain.from_iterable(
      tokenize(doc) for doc in docs)) for code, docs in corpus.items()}


def _pairwise(by_language):
  """Shared types and shared/union fraction for each pair of languages."""
  shared, fraction = {}, {}
  for a, b in itertools.combinations(sorted(by_language), 2):
    key = f"{a}/{b}"
    common = by_language[a] & by_language[b]
    shared[key] = sorted(common)
    fraction[key] = len(common) / max(
        1, len(by_language[a] | by_language[b]))
  return shared, fraction


def lexical_overlap(corpus, sentencepiece_model_file=None):
  """How much surface two languages share, for every pair.

  Args:
    corpus: dict code -> list of texts (e.g. `generate_corpus`).
    sentencepiece_model_file: optionally a .model file; pieces are then
      compared too.
  Returns:
    dict with, per "a/b" pair key: "shared_words" (sorted list) and
    "word_overlap" (shared / union of word types, `words_of` units); and
    "word_types" per language. With a model also "shared_pieces" and
    "piece_overlap" (over the pieces each language's text encodes to).
  """
  types = _types_by_language(corpus, words_of)
  report = {"word_types": {c: len(t) for c, t in types.items()}}
  report["shared_words"], report["word_overlap"] = _pairwise(types)
  if sentencepiece_model_file:
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    processor = spm.SentencePieceProcessor(
        model_file=sentencepiece_model_file)
    pieces = _types_by_language(
        corpus, lambda text: processor.encode(text, out_type=str))
    report["piece_types"] = {c: len(t) for c, t in pieces.items()}
    report["shared_pieces"], report["piece_overlap"] = _pairwise(pieces)
  return report


def label_counts(examples):
  """Counter of label values of classification examples."""
  return collections.Counter(e["label"] for e in examples)
