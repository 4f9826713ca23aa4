"""`embed`: per-line hidden states in input order, equal to one padded run of
the model; pooled outputs beside them; truncation with a warning."""

import os

import numpy as np

from rembert_mtf.data import vocabulary
from rembert_mtf.interop import embed
from rembert_mtf.model import mesh_graph
from rembert_mtf.interop import model_dir_writer
from rembert_mtf.training import model_dir as model_dir_lib
from tests import cli_testing
from tests import model_testing

LINES = ["kalo mine su.", "", "über ça 日本京 12 ,",
         "ta ri po ka lo mi ne su ta ri po ka lo mi ne su",
         "ka", "mi ne ne ne ne ne ne ne su ta ri po ka lo mi ne su ta"]
CONFIG = model_testing.tiny_config(vocab_size=256, max_position_embeddings=32)


def _model_dir(path, spm_path, pooler=True, seed=0):
  shapes = model_dir_lib.variable_shapes(CONFIG, pooler=pooler)
  weights = model_testing.random_weights(shapes, seed=seed)
  model_dir_writer.write_model_dir(path, CONFIG, weights.items(), spm_path)
  return weights


def _reference(weights, ids):
  """Every line in one padded batch: hidden states and pooled outputs."""
  length = max(len(x) for x in ids)
  features = {"input_ids": np.zeros((len(ids), length), np.int32),
              "input_mask": np.zeros((len(ids), length), np.int32)}
  for i, x in enumerate(ids):
    features["input_ids"][i, :len(x)] = x
    features["input_mask"][i, :len(x)] = 1
  features["token_type_ids"] = np.zeros_like(features["input_ids"])
  graph = mesh_graph.MeshGraph(CONFIG, mesh_graph.BatchShape(len(ids), length))
  graph.set_weights(weights)
  out = graph.run(features)
  graph.close()
  return ([out["sequence_output"][i, :len(x)] for i, x in enumerate(ids)],
          out["pooled_output"])


def _ids(spm_path, lines, max_length=CONFIG.max_position_embeddings):
  vocab = vocabulary.get_vocabulary(spm_path)
  return embed.tokenize(lines, vocab, vocabulary.special_tokens(vocab),
                        max_length)


def test_lines_in_order_equal_one_paddedrun_cli(tmp_path, spm_path, caplog):
  dst = str(tmp_path / "model_dir")
  weights = _model_dir(dst, spm_path)
  long_line = " ".join(["kalo mine su ta ri"] * 12)
  lines = LINES + [long_line]
  (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
  out = str(tmp_path / "x.npy")
  assert cli_testing.exit_code(["embed", "--model_dir", dst, "--input",
                                str(tmp_path / "in.txt"), "--out", out,
                                "--batch_size", "2"]) == 0
  assert "1 of 7 lines are longer than 32 tokens" in caplog.text
  hidden = np.load(out, allow_pickle=True)
  pooled = np.load(str(tmp_path / "x.pooled.npy"))
  ids, truncated = _ids(spm_path, lines)
  assert truncated == 1 and len(ids[-1]) == 32
  assert hidden.dtype == object and len(hidden) == len(lines)
  assert pooled.shape == (len(lines), CONFIG.hidden_size)
  assert pooled.dtype == np.float32
  # Several buckets (8, 16, 32) and batches: results must not depend on them.
  assert len({embed.bucket_length(len(x), 32) for x in ids}) >= 3
  expected_hidden, expected_pooled = _reference(weights, ids)
  for i, x in enumerate(ids):
    assert hidden[i].shape == (len(x), CONFIG.hidden_size), i
    assert hidden[i].dtype == np.float32
    np.testing.assert_allclose(hidden[i], expected_hidden[i], rtol=0,
                               atol=1e-5, err_msg=str(i))
  np.testing.assert_allclose(pooled, expected_pooled, rtol=0, atol=1e-5)
  # Rows differ from each other: not one line's result broadcast.
  assert np.abs(pooled[0] - pooled[2]).max() > 1e-3


def test_tokenization_is_cls_pieces_sep(spm_path):
  ids, truncated = _ids(spm_path, ["kalo mine", ""], max_length=4)
  vocab = vocabulary.get_vocabulary(spm_path)
  pieces = list(vocab.encode("kalo mine"))
  assert len(pieces) > 2 and truncated == 1
  np.testing.assert_array_equal(ids[0], [2] + pieces[:2] + [3])
  np.testing.assert_array_equal(ids[1], [2, 3])


def test_no_pooler_no_pooled_file(tmp_path, spm_path, caplog):
  dst = str(tmp_path / "model_dir")
  _model_dir(dst, spm_path, pooler=False)
  (tmp_path / "in.txt").write_text("kalo\nmine su\n", encoding="utf-8")
  out = str(tmp_path / "y.npy")
  count, pooled = embed.embed(dst, str(tmp_path / "in.txt"), out)
  assert count == 2 and pooled is None
  assert not os.path.exists(tmp_path / "y.pooled.npy")
  assert "no pooler" in caplog.text
  assert [h.shape[0] for h in np.load(out, allow_pickle=True)] == [
      len(x) for x in _ids(spm_path, ["kalo", "mine su"])[0]]


def test_bad_input_is_one_line(tmp_path, spm_path, capsys):
  dst = str(tmp_path / "model_dir")
  out = str(tmp_path / "z.npy")
  (tmp_path / "in.txt").write_text("kalo\n", encoding="utf-8")

  def argv(*flags, lines=str(tmp_path / "in.txt")):
    return ["embed", "--model_dir", dst, "--input", lines, "--out", out,
            *flags]

  cli_testing.expect_refusal(argv(), capsys, "operative_config.gin",
                             destination=out)
  _model_dir(dst, spm_path)
  cli_testing.expect_refusal(argv(lines=str(tmp_path / "missing.txt")),
                             capsys, "missing.txt", destination=out)
  # max_position_embeddings is 32: a longer limit would be cut silently.
  cli_testing.expect_refusal(
      argv("--max_length=33"), capsys, "--max_length=33 exceeds the "
      "model's max_position_embeddings = 32", destination=out)
  cli_testing.expect_refusal(argv("--max_length=1"), capsys,
                             "--max_length must be at least 2",
                             destination=out)
  cli_testing.expect_usage_error(argv("--batch_size=0"), capsys,
                                 "--batch_size: 0 must be at least 1")
  os.remove(os.path.join(dst, "sentencepiece.model"))
  cli_testing.expect_refusal(argv(), capsys, "no vocabulary",
                             destination=out)
  assert not os.path.exists(out)


def test_batches_cover_every_line_once_in_fitting_buckets():
  lengths = [3, 9, 9, 9, 17, 2, 30, 12, 5, 8, 8]
  ids = [np.zeros(n, np.int32) for n in lengths]
  seen, buckets = [], []
  batches_of = embed._batches  # pylint: disable=protected-access
  for length, batches in batches_of(ids, 3, 32):
    buckets.append(length)
    for batch in batches:
      assert 0 < len(batch) <= 3
      assert all(lengths[i] <= length for i in batch)
      seen += batch
  assert sorted(seen) == list(range(len(lengths)))
  # 8: five lines; 16: four; 32: two lines, the last bucket, kept.
  assert buckets == [8, 16, 32]
  assert list(batches_of(ids[:2], 3, 32))[0][0] == 16  # 3 joins 9's bucket
