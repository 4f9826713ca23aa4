"""Task heads, MLM loss and gradients against transformers and PyTorch autograd.

Our side is MeshGraph(head=...): the encoder plus model/heads.py's
Head.build, the code the trainer runs, on 1 device and on a 2x4 mesh. The
other side is transformers' PyTorch RemBertForSequenceClassification,
RemBertForTokenClassification, RemBertForQuestionAnswering and
RemBertForMaskedLM, loaded strictly (no missing or unexpected key) with the
same random weights through interop/hf_names. Logits, losses and gradients
agree within 1e-4 (absolute).

Label conventions: we ignore label -1, transformers' CrossEntropyLoss -100
(classification, token) and QA positions equal to the sequence length
(its ignore index after clamping; a -1 there would clamp to 0 and count).

One definition differs: our span loss takes each softmax over the real
tokens only (heads.py adds -1e4 to the logits of padding, which can never
be an answer), while transformers' softmax runs over every position. So
the span loss is compared twice: against the loss of our definition built
in torch from transformers' logits (padding masked the same way), and
against transformers' own loss on the same batch without padding, where
the two definitions coincide.

The MLM loss: transformers' RemBertForMaskedLM scores every position, ours
only the masked ones, as a weighted mean (modeling.mlm_loss). The torch
loss is built to that definition from the torch model's hidden states and
its MLM head, then .backward(); every one of our gradients is compared with
the torch parameter's .grad. The torch word embedding is built without
padding_idx: nn.Embedding zeroes that row's gradient, our embedding has no
frozen row.

Measured (tiny config, batch 8 x 8, float32), max |ours - theirs|, the
same on 1 device and 2x4 within rounding: logits 0.7e-6 (classification),
1.3e-6 (token), 1.4e-6 (span), 1.8e-6 (MLM); losses 2.0e-6, 0.6e-6,
2.9e-6 (span, padding masked) / 3.3e-6 (transformers' own, no padding),
0.5e-6 (MLM); gradients 3.0e-7 absolute, 1.4e-6 relative to each
gradient's largest entry (gradients of 0.02 to 0.4). Our means divide by
(count + 1e-5): a 1e-5 / count relative difference, within these figures.
"""

import types

import numpy as np
import pytest
import torch
import transformers

from rembert_mtf.interop import hf_config
from rembert_mtf.interop import hf_names
from rembert_mtf.model import mesh_graph
from tests import model_testing

ATOL = 1e-4
MESHES = {"1-device": ("", ""),
          "2x4": ("batch:2;model:4",
                  "batch:batch;vocab:model;heads:model;d_ff:model")}
NUM_CLASSES = {"classification": 3, "token": 5, "span": None}
HF_CLASS = {"classification": transformers.RemBertForSequenceClassification,
            "token": transformers.RemBertForTokenClassification,
            "span": transformers.RemBertForQuestionAnswering}
SPECIALS = types.SimpleNamespace(pad=0, cls=1, sep=2)


def _hf_model(cls, config, num_labels=None, **overrides):
  """transformers model `cls` for our config, in eval mode (no dropout)."""
  values = hf_config.hf_config_for(
      config, hf_config.ARCHITECTURES[cls.__name__], SPECIALS, num_labels)
  values.update(overrides)
  return cls(transformers.RemBertConfig(**values)).eval()


def _load_strict(model, weights):
  state = {k: torch.from_numpy(np.asarray(v)) for k, v in
           hf_names.to_hf_state_dict(weights, "rembert").items()}
  model.load_state_dict(state, strict=True)  # raises on missing/unexpected
  return model


def _torch_inputs(features):
  return dict(
      input_ids=torch.from_numpy(features["input_ids"]).long(),
      token_type_ids=torch.from_numpy(features["token_type_ids"]).long(),
      attention_mask=torch.from_numpy(features["input_mask"]).long())


def _close(ours, theirs, what):
  """Asserts |ours - theirs| <= ATOL; returns (max abs, max rel) diffs."""
  ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
  assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
  diff = np.abs(ours - theirs)
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=ATOL, err_msg=what)
  scale = np.abs(theirs).max()
  return float(diff.max()), float(diff.max() / scale) if scale else 0.0


