"""`embed`: per-line hidden states in input order, equal to one padded run of
the model; pooled outputs beside them; truncation with a warning; a chosen
layer and pooling equal to transformers' hidden states pooled the same way."""

import os

import numpy as np
import pytest
import torch
import transformers

from rembert_mtf.data import vocabulary
from rembert_mtf.interop import embed
from rembert_mtf.interop import hf_names
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


# ------------------------------------------------ --layer and --pooling ----

HF_ATOL = 1e-4


def _hf_hidden_states(weights, ids):
  """transformers' RemBertModel hidden_states (embeddings output first) on
  the lines padded into one batch, as numpy [batch, length, H] each."""
  hf_config = transformers.RemBertConfig(
      vocab_size=CONFIG.vocab_size, hidden_size=CONFIG.hidden_size,
      num_hidden_layers=CONFIG.num_layers,
      num_attention_heads=CONFIG.num_heads,
      intermediate_size=CONFIG.intermediate_size,
      max_position_embeddings=CONFIG.max_position_embeddings,
      type_vocab_size=CONFIG.type_vocab_size, hidden_act="gelu",
      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
      layer_norm_eps=CONFIG.layer_norm_epsilon,
      input_embedding_size=CONFIG.input_embedding_size,
      output_embedding_size=CONFIG.output_embedding_size)
  model = transformers.RemBertModel(hf_config)
  state = {k[len("rembert."):]: torch.from_numpy(np.asarray(v))
           for k, v in hf_names.to_hf_state_dict(weights, "rembert").items()}
  missing, unexpected = model.load_state_dict(state, strict=False)
  assert not unexpected
  assert all(k.endswith(("position_ids", "token_type_ids")) for k in missing)
  length = max(len(x) for x in ids)
  input_ids = np.zeros((len(ids), length), np.int64)
  mask = np.zeros((len(ids), length), np.int64)
  for i, x in enumerate(ids):
    input_ids[i, :len(x)] = x
    mask[i, :len(x)] = 1
  with torch.no_grad():
    out = model.eval()(input_ids=torch.from_numpy(input_ids),
                       attention_mask=torch.from_numpy(mask),
                       token_type_ids=torch.zeros_like(
                           torch.from_numpy(input_ids)),
                       output_hidden_states=True)
  assert len(out.hidden_states) == CONFIG.num_layers + 1
  return [h.numpy() for h in out.hidden_states], mask


@pytest.mark.parametrize("layer,pooling", [(1, "mean"), (0, "cls"),
                                           (2, "mean")])
def test_layer_and_pooling_match_transformers_cli(tmp_path, spm_path, capsys,
                                                  layer, pooling):
  dst = str(tmp_path / "model_dir")
  weights = _model_dir(dst, spm_path, seed=4)
  (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
  out = str(tmp_path / "x.npy")
  code, stdout, _ = cli_testing.run(
      ["embed", "--model_dir", dst, "--input", str(tmp_path / "in.txt"),
       "--out", out, f"--layer={layer}", f"--pooling={pooling}",
       "--batch_size=4"], capsys)
  assert code == 0
  assert f"(layer {layer}, pooling {pooling})" in stdout
  ours = np.load(out)
  assert ours.dtype == np.float32
  assert ours.shape == (len(LINES), CONFIG.hidden_size)
  assert not os.path.exists(tmp_path / "x.pooled.npy")
  ids, _ = _ids(spm_path, LINES)
  hidden, mask = _hf_hidden_states(weights, ids)
  states = hidden[layer]
  if pooling == "mean":  # over the real tokens, [CLS] and [SEP] included
    expected = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
  else:
    expected = states[:, 0]
  np.testing.assert_allclose(ours, expected, rtol=0, atol=HF_ATOL)
  # Layers differ: a wrong layer would not pass by accident.
  other = hidden[(layer + 1) % len(hidden)]
  assert np.abs(other[:, 0] - states[:, 0]).max() > 10 * HF_ATOL


def test_per_token_states_of_a_middle_layer_match_transformers(
    tmp_path, spm_path):
  dst = str(tmp_path / "model_dir")
  weights = _model_dir(dst, spm_path, seed=5)
  (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
  out = str(tmp_path / "x.npy")
  count, pooled = embed.embed(dst, str(tmp_path / "in.txt"), out, layer=1)
  # The pooler reads the last layer: no pooled outputs for layer 1.
  assert count == len(LINES) and pooled is None
  hidden = np.load(out, allow_pickle=True)
  ids, _ = _ids(spm_path, LINES)
  states, _ = _hf_hidden_states(weights, ids)
  for i, x in enumerate(ids):
    assert hidden[i].shape == (len(x), CONFIG.hidden_size)
    np.testing.assert_allclose(hidden[i], states[1][i, :len(x)], rtol=0,
                               atol=HF_ATOL, err_msg=str(i))


def test_embedder_serves_sentence_embeddings(tmp_path, spm_path):
  dst = str(tmp_path / "model_dir")
  _model_dir(dst, spm_path, seed=6)
  embedder = embed.Embedder(dst, batch_size=3)
  ids, _ = _ids(spm_path, LINES)
  vectors = embedder(ids, 1, "cls")
  # As `embed` computes them, one line at a time or all together.
  (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
  embed.embed(dst, str(tmp_path / "in.txt"), str(tmp_path / "x.npy"),
              batch_size=2, layer=1, pooling="cls")
  np.testing.assert_allclose(vectors, np.load(tmp_path / "x.npy"), rtol=0,
                             atol=1e-5)
  assert embedder(ids[:0], 1, "mean").shape == (0, CONFIG.hidden_size)
  with pytest.raises(ValueError, match="pooling must be 'mean' or 'cls'"):
    embedder(ids, 1, "none")


def test_layer_and_pooling_refusals(tmp_path, spm_path, capsys):
  dst = str(tmp_path / "model_dir")
  _model_dir(dst, spm_path)
  (tmp_path / "in.txt").write_text("kalo\n", encoding="utf-8")
  out = str(tmp_path / "z.npy")
  argv = ["embed", "--model_dir", dst, "--input", str(tmp_path / "in.txt"),
          "--out", out]
  cli_testing.expect_refusal(argv + ["--layer=3"], capsys,
                             "--layer=3: the model has 2 Transformer layers",
                             destination=out)
  cli_testing.expect_usage_error(argv + ["--layer=-1"], capsys,
                                 "--layer: -1 must be at least 0")
  cli_testing.expect_usage_error(argv + ["--pooling=max"], capsys,
                                 "--pooling: invalid choice: 'max'")
