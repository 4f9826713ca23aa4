"""Zero-shot sentence retrieval, scored as XTREME scores it: BUCC and Tatoeba.

No fine-tuning: sentences are embedded by the pre-trained encoder and
matched by cosine similarity. What follows restates XTREME's code
(google-research/xtreme: third_party/evaluate_retrieval.py,
third_party/utils_retrieve.py, evaluate.py, scripts/run_bucc2018.sh and
run_tatoeba.sh); this module is written from that reading, in numpy.

Embeddings: the hidden states of one layer (0: the embeddings' output; L:
the last), pooled per sentence: "mean" over the sentence's tokens, [CLS] and
[SEP] included (XTREME's default pool mask is the attention mask), or "cls"
(the [CLS] token's state). XTREME passes --specific_layer 7 over the 12 layer
outputs of its 12-layer models (the embeddings' output dropped), i.e. layer
8 counted from the embeddings (DEFAULT_LAYER), with mean pooling for Tatoeba
and cls pooling for BUCC (DEFAULT_POOLING). Rows are L2-normalised (an
all-zero row stays zero, as faiss.normalize_L2 leaves it) and compared by
their dot product.

Tatoeba (XTREME's similarity_search): the index holds the source sentences,
the English targets are the queries; a target's prediction is its nearest
source, and the score is the accuracy, in percent, of targets whose nearest
source is their own translation. The other direction (each source's
nearest target) is reported too, as accuracy_source_to_target.

BUCC (XTREME's mine_bitext with its defaults: mode "mine", retrieval "max",
margin "ratio", neighbourhood k = 4; Artetxe & Schwenk 2019):
  1. each source's k nearest targets by cosine and each target's k nearest
     sources (k = min(4, the other side's size));
  2. the ratio margin of a pair (x, y): cos(x, y) / (sum over x's k nearest
     targets z of cos(x, z) / 2k + sum over y's k nearest sources z of
     cos(y, z) / 2k);
  3. candidates: each source with its best target by margin among its k
     nearest, and each target with its best source among its k nearest;
     ranked by margin and taken greedily, one-to-one (a candidate whose
     source or target is already taken is skipped); those with a margin
     <= 0 are dropped (XTREME writes only margins above its mining
     threshold 0);
  4. the threshold maximising F1 against the dev gold pairs (the
     validation split: BUCC's "sample" data), midway between the margin it
     keeps and the next lower one (XTREME's bucc_optimize). XTREME's
     evaluate_retrieval.py tunes on whichever split has a gold file, and
     its download_data.sh deletes the test gold (BUCC's "training" data,
     held out for the leaderboard): the threshold is tuned on dev and
     applied to the test candidates;
  5. the test score: F1 in percent of the candidates with margin >=
     threshold against the test gold pairs (XTREME's bucc_f1), with
     precision and recall beside it.

Ties, resolved deterministically (XTREME leaves them to faiss and to an
unstable sort):
  - nearest neighbours with equal cosines come in increasing index order,
    so Tatoeba predicts the lowest-indexed of equally near sources;
  - a source's (target's) best candidate among equal margins is the
    nearer one by that order;
  - candidates with equal margins are ranked sources' candidates first
    (by source index), then targets' (by target index);
  - threshold: F1 is evaluated only at cuts between distinct margins (the
    ">=" rule cannot split equal margins); of equal F1s the highest
    threshold (fewest pairs) wins, as XTREME's strict improvement does
    going down. With no correct dev candidate the threshold is 0 (XTREME's
    starting value).

What tfds's `bucc` holds (tasks/xtreme_retrieval.py): only the gold pairs of
each BUCC corpus, not the non-parallel sentences around them, so every
sentence mined here has a partner and the task is easier than BUCC's (whose
corpora are mostly sentences without one): scores are not comparable to
published BUCC F1. The scoring functions take any corpora, unpaired
sentences included. Sentences are identified by their BUCC ids (XTREME
merges identical texts instead).

Files, under output_dir (run_retrieval):
  <benchmark>/<lang>.json         {"task", "benchmark", "language",
                                   "settings", "score", "details"}; a
                                   language with this file (same settings)
                                   is not scored again
  <benchmark>/predictions/test-<lang>.tsv  XTREME's submission format:
                                   Tatoeba, a target's predicted source
                                   index per line; BUCC, "source_id
                                   <TAB> target_id" per predicted pair
  retrieval.json                  {"settings", "scores": {benchmark:
                                   {lang: score}}} of the last run
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import logging
import gin
import numpy as np
import seqio

from rembert_mtf.data import registry
from rembert_mtf.evaluation.xtreme import benchmarks
from rembert_mtf.training import model_dir as model_dir_lib

BENCHMARKS = benchmarks.RETRIEVAL_TASKS
DEFAULT_LAYER = 8
DEFAULT_POOLING = {"bucc": "cls", "tatoeba": "mean"}
POOLINGS = ("mean", "cls")
NEIGHBOURHOOD = 4
RESULTS_FILE = "retrieval.json"

EmbedFn = Callable[[List[np.ndarray], int, str], np.ndarray]

# ------------------------------------------------------------ similarity ----


def normalize(x):
  """Rows scaled to unit L2 norm (float64); all-zero rows stay zero."""
  x = np.asarray(x, np.float64)
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  return x / np.where(norms > 0, norms, 1.0)


def cosine(x, y):
  """[len(x), len(y)] cosine similarities."""
  return normalize(x) @ normalize(y).T


def nearest(similarity, k):
  """Column indices of each row's k most similar, best first.

  Equal similarities come in increasing index order (a stable sort).
  """
  order = np.argsort(-similarity, axis=1, kind="stable")
  return order[:, :k]


# ---------------------------------------------------------------- Tatoeba ---


def tatoeba_predictions(source, target):
  """For each target (query), the index of its nearest source."""
  # argmax keeps the first maximum: the lowest index among equals.
  return np.argmax(cosine(target, source), axis=1)


def tatoeba_scores(source, target):
  """Accuracies in percent; source[i] and target[i] are translations.

  Returns:
    {"accuracy": targets whose nearest source is theirs (XTREME's score),
     "accuracy_source_to_target": the reverse, "sentences": N}.
  """
  source, target = np.asarray(source), np.asarray(target)
  if len(source) != len(target) or not len(source):
    raise ValueError(f"Tatoeba needs as many sources as targets, at least "
                     f"one; got {len(source)} and {len(target)}.")
  gold = np.arange(len(source))
  forward = np.argmax(cosine(source, target), axis=1)
  return {
      "accuracy": float(100.0 * np.mean(
          tatoeba_predictions(source, target) == gold)),
      "accuracy_source_to_target": float(100.0 * np.mean(forward == gold)),
      "sentences": len(source),
  }


# ------------------------------------------------------------------- BUCC ---


def mine(source, target, k=NEIGHBOURHOOD):
  """Candidate pairs by ratio margin, one-to-one (steps 1-3 above).

  Args:
    source, target: [n, H] and [m, H] embeddings.
    k: the neighbourhood size.
  Returns:
    a list of (source index, target index, margin), highest margin first.
  """
  sim = cosine(source, target)
  n, m = sim.shape
  if not n or not m:
    return []
  fwd = nearest(sim, min(k, m))  # [n, kx] targets of each source
  bwd = nearest(sim.T, min(k, n))  # [m, ky] sources of each target
  fwd_sim = np.take_along_axis(sim, fwd, axis=1)
  bwd_sim = np.take_along_axis(sim.T, bwd, axis=1)
  source_mean, target_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)

  def margins(cos, own_mean, other_mean):
    denominator = (own_mean[:, None] + other_mean) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
      # A zero denominator (cosines cancelling out) ranks last.
      return np.where(denominator != 0, cos / denominator, -np.inf)

  fwd_margin = margins(fwd_sim, source_mean, target_mean[fwd])
  bwd_margin = margins(bwd_sim, target_mean, source_mean[bwd])
  # argmax: the first of equal margins, i.e. the nearer by cosine rank.
  fwd_pick, bwd_pick = fwd_margin.argmax(axis=1), bwd_margin.argmax(axis=1)
  sources = np.concatenate([np.arange(n), bwd[np.arange(m), bwd_pick]])
  targets = np.concatenate([fwd[np.arange(n), fwd_pick], np.arange(m)])
  scores = np.concatenate([fwd_margin[np.arange(n), fwd_pick],
                           bwd_margin[np.arange(m), bwd_pick]])
  taken_sources, taken_targets, pairs = set(), set(), []
  for c in np.argsort(-scores, kind="stable"):
    i, j = int(sources[c]), int(targets[c])
    if i in taken_sources or j in taken_targets:
      continue
    taken_sources.add(i)
    taken_targets.add(j)
    if scores[c] > 0:
      pairs.append((i, j, float(scores[c])))
  return pairs


def pair_f1(predicted, gold):
  """{"f1", "precision", "recall"} in percent of predicted vs gold pairs."""
  predicted, gold = set(predicted), set(gold)
  correct = len(predicted & gold)
  if not correct:
    return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
  precision, recall = correct / len(predicted), correct / len(gold)
  return {"f1": 100.0 * 2 * precision * recall / (precision + recall),
          "precision": 100.0 * precision, "recall": 100.0 * recall}


def tune_threshold(margins, correct, num_gold):
  """The margin threshold with the best F1 (step 4 above).

  Args:
    margins: candidate margins, any order.
    correct: for each candidate, whether it is a gold pair.
    num_gold: the number of gold pairs.
  Returns:
    (threshold, F1 in percent of the candidates with margin >= threshold).
  """
  margins = np.asarray(margins, np.float64)
  correct = np.asarray(correct, bool)
  order = np.argsort(-margins, kind="stable")
  margins, correct = margins[order], correct[order]
  levels = -np.unique(-margins)  # the distinct margins, highest first
  # One past each level's last candidate: the cuts ">=" can make.
  ends = np.searchsorted(-margins, -levels, side="right")
  hits = np.cumsum(correct)
  threshold, best = 0.0, 0.0
  for g, end in enumerate(ends):
    found = hits[end - 1]
    if not found:
      continue
    precision, recall = found / end, found / num_gold
    f1 = 100.0 * 2 * precision * recall / (precision + recall)
    if f1 > best:
      best = float(f1)
      threshold = (float((levels[g] + levels[g + 1]) / 2)
                   if g + 1 < len(levels) else float(levels[g]))
  return threshold, best


@dataclasses.dataclass
class Corpus:
  """One BUCC split: sentences on each side and the gold pairs.

  Attributes:
    source_ids, target_ids: sentence ids, in embedding row order.
    source, target: [n, H], [m, H] embeddings.
    gold: (source id, target id) pairs.
  """
  source_ids: Sequence[str]
  source: np.ndarray
  target_ids: Sequence[str]
  target: np.ndarray
  gold: Sequence[Tuple[str, str]]

  def candidates(self, k=NEIGHBOURHOOD):
    """[(source id, target id, margin)] mined, highest margin first."""
    return [(self.source_ids[i], self.target_ids[j], score)
            for i, j, score in mine(self.source, self.target, k)]


def bucc_scores(dev: Corpus, test: Corpus, k=NEIGHBOURHOOD):
  """The test split's F1 with the threshold tuned on dev (steps 1-5).

  Returns:
    {"f1", "precision", "recall" (test, percent), "threshold", "dev_f1",
     "predicted": [(source id, target id)] on test, "candidates", "gold",
     "sources", "targets" (test counts)}.
  """
  dev_candidates = dev.candidates(k)
  dev_gold = set(dev.gold)
  threshold, dev_f1 = tune_threshold(
      [c[2] for c in dev_candidates],
      [(c[0], c[1]) in dev_gold for c in dev_candidates], len(dev_gold))
  test_candidates = test.candidates(k)
  predicted = [(s, t) for s, t, score in test_candidates if score >= threshold]
  return dict(pair_f1(predicted, test.gold), threshold=threshold,
              dev_f1=dev_f1, predicted=predicted,
              candidates=len(test_candidates), gold=len(set(test.gold)),
              sources=len(test.source_ids), targets=len(test.target_ids))


# --------------------------------------------------------- reading tasks ----


def _task_languages(task_names):
  """[(benchmark, language, seqio task name)] for mixtures or tasks."""
  registry.ensure_registered()
  chosen = []
  for name in task_names:
    benchmark, _, language = name.partition("_")
    if benchmark not in BENCHMARKS or (
        language and name not in seqio.TaskRegistry.names()):
      raise errors.UserError(
          f"unknown retrieval task {name!r}; give {' or '.join(BENCHMARKS)}"
          " (every language) or one of their tasks, e.g. bucc_de, "
          "tatoeba_af.")
    tasks = ([name] if language else
             [t.name for t in seqio.get_mixture_or_task(name).tasks])
    for task in tasks:
      entry = (benchmark, task.partition("_")[2], task)
      if entry not in chosen:
        chosen.append(entry)
  return chosen


def _examples(task_name, split, max_length):
  """The task's examples on a split, as numpy dicts, in tfds order."""
  task = seqio.get_mixture_or_task(task_name)
  ds = task.get_dataset(
      {"source_input_ids": max_length, "target_input_ids": max_length},
      split=split, shuffle=False, try_in_mem_cache=False)
  return list(ds.as_numpy_iterator())


def _bucc_sides(examples):
  """(source ids, source token ids, target ids, target token ids, gold).

  A sentence in several gold pairs is embedded once (its first text).
  """
  sides = {"source": {}, "target": {}}
  gold = []
  for ex in examples:
    pair = []
    for side in sides:
      sentence_id = ex[f"{side}_id"].decode("utf-8")
      sides[side].setdefault(sentence_id, ex[f"{side}_input_ids"])
      pair.append(sentence_id)
    gold.append(tuple(pair))
  return (list(sides["source"]), list(sides["source"].values()),
          list(sides["target"]), list(sides["target"].values()), gold)


# ------------------------------------------------------------------ runner ---


def _check_vocabulary(model_dir):
  """The tasks tokenize with gin's vocabulary: make it model_dir's.

  Unbound: bound to model_dir's; bound to another model: refused.
  """
  path = model_dir_lib.vocabulary_path(model_dir)
  key = "get_vocabulary.sentencepiece_model_file"
  try:
    bound = gin.query_parameter(key)
  except ValueError:
    bound = None
  if bound is None:
    gin.bind_parameter(key, path)
    return
  same = os.path.isfile(bound)
  if same:
    with open(bound, "rb") as a, open(path, "rb") as b:
      same = a.read() == b.read()
  if not same:
    raise errors.UserError(
        f"{key} = {bound!r} is not the vocabulary of {model_dir} ({path}); "
        f"bind {key} = {path!r} or drop the binding.")


def _read_json(path):
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _write(path, text):
  """Writes atomically: a crash leaves the old file or none."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def _score_benchmark(benchmark, entries, embed_fn, layer, pooling,
                     max_length):
  """{language: (details, prediction lines)} for one benchmark's languages.

  Every sentence of every language and split goes to one embed_fn call, so
  the encoder graphs are built once per benchmark.
  """
  splits = ("validation", "test") if benchmark == "bucc" else ("test",)
  ids, spans, data = [], {}, {}
  for _, language, task in entries:
    for split in splits:
      examples = _examples(task, split, max_length)
      if not examples:
        raise errors.UserError(
            f"{task}: its {split} split has no examples; is its tfds "
            f"dataset ({benchmark}/{task}) prepared?")
      if benchmark == "bucc":
        source_ids, source, target_ids, target, gold = _bucc_sides(examples)
        data[language, split] = (source_ids, target_ids, gold)
      else:
        source = [ex["source_input_ids"] for ex in examples]
        target = [ex["target_input_ids"] for ex in examples]
      for side, rows in (("source", source), ("target", target)):
        spans[language, split, side] = (len(ids), len(ids) + len(rows))
        ids.extend(rows)
  logging.info("%s: embedding %d sentences (layer %d, %s pooling)",
               benchmark, len(ids), layer, pooling)
  embeddings = np.asarray(embed_fn(ids, layer, pooling)) if ids else None
  if ids and embeddings.shape[0] != len(ids):
    raise ValueError(f"embed_fn returned {embeddings.shape[0]} rows for "
                     f"{len(ids)} sentences.")

  def rows(language, split, side):
    start, end = spans[language, split, side]
    return embeddings[start:end]

  results = {}
  for _, language, _ in entries:
    if benchmark == "tatoeba":
      source, target = rows(language, "test", "source"), rows(
          language, "test", "target")
      details = tatoeba_scores(source, target)
      lines = [str(p) for p in tatoeba_predictions(source, target)]
    else:
      dev, test = (
          Corpus(data[language, s][0], rows(language, s, "source"),
                 data[language, s][1], rows(language, s, "target"),
                 data[language, s][2]) for s in splits)
      details = bucc_scores(dev, test)
      lines = [f"{s}\t{t}" for s, t in details.pop("predicted")]
    results[language] = (details, lines)
  return results


def read_results(output_dir: str) -> Optional[dict]:
  """retrieval.json of `output_dir`: {"settings", "scores"}, or None."""
  return _read_json(os.path.join(output_dir, RESULTS_FILE))


def run_retrieval(model_dir: str, task_names: Sequence[str], output_dir: str,
                  layer: Optional[int] = DEFAULT_LAYER,
                  pooling: Optional[str] = None,
                  embed_fn: Optional[EmbedFn] = None,
                  max_length: Optional[int] = None
                  ) -> Dict[str, Dict[str, float]]:
  """Scores BUCC and Tatoeba zero-shot from the encoder; writes the files.

  Args:
    model_dir: the pre-trained model_dir (its config bounds `layer`; the
      tasks tokenize with its vocabulary: see _check_vocabulary).
    task_names: "bucc", "tatoeba" (every XTREME language) or their tasks,
      e.g. "bucc_de", "tatoeba_af".
    output_dir: where the files go (see the module docstring).
    layer: 0 (the embeddings' output) to the model's num_layers (None:
      DEFAULT_LAYER, XTREME's 8).
    pooling: "mean" or "cls" for every benchmark; None: XTREME's
      (DEFAULT_POOLING).
    embed_fn: (token id arrays, layer, pooling) -> float32 [N, H] sentence
      embeddings; rembert_mtf.interop.embed.Embedder(model_dir) is the
      model's (passed in: evaluation does not import interop).
    max_length: tokens per sentence with [CLS] and [SEP] (None: the model's
      max_position_embeddings; XTREME reads up to 512).
  Returns:
    {benchmark: {language: score}}: Tatoeba accuracy and BUCC F1, percent.
  """
  if embed_fn is None:
    raise ValueError("run_retrieval needs an embed_fn, e.g. "
                     "rembert_mtf.interop.embed.Embedder(model_dir).")
  if pooling is not None and pooling not in POOLINGS:
    raise errors.UserError(f"retrieval pooling must be one of "
                           f"{', '.join(POOLINGS)}, not {pooling!r}.")
  config = model_dir_lib.read_config(model_dir)
  layer = DEFAULT_LAYER if layer is None else layer
  if not 0 <= layer <= config.num_layers:
    raise errors.UserError(
        f"retrieval layer {layer}: {model_dir} has {config.num_layers} "
        f"Transformer layers; give 0 (the embeddings' output) to "
        f"{config.num_layers} (XTREME: {DEFAULT_LAYER} of 12).")
  limit = config.max_position_embeddings
  max_length = max_length or limit
  if not 2 < max_length <= limit:
    raise errors.UserError(
        f"retrieval max_length {max_length} must be in (2, {limit}] (the "
        "model's max_position_embeddings).")
  checkpoint = model_dir_lib.latest_checkpoint(model_dir)
  _check_vocabulary(model_dir)
  entries = _task_languages(task_names)
  scores, all_settings = {}, {}
  for benchmark in BENCHMARKS:
    mine_entries = [e for e in entries if e[0] == benchmark]
    if not mine_entries:
      continue
    settings = {"layer": layer, "max_length": max_length,
                "pooling": pooling or DEFAULT_POOLING[benchmark],
                "checkpoint": os.path.abspath(checkpoint)}
    all_settings[benchmark] = settings
    folder = os.path.join(output_dir, benchmark)
    scores[benchmark], pending = {}, []
    for entry in mine_entries:
      path = os.path.join(folder, f"{entry[1]}.json")
      done = _read_json(path)
      if done is None:
        pending.append(entry)
        continue
      if done.get("settings") != settings:
        raise errors.UserError(
            f"{path} was written with settings {done.get('settings')}, not "
            f"{settings}; pass another output directory or delete it.")
      logging.info("%s: scored earlier, kept", path)
      scores[benchmark][entry[1]] = done["score"]
    if pending:
      scored = _score_benchmark(benchmark, pending, embed_fn, layer,
                                settings["pooling"], max_length)
      for _, language, task in pending:
        details, lines = scored[language]
        score = details["f1" if benchmark == "bucc" else "accuracy"]
        _write(os.path.join(folder, "predictions", f"test-{language}.tsv"),
               "".join(line + "\n" for line in lines))
        _write(os.path.join(folder, f"{language}.json"), json.dumps(
            {"task": task, "benchmark": benchmark, "language": language,
             "settings": settings, "score": score, "details": details},
            indent=1, sort_keys=True))
        scores[benchmark][language] = score
    scores[benchmark] = {l: scores[benchmark][l] for _, l, _ in mine_entries}
  _write(os.path.join(output_dir, RESULTS_FILE),
         json.dumps({"settings": all_settings, "scores": scores}, indent=1,
                    sort_keys=True))
  return scores