def _head_batch(config):
  """Encoder features (padded rows) and labels for every task head, with
  some ignored entries (-1)."""
  features, _ = model_testing.random_batch(config)
  rng = np.random.RandomState(7)
  mask = features["input_mask"]
  batch, length = mask.shape
  lengths = mask.sum(1)
  label = rng.randint(0, NUM_CLASSES["classification"], batch)
  label[3] = -1
  labels = rng.randint(0, NUM_CLASSES["token"], (batch, length))
  labels[mask == 0] = -1
  labels[1, 2] = labels[4, 0] = -1
  start = np.array([rng.randint(0, n) for n in lengths])
  end = np.array([rng.randint(s, n) for s, n in zip(start, lengths)])
  start[5] = end[5] = -1
  features.update(label=label.astype(np.int32),
                  labels=labels.astype(np.int32),
                  start_position=start.astype(np.int32),
                  end_position=end.astype(np.int32))
  return features


@pytest.fixture(scope="module")
def tiny():
  config = model_testing.tiny_config()
  features = _head_batch(config)
  batch_shape = mesh_graph.BatchShape(*features["input_ids"].shape)
  return config, features, batch_shape


def _ours(tiny, head, mesh, feeds):
  """(random weights, our outputs for each feed in `feeds`) of MeshGraph
  built with `head` on `mesh`."""
  config, features, batch_shape = tiny
  mesh_shape, layout = MESHES[mesh]
  graph = mesh_graph.MeshGraph(
      config, batch_shape, mesh_shape, layout,
      num_devices=8 if mesh_shape else None, head=head,
      num_classes=NUM_CLASSES[head])
  weights = model_testing.random_weights(graph.variable_shapes, seed=3)
  graph.set_weights(weights)
  outputs = [graph.run({**features, **feed}) for feed in feeds(features)]
  graph.close()
  return weights, outputs


def _no_extra_feed(unused_features):
  return [{}]


def _span_feeds(features):
  """The batch; then the same batch without padding (every mask 1)."""
  return [{}, {"input_mask": np.ones_like(features["input_mask"])}]


def _torch_labels(labels):
  labels = torch.from_numpy(np.asarray(labels)).long()
  return torch.where(labels < 0, torch.full_like(labels, -100), labels)


@pytest.mark.parametrize("mesh", list(MESHES))
def test_sequence_classification_matches_transformers(tiny, mesh):
  config, features, _ = tiny
  weights, (ours,) = _ours(tiny, "classification", mesh, _no_extra_feed)
  assert {"bert/pooler/dense/kernel", "classifier/kernel"} <= set(weights)
  model = _load_strict(_hf_model(HF_CLASS["classification"], config,
                                 NUM_CLASSES["classification"]), weights)
  with torch.no_grad():
    theirs = model(**_torch_inputs(features),
                   labels=_torch_labels(features["label"]))
  _close(ours["logits"], theirs.logits.numpy(), "logits")
  _close(ours["loss"], theirs.loss.numpy(), "loss")
  assert np.abs(ours["logits"]).max() > 0.1  # not trivially small


@pytest.mark.parametrize("mesh", list(MESHES))
def test_token_classification_matches_transformers(tiny, mesh):
  config, features, _ = tiny
  weights, (ours,) = _ours(tiny, "token", mesh, _no_extra_feed)
  model = _load_strict(_hf_model(HF_CLASS["token"], config,
                                 NUM_CLASSES["token"]), weights)
  with torch.no_grad():
    theirs = model(**_torch_inputs(features),
                   labels=_torch_labels(features["labels"]))
  _close(ours["logits"], theirs.logits.numpy(), "logits")
  _close(ours["loss"], theirs.loss.numpy(), "loss")
  np.testing.assert_array_equal(ours["predicted_labels"],
                                theirs.logits.argmax(-1).numpy())


