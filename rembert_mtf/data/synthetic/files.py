"""The synthetic data on disk, for users to read and for the demo tasks.

Holds the file formats and their readers: pre-training text
(`write_corpus`: one sentence a line, documents apart by a blank line, as
BERT's pre-training text), classification TSVs with a header row
(`write_classification`, PAWS-X style for pairs) and `write_demo_files`,
which writes the whole demo data set (corpus, both tasks' splits in every
language, the lexicons as JSON) into one folder.
"""

import csv
import json
import os

from rembert_mtf.data.synthetic import classification
from rembert_mtf.data.synthetic import documents
from rembert_mtf.data.synthetic import lexicon

TSV_COLUMNS = ("id", "sentence1", "sentence2", "label", "change")
TOPIC_TSV_COLUMNS = ("id", "sentence", "label")


def write_corpus(corpus, folder):
  """Writes <folder>/<lang>.txt: a sentence a line, documents apart by a
  blank line (BERT's pre-training text format).

  Args:
    corpus: dict code -> list of document strings (`generate_corpus`).
    folder: output folder (created if missing).
  Returns:
    dict code -> path.
  """
  os.makedirs(folder, exist_ok=True)
  paths = {}
  for code, texts in corpus.items():
    paths[code] = os.path.join(folder, f"{code}.txt")
    with open(paths[code], "w", encoding="utf-8") as f:
      f.write("\n\n".join(texts) + "\n")
  return paths


def read_corpus_file(path):
  """Documents of a `write_corpus` file (inverse of it)."""
  with open(path, encoding="utf-8") as f:
    return [d.strip("\n") for d in f.read().split("\n\n") if d.strip()]


def write_classification(examples, path, columns=TSV_COLUMNS):
  """Writes examples as a TSV with a header row (PAWS-X style for pairs).

  Args:
    examples: list of dicts with (at least) `columns` keys.
    path: output file (its folder is created if missing).
    columns: the TSV's columns, in order.
  Returns:
    path.
  """
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
    "topic": (classification.generate_topic_classification,
              TOPIC_TSV_COLUMNS),
    "pairs": (classification.generate_classification, TSV_COLUMNS),
}


def write_demo_files(folder, seed=0, num_documents=1000, num_train=2000,
                     num_eval=500,
                     num_languages=lexicon.DEFAULT_NUM_LANGUAGES):
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
  languages = lexicon.make_languages(num_languages)
  corpus = documents.generate_corpus(num_documents, seed, languages)
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
    json.dump(lexicon.lexicon_table(languages), f, ensure_ascii=False,
              indent=1)
  return paths
