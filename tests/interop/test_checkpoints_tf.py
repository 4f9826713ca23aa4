"""import-tf: checkpoints in the original release's format (written here with
tf.compat.v1 Saver) become model_dirs whose export equals transformers 4.x
`load_tf_weights_in_rembert`'s mapping; streaming writes; bad input."""

import json
import os
import re
import subprocess
import sys
import weakref

import numpy as np
import pytest
from safetensors.numpy import load_file
import transformers

from rembert_mtf import compat
from rembert_mtf.interop import hf_convert
from rembert_mtf.interop import original_tf
from rembert_mtf.model import modeling
from rembert_mtf.interop import model_dir_writer
from rembert_mtf.training import model_dir as model_dir_lib
from tests import cli_testing

tf = compat.tf

SIZES = dict(vocab_size=256, hidden_size=32, num_layers=2, num_heads=4,
             head_size=8, intermediate_size=48, max_position_embeddings=32,
             input_embedding_size=16, output_embedding_size=24)
TRANSFORMERS_STYLE = {
    "architectures": ["RemBertModel"], "model_type": "rembert",
    "vocab_size": 256, "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 48,
    "max_position_embeddings": 32, "type_vocab_size": 2,
    "input_embedding_size": 16, "output_embedding_size": 24,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0, "initializer_range": 0.02}
BERT_STYLE = {  # bert_config.json keys, no model_type
    "attention_probs_dropout_prob": 0.0, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0, "hidden_size": 32, "initializer_range": 0.02,
    "intermediate_size": 48, "max_position_embeddings": 32,
    "num_attention_heads": 4, "num_hidden_layers": 2, "type_vocab_size": 2,
    "vocab_size": 256, "input_embedding_size": 16,
    "output_embedding_size": 24}


def release_variables(config, seed=0, mlm=True, pooler=True,
                      output_embedding="cls/predictions/output_embedding"):
  """{release name: array} in the release's layout (2-D kernels, 1-D biases)."""
  rng = np.random.RandomState(seed)
  shapes = model_dir_lib.variable_shapes(config, mlm=mlm, pooler=pooler)
  variables = {}
  for name, shape in shapes.items():
    release = output_embedding if name.endswith("output_embedding") else name
    scale = 1.0 if name.endswith("gamma") else 0.0
    variables[release] = (scale + 0.2 * rng.randn(
        *original_tf.release_shape(name, shape))).astype(np.float32)
  return variables


def write_release_checkpoint(prefix, variables, step=1234, slots=True):
  """A TF1 Saver checkpoint with Adam slots and global_step, as released."""
  with tf.Graph().as_default():
    saved = []
    for name, value in variables.items():
      saved.append(tf.Variable(value, name=name))
      if slots:
        saved += [tf.Variable(np.zeros_like(value), name=name + "/adam_m"),
                  tf.Variable(np.ones_like(value), name=name + "/adam_v")]
    saved.append(tf.Variable(step, dtype=tf.int64, name="global_step"))
    saver = tf.train.Saver(saved)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      saver.save(session, prefix)
  return prefix


def transformers4_mapping(name, value, base_model):
  """transformers 4.x load_tf_weights_in_rembert, from its documented rules:
  (state-dict key, array), or None for what it skips.

  On a base RemBertModel the "rembert" scope matches no attribute and is
  passed over, so keys have no prefix; on a model with heads they do.
  """
  if any(s in name for s in ("adam_v", "adam_m", "output_embedding", "cls")):
    return None
  if name == "global_step":
    return None
  parts = name.replace("bert/", "rembert/").split("/")
  key = []
  for part in parts:
    numbered = re.fullmatch(r"([A-Za-z]+)_(\d+)", part)
    if numbered:
      key += [numbered.group(1), numbered.group(2)]
    elif part in ("kernel", "gamma", "output_weights"):
      key.append("weight")
    elif part in ("beta", "output_bias"):
      key.append("bias")
    elif part == "squad":
      key.append("classifier")
    elif not (part == "rembert" and base_model):
      key.append(part)
  if parts[-1].endswith("_embeddings"):
    key.append("weight")
  elif parts[-1] == "kernel":
    value = value.T
  return ".".join(key), value


