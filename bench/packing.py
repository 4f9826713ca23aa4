"""Share of real (non-pad) tokens in pre-training sequences, chunked vs packed.

  python -m bench.packing [--sequence_length=512] [--documents=2000]

The demo mixture's documents (the only corpus on this machine; tfds sources
cannot be downloaded here) go through the task's own tokenization, then
either BERT's per-document chunking (`preprocessors.chunk_document`, one
document per sequence: the pipeline before packing) or RoBERTa-style
packing (`preprocessors.pack_documents`, the pipeline's default now). The
figure is sum of sequence lengths / (sequences x L): what the padded batch
holds that is not padding.

The demo's documents are short and alike (median 69-94 pieces), so a second
corpus follows Wikipedia's article lengths: lengths in characters drawn from
a log-normal fitted to the English Wikipedia figures published on
Wikipedia:Statistics (median article 997-1,035 characters in 2002; mean
1,997 bytes, standard deviation 4,066): median 1,000 characters and mean
2,000, i.e. mu = ln 1000, sigma = sqrt(2 ln 2) = 1.18 (its standard
deviation, 3,464, is near the published 4,066). Those are old, English-only
figures, the only published distribution found; most of the 104 Wikipedias
are smaller and shorter, which makes packing matter more, not less. The
text of each document is cut from the demo corpus of one language (so the
vocabulary fits) to its drawn length, at a word boundary.
"""

import argparse
import os
import tempfile

import gin
import numpy as np
import seqio

from bench import common
from rembert_mtf import compat
from rembert_mtf.data import preprocessors
from rembert_mtf.data import registry
from rembert_mtf.data import vocab_training

tf = compat.tf

MIXTURE = "demo_mlm"
VOCAB_SIZE = 768


def _share(lengths, sequence_length):
  return float(np.sum(lengths) / (len(lengths) * sequence_length))


# Log-normal fit to Wikipedia's published article sizes (module docstring).
WIKI_MEDIAN_CHARS = 1000.0
WIKI_SIGMA = float(np.sqrt(2 * np.log(2)))


def wikipedia_length_documents(task, count, seed=0):
  """`count` documents of `task`'s text with Wikipedia's length distribution.

  Returns:
    tf.data.Dataset of {"text"}: lengths (characters) drawn from the
    log-normal, text taken in order from the task's training documents.
  """
  rng = np.random.RandomState(seed)
  lengths = rng.lognormal(np.log(WIKI_MEDIAN_CHARS), WIKI_SIGMA, count)
  source = task.source.get_dataset(split="train", shuffle=False)
  words = " ".join(ex["text"].decode() for ex in source.as_numpy_iterator())
  words = words.split()
  texts, position = [], 0
  for length in lengths.astype(int):
    text, size = [], 0
    while size < max(length, 1):
      word = words[position % len(words)]
      position += 1
      text.append(word)
      size += len(word) + 1
    texts.append(" ".join(text))
  return tf.data.Dataset.from_tensor_slices({"text": texts})


def measure(task, sequence_length, documents, ds=None):
  """{"chunked": share, "packed": share, ...} for one task's documents
  (or those of `ds`, through the task's tokenization)."""
  features = task.output_features
  if ds is None:
    ds = task.source.get_dataset(split="train", shuffle=False)
  ds = ds.take(documents)
  for step in task.preprocessors[:3]:  # blank filter, rekey, tokenize
    ds = seqio.utils.add_kwargs_to_transform(
        step, sequence_length={"input_ids": sequence_length},
        output_features=features)(ds)
  out = {}
  for name, pack in (("chunked", preprocessors.chunk_document),
                     ("packed", preprocessors.pack_documents)):
    packed = pack(ds, {"input_ids": sequence_length}, features)
    lengths = [len(ex["input_ids"]) for ex in packed.as_numpy_iterator()]
    out[name] = _share(lengths, sequence_length)
    out[name + "_sequences"] = len(lengths)
  doc_lengths = [len(ex["input_ids"]) for ex in ds.as_numpy_iterator()]
  out["median_document_pieces"] = float(np.median(doc_lengths))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sequence_length", type=int, default=512)
  parser.add_argument("--documents", type=int, default=2000,
                      help="documents per language")
  parser.add_argument("--wiki_documents", type=int, default=2000,
                      help="documents of the Wikipedia-length corpus")
  args = parser.parse_args()
  registry.ensure_registered()
  work_dir = tempfile.mkdtemp()
  prefix = os.path.join(work_dir, "spm")
  vocab_training.train_vocabulary(MIXTURE, VOCAB_SIZE, prefix,
                                  num_sentences=20000)
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     prefix + ".model")
  mixture = registry.get_task_or_mixture(MIXTURE)
  tasks = registry.tasks_of(mixture)
  results = {task.name: measure(task, args.sequence_length, args.documents)
             for task in tasks}
  wiki = f"Wikipedia lengths ({tasks[0].name} text)"
  results[wiki] = measure(
      tasks[0], args.sequence_length, args.wiki_documents,
      wikipedia_length_documents(tasks[0], args.wiki_documents))
  lines = [f"Real-token share at length {args.sequence_length} "
           f"({args.documents} documents per language, {MIXTURE}; "
           f"{args.wiki_documents} documents of Wikipedia's length "
           "distribution)", "",
           "| corpus | median document (pieces) | chunked | packed |",
           "|---|---:|---:|---:|"]
  for name, r in results.items():
    lines.append(f"| {name} | {r['median_document_pieces']:.0f} | "
                 f"{100 * r['chunked']:.1f}% | {100 * r['packed']:.1f}% |")
  text = "\n".join(lines)
  print(text)
  common.write_results("packing", {
      "machine": common.machine(), "sequence_length": args.sequence_length,
      "documents_per_language": args.documents,
      "wiki_documents": args.wiki_documents,
      "wiki_lognormal": {"median_chars": WIKI_MEDIAN_CHARS,
                         "sigma": WIKI_SIGMA}, "tasks": results}, text)


if __name__ == "__main__":
  main()
