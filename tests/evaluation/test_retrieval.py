"""Retrieval scoring: hand-written embeddings a naive scorer gets wrong, a
brute-force reference written from the formulas here, and run_retrieval on
tfds mock data with a tiny model's real embeddings."""

import json
import math
import os

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rembert_mtf import errors
from rembert_mtf.evaluation import retrieval
from rembert_mtf.interop import embed
from rembert_mtf.interop import model_dir_writer
from rembert_mtf.training import model_dir as model_dir_lib
from tests import cli_testing
from tests import model_testing

K = 4

# ------------------------------------------------- brute-force reference ----
# Written from the formulas (XTREME's procedure, Artetxe & Schwenk 2019), in
# plain Python loops; ties as the module states them: lower index first,
# earlier candidate first.


def _cos(u, v):
  nu = math.sqrt(sum(a * a for a in u))
  nv = math.sqrt(sum(b * b for b in v))
  if nu == 0 or nv == 0:
    return 0.0
  return sum(a * b for a, b in zip(u, v)) / (nu * nv)


def _brute_mine(xs, ys, k=K):
  """[(i, j, margin)]: margin(x, y) = cos(x, y) / (sum_{z in NN_k(x)}
  cos(x, z) / 2k + sum_{z in NN_k(y)} cos(y, z) / 2k), best among the k
  nearest; greedy one-to-one by margin; margins <= 0 dropped."""
  n, m = len(xs), len(ys)
  cos = [[_cos(xs[i], ys[j]) for j in range(m)] for i in range(n)]
  kx, ky = min(k, m), min(k, n)
  nn_x = [sorted(range(m), key=lambda j, i=i: (-cos[i][j], j))[:kx]
          for i in range(n)]
  nn_y = [sorted(range(n), key=lambda i, j=j: (-cos[i][j], i))[:ky]
          for j in range(m)]
  half_x = [sum(cos[i][z] for z in nn_x[i]) / (2 * kx) for i in range(n)]
  half_y = [sum(cos[z][j] for z in nn_y[j]) / (2 * ky) for j in range(m)]

  def margin(i, j):
    return cos[i][j] / (half_x[i] + half_y[j])

  candidates = []
  for i in range(n):
    best = max(nn_x[i], key=lambda j, i=i: (margin(i, j), -nn_x[i].index(j)))
    candidates.append((margin(i, best), len(candidates), i, best))
  for j in range(m):
    best = max(nn_y[j], key=lambda i, j=j: (margin(i, j), -nn_y[j].index(i)))
    candidates.append((margin(best, j), len(candidates), best, j))
  used_x, used_y, out = set(), set(), []
  for score, _, i, j in sorted(candidates, key=lambda c: (-c[0], c[1])):
    if i in used_x or j in used_y:
      continue
    used_x.add(i)
    used_y.add(j)
    if score > 0:
      out.append((i, j, score))
  return out


def _brute_f1(predicted, gold):
  correct = len(set(predicted) & set(gold))
  if not correct:
    return 0.0
  p, r = correct / len(set(predicted)), correct / len(set(gold))
  return 100 * 2 * p * r / (p + r)


def _brute_threshold(candidates, gold):
  """Every distinct margin t as a cut (keep margin >= t); best F1, highest t
  on equal F1; the threshold is midway to the next lower margin."""
  levels = sorted({c[2] for c in candidates}, reverse=True)
  best, chosen = 0.0, None
  for t in levels:
    f1 = _brute_f1([(c[0], c[1]) for c in candidates if c[2] >= t], gold)
    if f1 > best:
      best, chosen = f1, t
  if chosen is None:
    return 0.0, 0.0
  lower = [t for t in levels if t < chosen]
  return ((chosen + lower[0]) / 2 if lower else chosen), best


def _brute_bucc(dev, test):
  """(test F1, predicted test id pairs, dev F1) of dev-tuned mining."""
  def mined(corpus):
    return [(corpus.source_ids[i], corpus.target_ids[j], s)
            for i, j, s in _brute_mine(corpus.source.tolist(),
                                       corpus.target.tolist())]
  threshold, dev_f1 = _brute_threshold(mined(dev), dev.gold)
  predicted = [(s, t) for s, t, score in mined(test) if score >= threshold]
  return _brute_f1(predicted, test.gold), predicted, dev_f1


