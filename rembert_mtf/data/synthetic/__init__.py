"""Seeded synthetic multilingual data: a miniature of RemBERT's setting.

The paper pre-trains one encoder on many languages, fine-tunes on English
only and evaluates zero-shot on the others. The demo needs the same setting
with no download, so this package makes it up, from its own code only:

* One underlying grammar over abstract concepts (`concepts`): 30 nouns in
  semantic classes (people, animals, small things, food, large things),
  sizes, colours, 12 transitive verbs with selectional restrictions (only
  people build, the eaten is food, ...), 6 intransitive verbs, negation,
  passive voice, counts 2-9, time and place adverbials, existential and
  copular clauses (`grammar.Clause`).
* K languages (`lexicon.make_languages`, at most 7) realise it
  (`grammar.realise`). Each has its own script, so no two share a letter
  (Latin, Cyrillic, Greek, Georgian, Armenian, Hiragana, Katakana), its
  own words built from its own CV syllables (two synonyms per content
  concept), its own word order (SVO, SOV, VSO; adjectives and determiners
  before or after the noun; pre- or postpositions; negation before or
  after the verb) and its own plural and passive suffixes. Like real
  languages they share only the digits 2-9, the punctuation "." and ","
  and, as real languages share names, a few proper names
  (`SHARED_TOKENS`; `overlap.lexical_overlap` measures it).
* Names (`PERSON_NAMES`, `PLACE_NAMES`) are spelled identically in every
  language and written in capitals, which no language uses for its words,
  so they share no letter with any word. They occur in pre-training
  documents only (`documents.name_entities`): a singular person entity is
  named by an apposition ("the farmer ADA") in most of its mentions, and
  so is a scene's place if it is a nature one ("near the lake TANA");
  about a third of the sentences carry a name. A person name thus
  co-occurs with people words and a place name with nature words in every
  language alike: like the named entities of real Wikipedias, they anchor
  the languages' topics to the same shared tokens. No labelled example
  contains a name, so zero-shot transfer measures what pre-training
  aligned, not a classifier reading names.
* Pre-training documents (`generate_corpus`, module `documents`) describe
  one scene each, most scenes keeping to one topic (`TOPICS`: nature or
  people): entities are introduced, then act on each other, have their
  attributes stated, and events are sometimes restated in other words
  (other voice, synonyms: `sampling.paraphrase`), so a masked word is
  often predictable from another sentence.
* Two labelled tasks (module `classification`); eval sets are parallel
  (the same abstract examples, seeded by (seed, split), realised in every
  language), so languages differ only on the surface. Labels are balanced
  and computed from the concepts, never from a word: no shared token
  carries label information.
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
    gets one meaning change (`sampling.change_meaning`: another agent,
    patient, verb, adjective, place or time, negation flipped, or agent
    and patient swapped). Its comparison mechanism is
    language-independent, but a tiny encoder does not learn it in a few
    hundred fine-tuning steps even on lang_a, hence not the demo's
    default.
* `files` writes all of it to disk for users to read
  (`write_demo_files`) and reads it back.

Modules, in import order: concepts (the inventory), lexicon (languages),
grammar (clauses, realising, glossing), sampling (random clauses,
paraphrase, meaning change), classification (the two tasks), documents
(pre-training text), files (on disk), overlap (shared surface). This
module re-exports the names the demo tasks, the tests and the CLI use;
the rest stay in their modules.
"""

from rembert_mtf.data.synthetic.classification import generate_classification
from rembert_mtf.data.synthetic.classification import generate_topic_classification
from rembert_mtf.data.synthetic.classification import label_counts
from rembert_mtf.data.synthetic.concepts import NAMES
from rembert_mtf.data.synthetic.concepts import NOUNS
from rembert_mtf.data.synthetic.concepts import PERSON
from rembert_mtf.data.synthetic.concepts import PERSON_NAMES
from rembert_mtf.data.synthetic.concepts import PLACE_NAMES
from rembert_mtf.data.synthetic.concepts import SHARED_TOKENS
from rembert_mtf.data.synthetic.concepts import TOPIC_NAMES
from rembert_mtf.data.synthetic.concepts import TOPICS
from rembert_mtf.data.synthetic.documents import generate_corpus
from rembert_mtf.data.synthetic.documents import generate_documents
from rembert_mtf.data.synthetic.documents import random_document
from rembert_mtf.data.synthetic.files import read_classification
from rembert_mtf.data.synthetic.files import read_corpus_file
from rembert_mtf.data.synthetic.files import TSV_COLUMNS
from rembert_mtf.data.synthetic.files import write_corpus
from rembert_mtf.data.synthetic.files import write_demo_files
from rembert_mtf.data.synthetic.grammar import Clause
from rembert_mtf.data.synthetic.grammar import gloss
from rembert_mtf.data.synthetic.grammar import Mention
from rembert_mtf.data.synthetic.grammar import realise
from rembert_mtf.data.synthetic.grammar import same_meaning
from rembert_mtf.data.synthetic.grammar import Word
from rembert_mtf.data.synthetic.grammar import words_of
from rembert_mtf.data.synthetic.lexicon import DEFAULT_NUM_LANGUAGES
from rembert_mtf.data.synthetic.lexicon import language_codes
from rembert_mtf.data.synthetic.lexicon import make_languages
from rembert_mtf.data.synthetic.overlap import lexical_overlap
from rembert_mtf.data.synthetic.sampling import change_meaning
from rembert_mtf.data.synthetic.sampling import generate_parallel
from rembert_mtf.data.synthetic.sampling import MEANING_CHANGES
from rembert_mtf.data.synthetic.sampling import paraphrase
from rembert_mtf.data.synthetic.sampling import random_event

# The names callers use today (`synthetic.X`); the rest stay in modules.
__all__ = [
    "generate_classification",
    "generate_topic_classification",
    "label_counts",
    "NAMES",
    "NOUNS",
    "PERSON",
    "PERSON_NAMES",
    "PLACE_NAMES",
    "SHARED_TOKENS",
    "TOPIC_NAMES",
    "TOPICS",
    "generate_corpus",
    "generate_documents",
    "random_document",
    "read_classification",
    "read_corpus_file",
    "TSV_COLUMNS",
    "write_corpus",
    "write_demo_files",
    "Clause",
    "gloss",
    "Mention",
    "realise",
    "same_meaning",
    "Word",
    "words_of",
    "DEFAULT_NUM_LANGUAGES",
    "language_codes",
    "make_languages",
    "lexical_overlap",
    "change_meaning",
    "generate_parallel",
    "MEANING_CHANGES",
    "paraphrase",
    "random_event",
]
