"""How much surface the synthetic languages share, pair by pair.

Holds `lexical_overlap`, the check behind the demo's claim that the
languages share only digits, punctuation and proper names: shared word
types (`grammar.words_of` units) for every pair of languages and, given a
SentencePiece model, shared pieces too.
"""

import itertools

from rembert_mtf.data.synthetic import grammar


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
  words = _types_by_language(corpus, grammar.words_of)
  report = {"word_types": {c: len(t) for c, t in words.items()}}
  report["shared_words"], report["word_overlap"] = _pairwise(words)
  if sentencepiece_model_file:
    # Only this report needs SentencePiece; the generators do not.
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    processor = spm.SentencePieceProcessor(
        model_file=sentencepiece_model_file)
    pieces = _types_by_language(
        corpus, lambda text: processor.encode(text, out_type=str))
    report["piece_types"] = {c: len(t) for c, t in pieces.items()}
    report["shared_pieces"], report["piece_overlap"] = _pairwise(pieces)
  return report
