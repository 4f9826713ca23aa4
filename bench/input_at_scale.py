"""The pre-training input at RemBERT's vocabulary size, beside a training step.

  python -m bench.input_at_scale [--vocab_size=250000] [--seconds=60]

What a pod host's input pipeline has to do, on this machine:
  corpus     12 synthetic languages in 8 scripts (Latin with diacritics,
             Cyrillic, Greek, Arabic, Devanagari, Thai, Hangul, CJK without
             spaces), each a 60,000-word lexicon drawn with Zipf's law
             (s = 1.1, as word frequencies in natural text) into sentences
             of 4-40 words, documents with Wikipedia's length distribution
             (bench/packing.py's log-normal). No real multilingual corpus can
             be downloaded here; what matters to the pipeline's cost is the
             vocabulary's size, the scripts' byte widths and the document
             lengths, which these follow.
  vocabulary a 250,000-piece SentencePiece unigram model trained on that
             corpus by the project's `vocab_training` (as `rembert-mtf
             vocab` trains one), not the demo's 768 pieces.
  pipeline   `training.input.dataset` at length 512, batch 32: mixture
             sampling, tokenization, packing, masking, feature conversion;
             on the fly, and from a seqio cache written by `rembert-mtf
             cache`'s code (Beam DirectRunner) with the tokenised documents.
  load       the `small` config's training step (gin/models/small.gin, one
             device, batch 32 x 512) runs without pause in another thread
             while the pipeline is read: they share the 2 cores, as a host's
             input shares its CPU with the infeed.

The figure: real (non-pad) tokens/s the pipeline delivers, against what the
paper's pre-training consumes per TPU v4 chip at the planner's step time
(`rembert-mtf plan --device=tpu-v4`, v4-1024, batch 2048 x 512: README's
table), and per v4 host (4 chips).
"""

import argparse
import os
import statistics
import tempfile
import threading
import time

import gin
import numpy as np
import seqio

from bench import common
from bench import packing
from bench import throughput
from rembert_mtf import compat
from rembert_mtf.cli import gin_config
from rembert_mtf.data import cache as cache_lib
from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocab_training
from rembert_mtf.data import vocabulary
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import input as input_lib

tf = compat.tf

MIXTURE = "bench_scale"
LENGTH, BATCH = 512, 32
LEXICON = 60000
ZIPF_S = 1.1
DOCUMENTS = 3000  # per language
# The paper's pre-training on the planner's smallest fitting slice
# (README, "Planning a pod run"): v4-1024, 512 chips, 0.0546 s a step of
# 2048 x 512 tokens at 50% of peak.
PAPER_TOKENS_PER_STEP = 2048 * 512
PAPER_CHIPS = 512
PLANNER_STEP_SECONDS = 0.0546
CHIPS_PER_V4_HOST = 4


def _span(first, last):
  return [chr(c) for c in range(ord(first), ord(last) + 1)]


# (script, characters, characters per syllable, words separated by spaces)
SCRIPTS = {
    "latin": (_span("a", "z") + list("áéíóúàèäöüçñøåšžłő"), 2, True),
    "cyrillic": (_span("а", "я"), 2, True),
    "greek": (_span("α", "ω"), 2, True),
    "arabic": (_span("ء", "ي"), 2, True),
    "devanagari": (_span("क", "ह") + _span("ा", "ौ"), 2, True),
    "thai": (_span("ก", "ฮ") + _span("ะ", "ู"), 3, False),
    "hangul": (_span("가", "힣"), 1, True),
    "cjk": (_span("一", "龥"), 1, False),
}
LANGUAGES = {  # language: script; several languages share a script
    "la1": "latin", "la2": "latin", "la3": "latin", "la4": "latin",
    "cy1": "cyrillic", "cy2": "cyrillic", "gr": "greek", "ar": "arabic",
    "hi": "devanagari", "th": "thai", "ko": "hangul", "zh": "cjk",
}