def _brute_tatoeba(xs, ys):
  """Accuracy: each target's nearest source (lowest index on ties)."""
  hits = 0
  for j, y in enumerate(ys):
    scores = [_cos(x, y) for x in xs]
    hits += scores.index(max(scores)) == j
  return 100 * hits / len(ys)


# ------------------------------------------------------ hand-written cases ----


def _hub_corpus(a, b, s, stray):
  """Three sources and their targets sharing a common direction (dim 0);
  target 3 is that direction alone: every source's nearest target by
  cosine (a hub). Source 3 has no gold partner."""
  source = np.array([[a, b, 0, 0, 0], [a, 0, b, 0, 0], [a, 0, 0, b, 0],
                     [stray, 0, 0, 0, 1.0]])
  target = np.array([[s, 1, 0, 0, 0], [s, 0, 1, 0, 0], [s, 0, 0, 1, 0],
                     [1.0, 0, 0, 0, 0]])
  return retrieval.Corpus(["s0", "s1", "s2", "s_stray"], source,
                          ["t0", "t1", "t2", "t_hub"], target,
                          [("s0", "t0"), ("s1", "t1"), ("s2", "t2")])


DEV = _hub_corpus(0.8, 0.6, 0.1, stray=0.3)
TEST = _hub_corpus(0.75, 0.66, 0.12, stray=0.2)


def test_hub_is_nearest_neighbour_of_all_but_margin_picks_the_partners():
  cos = retrieval.cosine(DEV.source, DEV.target)
  # A plain nearest-neighbour scorer pairs every source with the hub.
  assert cos.argmax(axis=1).tolist() == [3, 3, 3, 3]
  assert cos[0, 3] > cos[0, 0] + 0.1  # 0.80 vs 0.68: not a near tie
  pairs = retrieval.mine(DEV.source, DEV.target)
  assert [(i, j) for i, j, _ in pairs] == [(0, 0), (1, 1), (2, 2), (3, 3)]
  # The three gold margins tie exactly (a symmetric corpus).
  assert pairs[0][2] == pairs[1][2] == pairs[2][2]
  reference = _brute_mine(DEV.source.tolist(), DEV.target.tolist())
  assert [p[:2] for p in pairs] == [p[:2] for p in reference]
  np.testing.assert_allclose([p[2] for p in pairs],
                             [p[2] for p in reference], rtol=1e-12)
  # Hand computation: margin(s0, t0) = 0.677 / ((0.409 + 0.279) / 2).
  assert pairs[0][2] == pytest.approx(2.165, abs=1e-3)
  assert pairs[3][2] == pytest.approx(0.751, abs=1e-3)


def test_unpaired_source_is_cut_by_the_dev_threshold():
  scores = retrieval.bucc_scores(DEV, TEST)
  # Dev: the stray pair (margin 0.75) is below the gold (2.16): threshold
  # midway; on test the stray margin is lower still and stays out.
  assert scores["threshold"] == pytest.approx((2.165 + 0.751) / 2, abs=1e-3)
  assert scores["dev_f1"] == 100.0
  assert scores["predicted"] == [("s0", "t0"), ("s1", "t1"), ("s2", "t2")]
  assert (scores["f1"], scores["precision"], scores["recall"]) == (
      100.0, 100.0, 100.0)
  assert scores["candidates"] == 4 and scores["gold"] == 3
  f1, predicted, dev_f1 = _brute_bucc(DEV, TEST)
  assert (f1, dev_f1) == (100.0, 100.0) and predicted == scores["predicted"]
  # Naive scorers get it wrong: every mined pair (no threshold) has the
  # stray; plain nearest neighbours pair all with the hub.
  everything = [(s, t) for s, t, _ in TEST.candidates()]
  assert retrieval.pair_f1(everything, TEST.gold)["f1"] == pytest.approx(
      100 * 2 * 0.75 / 1.75)
  nearest = [(TEST.source_ids[i], TEST.target_ids[j]) for i, j in
             enumerate(retrieval.cosine(TEST.source, TEST.target).argmax(1))]
  assert retrieval.pair_f1(nearest, TEST.gold)["f1"] == 0.0


