"""import-hf / export-hf: bit-identical round trips, clean loading in
transformers, parity of outputs (tokenization included) and refusals of bad
input that leave nothing behind."""

import json
import os
import shutil
import subprocess
import sys

import gin
import numpy as np
import pytest
from safetensors.numpy import load_file
import torch
import transformers

from rembert_mtf.interop import embed
from rembert_mtf.interop import hf_convert
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.training import model_dir as model_dir_lib
from tests import cli_testing

VOCAB = 256  # pieces of the conftest SentencePiece model
ATOL = 1e-4
LINES = ["kalo mine su.", "über ça 日本京 12 ,",
         "ta ri po ka lo mi ne su ta ri"]


def hf_config(cls, **overrides):
  """A tiny transformers config for `cls` over the test vocabulary."""
  common = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=48,
                max_position_embeddings=32, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0, pad_token_id=0)
  if cls.__name__.startswith("Bert"):
    return transformers.BertConfig(**{**common, **overrides})
  return transformers.RemBertConfig(
      **{**common, "input_embedding_size": 16, "output_embedding_size": 24,
         "bos_token_id": 2, "eos_token_id": 3, **overrides})


def save_hf_model(cls, folder, spm_path, seed=0, **overrides):
  """Saves a randomly weighted `cls` (every weight matters) with the vocab."""
  torch.manual_seed(seed)
  model = cls(hf_config(cls, **overrides)).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "LayerNorm.weight" in name:
        p.copy_(1.0 + 0.1 * torch.randn_like(p))
      else:
        p.copy_(0.2 * torch.randn_like(p))
  model.save_pretrained(folder)
  shutil.copyfile(spm_path, os.path.join(folder, "sentencepiece.model"))
  return model


ROUND_TRIPS = [
    (transformers.RemBertModel, {}),
    (transformers.RemBertForMaskedLM, {}),
    (transformers.RemBertForSequenceClassification, {"num_labels": 3}),
    (transformers.RemBertForTokenClassification, {"num_labels": 5}),
    (transformers.RemBertForQuestionAnswering, {}),
    (transformers.BertForMaskedLM, {}),
    (transformers.BertForSequenceClassification, {"num_labels": 4}),
]


@pytest.mark.parametrize("cls,overrides", ROUND_TRIPS,
                         ids=[c.__name__ for c, _ in ROUND_TRIPS])
