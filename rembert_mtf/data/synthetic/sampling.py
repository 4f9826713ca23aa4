"""Random clauses and their variations, in and out of meaning.

Holds the seeded samplers every generator draws from: random words,
mentions and adverbials (`random_word`, `random_mention`,
`random_adverbials`), standalone events that respect the verbs'
selectional restrictions (`random_event`, and `generate_parallel`, one
event written in every language); surface variation that keeps the
meaning (`redraw_forms`, `paraphrase`: synonyms, voice, adverbial
position); and the meaning changes of the pair task (`MEANING_CHANGES`,
`change_meaning`). All take a `random.Random`, so output is a function of
its seed.
"""

import dataclasses
import random

from rembert_mtf.data.synthetic import concepts
from rembert_mtf.data.synthetic import grammar
from rembert_mtf.data.synthetic import lexicon


def pick(rng, options, exclude=()):
  """A random one of `options` not in `exclude`, or None if none is left."""
  options = [o for o in options if o not in exclude]
  return rng.choice(options) if options else None


def random_word(rng, concept):
  """`concept` with a random one of its synonyms."""
  return grammar.Word(concept, rng.randrange(concepts.NUM_SYNONYMS))


def random_mention(rng, noun, p_adjective=0.5, p_plural=0.2, definite=True):
  """A mention of `noun`: maybe plural, maybe with a size and a colour."""
  return grammar.Mention(
      random_word(rng, noun),
      count=rng.randint(2, 9) if rng.random() < p_plural else 1,
      size=(random_word(rng, rng.choice(concepts.SIZES))
            if rng.random() < p_adjective else None),
      colour=(random_word(rng, rng.choice(concepts.COLOURS))
              if rng.random() < p_adjective else None),
      definite=definite)


def random_adverbials(rng, p_time, p_place):
  """Clause keyword arguments: time, place (anywhere) and fronted."""
  time = rng.choice(concepts.TIMES) if rng.random() < p_time else None
  place = ((rng.choice(concepts.ADPOSITIONS), rng.choice(concepts.LOCATIONS))
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
  adverbials = random_adverbials(rng, 0.5, 0.5)
  if rng.random() < p_transitive:
    verb = rng.choice(tuple(concepts.TRANSITIVE))
    agents, patients = concepts.TRANSITIVE[verb]
    agent = rng.choice(agents)
    patient = pick(rng, patients, exclude=(agent,))
    return grammar.Clause(
        "event", random_mention(rng, agent), random_word(rng, verb),
        random_mention(rng, patient), negated=rng.random() < p_negated,
        passive=rng.random() < p_passive, **adverbials)
  verb = rng.choice(tuple(concepts.INTRANSITIVE))
  subject = rng.choice(concepts.INTRANSITIVE[verb])
  return grammar.Clause(
      "event", random_mention(rng, subject), random_word(rng, verb),
      negated=rng.random() < p_negated, **adverbials)


def generate_parallel(num_sentences, seed, languages=None):
  """Parallel sentences: one abstract event realised in every language.

  Args:
    num_sentences: how many.
    seed: data seed.
    languages: dict code -> Language (default `make_languages()`).
  Returns:
    list of dicts {"clause": Clause, code: sentence for each language}.
  """
  languages = languages or lexicon.make_languages()
  rng = random.Random(f"parallel-{seed}")
  rows = []
  for _ in range(num_sentences):
    clause = random_event(rng)
    rows.append(dict({c: grammar.realise(l, clause)
                      for c, l in languages.items()}, clause=clause))
  return rows


# ------------------------------------------------------ surface variation --


def _other_form(word):
  """The same concept written with its next synonym."""
  return grammar.Word(word.concept, (word.form + 1) % concepts.NUM_SYNONYMS)


def redraw_forms(rng, mention, p):
  """The mention with each word's synonym switched with probability p."""
  def redraw(word):
    if word is None or rng.random() >= p:
      return word
    return _other_form(word)
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
      verb = _other_form(verb)
    new = dataclasses.replace(
        clause, verb=verb,
        agent=redraw_forms(rng, clause.agent, p_synonym),
        patient=clause.patient and redraw_forms(rng, clause.patient,
                                                p_synonym),
        passive=clause.passive != (bool(clause.patient) and
                                   rng.random() < p_voice),
        fronted=clause.fronted != (bool(clause.time or clause.place) and
                                   rng.random() < p_move))
    if new != clause:
      return new
  return dataclasses.replace(clause, verb=_other_form(clause.verb))


# ---------------------------------------------------------- meaning change --


def _change_noun(rng, clause, role):
  mention = getattr(clause, role)
  if clause.patient is None:
    allowed = concepts.INTRANSITIVE[clause.verb.concept]
  else:
    allowed = concepts.TRANSITIVE[clause.verb.concept][role == "patient"]
  other = clause.patient if role == "agent" else clause.agent
  noun = pick(rng, allowed, exclude=(mention.noun.concept,
                                     other and other.noun.concept))
  if noun is None:
    return None
  new = dataclasses.replace(mention, noun=random_word(rng, noun))
  return dataclasses.replace(clause, **{role: new})


def _change_verb(rng, clause):
  agent = clause.agent.noun.concept
  if clause.patient is None:
    options = [v for v, a in concepts.INTRANSITIVE.items() if agent in a]
  else:
    patient = clause.patient.noun.concept
    options = [v for v, (a, p) in concepts.TRANSITIVE.items()
               if agent in a and patient in p]
  verb = pick(rng, options, exclude=(clause.verb.concept,))
  return verb and dataclasses.replace(clause, verb=random_word(rng, verb))


def _change_adjective(rng, clause):
  slots = [(role, attr) for role in ("agent", "patient")
           for attr in ("size", "colour")
           if getattr(clause, role) and getattr(getattr(clause, role), attr)]
  if not slots:
    return None
  role, attr = rng.choice(slots)
  mention = getattr(clause, role)
  values = concepts.SIZES if attr == "size" else concepts.COLOURS
  value = pick(rng, values, exclude=(getattr(mention, attr).concept,))
  new = dataclasses.replace(mention, **{attr: random_word(rng, value)})
  return dataclasses.replace(clause, **{role: new})


def _swap_roles(unused_rng, clause):
  if clause.patient is None:
    return None
  agents, patients = concepts.TRANSITIVE[clause.verb.concept]
  if (clause.patient.noun.concept not in agents or
      clause.agent.noun.concept not in patients):
    return None
  return dataclasses.replace(clause, agent=clause.patient,
                             patient=clause.agent)


def _change_adverbial(rng, clause):
  if clause.place and (not clause.time or rng.random() < 0.5):
    adposition, location = clause.place
    new = pick(rng, concepts.LOCATIONS, exclude=(location,))
    return dataclasses.replace(clause, place=(adposition, new))
  if clause.time:
    return dataclasses.replace(
        clause, time=pick(rng, concepts.TIMES, exclude=(clause.time,)))
  return None


# Change name -> fn(rng, clause) -> changed Clause, or None if it does not
# apply to that clause.
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
    if new is not None and not grammar.same_meaning(new, clause):
      return name, new
