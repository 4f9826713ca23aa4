"""Training-step throughput on CPU: this project against its two anchors.

  python -m bench.throughput [--rounds=10] [--batch_size=32]

One MLM training step (forward + backward + Adam with weight decay, global-norm
clipping) of the `small` config (gin/models/small.gin: 4 layers, H 512, 8
heads, d_ff 2048, E_in 128, E_out 512, vocab 32k) at batch 32 x 128 with 20
masked positions per sequence, timed for:
  rembert_mtf 1-device     this project, one CPU device
  rembert_mtf 2x4          this project, batch:2;model:4 over 8 virtual CPUs
  rembert_mtf bf16         1 device, bfloat16 activations (float32 variables
                           and Adam), RemBertConfig.activation_dtype
  rembert_mtf fused Adam   1 device, optimizer.fused = True: Adam as
                           TensorFlow's fused kernel instead of mtf's
                           elementwise ops
  mtf_bert 1-device / 2x4  mesh_tensorflow.bert at the same sizes (its
                           embedding is coupled: width 512 on both sides)
  torch RemBERT            transformers' RemBertForMaskedLM (PyTorch), same
                           config, AdamW + clipping; it scores every position
All contenders hold the same batch and alternate step by step in one process,
so load from elsewhere hits them alike; the table reports medians and ratios.

Hardware use: the model FLOPs of our step (every einsum of the training graph,
attention included, counted by the planner; embedding lookups are not model
FLOPs) over the median step time, against the peak float32 matmul FLOP/s
measured in this process.
"""

import argparse
import dataclasses
import os

import numpy as np

from bench import common
from rembert_mtf import compat
from rembert_mtf.cli import gin_config
from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning
from rembert_mtf.planning import planner
from rembert_mtf.training import config as config_lib
from rembert_mtf.training import optimizers

mtf = compat.mtf
tf = compat.tf

MESH_2X4 = ("batch:2;model:4", "batch:batch;vocab:model;heads:model;d_ff:model")
MTF_BERT_2X4 = "batch:batch;vocab:model;num_heads:model;intermediate:model"
LEARNING_RATE = 1e-4


def synthetic_batch(config, batch_shape, seed=0):
  """Random ids with `mlm_predictions` distinct masked positions per row."""
  rng = np.random.RandomState(seed)
  b, n, p = (batch_shape.batch_size, batch_shape.sequence_length,
             batch_shape.mlm_predictions)
  positions = np.sort(np.stack([rng.choice(n, p, replace=False)
                                for _ in range(b)]), axis=1)
  return {
      "input_ids": rng.randint(5, config.vocab_size, (b, n)).astype(np.int32),
      "token_type_ids": np.zeros((b, n), np.int32),
      "input_mask": np.ones((b, n), np.int32),
      "masked_lm_positions": positions.astype(np.int32),
      "masked_lm_ids": rng.randint(5, config.vocab_size, (b, p)).astype(
          np.int32),
      "masked_lm_weights": np.ones((b, p), np.float32),
  }


# The paper's schedule (Table 14), as every contender's.
RECIPE_SCHEDULE = config_lib.ScheduleConfig(total_steps=1760000)


# ----------------------------------------------------------------------------
# Contenders: each returns a zero-argument step function.
# ----------------------------------------------------------------------------


def rembert_mtf_step(config, batch_shape, features, mesh_shape="", layout="",
                     fused_adam=False):
  graph = mesh_graph.MeshGraph(
      config, batch_shape, mesh_shape, layout,
      num_devices=8 if mesh_shape else 1,
      update_fn=optimizers.step_update_fn(
          config_lib.OptimizerConfig(fused=fused_adam), RECIPE_SCHEDULE))
  return lambda: graph.train_step(features)