def test_import_then_export_is_bit_identical(cls, overrides, tmp_path,
                                             spm_path):
  src, dst, out = (str(tmp_path / n) for n in ("src", "model_dir", "out"))
  save_hf_model(cls, src, spm_path, **overrides)
  assert cli_testing.exit_code(["import-hf", src, "--model_dir", dst]) == 0
  assert cli_testing.exit_code(["export-hf", "--model_dir", dst, "--out",
                                out]) == 0
  before = load_file(os.path.join(src, "model.safetensors"))
  after = load_file(os.path.join(out, "model.safetensors"))
  assert sorted(after) == sorted(before)
  for key, value in before.items():
    assert after[key].dtype == value.dtype, key
    np.testing.assert_array_equal(after[key], value, err_msg=key)
  config = json.load(open(os.path.join(out, "config.json")))
  assert config["architectures"] == [cls.__name__]
  _, info = cls.from_pretrained(out, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"], info
  assert not info["mismatched_keys"], info


def test_model_dir_holds_the_format_other_commands_read(tmp_path, spm_path):
  src, dst = str(tmp_path / "src"), str(tmp_path / "model_dir")
  save_hf_model(transformers.RemBertForMaskedLM, src, spm_path)
  hf_convert.import_hf(src, dst)
  assert sorted(os.listdir(dst)) == sorted([
      "checkpoint", "model.ckpt-0.index", "model.ckpt-0.data-00000-of-00001",
      "operative_config.gin", "sentencepiece.model"])
  config = model_dir_lib.read_config(dst)
  assert (config.hidden_size, config.num_layers, config.num_heads,
          config.head_size, config.input_embedding_size,
          config.output_embedding_size, config.intermediate_size) == (
              32, 2, 4, 8, 16, 24, 48)
  gin_text = open(os.path.join(dst, "operative_config.gin")).read()
  assert (f"get_vocabulary.sentencepiece_model_file = "
          f"'{os.path.join(dst, 'sentencepiece.model')}'") in gin_text
  for field in model_dir_lib.CONFIG_FIELDS:
    assert f"RemBertConfig.{field} = " in gin_text
  reader = model_dir_lib.CheckpointReader(model_dir_lib.latest_checkpoint(dst))
  assert reader.dtypes["global_step"].name == "int64" and reader.step() == 0
  expected = model_dir_lib.variable_shapes(config, mlm=True)
  assert {n: reader.shapes[n] for n in reader.model_variables()} == expected


def test_read_config_parses_gin_alone(tmp_path):
  (tmp_path / "operative_config.gin").write_text(
      "import rembert_mtf.model.modeling\n"
      "WIDTH = 48\n"
      "RemBertConfig.hidden_size = %WIDTH\n"
      "rembert_mtf.model.modeling.RemBertConfig.num_layers = 3\n"
      "finetune/RemBertConfig.num_layers = 9  # scoped: not the model's\n"
      "trainer.batch_size = [1,\n   2]\n")
  gin.parse_config("RemBertConfig.num_extra_output_layers = 4")
  try:
    config = model_dir_lib.read_config(str(tmp_path))
  finally:
    gin.clear_config()
  assert (config.hidden_size, config.num_layers) == (48, 3)
  assert config.num_extra_output_layers == 0  # not the process's binding
  assert config.vocab_size == modeling.RemBertConfig.vocab_size  # default
  (tmp_path / "operative_config.gin").write_text(
      "RemBertConfig.hidden_sise = 48\n")
  with pytest.raises(ValueError, match="hidden_sise"):
    model_dir_lib.read_config(str(tmp_path))


def test_export_heads_from_one_model_dir(tmp_path, spm_path):
  src, dst = str(tmp_path / "src"), str(tmp_path / "model_dir")
  save_hf_model(transformers.RemBertForMaskedLM, src, spm_path)
  hf_convert.import_hf(src, dst)
  # No pooler in a masked-LM checkpoint: RemBertModel gets a fresh one.
  out = str(tmp_path / "base")
  hf_convert.export_hf(dst, out, head="none")
  model, info = transformers.RemBertModel.from_pretrained(
      out, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"], info
  exported = load_file(os.path.join(out, "model.safetensors"))
  assert not any(k.startswith(("rembert.", "cls.")) for k in exported)
  np.testing.assert_array_equal(exported["pooler.dense.bias"], 0.0)
  with pytest.raises(KeyError, match="classifier/kernel"):
    hf_convert.export_hf(dst, str(tmp_path / "cls"), head="classification")
  cli_testing.assert_nothing_written(str(tmp_path / "cls"))


def test_sharded_export_loads(tmp_path, spm_path):
  src, dst, out = (str(tmp_path / n) for n in ("src", "model_dir", "out"))
  save_hf_model(transformers.RemBertForMaskedLM, src, spm_path)
  hf_convert.import_hf(src, dst)
  hf_convert.export_hf(dst, out, max_shard_bytes=20_000)
  files = os.listdir(out)
  shards = sorted(f for f in files if f.endswith(".safetensors"))
  assert len(shards) > 2 and "model.safetensors.index.json" in files
  before = load_file(os.path.join(src, "model.safetensors"))
  after = {}
  for shard in shards:
    after.update(load_file(os.path.join(out, shard)))
  assert sorted(after) == sorted(before)
  for key in before:
    np.testing.assert_array_equal(after[key], before[key], err_msg=key)
  _, info = transformers.RemBertForMaskedLM.from_pretrained(
      out, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"], info


# ----------------------------------------------------------------------------
# Parity with transformers on the same text, tokenization included
# ----------------------------------------------------------------------------


def _tokenized(folder, model_dir):
  """Ids from transformers' RemBertTokenizer and from our vocabulary."""
  tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
  assert isinstance(tokenizer, transformers.RemBertTokenizer)
  theirs = [tokenizer(line)["input_ids"] for line in LINES]
  config = model_dir_lib.read_config(model_dir)
  vocab_path = model_dir_lib.vocabulary_path(model_dir)
  specials = model_dir_lib.check_vocabulary(vocab_path, config)
  ours, _ = embed.tokenize(LINES, embed.vocabulary.get_vocabulary(vocab_path),
                           specials, config.max_position_embeddings)
  for a, b in zip(ours, theirs):
    np.testing.assert_array_equal(a, b)
  assert all(ids[0] == specials.cls and ids[-1] == specials.sep
             for ids in ours)
  pair = tokenizer(LINES[0], LINES[1])
  assert pair["input_ids"] == (list(ours[0]) + list(ours[1][1:]))
  return ours


def test_hidden_and_pooled_outputs_match_transformers(tmp_path, spm_path):
  src, dst, out = (str(tmp_path / n) for n in ("src", "model_dir", "out"))
  model = save_hf_model(transformers.RemBertModel, src, spm_path, seed=1)
  hf_convert.import_hf(src, dst)
  hf_convert.export_hf(dst, out)
  ids = _tokenized(out, dst)
  npy = str(tmp_path / "x.npy")
  embed.embed(dst, _write_lines(tmp_path), npy)
  hidden = np.load(npy, allow_pickle=True)
  pooled = np.load(embed.pooled_path(npy))
  for i, line_ids in enumerate(ids):
    with torch.no_grad():
      theirs = model(input_ids=torch.tensor([line_ids]).long())
    np.testing.assert_allclose(hidden[i], theirs.last_hidden_state[0].numpy(),
                               rtol=0, atol=ATOL)
    np.testing.assert_allclose(pooled[i], theirs.pooler_output[0].numpy(),
                               rtol=0, atol=ATOL)
  assert np.abs(pooled).max() > 0.1


def test_mlm_logits_match_transformers(tmp_path, spm_path):
  src, dst, out = (str(tmp_path / n) for n in ("src", "model_dir", "out"))
  save_hf_model(transformers.RemBertForMaskedLM, src, spm_path, seed=2)
  hf_convert.import_hf(src, dst)
  hf_convert.export_hf(dst, out)
  model = transformers.RemBertForMaskedLM.from_pretrained(out).eval()
  ids = _tokenized(out, dst)
  length = max(len(x) for x in ids)
  features = {
      "input_ids": np.zeros((len(ids), length), np.int32),
      "input_mask": np.zeros((len(ids), length), np.int32),
      "masked_lm_positions": np.tile(np.arange(length, dtype=np.int32),
                                     (len(ids), 1)),
      "masked_lm_ids": np.zeros((len(ids), length), np.int32),
      "masked_lm_weights": np.ones((len(ids), length), np.float32),
  }
  for i, x in enumerate(ids):
    features["input_ids"][i, :len(x)] = x
    features["input_mask"][i, :len(x)] = 1
  features["token_type_ids"] = np.zeros_like(features["input_ids"])
  config = model_dir_lib.read_config(dst)
  graph = mesh_graph.MeshGraph(
      config, mesh_graph.BatchShape(len(ids), length, length))
  graph.set_weights(model_dir_lib.read_weights(dst))
  ours = graph.run(features, ["mlm_logits", "sequence_output"])
  graph.close()
  with torch.no_grad():
    theirs = model(input_ids=torch.from_numpy(features["input_ids"]).long(),
                   attention_mask=torch.from_numpy(features["input_mask"]),
                   output_hidden_states=True)
  for i, x in enumerate(ids):
    n = len(x)
    np.testing.assert_allclose(ours["mlm_logits"][i, :n],
                               theirs.logits[i, :n].numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours["sequence_output"][i, :n],
                               theirs.hidden_states[-1][i, :n].numpy(),
                               rtol=0, atol=ATOL)


@pytest.mark.parametrize("cls", [transformers.RemBertForSequenceClassification,
                                 transformers.RemBertForQuestionAnswering])
def test_task_head_layout_matches_transformers(cls, tmp_path, spm_path):
  """Our head kernels [d_model, classes] (QA: class 0 = start) applied as
  modeling.py does reproduce transformers' logits."""
  src, dst = str(tmp_path / "src"), str(tmp_path / "model_dir")
  qa = cls is transformers.RemBertForQuestionAnswering
  model = save_hf_model(cls, src, spm_path, seed=3, num_labels=2 if qa else 3)
  hf_convert.import_hf(src, dst)
  ids = np.array([[2, 14, 26, 143, 22, 233, 3]], np.int32)
  config = model_dir_lib.read_config(dst)
  weights = model_dir_lib.read_weights(dst)
  graph = mesh_graph.MeshGraph(config, mesh_graph.BatchShape(1, ids.shape[1]))
  graph.set_weights({n: v for n, v in weights.items()
                     if n.startswith("bert/")})
  ours = graph.run({"input_ids": ids, "input_mask": np.ones_like(ids),
                    "token_type_ids": np.zeros_like(ids)})
  graph.close()
  with torch.no_grad():
    theirs = model(input_ids=torch.from_numpy(ids).long())
  if qa:
    logits = (ours["sequence_output"] @ weights["qa_outputs/kernel"] +
              weights["qa_outputs/bias"])
    np.testing.assert_allclose(logits[..., 0], theirs.start_logits.numpy(),
                               rtol=0, atol=ATOL)
    np.testing.assert_allclose(logits[..., 1], theirs.end_logits.numpy(),
                               rtol=0, atol=ATOL)
  else:
    logits = (ours["pooled_output"] @ weights["classifier/kernel"] +
              weights["classifier/bias"])
    np.testing.assert_allclose(logits, theirs.logits.numpy(), rtol=0,
                               atol=ATOL)


def _write_lines(tmp_path):
  path = tmp_path / "lines.txt"
  path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  return str(path)


# ----------------------------------------------------------------------------
# Bad input: one line naming the problem, exit 2, nothing in the destination
# ----------------------------------------------------------------------------


def _edit_config(src, **changes):
  path = os.path.join(src, "config.json")
  config = json.load(open(path))
  config.update(changes)
  json.dump(config, open(path, "w"))


@pytest.fixture
def masked_lm_source(tmp_path, spm_path):
  src = str(tmp_path / "src")
  save_hf_model(transformers.RemBertForMaskedLM, src, spm_path)
  return src


def test_shape_disagreeing_with_config_is_refused(masked_lm_source, tmp_path,
                                                  capsys):
  _edit_config(masked_lm_source, intermediate_size=40)
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      ["import-hf", masked_lm_source, "--model_dir", dst], capsys,
      "rembert.encoder.layer.0.intermediate.dense.weight", "[48, 32]",
      "[40, 32]", destination=dst)


def test_truncated_weights_are_refused(masked_lm_source, tmp_path, capsys):
  path = os.path.join(masked_lm_source, "model.safetensors")
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.truncate(size - 100)
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      ["import-hf", masked_lm_source, "--model_dir", dst], capsys,
      "model.safetensors", destination=dst)


def test_corrupt_weights_are_refused(masked_lm_source, tmp_path, capsys):
  with open(os.path.join(masked_lm_source, "model.safetensors"), "wb") as f:
    f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      ["import-hf", masked_lm_source, "--model_dir", dst], capsys,
      "model.safetensors", destination=dst)


