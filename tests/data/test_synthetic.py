"""Synthetic multilingual data and the demo tasks registered over it."""

import collections
import dataclasses
import hashlib
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import seqio
import sentencepiece as spm
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from rembert_mtf.data import synthetic
from rembert_mtf.data import vocabulary
from rembert_mtf.tasks import demo
from tests.conftest import bound_vocabulary

LANGS = synthetic.language_codes()
# Gloss symbols that only voice, fronting or the discourse marker add.
SURFACE_ONLY = {"PASS", "BY", ",", "DISC"}


def _content(lang, text):
  """Concept multiset of a sentence, read back through the lexicon."""
  return collections.Counter(
      c for c in synthetic.gloss(lang, text) if c not in SURFACE_ONLY)


@pytest.fixture(scope="module")
def languages():
  return synthetic.make_languages()


@pytest.fixture(scope="module")
def corpus():
  return synthetic.generate_corpus(300, seed=0)


# ------------------------------------------------------------ determinism ---


def test_same_seed_same_data():
  assert synthetic.generate_corpus(5, 7) == synthetic.generate_corpus(5, 7)
  assert (synthetic.generate_classification("test", 20, "lang_c", 7) ==
          synthetic.generate_classification("test", 20, "lang_c", 7))


def test_different_seeds_or_splits_differ():
  assert synthetic.generate_corpus(5, 0) != synthetic.generate_corpus(5, 1)
  first = synthetic.generate_classification("train", 20, "lang_a", 0)
  assert first != synthetic.generate_classification("train", 20, "lang_a", 1)
  assert first != synthetic.generate_classification("test", 20, "lang_a", 0)


def test_data_do_not_depend_on_the_process_hash_seed():
  code = ("from rembert_mtf.data import synthetic as s; import hashlib; "
          "print(hashlib.md5(repr((s.generate_corpus(3, 0), "
          "s.generate_classification('train', 30, 'lang_d', 0))).encode())"
          ".hexdigest())")
  digests = set()
  for hash_seed in ("1", "2"):
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    digests.add(subprocess.run([sys.executable, "-c", code], env=env,
                               check=True, capture_output=True,
                               text=True).stdout.strip())
  expected = hashlib.md5(repr((
      synthetic.generate_corpus(3, 0),
      synthetic.generate_classification("train", 30, "lang_d", 0))).encode())
  assert digests == {expected.hexdigest()}


def test_documents_of_one_language_do_not_depend_on_the_others():
  alone = synthetic.generate_documents(4, "lang_b", 3)
  assert synthetic.generate_corpus(4, 3)["lang_b"] == alone


# ---------------------------------------------------------------- grammar ---


def test_languages_share_no_letter(languages):
  letters = {code: set("".join(lang.surface_forms()))
             for code, lang in languages.items()}
  for a in LANGS:
    for b in LANGS:
      if a < b:
        assert not letters[a] & letters[b], (a, b)


def test_parallel_sentences_realise_the_same_concepts(languages):
  rows = synthetic.generate_parallel(200, seed=0)
  orders_differ = 0
  for row in rows:
    glosses = {c: synthetic.gloss(languages[c], row[c]) for c in LANGS}
    counts = {c: collections.Counter(g) for c, g in glosses.items()}
    assert all(counts[c] == counts["lang_a"] for c in LANGS), row
    orders_differ += len({tuple(g) for g in glosses.values()}) > 1
  assert orders_differ == len(rows)  # every sentence: some order differs


def test_each_language_has_its_own_word_order(languages):
  dog, cat = synthetic.Mention(synthetic.Word("dog")), synthetic.Mention(
      synthetic.Word("cat"), size=synthetic.Word("big"))
  clause = synthetic.Clause("event", dog, synthetic.Word("chase"), cat,
                            negated=True, place=("IN", "garden"))
  expected = {
      "lang_a": "DEF dog NEG chase DEF big cat IN DEF garden .",
      "lang_b": "dog DEF big cat DEF chase NEG garden DEF IN .",
      "lang_c": "NEG chase DEF dog DEF cat big IN DEF garden .",
      "lang_d": "dog DEF chase NEG cat big DEF IN garden DEF .",
  }
  for code, gloss in expected.items():
    text = synthetic.realise(languages[code], clause)
    assert " ".join(synthetic.gloss(languages[code], text)) == gloss, code


