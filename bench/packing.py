"""Share of real (non-pad) tokens in pre-training sequences, chunked vs packed.

  python -m bench.packing [--sequence_length=512] [--documents=2000]

The demo mixture's documents (the only corpus on this machine; tfds sources
cannot be downloaded here) go through the task's own tokenization, then
either BERT's per-document chunking (`preprocessors.chunk_document`, one
document per sequence: the pipeline before packing) or RoBERTa-style
packing (`preprocessors.pack_documents`, the pipeline's default now). The
figure is sum of sequence lengths / (sequences x L): what the padded batch
holds that is not padding.
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


def measure(task, sequence_length, documents):
  """{"chunked": share, "packed": share, ...} for one task's documents."""
  features = task.output_features
  ds = task.source.get_dataset(split="train", shuffle=False).take(documents)
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
  args = parser.parse_args()
  registry.ensure_registered()
  work_dir = tempfile.mkdtemp()
  prefix = os.path.join(work_dir, "spm")
  vocab_training.train_vocabulary(MIXTURE, VOCAB_SIZE, prefix,
                                  num_sentences=20000)
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     prefix + ".model")
  mixture = registry.get_task_or_mixture(MIXTURE)
  results = {task.name: measure(task, args.sequence_length, args.documents)
             for task in registry.tasks_of(mixture)}
  lines = [f"Real-token share at length {args.sequence_length} "
           f"({args.documents} documents per language, {MIXTURE})", "",
           "| task | median document (pieces) | chunked | packed |",
           "|---|---:|---:|---:|"]
  for name, r in results.items():
    lines.append(f"| {name} | {r['median_document_pieces']:.0f} | "
                 f"{100 * r['chunked']:.1f}% | {100 * r['packed']:.1f}% |")
  text = "\n".join(lines)
  print(text)
  common.write_results("packing", {
      "machine": common.machine(), "sequence_length": args.sequence_length,
      "documents_per_language": args.documents, "tasks": results}, text)


if __name__ == "__main__":
  main()