def test_missing_vocabulary_is_refused(masked_lm_source, tmp_path, capsys):
  os.remove(os.path.join(masked_lm_source, "sentencepiece.model"))
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      ["import-hf", masked_lm_source, "--model_dir", dst], capsys,
      "sentencepiece.model", destination=dst)


def test_unknown_architecture_is_refused(masked_lm_source, tmp_path, capsys):
  _edit_config(masked_lm_source, architectures=["RemBertForCausalLM"])
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      ["import-hf", masked_lm_source, "--model_dir", dst], capsys,
      "config.json", "RemBertForCausalLM", destination=dst)


def test_module_entry_point_exits_non_zero(masked_lm_source, tmp_path):
  _edit_config(masked_lm_source, architectures=["GPT2LMHeadModel"])
  dst = str(tmp_path / "model_dir")
  result = subprocess.run(
      [sys.executable, "-m", "rembert_mtf.cli.main", "import-hf",
       masked_lm_source, "--model_dir", dst], capture_output=True, text=True,
      check=False)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      "rembert-mtf: error: ")
  assert "GPT2LMHeadModel" in result.stderr
  cli_testing.assert_nothing_written(dst)


def test_pytorch_bin_reads_with_torch(tmp_path, spm_path):
  src, dst = str(tmp_path / "src"), str(tmp_path / "model_dir")
  model = save_hf_model(transformers.RemBertForMaskedLM, src, spm_path)
  os.remove(os.path.join(src, "model.safetensors"))
  torch.save(model.state_dict(), os.path.join(src, "pytorch_model.bin"))
  hf_convert.import_hf(src, dst)
  weights = model_dir_lib.read_weights(dst)
  np.testing.assert_array_equal(
      weights["bert/embeddings/word_embeddings"],
      model.rembert.embeddings.word_embeddings.weight.detach().numpy())