def test_passive_and_plural_are_suffixes(languages):
  lang = languages["lang_a"]
  clause = synthetic.Clause(
      "event", synthetic.Mention(synthetic.Word("dog"), count=3),
      synthetic.Word("see"), synthetic.Mention(synthetic.Word("ball")),
      passive=True)
  text = synthetic.realise(lang, clause)
  assert synthetic.gloss(lang, text) == [
      "DEF", "ball", "see", "PASS", "BY", "3", "dog", "PL", "."]
  assert lang.word("see") + lang.passive_suffix in text.split()


def test_only_digits_punctuation_and_names_are_shared_words(corpus):
  report = synthetic.lexical_overlap(corpus)
  for pair, shared in report["shared_words"].items():
    assert set(shared) == synthetic.SHARED_TOKENS, pair
    assert report["word_overlap"][pair] < 0.05, pair


@pytest.fixture(scope="module")
def demo_spm(tmp_path_factory, corpus):
  """A SentencePiece model trained on the demo corpus, as `vocab` does."""
  folder = tmp_path_factory.mktemp("demo_spm")
  paths = synthetic.write_corpus(corpus, str(folder))
  prefix = str(folder / "demo")
  spm.SentencePieceTrainer.train(
      input=",".join(paths.values()), model_prefix=prefix, vocab_size=600,
      model_type="unigram", character_coverage=1.0, pad_id=0, unk_id=1,
      bos_id=-1, eos_id=-1, minloglevel=2,
      user_defined_symbols=list(vocabulary.RESERVED_USER_SYMBOLS))
  return prefix + ".model"


def test_sentencepiece_shares_only_pieces_of_shared_tokens(corpus, demo_spm):
  report = synthetic.lexical_overlap(corpus, demo_spm)
  allowed = set("".join(synthetic.SHARED_TOKENS)) | {"\u2581"}
  name_pieces = {"\u2581" + name for name in synthetic.NAMES}
  for pair, shared in report["shared_pieces"].items():
    assert shared, pair  # "." at least: the check below is not vacuous
    assert all(set(piece) <= allowed for piece in shared), (pair, shared)
    # Each name is one whole piece, shared by every language.
    assert name_pieces <= set(shared), (pair, shared)
    others = len(set(shared) - name_pieces) / len(shared)
    assert report["piece_overlap"][pair] * others < 0.05, pair
    assert report["piece_overlap"][pair] < 0.08, pair


# ------------------------------------------------------------------ names ---


def test_names_are_shared_and_tied_to_their_topic(corpus, languages):
  """Every name occurs, spelled the same, in every language's documents:
  a person name right after a person noun, a place name after a nature
  place; names share no letter with any language's words."""
  nature_places = set(synthetic.TOPICS["nature"][1])
  assert set(synthetic.NAMES) <= synthetic.SHARED_TOKENS
  for code, docs in corpus.items():
    letters = set("".join(languages[code].surface_forms()))
    assert not set("".join(synthetic.NAMES)) & letters, code
    found = collections.Counter()
    for line in (l for d in docs for l in d.split("\n")):
      glossed = synthetic.gloss(languages[code], line)
      for i, token in enumerate(glossed):
        if token in synthetic.PERSON_NAMES:
          assert glossed[i - 1] in synthetic.PERSON, (code, line)
        elif token in synthetic.PLACE_NAMES:
          assert glossed[i - 1] in nature_places, (code, line)
        found[token] += token in synthetic.NAMES
    assert set(found) >= set(synthetic.NAMES), (code, found)
    lines = sum(d.count("\n") + 1 for d in docs)
    named = sum(any(w in synthetic.NAMES for w in synthetic.words_of(l))
                for d in docs for l in d.split("\n"))
    # A fraction of sentences: names anchor, they do not dominate.
    assert 0.2 < named / lines < 0.5, (code, named / lines)


def test_names_only_add_appositions_to_the_documents():
  num_named = 0
  for i in range(50):
    plain = synthetic.random_document(random.Random(i))
    named = synthetic.random_document(random.Random(i), random.Random(-i))
    unnamed = [dataclasses.replace(
        c, place_name=None, agent=dataclasses.replace(c.agent, name=None),
        patient=c.patient and dataclasses.replace(c.patient, name=None))
               for c in named]
    assert unnamed == plain
    num_named += named != plain
  assert num_named > 10


def _labelled_texts(code):
  """Every text of the demo's topic and pair tasks in `code` (train: the
  fine-tuning language only)."""
  splits = ("validation", "test") + (("train",) if code == "lang_a" else ())
  for split in splits:
    for ex in synthetic.generate_topic_classification(
        split, demo.TOPIC_TEXTS[split], code, 0):
      yield ex["sentence"]
    for ex in synthetic.generate_classification(split, demo.PAIRS[split],
                                                code, 0):
      yield ex["sentence1"]
      yield ex["sentence2"]


