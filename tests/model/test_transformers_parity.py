"""Our mtf model equals transformers' PyTorch RemBERT and BERT on the same weights.

The weights go through checkpoints.hf_names (a rename plus reshape) and are
loaded with strict key checking; outputs must agree within 1e-4.
"""

import numpy as np
import pytest
import torch
import transformers

from rembert_mtf.model import mesh_graph
from rembert_mtf.interop import hf_names
from tests import model_testing

ATOL = 1e-4


def _hf_config(config, cls):
  common = dict(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                num_hidden_layers=config.num_layers,
                num_attention_heads=config.num_heads,
                intermediate_size=config.intermediate_size,
                max_position_embeddings=config.max_position_embeddings,
                type_vocab_size=config.type_vocab_size, hidden_act="gelu",
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                layer_norm_eps=config.layer_norm_epsilon)
  if cls is transformers.BertConfig:
    return cls(tie_word_embeddings=True, **common)
  return cls(input_embedding_size=config.input_embedding_size,
             output_embedding_size=config.output_embedding_size, **common)


def _load(model, state):
  state = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}
  missing, unexpected = model.load_state_dict(state, strict=False)
  assert not unexpected, unexpected
  # Only buffers (position_ids, token_type_ids) may be absent from our side.
  assert all(k.endswith(("position_ids", "token_type_ids")) for k in missing), missing
  return model.eval()


def _ours(config, batch_shape, features, mesh_shape="", layout="", seed=0):
  graph = mesh_graph.MeshGraph(config, batch_shape, mesh_shape, layout,
                               num_devices=8 if mesh_shape else None)
  weights = model_testing.random_weights(graph.variable_shapes, seed=seed)
  graph.set_weights(weights)
  outputs = graph.run(features)
  graph.close()
  return weights, outputs


def _torch_inputs(features):
  return dict(input_ids=torch.from_numpy(features["input_ids"]).long(),
              token_type_ids=torch.from_numpy(features["token_type_ids"]).long(),
              attention_mask=torch.from_numpy(features["input_mask"]).long())


@pytest.mark.parametrize("mesh_shape,layout", [
    ("", ""), ("batch:2;model:4", "batch:batch;vocab:model;heads:model;d_ff:model")],
                         ids=["1-device", "2x4"])
def test_rembert_masked_lm_matches_transformers(mesh_shape, layout):
  config = model_testing.tiny_config()
  features, batch_shape = model_testing.random_batch(config, all_positions=True)
  weights, ours = _ours(config, batch_shape, features, mesh_shape, layout)
  model = _load(transformers.RemBertForMaskedLM(
      _hf_config(config, transformers.RemBertConfig)),
                hf_names.to_hf_state_dict(weights, "rembert"))
  with torch.no_grad():
    theirs = model(**_torch_inputs(features), output_hidden_states=True)
  np.testing.assert_allclose(ours["sequence_output"],
                             theirs.hidden_states[-1].numpy(), rtol=0, atol=ATOL)
  np.testing.assert_allclose(ours["mlm_logits"], theirs.logits.numpy(),
                             rtol=0, atol=ATOL)
  assert np.abs(ours["mlm_logits"]).max() > 0.1  # not trivially small


def test_rembert_model_pooled_output_matches_transformers():
  config = model_testing.tiny_config()
  features, batch_shape = model_testing.random_batch(config)
  batch_shape = mesh_graph.BatchShape(batch_shape.batch_size,
                                      batch_shape.sequence_length)
  weights, ours = _ours(config, batch_shape, features, seed=1)
  assert not any(n.startswith("cls/") for n in weights)  # no MLM head built
  model = _load(transformers.RemBertModel(
      _hf_config(config, transformers.RemBertConfig)),
                {k[len("rembert."):]: v for k, v in
                 hf_names.to_hf_state_dict(weights, "rembert").items()})
  with torch.no_grad():
    theirs = model(**_torch_inputs(features))
  np.testing.assert_allclose(ours["sequence_output"],
                             theirs.last_hidden_state.numpy(), rtol=0, atol=ATOL)
  np.testing.assert_allclose(ours["pooled_output"],
                             theirs.pooler_output.numpy(), rtol=0, atol=ATOL)


def test_coupled_baseline_matches_bert_with_tied_embeddings():
  config = model_testing.tiny_config(coupled=True, input_embedding_size=32,
                                     output_embedding_size=32)
  features, batch_shape = model_testing.random_batch(config, all_positions=True)
  weights, ours = _ours(config, batch_shape, features, seed=2)
  assert "cls/predictions/output_embedding" not in weights
  model = _load(transformers.BertForMaskedLM(
      _hf_config(config, transformers.BertConfig)),
                hf_names.to_hf_state_dict(weights, "bert"))
  assert (model.cls.predictions.decoder.weight.data_ptr() ==
          model.bert.embeddings.word_embeddings.weight.data_ptr())
  with torch.no_grad():
    theirs = model(**_torch_inputs(features), output_hidden_states=True)
  np.testing.assert_allclose(ours["sequence_output"],
                             theirs.hidden_states[-1].numpy(), rtol=0, atol=ATOL)
  np.testing.assert_allclose(ours["mlm_logits"], theirs.logits.numpy(),
                             rtol=0, atol=ATOL)


def test_hf_name_mapping_round_trips():
  config = model_testing.tiny_config()
  graph = mesh_graph.MeshGraph(config, mesh_graph.BatchShape(1, 4, 1))
  weights = model_testing.random_weights(graph.variable_shapes)
  graph.close()
  state = hf_names.to_hf_state_dict(weights, "rembert")
  back = hf_names.from_hf_state_dict(state, graph.variable_shapes, "rembert")
  assert set(back) == set(weights)
  for name, value in weights.items():
    np.testing.assert_array_equal(back[name], value, err_msg=name)