def test_existing_destination_is_kept_unless_overwrite(masked_lm_source,
                                                       tmp_path, capsys):
  dst = tmp_path / "model_dir"
  dst.mkdir()
  (dst / "keep.txt").write_text("mine")
  assert cli_testing.exit_code(["import-hf", masked_lm_source, "--model_dir",
                                str(dst)]) == 2
  assert "already exists" in capsys.readouterr().err
  assert os.listdir(dst) == ["keep.txt"]
  assert cli_testing.exit_code(["import-hf", masked_lm_source, "--model_dir",
                                str(dst), "--overwrite"]) == 0
  assert "keep.txt" not in os.listdir(dst)
  assert model_dir_lib.read_config(str(dst)).hidden_size == 32


def test_export_of_a_corrupt_checkpoint_is_refused(masked_lm_source, tmp_path,
                                                   capsys):
  dst, out = str(tmp_path / "model_dir"), str(tmp_path / "out")
  hf_convert.import_hf(masked_lm_source, dst)
  data = os.path.join(dst, "model.ckpt-0.data-00000-of-00001")
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  cli_testing.expect_refusal(
      ["export-hf", "--model_dir", dst, "--out", out], capsys,
      "model.ckpt-0", destination=out)


def test_export_shape_disagreeing_with_operative_config(masked_lm_source,
                                                        tmp_path, capsys):
  dst, out = str(tmp_path / "model_dir"), str(tmp_path / "out")
  hf_convert.import_hf(masked_lm_source, dst)
  gin_path = os.path.join(dst, "operative_config.gin")
  text = open(gin_path).read().replace(
      "RemBertConfig.intermediate_size = 48",
      "RemBertConfig.intermediate_size = 40")
  open(gin_path, "w").write(text)
  cli_testing.expect_refusal(
      ["export-hf", "--model_dir", dst, "--out", out], capsys,
      "bert/encoder/layer_0/intermediate/dense/kernel", destination=out)