def test_no_labelled_example_contains_a_name():
  for code in LANGS:
    for text in _labelled_texts(code):
      assert not any(ch.isupper() for ch in text), (code, text)
      assert not set(synthetic.words_of(text)) & set(synthetic.NAMES)


# ------------------------------------------------------------------- task ---


def test_labels_are_balanced_and_identical_across_languages():
  by_lang = {c: synthetic.generate_classification("validation", 101, c, 0)
             for c in LANGS}
  assert synthetic.label_counts(by_lang["lang_a"]) == {0: 51, 1: 50}
  labels = {c: [e["label"] for e in ex] for c, ex in by_lang.items()}
  assert all(labels[c] == labels["lang_a"] for c in LANGS)


def test_eval_sets_are_parallel(languages):
  by_lang = {c: synthetic.generate_classification("test", 60, c, 0)
             for c in LANGS}
  for i in range(60):
    for key in ("sentence1", "sentence2"):
      concepts = {c: _content(languages[c], by_lang[c][i][key])
                  for c in LANGS}
      assert all(concepts[c] == concepts["lang_a"] for c in LANGS)


def test_labels_follow_meaning_read_back_from_the_text(languages):
  """Same concepts <=> label 1, except a role swap (same words, label 0)."""
  for code in LANGS:
    for ex in synthetic.generate_classification("train", 300, code, 0):
      assert ex["sentence1"] != ex["sentence2"]
      same_words = (_content(languages[code], ex["sentence1"]) ==
                    _content(languages[code], ex["sentence2"]))
      if ex["change"] == "swap":
        assert same_words and ex["label"] == 0
      else:
        assert same_words == (ex["label"] == 1), ex


def test_changing_a_concept_flips_the_label_in_every_language(languages):
  rng = random.Random(0)
  flips = collections.Counter()
  for _ in range(300):
    first = synthetic.random_event(rng)
    second = synthetic.paraphrase(rng, first)
    assert synthetic.same_meaning(first, second)
    change, changed = synthetic.change_meaning(rng, second)
    flips[change] += 1
    assert not synthetic.same_meaning(first, changed)
    for lang in languages.values():
      text = synthetic.realise(lang, changed)
      assert text != synthetic.realise(lang, second)
  assert set(flips) == set(synthetic.MEANING_CHANGES)


def test_eval_examples_are_not_training_examples():
  train = {e["sentence1"] for e in
           synthetic.generate_classification("train", 4000, "lang_a", 0)}
  test = synthetic.generate_classification("test", 500, "lang_a", 0)
  assert sum(e["sentence1"] in train for e in test) <= 5


def test_topic_labels_are_balanced_and_parallel(languages):
  by_lang = {c: synthetic.generate_topic_classification("test", 101, c, 0)
             for c in LANGS}
  assert synthetic.label_counts(by_lang["lang_a"]) == {0: 51, 1: 50}
  for i in range(101):
    assert len({by_lang[c][i]["label"] for c in LANGS}) == 1
    concepts = {c: _content(languages[c], by_lang[c][i]["sentence"])
                for c in LANGS}
    assert all(concepts[c] == concepts["lang_a"] for c in LANGS)


def test_topic_label_is_the_topic_of_the_nouns_read_back(languages):
  """In every language, the nouns glossed from the text fix the label."""
  pools = {i: set(synthetic.TOPICS[name][0])
           for i, name in enumerate(synthetic.TOPIC_NAMES)}
  for code in LANGS:
    for ex in synthetic.generate_topic_classification("train", 200, code, 0):
      nouns = set(_content(languages[code], ex["sentence"])) & set(
          synthetic.NOUNS)
      assert nouns and nouns <= pools[ex["label"]]
      assert not nouns <= pools[1 - ex["label"]]


# -------------------------------------------------- surface-only baselines --


def _lexical_features(ex):
  """Word identities of each side, of what differs, and substitutions."""
  a = synthetic.words_of(ex["sentence1"])
  b = synthetic.words_of(ex["sentence2"])
  only_a, only_b = set(a) - set(b), set(b) - set(a)
  features = collections.Counter([f"1:{w}" for w in a] + [f"2:{w}" for w in b])
  features.update([f"-{w}" for w in only_a] + [f"+{w}" for w in only_b])
  features.update(f"{x}>{y}" for x in only_a for y in only_b)
  return features


