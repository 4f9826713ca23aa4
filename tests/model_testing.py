"""Small models, batches and random weights shared by the model tests."""

import numpy as np

from rembert_mtf.model import mesh_graph
from rembert_mtf.model import modeling


def tiny_config(**overrides):
  """A decoupled model whose sizes divide by 8 where layouts split them."""
  sizes = dict(vocab_size=128, input_embedding_size=16,
               output_embedding_size=24, hidden_size=32, num_layers=2,
               num_heads=8, head_size=4, intermediate_size=64,
               max_position_embeddings=16)
  sizes.update(overrides)
  return modeling.RemBertConfig(**sizes)


def random_batch(config, batch_size=8, length=8, predictions=3, seed=0,
                 all_positions=False):
  """Features with padding in some rows and masked positions on tokens."""
  rng = np.random.RandomState(seed)
  lengths = rng.randint(length // 2, length + 1, size=batch_size)
  lengths[0] = length
  mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
  features = {
      "input_ids": rng.randint(0, config.vocab_size, (batch_size, length)) * mask,
      "token_type_ids": (rng.rand(batch_size, length) > 0.5).astype(np.int32) * mask,
      "input_mask": mask,
  }
  if all_positions:
    predictions = length
    positions = np.tile(np.arange(length), (batch_size, 1))
  else:
    positions = np.stack([np.sort(rng.choice(n, predictions, replace=False))
                          for n in lengths])
  features.update(
      masked_lm_positions=positions.astype(np.int32),
      masked_lm_ids=rng.randint(0, config.vocab_size,
                                (batch_size, predictions)).astype(np.int32),
      masked_lm_weights=(rng.rand(batch_size, predictions) > 0.2).astype(
          np.float32))
  return features, mesh_graph.BatchShape(batch_size, length, predictions)


def random_weights(shapes, seed=0):
  """Weights drawn so every variable (LayerNorm, biases) matters."""
  rng = np.random.RandomState(seed)
  weights = {}
  for name, shape in sorted(shapes.items()):
    if name.endswith("gamma"):
      value = 1.0 + 0.1 * rng.randn(*shape)
    elif name.endswith(("beta", "bias")):
      value = 0.1 * rng.randn(*shape)
    else:
      value = 0.2 * rng.randn(*shape)
    weights[name] = value.astype(np.float32)
  return weights