def mtf_bert_step(config, batch_shape, features, mesh_shape="", layout=""):
  """mesh_tensorflow.bert's BertModel + MLM loss + its create_optimizer."""
  from mesh_tensorflow.bert import bert as bert_lib  # pylint: disable=g-import-not-at-top
  from mesh_tensorflow.bert import optimization  # pylint: disable=g-import-not-at-top
  bert_config = bert_lib.BertConfig(
      vocab_size=config.vocab_size, d_model=config.hidden_size,
      num_blocks=config.num_layers, attention_num_heads=config.num_heads,
      feedforward_intermediate_size=config.intermediate_size,
      layer_output_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
      type_vocab_size=2)
  shape = mtf.convert_to_shape(mesh_shape)
  rules = mtf.convert_to_layout_rules(layout)
  graph = tf.Graph()
  with graph.as_default():
    placeholders = {k: tf.constant(v) for k, v in features.items()}
    mesh = mtf.Mesh(mtf.Graph(), "bert_mesh")
    batch = mtf.Dimension("batch", batch_shape.batch_size)
    seq = mtf.Dimension("seq", batch_shape.sequence_length)
    pred = mtf.Dimension("max_pred_seq", batch_shape.mlm_predictions)
    inputs = {k: mtf.import_tf_tensor(
        mesh, t, [batch, pred if k.startswith("masked") else seq])
              for k, t in placeholders.items()}
    model = bert_lib.BertModel(
        config=bert_config, is_training=True, input_ids=inputs["input_ids"],
        input_mask=inputs["input_mask"],
        token_type_ids=inputs["token_type_ids"], layout=rules,
        mesh_shape=shape)
    loss, _, _ = model.get_masked_lm_output(
        inputs["masked_lm_positions"], inputs["masked_lm_ids"],
        inputs["masked_lm_weights"])
    _, updates = optimization.create_optimizer(
        loss, LEARNING_RATE, num_train_steps=10**6, num_warmup_steps=0)
    impl = partitioning.placement_mesh_impl(
        shape, rules, partitioning.cpu_devices(8 if mesh_shape else 1))
    lowering = mtf.Lowering(mesh.graph, {mesh: impl})
    train_op = tf.group([lowering.lowered_operation(op) for op in updates] +
                        [tf.assign_add(tf.train.get_global_step(), 1)])
    tf_loss = lowering.export_to_tf_tensor(loss)
    session = tf.Session(config=partitioning.cpu_session_config(
        8 if mesh_shape else 1))
    session.run(tf.global_variables_initializer())
    session.run(lowering.copy_masters_to_slices())
  return lambda: session.run([train_op, tf_loss])