def _shared_token_features(ex):
  return collections.Counter(
      f"{key}:{w}" for key in ("sentence1", "sentence2")
      for w in synthetic.words_of(ex[key]) if w in synthetic.SHARED_TOKENS)


def _accuracies(features, num_train=2000):
  """Logistic regression on lang_a's train split; accuracy per language."""
  train = synthetic.generate_classification("train", num_train, "lang_a", 0)
  vectorizer = DictVectorizer()
  model = LogisticRegression(max_iter=1000).fit(
      vectorizer.fit_transform([features(e) for e in train]),
      [e["label"] for e in train])
  accuracy = {}
  for code in LANGS:
    test = synthetic.generate_classification("test", 500, code, 0)
    accuracy[code] = model.score(
        vectorizer.transform([features(e) for e in test]),
        [e["label"] for e in test])
  return accuracy


def test_bag_of_words_learns_lang_a_but_does_not_transfer():
  accuracy = _accuracies(_lexical_features)
  print("bag-of-words accuracy:", accuracy)
  assert accuracy["lang_a"] > 0.68
  for code in LANGS[1:]:
    assert abs(accuracy[code] - 0.5) < 0.05, (code, accuracy)


def test_shared_tokens_carry_no_label():
  accuracy = _accuracies(_shared_token_features)
  print("digits/punctuation-only accuracy:", accuracy)
  for code in LANGS:
    assert abs(accuracy[code] - 0.5) < 0.05, (code, accuracy)


def _topic_accuracies(features):
  train = synthetic.generate_topic_classification("train", 1000, "lang_a", 0)
  vectorizer = DictVectorizer()
  model = LogisticRegression(max_iter=1000).fit(
      vectorizer.fit_transform([features(e["sentence"]) for e in train]),
      [e["label"] for e in train])
  accuracy = {}
  for code in LANGS:
    test = synthetic.generate_topic_classification("test", 500, code, 0)
    accuracy[code] = model.score(
        vectorizer.transform([features(e["sentence"]) for e in test]),
        [e["label"] for e in test])
  return accuracy


def test_topic_bag_of_words_learns_lang_a_but_does_not_transfer():
  accuracy = _topic_accuracies(
      lambda text: collections.Counter(synthetic.words_of(text)))
  print("topic bag-of-words accuracy:", accuracy)
  assert accuracy["lang_a"] > 0.95
  for code in LANGS[1:]:
    assert abs(accuracy[code] - 0.5) < 0.05, (code, accuracy)
  shared_only = _topic_accuracies(lambda text: collections.Counter(
      w for w in synthetic.words_of(text) if w in synthetic.SHARED_TOKENS))
  print("topic digits/punctuation-only accuracy:", shared_only)
  for code in LANGS:
    assert abs(shared_only[code] - 0.5) < 0.05, (code, shared_only)


# ------------------------------------------------------------------ files ---


def test_files_round_trip(tmp_path):
  paths = synthetic.write_demo_files(str(tmp_path), seed=3, num_documents=4,
                                     num_train=10, num_eval=6)
  corpus = synthetic.generate_corpus(4, 3)
  generators = {"pairs": synthetic.generate_classification,
                "topic": synthetic.generate_topic_classification}
  for code in LANGS:
    assert synthetic.read_corpus_file(paths[f"corpus/{code}"]) == corpus[code]
  for task, generate in generators.items():
    for code in LANGS:
      for split in ("validation", "test"):
        assert synthetic.read_classification(
            paths[f"{task}/{split}.{code}"]) == generate(split, 6, code, 3)
    assert synthetic.read_classification(paths[f"{task}/train.lang_a"]) == (
        generate("train", 10, "lang_a", 3))
    assert f"{task}/train.lang_b" not in paths
  assert os.path.exists(paths["lexicon"])


# ------------------------------------------------------------ demo tasks ----


@pytest.fixture
def gin_demo_vocab(demo_spm):
  with bound_vocabulary(demo_spm) as vocab:
    yield vocab


def test_demo_tasks_and_mixtures_are_registered():
  tasks = {n for n in seqio.TaskRegistry.names() if n.startswith("demo_")}
  assert tasks == ({f"demo_mlm_{c}" for c in LANGS} |
                   {f"demo_{t}_eval_{c}" for c in LANGS
                    for t in ("cls", "pairs")} |
                   {"demo_cls_train_lang_a", "demo_pairs_train_lang_a"})
  for task in ("cls", "pairs"):
    assert seqio.get_mixture_or_task(f"demo_{task}_train_lang_a").splits == (
        "train",)
    for code in LANGS:
      assert "train" not in seqio.get_mixture_or_task(
          f"demo_{task}_eval_{code}").splits
    assert len(seqio.get_mixture_or_task(f"demo_{task}").tasks) == 5