def test_tatoeba_ties_go_to_the_lowest_index():
  # Sources 0 and 3 are the same sentence; target 3 is nearest to both.
  source = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]])
  target = np.array([[2.0, 0, 0.5], [0, 1.0, 0.25], [0.5, 0, 1.0],
                     [4.0, 0, 0]])
  assert retrieval.tatoeba_predictions(source, target).tolist() == [0, 1, 2,
                                                                    0]
  scores = retrieval.tatoeba_scores(source, target)
  # A scorer counting "gold among the nearest" would say 100.
  assert scores["accuracy"] == 75.0 == _brute_tatoeba(source.tolist(),
                                                      target.tolist())
  # The other way, source 0 finds target 3 ([4, 0, 0] is exactly its
  # line) rather than its own; sources 1 to 3 find theirs.
  assert np.argmax(retrieval.cosine(source, target), 1).tolist() == [3, 1, 2,
                                                                     3]
  assert scores["accuracy_source_to_target"] == 75.0
  assert scores["sentences"] == 4


def test_threshold_never_splits_equal_margins():
  # Descending: 3.0 (gold), 2.0 (gold), 2.0 (wrong), 1.0 (gold), 1.0, 1.0.
  margins = [2.0, 1.0, 3.0, 2.0, 1.0, 1.0]
  correct = [True, True, True, False, False, False]
  threshold, f1 = retrieval.tune_threshold(margins, correct, num_gold=4)
  # Cuts: >=3: P 1, R .25 -> 40; >=2: P 2/3, R .5 -> 57.1; >=1: P .5,
  # R .75 -> 60. (Splitting the 2.0 tie after its gold one, as a per-item
  # scan would, claims P 1, R .5 -> 66.7: unattainable with ">=".)
  assert f1 == pytest.approx(60.0)
  assert threshold == 1.0  # the lowest level: nothing below to go midway to
  threshold, f1 = retrieval.tune_threshold([4.0, 3.0, 2.0, 1.0],
                                           [True, False, False, True], 2)
  # >=4: P 1, R .5 -> 66.7; >=1: P .5, R 1 -> 66.7 too: the higher cut
  # wins, midway to the next margin.
  assert (threshold, f1) == (3.5, pytest.approx(200 / 3))
  assert retrieval.tune_threshold([2.0, 1.0], [True, False], 1) == (1.5,
                                                                    100.0)
  assert retrieval.tune_threshold([2.0], [False], 1) == (0.0, 0.0)
  assert retrieval.tune_threshold([], [], 3) == (0.0, 0.0)


def test_zero_vectors_and_small_corpora():
  # An all-zero embedding has cosine 0 with everything (not NaN).
  assert retrieval.cosine([[0.0, 0.0]], [[1.0, 2.0]]).tolist() == [[0.0]]
  # Fewer than k sentences on a side: k shrinks to the side's size.
  source, target = np.array([[1.0, 0.2], [0.1, 1.0]]), np.array([[0.9, 0.1]])
  pairs = retrieval.mine(source, target)
  assert [p[:2] for p in pairs] == [p[:2] for p in _brute_mine(
      source.tolist(), target.tolist())] == [(0, 0)]
  assert retrieval.mine(np.zeros((0, 2)), target) == []


def _noisy_corpus(rng, n, m, dim, noise, pairs):
  """Random sources; each gold pair's target is its source plus noise."""
  source = rng.randn(n, dim) + 0.5
  source[-1] = source[0]  # a duplicate: its cosines tie exactly
  target = rng.randn(m, dim) + 0.5
  for i, j in pairs:
    target[j] = source[i] + noise * rng.randn(dim)
  return retrieval.Corpus([f"s{i}" for i in range(n)], source,
                          [f"t{j}" for j in range(m)], target,
                          [(f"s{i}", f"t{j}") for i, j in pairs])


