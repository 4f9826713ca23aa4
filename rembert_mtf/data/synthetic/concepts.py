"""The concepts every synthetic language expresses, and its shared tokens.

Holds the language-independent inventory the grammar is built on: nouns in
semantic classes, adjectives, verbs with their selectional restrictions
(which nouns may be agent or patient), places, times and function words;
the tokens all languages write alike (digits, punctuation, proper names);
and the two topics (`TOPICS`) the topic task and the pre-training scenes
draw their nouns and places from. Plain constants, no code.
"""

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