# Our assumption for the MLM head (module docstring of original_tf).
ASSUMED_HEAD = {
    "cls/predictions/transform/dense/kernel": ("cls.predictions.dense.weight",
                                               True),
    "cls/predictions/transform/dense/bias": ("cls.predictions.dense.bias",
                                             False),
    "cls/predictions/transform/LayerNorm/gamma":
        ("cls.predictions.LayerNorm.weight", False),
    "cls/predictions/transform/LayerNorm/beta":
        ("cls.predictions.LayerNorm.bias", False),
    "cls/predictions/output_bias": ("cls.predictions.decoder.bias", False),
}




@pytest.fixture
def release(tmp_path):
  """(checkpoint prefix, config path, variables) of a tiny release."""
  variables = release_variables(modeling.RemBertConfig(**SIZES))
  os.makedirs(tmp_path / "release")
  prefix = write_release_checkpoint(str(tmp_path / "release" / "model.ckpt"),
                                    variables)
  config_path = tmp_path / "release" / "config.json"
  config_path.write_text(json.dumps(BERT_STYLE))
  return prefix, str(config_path), variables


@pytest.mark.parametrize("location", ["cls/predictions/output_embedding",
                                      "bert/embeddings/output_embedding"])
def test_export_equals_the_transformers4_mapping(location, tmp_path, spm_path):
  variables = release_variables(modeling.RemBertConfig(**SIZES),
                                output_embedding=location)
  prefix = write_release_checkpoint(str(tmp_path / "model.ckpt"), variables)
  config_path = tmp_path / "config.json"
  config_path.write_text(json.dumps(TRANSFORMERS_STYLE))
  dst = str(tmp_path / "model_dir")
  assert cli_testing.exit_code(["import-tf", prefix, "--config",
                                str(config_path), "--vocab", spm_path,
                                "--model_dir", dst]) == 0
  # RemBertModel: encoder and pooler, exactly transformers 4.x's mapping.
  base = str(tmp_path / "base")
  assert cli_testing.exit_code(["export-hf", "--model_dir", dst, "--out",
                                base, "--head", "none"]) == 0
  exported = load_file(os.path.join(base, "model.safetensors"))
  expected = dict(filter(None, (transformers4_mapping(n, v, True)
                                for n, v in variables.items())))
  assert len(expected) == len(variables) - 6  # all but the MLM head
  assert sorted(exported) == sorted(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(exported[key], value, err_msg=key)
  # RemBertForMaskedLM: the same encoder, and the head as we assume it.
  mlm = str(tmp_path / "mlm")
  assert cli_testing.exit_code(["export-hf", "--model_dir", dst, "--out",
                                mlm, "--head", "mlm"]) == 0
  exported = load_file(os.path.join(mlm, "model.safetensors"))
  expected = dict(filter(None, (transformers4_mapping(n, v, False)
                                for n, v in variables.items()
                                if "pooler" not in n)))
  for key, value in expected.items():
    np.testing.assert_array_equal(exported[key], value, err_msg=key)
  for name, (key, transposed) in ASSUMED_HEAD.items():
    value = variables[name]
    np.testing.assert_array_equal(exported[key],
                                  value.T if transposed else value)
  np.testing.assert_array_equal(exported["cls.predictions.decoder.weight"],
                                variables[location])
  assert len(exported) == len(expected) + len(ASSUMED_HEAD) + 1
  for cls, folder in ((transformers.RemBertModel, base),
                      (transformers.RemBertForMaskedLM, mlm)):
    _, info = cls.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info


def test_slots_and_step_are_left_behind(release, tmp_path, spm_path):
  prefix, config_path, variables = release
  dst = str(tmp_path / "model_dir")
  original_tf.import_tf(prefix, config_path, spm_path, dst)
  reader = model_dir_lib.CheckpointReader(model_dir_lib.latest_checkpoint(dst))
  assert sorted(reader.shapes) == sorted(
      model_dir_lib.variable_shapes(model_dir_lib.read_config(dst), mlm=True,
                                    pooler=True)) + ["global_step"]
  assert reader.step() == 0  # fine-tuning starts afresh
  query = reader.get("bert/encoder/layer_1/attention/self/query/kernel")
  assert query.shape == (32, 4, 8)
  np.testing.assert_array_equal(
      query.reshape(32, 32),
      variables["bert/encoder/layer_1/attention/self/query/kernel"])
  out_kernel = reader.get("bert/encoder/layer_0/attention/output/dense/kernel")
  np.testing.assert_array_equal(
      out_kernel.reshape(32, 32),
      variables["bert/encoder/layer_0/attention/output/dense/kernel"])


def test_both_config_styles_give_one_config(tmp_path):
  shapes = {"cls/predictions/output_embedding": (256, 24)}
  a = original_tf.config_from_release(TRANSFORMERS_STYLE, "a.json", shapes)
  b = original_tf.config_from_release(BERT_STYLE, "b.json", shapes)
  without_output = {k: v for k, v in BERT_STYLE.items()
                    if k != "output_embedding_size"}
  c = original_tf.config_from_release(without_output, "c.json", shapes)
  assert a == b == c == modeling.RemBertConfig(**SIZES)
  albert_key = {**without_output, "embedding_size": 16}
  del albert_key["input_embedding_size"]
  assert original_tf.config_from_release(albert_key, "d.json",
                                         shapes) == a


def test_coupled_bert_checkpoint_drops_next_sentence_head(tmp_path, spm_path):
  config = modeling.RemBertConfig(**{**SIZES, "coupled": True,
                                     "input_embedding_size": 32,
                                     "output_embedding_size": 32})
  variables = release_variables(config)
  rng = np.random.RandomState(1)
  variables["cls/seq_relationship/output_weights"] = rng.randn(2, 32).astype(
      np.float32)
  variables["cls/seq_relationship/output_bias"] = np.zeros(2, np.float32)
  prefix = write_release_checkpoint(str(tmp_path / "bert.ckpt"), variables)
  bert_config = {k: v for k, v in BERT_STYLE.items()
                 if "embedding_size" not in k}
  (tmp_path / "bert_config.json").write_text(json.dumps(bert_config))
  dst, out = str(tmp_path / "model_dir"), str(tmp_path / "out")
  original_tf.import_tf(prefix, str(tmp_path / "bert_config.json"), spm_path,
                        dst)
  assert model_dir_lib.read_config(dst).coupled
  assert hf_convert.export_hf(dst, out, head="mlm").name == "BertForMaskedLM"
  model, info = transformers.BertForMaskedLM.from_pretrained(
      out, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"], info
  np.testing.assert_array_equal(
      model.cls.predictions.decoder.weight.detach().numpy(),
      variables["bert/embeddings/word_embeddings"])


def test_bert_style_task_heads(tmp_path, spm_path):
  config = modeling.RemBertConfig(**SIZES)
  variables = release_variables(config, mlm=False)
  rng = np.random.RandomState(2)
  variables["output_weights"] = rng.randn(3, 32).astype(np.float32)
  variables["output_bias"] = rng.randn(3).astype(np.float32)
  prefix = write_release_checkpoint(str(tmp_path / "cls.ckpt"), variables)
  (tmp_path / "config.json").write_text(json.dumps(BERT_STYLE))
  dst, out = str(tmp_path / "model_dir"), str(tmp_path / "out")
  original_tf.import_tf(prefix, str(tmp_path / "config.json"), spm_path, dst)
  weights = model_dir_lib.read_weights(dst)
  np.testing.assert_array_equal(weights["classifier/kernel"],
                                variables["output_weights"].T)
  hf_convert.export_hf(dst, out)
  exported = load_file(os.path.join(out, "model.safetensors"))
  # transformers 4.x: output_weights -> classifier.weight, as stored.
  np.testing.assert_array_equal(exported["classifier.weight"],
                                variables["output_weights"])
  _, info = transformers.RemBertForSequenceClassification.from_pretrained(
      out, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"], info


def test_transposed_output_embedding_and_squad_head(tmp_path, spm_path):
  config = modeling.RemBertConfig(**SIZES)
  variables = release_variables(config)
  table = variables.pop("cls/predictions/output_embedding")
  variables["cls/predictions/output_embedding"] = np.ascontiguousarray(table.T)
  rng = np.random.RandomState(3)
  variables["cls/squad/output_weights"] = rng.randn(2, 32).astype(np.float32)
  variables["cls/squad/output_bias"] = rng.randn(2).astype(np.float32)
  prefix = write_release_checkpoint(str(tmp_path / "q.ckpt"), variables,
                                    slots=False)
  (tmp_path / "config.json").write_text(json.dumps(BERT_STYLE))
  dst = str(tmp_path / "model_dir")
  original_tf.import_tf(prefix, str(tmp_path / "config.json"), spm_path, dst)
  weights = model_dir_lib.read_weights(dst)
  np.testing.assert_array_equal(weights["cls/predictions/output_embedding"],
                                table)
  np.testing.assert_array_equal(weights["qa_outputs/kernel"],
                                variables["cls/squad/output_weights"].T)
  np.testing.assert_array_equal(weights["qa_outputs/bias"],
                                variables["cls/squad/output_bias"])


def test_incomplete_mlm_head_is_skipped(tmp_path, spm_path, caplog):
  variables = release_variables(modeling.RemBertConfig(**SIZES))
  del variables["cls/predictions/transform/dense/kernel"]
  prefix = write_release_checkpoint(str(tmp_path / "m.ckpt"), variables,
                                    slots=False)
  (tmp_path / "config.json").write_text(json.dumps(BERT_STYLE))
  dst = str(tmp_path / "model_dir")
  original_tf.import_tf(prefix, str(tmp_path / "config.json"), spm_path, dst)
  names = model_dir_lib.read_weights(dst)
  assert not any(n.startswith("cls/") for n in names)
  assert "bert/encoder/layer_1/output/LayerNorm/beta" in names
  assert "MLM head incomplete" in caplog.text


# ----------------------------------------------------------------------------
# Streaming writes
# ----------------------------------------------------------------------------


def test_writer_holds_one_group_at_a_time(tmp_path):
  alive = []

  def variables():
    for i in range(12):
      value = np.full((250,), i, np.float32)  # 1000 bytes
      alive.append(weakref.ref(value))  # numpy frees on the last reference
      assert sum(r() is not None for r in alive) <= 4, i
      yield f"v{i:02d}", value

  model_dir_writer.write_checkpoint(str(tmp_path), variables(), step=5,
                                 shard_bytes=3000)
  data = [f for f in os.listdir(tmp_path) if ".data-" in f]
  assert len(data) == 4  # 4 groups of 3 (global_step rides with the first)
  with tf.Graph().as_default():
    restored = [tf.Variable(np.zeros(250, np.float32), name=f"v{i:02d}")
                for i in range(12)]
    step = tf.Variable(0, dtype=tf.int64, name="global_step")
    with tf.Session() as session:
      tf.train.Saver(restored + [step]).restore(
          session, model_dir_lib.latest_checkpoint(str(tmp_path)))
      values, step = session.run([restored, step])
  assert step == 5
  for i, value in enumerate(values):
    np.testing.assert_array_equal(value, i)


# ----------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------


def _argv(prefix, config_path, vocab, dst):
  return ["import-tf", prefix, "--config", config_path, "--vocab", vocab,
          "--model_dir", dst]


def test_shape_disagreeing_with_config(release, tmp_path, spm_path, capsys):
  prefix, config_path, _ = release
  with open(config_path, "w") as f:
    json.dump({**BERT_STYLE, "intermediate_size": 40}, f)
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      _argv(prefix, config_path, spm_path, dst), capsys,
      "bert/encoder/layer_0/intermediate/dense/kernel", "[32, 48]",
      "[32, 40]", destination=dst)


def test_truncated_checkpoint(release, tmp_path, spm_path, capsys):
  prefix, config_path, _ = release
  data = prefix + ".data-00000-of-00001"
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 3)
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(_argv(prefix, config_path, spm_path, dst),
                             capsys, "model.ckpt", destination=dst)


def test_corrupt_index(release, tmp_path, spm_path, capsys):
  prefix, config_path, _ = release
  with open(prefix + ".index", "wb") as f:
    f.write(b"not a checkpoint index" * 10)
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(_argv(prefix, config_path, spm_path, dst),
                             capsys, "model.ckpt", destination=dst)


def test_missing_vocabulary(release, tmp_path, capsys):
  prefix, config_path, _ = release
  dst = str(tmp_path / "model_dir")
  missing = str(tmp_path / "nowhere.model")
  cli_testing.expect_refusal(_argv(prefix, config_path, missing, dst),
                             capsys, "nowhere.model", destination=dst)


def test_unknown_variable(tmp_path, spm_path, capsys):
  variables = release_variables(modeling.RemBertConfig(**SIZES))
  variables["bert/encoder/layer_0/adapter/kernel"] = np.zeros((32, 4),
                                                              np.float32)
  prefix = write_release_checkpoint(str(tmp_path / "u.ckpt"), variables,
                                    slots=False)
  (tmp_path / "config.json").write_text(json.dumps(BERT_STYLE))
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(
      _argv(prefix, str(tmp_path / "config.json"), spm_path, dst), capsys,
      "bert/encoder/layer_0/adapter/kernel", destination=dst)


def test_missing_checkpoint_and_unsupported_config(release, tmp_path,
                                                   spm_path, capsys):
  prefix, config_path, _ = release
  dst = str(tmp_path / "model_dir")
  cli_testing.expect_refusal(_argv(prefix + "-9", config_path, spm_path, dst),
                             capsys, "model.ckpt-9", destination=dst)
  with open(config_path, "w") as f:
    json.dump({**BERT_STYLE, "hidden_act": "relu"}, f)
  cli_testing.expect_refusal(_argv(prefix, config_path, spm_path, dst),
                             capsys, "config.json", "hidden_act",
                             destination=dst)


# ----------------------------------------------------------------------------
# Full size: import-tf then export-hf of the released RemBERT's shapes
# ----------------------------------------------------------------------------

_MEASURE = r"""
import sys, time
from rembert_mtf.cli import main as cli
start = time.time()
cli.run(sys.argv[1:])
print("SECONDS", time.time() - start)
# VmHWM: this process's own peak (ru_maxrss would include the forking
# parent's memory, recorded at exec).
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print("PEAK_KB", status["VmHWM"].split()[0])
"""


def _measured(argv):
  result = subprocess.run([sys.executable, "-c", _MEASURE] + argv,
                          capture_output=True, text=True, check=True)
  values = dict(line.split() for line in result.stdout.splitlines()
                if line.startswith(("SECONDS", "PEAK_KB")))
  return float(values["SECONDS"]), int(values["PEAK_KB"]) / 2**20


@pytest.mark.slow
def test_full_size_streams_within_memory(tmp_path, spm_path):
  """import-tf, export-hf, import-hf of the released RemBERT's shapes (575.9M
  + the 416.5M output embedding: 3.7 GiB) each peak below the model's size."""
  config = modeling.RemBertConfig()
  shapes = model_dir_lib.variable_shapes(config, mlm=True, pooler=True)
  rng = np.random.default_rng(0)

  def release():  # streamed into a release-format checkpoint
    for name, shape in shapes.items():
      yield name, rng.standard_normal(
          original_tf.release_shape(name, shape), np.float32) * 0.02

  os.makedirs(tmp_path / "release")
  model_dir_writer.write_checkpoint(str(tmp_path / "release"), release(), 1)
  (tmp_path / "config.json").write_text(json.dumps({
      "model_type": "rembert", "vocab_size": 250300, "hidden_size": 1152,
      "num_hidden_layers": 32, "num_attention_heads": 18,
      "input_embedding_size": 256, "output_embedding_size": 1664,
      "intermediate_size": 4608, "max_position_embeddings": 512}))
  model_gib = 4 * sum(int(np.prod(s)) for s in shapes.values()) / 2**30
  runs = {
      "import-tf": _argv(str(tmp_path / "release" / "model.ckpt-1"),
                         str(tmp_path / "config.json"), spm_path,
                         str(tmp_path / "model_dir")),
      "export-hf": ["export-hf", "--model_dir", str(tmp_path / "model_dir"),
                    "--out", str(tmp_path / "hf"), "--head", "mlm"],
      "import-hf": ["import-hf", str(tmp_path / "hf"), "--model_dir",
                    str(tmp_path / "model_dir2")],
  }
  for command, argv in runs.items():
    seconds, peak = _measured(argv)
    print(f"{command}: {model_gib:.2f} GiB model, {seconds:.0f} s, peak RSS "
          f"{peak:.2f} GiB")
    assert peak < model_gib, command
  a = model_dir_lib.CheckpointReader(
      model_dir_lib.latest_checkpoint(str(tmp_path / "model_dir")))
  b = model_dir_lib.CheckpointReader(
      model_dir_lib.latest_checkpoint(str(tmp_path / "model_dir2")))
  for name in ("cls/predictions/output_embedding",
               "bert/encoder/layer_31/attention/output/dense/kernel"):
    np.testing.assert_array_equal(a.get(name), b.get(name))