def _random_case(seed):
  """(dev, test) of 3 to 9 sentences a side, fewer gold pairs."""
  # Generic values: exact ties between different vectors would hang on
  # rounding, which the hand-written cases avoid.
  rng = np.random.RandomState(seed)
  n, m, dim = rng.randint(3, 10), rng.randint(3, 10), 4
  pairs = list(zip(rng.permutation(n - 1), rng.permutation(m)))[
      :min(n - 1, m) - 1]
  return (_noisy_corpus(rng, n, m, dim, 0.7, pairs),
          _noisy_corpus(rng, n, m, dim, 0.7, pairs))


@pytest.mark.parametrize("seed", range(6))
def test_random_corpora_match_brute_force(seed):
  dev, test = _random_case(seed)
  n, m = len(dev.source_ids), len(dev.target_ids)
  mined = retrieval.mine(dev.source, dev.target)
  reference = _brute_mine(dev.source.tolist(), dev.target.tolist())
  assert [p[:2] for p in mined] == [p[:2] for p in reference]
  np.testing.assert_allclose([p[2] for p in mined], [p[2] for p in reference],
                             rtol=1e-9)
  scores = retrieval.bucc_scores(dev, test)
  f1, predicted, dev_f1 = _brute_bucc(dev, test)
  assert scores["predicted"] == predicted
  assert scores["f1"] == pytest.approx(f1)
  assert scores["dev_f1"] == pytest.approx(dev_f1)
  k = min(n, m)
  assert retrieval.tatoeba_scores(test.source[:k], test.target[:k])[
      "accuracy"] == pytest.approx(_brute_tatoeba(test.source[:k].tolist(),
                                                  test.target[:k].tolist()))


def test_random_corpora_are_not_trivial():
  # The six corpora above score (dev, test) F1 (72.7, 100), (80, 33.3),
  # (50, 100), (50, 50), (85.7, 57.1), (28.6, 44.4): neither all perfect
  # nor all zero, so the comparisons above compare something.
  f1s = [retrieval.bucc_scores(*_random_case(seed)) for seed in range(6)]
  np.testing.assert_allclose(
      [[s["dev_f1"], s["f1"]] for s in f1s],
      [[800 / 11, 100], [80, 100 / 3], [50, 100], [50, 50], [600 / 7, 400 / 7],
       [200 / 7, 400 / 9]], rtol=1e-9)


# ------------------------------------------- run_retrieval on mock data ----

CONFIG = model_testing.tiny_config(vocab_size=256, max_position_embeddings=32,
                                   num_layers=2)
# Targets repeat their sources word for word: any model embeds a pair
# identically, so a correctly wired run scores 100 whatever the weights.
SENTENCES = ["ka lo mi", "su ta ri po", "über ça 日本", "ne ne ka", "mi su",
             "ta ri lo ka ne"]


def _fixture_as_dataset(self, split, decoders=None, read_config=None,
                        **kwargs):
  """tfds mock: fixture examples in each builder's format."""
  del decoders, read_config, kwargs
  if self.name == "bucc":
    rows = [{"source_sentence": s, "target_sentence": s,
             "source_id": f"de-{i:06d}", "target_id": f"en-{i:06d}"}
            for i, s in enumerate(SENTENCES)]
  else:
    rows = [{"source_sentence": s, "target_sentence": s,
             "source_language": "af", "target_language": "en"}
            for s in SENTENCES]
  assert split in ("validation", "test", "train")
  return tf.data.Dataset.from_generator(
      lambda: iter(rows),
      output_signature={k: tf.TensorSpec([], tf.string) for k in rows[0]})


@pytest.fixture
def model_dir(tmp_path, spm_path):
  path = str(tmp_path / "model_dir")
  shapes = model_dir_lib.variable_shapes(CONFIG, pooler=False)
  model_dir_writer.write_model_dir(
      path, CONFIG, model_testing.random_weights(shapes, seed=3).items(),
      spm_path)
  saved = gin.config_str()
  yield path
  gin.clear_config()
  gin.parse_config(saved)