def language_documents(language, count=DOCUMENTS, seed=0):
  """`count` documents of a synthetic language (module docstring)."""
  script = LANGUAGES[language]
  chars, syllable, spaced = SCRIPTS[script]
  chars = np.array(chars)  # once: rng.choice converts a list every call
  rng = np.random.RandomState(
      [seed, sum(map(ord, language))])
  lexicon = ["".join(rng.choice(chars, syllable * rng.randint(1, 5)))
             for _ in range(LEXICON)]
  ranks = np.arange(1, LEXICON + 1, dtype=np.float64)
  cumulative = np.cumsum(ranks ** -ZIPF_S)
  cumulative /= cumulative[-1]
  lengths = rng.lognormal(np.log(packing.WIKI_MEDIAN_CHARS),
                          packing.WIKI_SIGMA, count).astype(int)
  joiner = " " if spaced else ""
  documents = []
  for length in lengths:
    sentences, size = [], 0
    while size < max(length, 1):
      # Zipf draws by inverse CDF (rng.choice with p= is O(lexicon) a call).
      picks = np.searchsorted(cumulative, rng.random_sample(
          rng.randint(4, 41)))
      sentence = joiner.join(lexicon[i] for i in picks) + (
          "." if spaced else "。")
      sentences.append(sentence)
      size += len(sentence) + 1
    documents.append(" ".join(sentences))
  return documents


_CORPUS = {}


def _source(split, shuffle_files=False, seed=None, *, language):
  del split, shuffle_files, seed
  if language not in _CORPUS:
    _CORPUS[language] = language_documents(language)
  return tf.data.Dataset.from_tensor_slices({"text": _CORPUS[language]})


def register():
  """Tasks bench_scale_<language> and the equal-rate mixture bench_scale."""
  import functools  # pylint: disable=g-import-not-at-top
  if MIXTURE in seqio.MixtureRegistry.names():
    return
  features = preprocessors.mlm_output_features(
      vocabulary.DeferredVocabulary())
  names = []
  for language in LANGUAGES:
    name = f"{MIXTURE}_{language}"
    seqio.TaskRegistry.add(
        name, source=seqio.FunctionDataSource(
            functools.partial(_source, language=language), splits=["train"],
            num_input_examples={"train": DOCUMENTS}),
        preprocessors=preprocessors.mlm_preprocessors(),
        output_features=features, metric_fns=[])
    names.append(name)
  seqio.MixtureRegistry.add(MIXTURE, [(n, 1.0) for n in names])


def _batches(cache_dir):
  config = config_lib.TrainerConfig(
      mixture_or_task_name=MIXTURE, batch_size=BATCH, sequence_length=LENGTH,
      mlm_predictions=preprocessors.default_max_predictions(LENGTH),
      cache_dir=cache_dir)
  return input_lib.dataset(config, MIXTURE, "train",
                           training=True).as_numpy_iterator()


def _read_under_load(iterator, step, seconds, log):
  """Real tokens/s of `iterator` while `step` runs in a loop beside it."""
  next(iterator)  # start-up (shuffle buffers fill) is not the steady rate
  stop = threading.Event()
  steps = []

  def load():
    while not stop.is_set():
      start = time.perf_counter()
      step()
      steps.append(time.perf_counter() - start)

  thread = threading.Thread(target=load)
  thread.start()
  rates, deadline = [], time.perf_counter() + seconds
  while time.perf_counter() < deadline:
    start, tokens = time.perf_counter(), 0
    for _ in range(10):
      tokens += int(next(iterator)["input_mask"].sum())
    rates.append(tokens / (time.perf_counter() - start))
  stop.set()
  thread.join()
  log(f"  {len(rates)} blocks of 10 batches, median "
      f"{statistics.median(rates):,.0f} real tokens/s; {len(steps)} steps "
      "ran beside them")
  return rates, steps


