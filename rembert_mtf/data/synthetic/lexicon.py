"""The synthetic languages: scripts, word orders and seeded lexicons.

Holds the `Profile` of each of the `MAX_LANGUAGES` languages (its script,
so no two share a letter; its clause order; where adjectives, determiners,
adpositions and negation go), the `Language` a profile becomes once its
words are drawn (two synonyms per content concept, plural and passive
suffixes, all from its own consonant-vowel syllables), and the look-ups
the generators use: `make_languages`, `language_codes`, `language_of`,
plus `lexicon_table`, the JSON form users read.
"""

import dataclasses
import functools
import random
import types
from typing import Mapping, Tuple

from rembert_mtf.data.synthetic import concepts

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
        if concept in concepts.NOUNS:
          table[form + self.plural_suffix] = (concept, "PL")
        if concept in concepts.TRANSITIVE:
          table[form + self.passive_suffix] = (concept, "PASS")
    return table


def _new_word(rng, syllables, num_syllables, taken):
  """A word of `num_syllables` random syllables not in `taken`."""
  for _ in range(1000):
    word = "".join(rng.choice(syllables) for _ in range(num_syllables))
    if word not in taken:
      taken.add(word)
      return word
  # PROFILES are constants with room for every word: only an edit of them
  # (or of the concepts) can get here.
  raise RuntimeError("syllable inventory too small for the lexicon")


def _draw_lexicon(profile, rng):
  """Draws suffixes and words; returns None if derived forms collide."""
  taken = set()
  suffixes = [_new_word(rng, profile.syllables, 1, taken) for _ in range(2)]
  words = {}
  short = concepts.FUNCTION_WORDS + concepts.ADPOSITIONS
  for concept in concepts.PLAIN_CONCEPTS:
    # Function words are short, as in real languages.
    size = 1 if concept in short else 2
    words[concept] = (_new_word(rng, profile.syllables, size, taken),)
  for concept in concepts.CONTENT_CONCEPTS:
    words[concept] = tuple(
        _new_word(rng, profile.syllables, rng.choice((2, 3)), taken)
        for _ in range(concepts.NUM_SYNONYMS))
  language = Language(profile, types.MappingProxyType(words), *suffixes)
  # A suffixed form must not spell another word, or glosses are ambiguous.
  num_forms = sum(len(f) for f in words.values())
  derived = concepts.NOUNS + tuple(concepts.TRANSITIVE)
  num_derived = sum(concepts.NUM_SYNONYMS for c in words if c in derived)
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
  Raises:
    ValueError: num_languages out of range (a caller's bug: no flag or
      binding sets it).
  """
  if not 1 <= num_languages <= MAX_LANGUAGES:
    raise ValueError(f"num_languages must be in 1..{MAX_LANGUAGES} (one "
                     f"script each); got {num_languages}.")
  return {p.code: make_language(p, seed) for p in PROFILES[:num_languages]}


def language_codes(num_languages=DEFAULT_NUM_LANGUAGES):
  """Codes of the first `num_languages` languages ("lang_a", ...)."""
  return tuple(p.code for p in PROFILES[:num_languages])


def language_of(code, languages=None):
  """The Language of `code`, from `languages` if given.

  Args:
    code: language code, e.g. "lang_c".
    languages: dict code -> Language, or None for the default lexicons
      (with as many languages as `code` needs).
  Returns:
    a Language.
  Raises:
    ValueError: `code` is not one of PROFILES' (callers take codes from
      `language_codes`, so only a bug passes another).
  """
  if languages:
    return languages[code]
  codes = language_codes(MAX_LANGUAGES)
  if code not in codes:
    raise ValueError(f"unknown language {code!r}; one of {', '.join(codes)}")
  return make_languages(codes.index(code) + 1)[code]


def lexicon_table(languages):
  """{code: {"order": ..., "words": {concept: [words]}, suffixes}}."""
  return {code: {"order": lang.profile.order,
                 "plural_suffix": lang.plural_suffix,
                 "passive_suffix": lang.passive_suffix,
                 "words": {c: list(f) for c, f in lang.words.items()}}
          for code, lang in languages.items()}