def test_run_retrieval_scores_identical_pairs_100_and_resumes(
    model_dir, tmp_path):
  out = str(tmp_path / "retrieval")
  embedder = embed.Embedder(model_dir, batch_size=4)
  calls = []

  def embed_fn(ids, layer, pooling):
    calls.append((len(ids), layer, pooling))
    return embedder(ids, layer, pooling)

  with tfds.testing.mock_data(as_dataset_fn=_fixture_as_dataset):
    scores = retrieval.run_retrieval(model_dir, ["bucc_de", "tatoeba_af"],
                                     out, layer=1, embed_fn=embed_fn)
  assert scores == {"bucc": {"de": 100.0}, "tatoeba": {"af": 100.0}}
  # One call per benchmark, every sentence of every split; XTREME's pooling.
  n = len(SENTENCES)
  assert calls == [(4 * n, 1, "cls"), (2 * n, 1, "mean")]
  details = json.loads((tmp_path / "retrieval" / "bucc" / "de.json")
                       .read_text())
  assert details["task"] == "bucc_de" and details["score"] == 100.0
  assert details["details"]["dev_f1"] == 100.0
  assert details["settings"]["pooling"] == "cls"
  bucc_lines = (tmp_path / "retrieval" / "bucc" / "predictions" /
                "test-de.tsv").read_text().splitlines()
  assert sorted(bucc_lines) == [f"de-{i:06d}\ten-{i:06d}" for i in range(n)]
  tatoeba_lines = (tmp_path / "retrieval" / "tatoeba" / "predictions" /
                   "test-af.tsv").read_text().splitlines()
  assert tatoeba_lines == [str(i) for i in range(n)]
  summary = json.loads((tmp_path / "retrieval" / "retrieval.json")
                       .read_text())
  assert summary["scores"] == scores
  # Finished languages are read back, never embedded again...
  with tfds.testing.mock_data(as_dataset_fn=_fixture_as_dataset):
    again = retrieval.run_retrieval(model_dir, ["bucc_de", "tatoeba_af"],
                                    out, layer=1, embed_fn=embed_fn)
  assert again == scores and len(calls) == 2
  # ...and other settings are refused, not mixed in.
  with pytest.raises(errors.UserError, match="was written with settings"):
    retrieval.run_retrieval(model_dir, ["tatoeba_af"], out, layer=1,
                            pooling="cls", embed_fn=embed_fn)


def test_run_retrieval_on_shuffled_targets_is_not_100(model_dir, tmp_path):
  # A control: each target replaced by its neighbour's text.
  def shifted(self, split, **kwargs):
    ds = _fixture_as_dataset(self, split, **kwargs)
    rows = list(ds.as_numpy_iterator())
    targets = [r["target_sentence"] for r in rows]
    for r, t in zip(rows, targets[1:] + targets[:1]):
      r["target_sentence"] = t
    return tf.data.Dataset.from_generator(
        lambda: iter(rows),
        output_signature={k: tf.TensorSpec([], tf.string) for k in rows[0]})

  with tfds.testing.mock_data(as_dataset_fn=shifted):
    scores = retrieval.run_retrieval(
        model_dir, ["tatoeba_af"], str(tmp_path / "r"), layer=2,
        embed_fn=embed.Embedder(model_dir))
  # The nearest source of target j is now source j+1 (the same text).
  assert scores == {"tatoeba": {"af": 0.0}}


def test_run_retrieval_refusals(model_dir, tmp_path):
  out = str(tmp_path / "r")

  def never(*args):
    raise AssertionError("embedded though refused")

  with pytest.raises(errors.UserError, match="has 2 Transformer layers"):
    retrieval.run_retrieval(model_dir, ["tatoeba"], out, embed_fn=never)
  with pytest.raises(errors.UserError, match="unknown retrieval task 'xnli'"):
    retrieval.run_retrieval(model_dir, ["xnli"], out, layer=1,
                            embed_fn=never)
  with pytest.raises(errors.UserError, match="'bucc_en'"):
    retrieval.run_retrieval(model_dir, ["bucc_en"], out, layer=1,
                            embed_fn=never)
  with pytest.raises(errors.UserError, match="pooling must be one of"):
    retrieval.run_retrieval(model_dir, ["tatoeba"], out, layer=1,
                            pooling="max", embed_fn=never)
  gin.bind_parameter("get_vocabulary.sentencepiece_model_file",
                     str(tmp_path / "other.model"))
  with pytest.raises(errors.UserError, match="is not the vocabulary of"):
    retrieval.run_retrieval(model_dir, ["tatoeba"], out, layer=1,
                            embed_fn=never)
  assert not os.path.exists(out)