@pytest.mark.parametrize("mesh", list(MESHES))
def test_question_answering_matches_transformers(tiny, mesh):
  config, features, _ = tiny
  weights, (ours, ours_unpadded) = _ours(tiny, "span", mesh, _span_feeds)
  model = _load_strict(_hf_model(HF_CLASS["span"], config), weights)
  mask = features["input_mask"].astype(bool)
  length = mask.shape[1]

  # Our -1 -> transformers' ignore index.
  labels = {f"{k}s": torch.from_numpy(
      np.where(features[k] < 0, length, features[k])).long()
            for k in ("start_position", "end_position")}
  unpadded = {**features, **_span_feeds(features)[1]}
  with torch.no_grad():
    theirs = model(**_torch_inputs(features))
    theirs_unpadded = model(**_torch_inputs(unpadded), **labels)
  start, end = theirs.start_logits.numpy(), theirs.end_logits.numpy()
  _close(ours["logits"], np.stack([start, end], -1), "start/end logits")
  # Our predictions carry the padding mask; on real tokens they are theirs.
  _close(ours["start_logits"][mask], start[mask], "start_logits")
  _close(ours["end_logits"][mask], end[mask], "end_logits")
  assert ours["start_logits"][~mask].max() < -1e3
  # Our loss definition (padding out of the softmax) on transformers' logits.
  padding = torch.from_numpy(np.where(mask, 0.0, -1e4).astype(np.float32))
  ce = torch.nn.CrossEntropyLoss(ignore_index=length)
  masked_loss = 0.5 * (
      ce(theirs.start_logits + padding, labels["start_positions"]) +
      ce(theirs.end_logits + padding, labels["end_positions"]))
  _close(ours["loss"], masked_loss.numpy(), "loss, padding masked")
  # Without padding the definitions coincide: transformers' own loss.
  _close(ours_unpadded["loss"], theirs_unpadded.loss.numpy(),
         "transformers' loss, no padding")


def _torch_mlm_loss(model, features):
  """modeling.mlm_loss's definition on the torch model: the weighted mean
  cross-entropy of the MLM head at the masked positions."""
  hidden = model.rembert(**_torch_inputs(features)).last_hidden_state
  positions = torch.from_numpy(features["masked_lm_positions"]).long()
  rows = torch.arange(positions.shape[0])[:, None]
  logits = model.cls(hidden[rows, positions])
  ids = torch.from_numpy(features["masked_lm_ids"]).long()
  weights = torch.from_numpy(features["masked_lm_weights"])
  per_token = torch.nn.functional.cross_entropy(
      logits.flatten(0, 1), ids.flatten(), reduction="none").view(ids.shape)
  return logits, (per_token * weights).sum() / (weights.sum() + 1e-5)


def _mlm_gradients_match_autograd(mesh):
  """Returns the worst (max abs, max rel) differences over the gradients."""
  config = model_testing.tiny_config()
  features, batch_shape = model_testing.random_batch(config, seed=4)
  features["input_ids"][0, 1] = SPECIALS.pad  # a real token with the pad id
  mesh_shape, layout = MESHES[mesh]
  graph = mesh_graph.MeshGraph(config, batch_shape, mesh_shape, layout,
                               num_devices=8 if mesh_shape else None,
                               with_gradients=True)
  weights = model_testing.random_weights(graph.variable_shapes, seed=5)
  graph.set_weights(weights)
  ours = graph.run(features, ["loss", "mlm_logits"] + graph.gradient_names())
  graph.close()
  # pad_token_id None: no padding_idx, whose row torch would not train
  # (our embedding trains every row, the pad id's included).
  model = _load_strict(_hf_model(transformers.RemBertForMaskedLM, config,
                                 pad_token_id=None), weights)
  logits, loss = _torch_mlm_loss(model, features)
  loss.backward()
  _close(ours["mlm_logits"], logits.detach().numpy(), "mlm_logits")
  _close(ours["loss"], loss.detach().numpy(), "loss")
  params = dict(model.named_parameters())
  keys = {hf_names.hf_name(name): name for name in weights}
  assert set(keys) == set(params)  # every torch parameter is compared
  worst = (0.0, 0.0)
  for key, name in keys.items():
    grad = params[key].grad.numpy()
    theirs = hf_names.from_hf_array(name, grad, weights[name].shape)
    diff, rel = _close(ours["grad/" + name], theirs, "grad/" + name)
    if name.endswith("key/bias"):
      # Softmax is invariant to the key bias: both gradients are ~0 (4e-9).
      rel = 0.0
    else:
      # The comparison has teeth: these gradients are 0.02 to 0.4 at most.
      assert np.abs(theirs).max() > 1e-2, name
      assert rel < 1e-4, (name, rel)
    worst = max(worst[0], diff), max(worst[1], rel)
  return worst


def test_mlm_loss_and_every_gradient_match_autograd_on_2x4():
  _mlm_gradients_match_autograd("2x4")


def test_mlm_loss_and_every_gradient_match_autograd_on_one_device():
  _mlm_gradients_match_autograd("1-device")