def test_demo_mlm_mixture_is_smoothed_with_alpha_half():
  """Rate n_l ** 0.5, n_l the UTF-8 bytes the language's source yields."""
  mixture = seqio.get_mixture_or_task("demo_mlm")
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  for code in LANGS:
    task = seqio.get_mixture_or_task(f"demo_mlm_{code}")
    texts = [ex["text"] for ex in task.source.get_dataset(
        "train", shuffle=False).as_numpy_iterator()]
    assert len(texts) == demo.DOCUMENTS[code]["train"]
    assert rates[task.name] == pytest.approx(
        sum(len(text) for text in texts) ** 0.5)


def test_importing_demo_tasks_needs_no_sentencepiece_file():
  code = ("import gin; from rembert_mtf.tasks import demo; "
          "print(len(demo.LANGUAGES))")
  out = subprocess.run([sys.executable, "-c", code], check=True,
                       capture_output=True, text=True).stdout
  assert out.strip().endswith("4")


def test_demo_cls_features_encode_the_text(gin_demo_vocab):
  task = seqio.get_mixture_or_task("demo_cls_eval_lang_d")
  raw = synthetic.generate_topic_classification(
      "validation", demo.TOPIC_TEXTS["validation"], "lang_d", 0)
  ds = task.get_dataset({"input_ids": 64}, split="validation", shuffle=False)
  specials = vocabulary.special_tokens(gin_demo_vocab)
  for ex, row in zip(ds.take(20).as_numpy_iterator(), raw):
    ids = list(ex["input_ids"])
    assert ids[0] == specials.cls and ids[-1] == specials.sep
    assert gin_demo_vocab.decode(ids[1:-1]) == row["sentence"]
    assert not any(ex["token_type_ids"])
    assert ex["label"] == row["label"]


def test_demo_pairs_features_encode_the_pair(gin_demo_vocab):
  task = seqio.get_mixture_or_task("demo_pairs_eval_lang_c")
  raw = synthetic.generate_classification("test", demo.PAIRS["test"],
                                          "lang_c", 0)
  ds = task.get_dataset({"input_ids": 96}, split="test", shuffle=False)
  specials = vocabulary.special_tokens(gin_demo_vocab)
  for ex, row in zip(ds.take(20).as_numpy_iterator(), raw):
    ids = list(ex["input_ids"])
    assert ids[0] == specials.cls and ids.count(specials.sep) == 2
    sep = ids.index(specials.sep)
    assert gin_demo_vocab.decode(ids[1:sep]) == row["sentence1"]
    assert gin_demo_vocab.decode(ids[sep + 1:-1]) == row["sentence2"]
    assert list(ex["token_type_ids"]) == [0] * (sep + 1) + [1] * (
        len(ids) - sep - 1)
    assert ex["label"] == row["label"]
    assert specials.unk not in ids


def test_demo_mlm_task_masks_the_documents(gin_demo_vocab):
  task = seqio.get_mixture_or_task("demo_mlm_lang_b")
  ds = task.get_dataset({"input_ids": 128}, split="validation",
                        shuffle=False, seed=0)
  documents = synthetic.generate_documents(
      demo.DOCUMENTS["lang_b"]["validation"], "lang_b", "0-validation")
  examples = list(ds.take(10).as_numpy_iterator())
  assert len(examples) == 10
  unmasked = []
  for ex in examples:
    ids = np.array(ex["input_ids"])
    assert 0 < len(ex["masked_lm_positions"]) <= 19  # floor(0.15 * 128)
    assert np.mean(ids[ex["masked_lm_positions"]] != ex["masked_lm_ids"]) > 0
    ids[ex["masked_lm_positions"]] = ex["masked_lm_ids"]
    assert len(ids) <= 128
    unmasked.extend(ids[1:].tolist())
  # Unmasked, the examples are the documents' pieces, in order, each
  # document followed by [SEP] (packed: preprocessors.pack_documents).
  sep = vocabulary.special_tokens(gin_demo_vocab).sep
  expected = [i for d in documents for i in gin_demo_vocab.encode(d) + [sep]]
  assert unmasked == expected[:len(unmasked)]