def test_mixture_names_expand_to_every_language():
  entries = retrieval._task_languages(  # pylint: disable=protected-access
      ["bucc", "tatoeba_af", "tatoeba"])
  assert [e[1] for e in entries if e[0] == "bucc"] == ["de", "fr", "ru", "zh"]
  tatoeba = [e[1] for e in entries if e[0] == "tatoeba"]
  assert len(tatoeba) == 36 and tatoeba[0] == "af"  # listed once
  assert all(task == f"{b}_{l}" for b, l, task in entries)



# ------------------------------------------------- `rembert-mtf xtreme` ----


def test_xtreme_command_scores_retrieval_in_its_own_tables(
    model_dir, tmp_path, capsys):
  out = str(tmp_path / "xt")
  with tfds.testing.mock_data(as_dataset_fn=_fixture_as_dataset):
    code, stdout, err = cli_testing.run(
        ["xtreme", f"--model_dir={model_dir}", "--tasks=bucc,tatoeba",
         "--retrieval_layer=1", f"--output_dir={out}"], capsys)
  assert code == 0, err[-2000:]
  summary = json.loads((tmp_path / "xt" / "summary.json").read_text())
  assert summary["tasks"] == {} and summary["setting"] == "zero-shot"
  bucc = summary["retrieval"]["benchmarks"]["bucc"]
  tatoeba = summary["retrieval"]["benchmarks"]["tatoeba"]
  # Every language of each (identical pairs: 100 for a correct run).
  assert bucc["languages"] == {l: 100.0 for l in ("de", "fr", "ru", "zh")}
  assert len(tatoeba["languages"]) == 36
  assert set(tatoeba["languages"].values()) == {100.0}
  assert (bucc["metric"], tatoeba["metric"]) == ("f1", "accuracy")
  assert bucc["settings"]["pooling"] == "cls"
  assert tatoeba["settings"]["pooling"] == "mean"
  assert bucc["settings"]["layer"] == tatoeba["settings"]["layer"] == 1
  assert summary["retrieval"]["group_avg"] == 100.0
  assert "### bucc (f1, layer 1, cls pooling)" in stdout
  assert "XTREME sentence-retrieval group" in stdout
  assert (tmp_path / "xt" / "results.md").read_text() in stdout
  rows = (tmp_path / "xt" / "results.csv").read_text().splitlines()
  assert "bucc,de,f1,100.0,0.0,0," in rows
  assert "averages,,xtreme_group:retrieval,100.0,0.0,0," in rows
  assert os.path.isfile(os.path.join(out, "retrieval", "bucc", "de.json"))


def test_xtreme_command_pooling_flag_and_refusals(model_dir, tmp_path,
                                                  capsys):
  out = str(tmp_path / "xt")
  with tfds.testing.mock_data(as_dataset_fn=_fixture_as_dataset):
    code, _, err = cli_testing.run(
        ["xtreme", f"--model_dir={model_dir}", "--tasks=bucc",
         "--retrieval_layer=0", "--retrieval_pooling=mean",
         f"--output_dir={out}"], capsys)
  assert code == 0, err[-2000:]
  summary = json.loads((tmp_path / "xt" / "summary.json").read_text())
  assert summary["retrieval"]["benchmarks"]["bucc"]["settings"][
      "pooling"] == "mean"
  assert summary["retrieval"]["group_avg"] is None  # Tatoeba missing
  other = str(tmp_path / "other")
  cli_testing.expect_refusal(
      ["xtreme", f"--model_dir={model_dir}", "--tasks=xnli,tatoeba",
       "--setting=translate-train", f"--output_dir={other}"], capsys,
      "--setting=translate-train: tatoeba is zero-shot retrieval",
      destination=other)
  cli_testing.expect_refusal(
      ["xtreme", f"--model_dir={model_dir}", "--tasks=tatoeba",
       f"--output_dir={other}"], capsys,
      "retrieval layer 8:", "has 2 Transformer layers", destination=other)
  cli_testing.expect_usage_error(
      ["xtreme", f"--model_dir={model_dir}", "--tasks=bucc",
       "--retrieval_layer=-1"], capsys, "--retrieval_layer")