def run(vocab_size, seconds, sentences, work_dir, log=print):
  register()
  prefix = os.path.join(work_dir, "spm")
  log(f"training a {vocab_size:,}-piece vocabulary on {MIXTURE} "
      f"({sentences:,} sentences)")
  start = time.time()
  vocab_training.train_vocabulary(MIXTURE, vocab_size, prefix,
                                  num_sentences=sentences)
  vocab_seconds = time.time() - start
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     prefix + ".model")
  pieces = vocabulary.get_vocabulary(prefix + ".model").vocab_size
  cache_dir = os.path.join(work_dir, "cache")
  log(f"caching {MIXTURE} with Beam's DirectRunner")
  start = time.time()
  cache_lib.cache_mixture(MIXTURE, cache_dir, options=["--direct_num_workers=1"],
                          splits=["train"])
  cache_seconds = time.time() - start

  gin_config.parse(["models/small.gin"])
  config = modeling.RemBertConfig()
  shape = mesh_graph.BatchShape(BATCH, LENGTH,
                                preprocessors.default_max_predictions(LENGTH))
  step = throughput.rembert_mtf_step(
      config, shape, throughput.synthetic_batch(config, shape))
  step()
  result = {"machine": common.machine(), "vocab_size": pieces,
            "vocab_training_seconds": vocab_seconds,
            "cache_seconds": cache_seconds, "sequence_length": LENGTH,
            "batch_size": BATCH, "languages": len(LANGUAGES),
            "seconds_per_contender": seconds}
  for name, directory in (("on_the_fly", None), ("cached", cache_dir)):
    log(f"{name}: the pipeline read for {seconds} s beside the step")
    rates, steps = _read_under_load(_batches(directory), step, seconds, log)
    result[name] = {"real_tokens_per_second": statistics.median(rates),
                    "min": min(rates), "max": max(rates),
                    "blocks": len(rates),
                    "step_seconds_median": statistics.median(steps)
                    if steps else None}
  chip = PAPER_TOKENS_PER_STEP / PAPER_CHIPS / PLANNER_STEP_SECONDS
  result["tpu_v4_chip_tokens_per_second"] = chip
  result["tpu_v4_host_tokens_per_second"] = chip * CHIPS_PER_V4_HOST
  return result


def markdown(result):
  chip = result["tpu_v4_chip_tokens_per_second"]
  host = result["tpu_v4_host_tokens_per_second"]
  lines = [
      f"Input at length {result['sequence_length']} with a "
      f"{result['vocab_size']:,}-piece SentencePiece model ({result['languages']}"
      " synthetic languages, 8 scripts), read while the `small` config's "
      "training step runs beside it on the same cores.", "",
      "| pipeline | real tokens/s (median, min-max) | per TPU v4 chip | per "
      "v4 host (4 chips) |", "|---|---:|---:|---:|"]
  for name, label in (("on_the_fly", "on the fly"),
                      ("cached", "from the Beam-built cache")):
    r = result[name]
    lines.append(
        f"| {label} | {r['real_tokens_per_second']:,.0f} "
        f"({r['min']:,.0f}-{r['max']:,.0f}) | "
        f"{r['real_tokens_per_second'] / chip:.2f}x | "
        f"{r['real_tokens_per_second'] / host:.2f}x |")
  lines += [
      "", f"A v4 chip consumes {chip:,.0f} tokens/s in the paper's run at the "
      f"planner's step time ({PLANNER_STEP_SECONDS} s for 2048 x 512 on 512 "
      f"chips); a v4 host (4 chips) {host:,.0f}. Vocabulary "
      f"training took {result['vocab_training_seconds']:.0f} s, the cache "
      f"{result['cache_seconds']:.0f} s ({result['machine']['cores']} "
      "cores)."]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--vocab_size", type=int, default=250000)
  parser.add_argument("--seconds", type=int, default=60,
                      help="reading time per contender")
  parser.add_argument("--sentences", type=int, default=300000,
                      help="sentences the vocabulary is trained on")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as work_dir:
    result = run(args.vocab_size, args.seconds, args.sentences, work_dir)
  text = markdown(result)
  print(text)
  print("wrote", common.write_results("input_at_scale", result, text))


if __name__ == "__main__":
  main()