def torch_rembert_step(config, batch_shape, features):
  """transformers' RemBertForMaskedLM, AdamW (decay as Table 14), clipping."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  torch.set_num_threads(os.cpu_count())
  model = transformers.RemBertForMaskedLM(transformers.RemBertConfig(
      vocab_size=config.vocab_size, hidden_size=config.hidden_size,
      num_hidden_layers=config.num_layers,
      num_attention_heads=config.num_heads,
      input_embedding_size=config.input_embedding_size,
      output_embedding_size=config.output_embedding_size,
      intermediate_size=config.intermediate_size,
      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
      max_position_embeddings=config.max_position_embeddings))
  model.train()
  no_decay = [p for n, p in model.named_parameters()
              if "LayerNorm" in n or n.endswith("bias")]
  decay = [p for n, p in model.named_parameters()
           if not ("LayerNorm" in n or n.endswith("bias"))]
  optimizer = torch.optim.AdamW(
      [{"params": decay, "weight_decay": 0.01},
       {"params": no_decay, "weight_decay": 0.0}],
      lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-6)
  labels = np.full(features["input_ids"].shape, -100, np.int64)
  rows = np.arange(labels.shape[0])[:, None]
  labels[rows, features["masked_lm_positions"]] = features["masked_lm_ids"]
  inputs = {
      "input_ids": torch.from_numpy(features["input_ids"].astype(np.int64)),
      "attention_mask": torch.from_numpy(features["input_mask"]),
      "token_type_ids": torch.from_numpy(
          features["token_type_ids"].astype(np.int64)),
      "labels": torch.from_numpy(labels),
  }

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = model(**inputs).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.detach().item()

  return step


# ----------------------------------------------------------------------------


def run(rounds, batch_size, sequence_length, mlm_predictions, log=print):
  """Builds every contender, alternates them, returns the result dict."""
  gin_config.parse(["models/small.gin"])
  config = modeling.RemBertConfig()
  batch_shape = mesh_graph.BatchShape(batch_size, sequence_length,
                                      mlm_predictions)
  features = synthetic_batch(config, batch_shape)
  log("measuring peak matmul FLOP/s")
  peak_before = common.measure_peak_matmul_flops()
  log("building contenders")
  contenders = {
      "rembert_mtf 1-device": rembert_mtf_step(config, batch_shape, features),
      "rembert_mtf 2x4": rembert_mtf_step(config, batch_shape, features,
                                          *MESH_2X4),
      "rembert_mtf 1-device bf16": rembert_mtf_step(
          dataclasses.replace(config, activation_dtype="bfloat16"),
          batch_shape, features),
      "rembert_mtf 1-device fused Adam": rembert_mtf_step(
          config, batch_shape, features, fused_adam=True),
      "mtf_bert 1-device": mtf_bert_step(config, batch_shape, features),
      "mtf_bert 2x4": mtf_bert_step(config, batch_shape, features,
                                    MESH_2X4[0], MTF_BERT_2X4),
      "torch RemBERT": torch_rembert_step(config, batch_shape, features),
  }
  seconds = common.alternate(contenders, rounds, log=log)
  peak = max(peak_before, common.measure_peak_matmul_flops())
  peak_bf16 = common.measure_peak_matmul_flops(dtype="bfloat16")
  tokens = batch_size * sequence_length
  medians = {k: float(np.median(v)) for k, v in seconds.items()}
  flops = planner.step_flops(config, batch_shape)
  return {
      "machine": common.machine(),
      "config": "gin/models/small.gin",
      "batch": {"batch_size": batch_size, "sequence_length": sequence_length,
                "mlm_predictions": mlm_predictions},
      "rounds": rounds,
      "step_seconds": seconds,
      "median_step_seconds": medians,
      "tokens_per_second": {k: tokens / v for k, v in medians.items()},
      "peak_matmul_flops": peak,
      "model_flops_per_step": flops.model,
      "lookup_flops_per_step": flops.lookup,
      "peak_matmul_flops_bfloat16": peak_bf16,
      "utilization_1_device_fused": flops.model / medians[
          "rembert_mtf 1-device fused Adam"] / peak,
      "utilization_1_device": flops.model / medians["rembert_mtf 1-device"] /
                              peak,
      "utilization_1_device_bf16": flops.model /
                                   medians["rembert_mtf 1-device bf16"] /
                                   peak_bf16,
  }


def markdown(result):
  tps = result["tokens_per_second"]
  med = result["median_step_seconds"]
  ours = tps["rembert_mtf 1-device"]
  lines = ["| contender | median step (s) | tokens/s | vs rembert_mtf "
           "1-device |", "|---|---:|---:|---:|"]
  for name in tps:
    lines.append(f"| {name} | {med[name]:.3f} | {tps[name]:,.0f} | "
                 f"{tps[name] / ours:.2f}x |")
  b = result["batch"]
  lines += [
      "",
      f"Batch {b['batch_size']} x {b['sequence_length']}, "
      f"{b['mlm_predictions']} masked positions per sequence, "
      f"{result['rounds']} alternated rounds.",
      "",
      f"- rembert_mtf 1-device / torch RemBERT: "
      f"{ours / tps['torch RemBERT']:.2f}x (goal >= 1.5x)",
      f"- rembert_mtf 1-device / mtf_bert 1-device: "
      f"{ours / tps['mtf_bert 1-device']:.2f}x (goal >= 1.0x)",
      f"- bfloat16 activations on 1 device: "
      f"{tps['rembert_mtf 1-device bf16'] / ours:.2f}x the float32 step",
      f"- fused Adam (opt-in) on 1 device: "
      f"{tps['rembert_mtf 1-device fused Adam'] / ours:.2f}x the default "
      f"step (utilization {100 * result['utilization_1_device_fused']:.1f}%)",
      f"- 2x4 mesh slowdown vs 1 device, rembert_mtf: "
      f"{med['rembert_mtf 2x4'] / med['rembert_mtf 1-device']:.2f}x "
      f"(goal <= 1.3x); mtf_bert: "
      f"{med['mtf_bert 2x4'] / med['mtf_bert 1-device']:.2f}x",
      f"- model FLOPs per step {result['model_flops_per_step'] / 1e9:.1f} G "
      f"(+ {result['lookup_flops_per_step'] / 1e9:.2f} G in one-hot lookups); "
      f"peak matmul {result['peak_matmul_flops'] / 1e9:.0f} GFLOP/s; "
      f"utilization on 1 device {100 * result['utilization_1_device']:.1f}% "
      "(goal >= 60%)",
      f"- bfloat16: peak matmul {result['peak_matmul_flops_bfloat16'] / 1e9:.0f}"
      f" GFLOP/s; utilization {100 * result['utilization_1_device_bf16']:.1f}%"
      " of it",
  ]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rounds", type=int, default=10)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--sequence_length", type=int, default=128)
  parser.add_argument("--mlm_predictions", type=int, default=20)
  args = parser.parse_args()
  result = run(args.rounds, args.batch_size, args.sequence_length,
               args.mlm_predictions)
  text = markdown(result)
  print(text)
  print("wrote", common.write_results("throughput", result, text))


if __name__ == "__main__":
  main()
