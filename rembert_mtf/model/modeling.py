"""RemBERT in Mesh TensorFlow, readable top to bottom.

The path of one batch through the model:

  input_ids, token_type_ids, input_mask        [batch, length]
    -> word + position + token-type embeddings [batch, length, emb_in]
    -> LayerNorm(emb_in), projection           [batch, length, d_model]
    -> L post-LayerNorm Transformer layers     [batch, length, d_model]
  pre-training:
    -> extra output-side layers (optional, dropped after pre-training)
    -> hidden states at masked_lm_positions    [batch, mlm_predictions, d_model]
    -> dense to emb_out, GELU, LayerNorm       [batch, mlm_predictions, emb_out]
    -> output embedding + bias                 [batch, mlm_predictions, vocab]
  fine-tuning:
    -> pooler (tanh dense on [CLS]) -> classifier   [batch, classes]
    -> token classifier                             [batch, length, classes]
    -> span start/end logits                        [batch, length] x 2

Coupled mode (the mBERT-style baseline) has emb_in = emb_out = d_model, no
input projection, and scores the output through the input word embedding.

Every tensor has named dimensions (DIMENSION NAMES below); how they are split
over a mesh is the business of partitioning.py, never of this module.
Variable names follow the original TensorFlow BERT/RemBERT release
(bert/encoder/layer_N/attention/self/query/kernel, ...), so checkpoints map
by reshaping only.
"""

import dataclasses
import math
import zlib

import gin

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import mesh_ops

mtf = compat.mtf
tf = compat.tf

# The dimension names: the vocabulary shared by the model and the layouts.
BATCH = "batch"
LENGTH = "length"
MEMORY_LENGTH = "memory_length"  # attention keys/values: the length again
VOCAB = "vocab"
EMB_IN = "emb_in"
EMB_OUT = "emb_out"
D_MODEL = "d_model"
HEADS = "heads"
D_KV = "d_kv"
D_FF = "d_ff"
POSITIONS = "positions"  # rows of the position-embedding table
TOKEN_TYPES = "token_types"
MLM_PREDICTIONS = "mlm_predictions"
CLASSES = "classes"
SPAN_ENDS = "span_ends"  # start and end logits of extractive QA

DIMENSION_NAMES = (BATCH, LENGTH, MEMORY_LENGTH, VOCAB, EMB_IN, EMB_OUT,
                   D_MODEL, HEADS, D_KV, D_FF, POSITIONS, TOKEN_TYPES,
                   MLM_PREDICTIONS, CLASSES, SPAN_ENDS)

# Variable-name prefixes of the parts that exist only in pre-training: the
# output embedding, MLM head and extra output layers. A fine-tuning graph
# does not create them, and loading a pre-training checkpoint skips them.
MLM_SCOPE = "cls"
PRETRAINING_ONLY_PREFIXES = (MLM_SCOPE + "/",)
WORD_EMBEDDINGS = "bert/embeddings/word_embeddings"
# Task heads (pooler included): not counted in the paper's fine-tuning size.
# The scopes of the task heads: names of the variables of BERT's and
# transformers' task models, so checkpoints map by name.
POOLER_SCOPE = "bert/pooler"
CLASSIFIER_SCOPE = "classifier"
TOKEN_CLASSIFIER_SCOPE = "token_classifier"
SPAN_SCOPE = "qa_outputs"
TASK_HEAD_PREFIXES = tuple(scope + "/" for scope in (
    POOLER_SCOPE, CLASSIFIER_SCOPE, TOKEN_CLASSIFIER_SCOPE, SPAN_SCOPE))


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RemBertConfig:
  """Sizes of one RemBERT model; every field is a gin binding.

  Defaults are the released RemBERT (Table 14 of the paper, with
  transformers' vocab 250,300 and output embedding 1664).
  """
  vocab_size: int = 250300
  input_embedding_size: int = 256  # E_in
  output_embedding_size: int = 1664  # E_out
  hidden_size: int = 1152  # H, d_model
  num_layers: int = 32
  num_heads: int = 18
  head_size: int = 64  # d_kv
  intermediate_size: int = 4608  # d_ff
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  dropout_rate: float = 0.0
  layer_norm_epsilon: float = 1e-12
  coupled: bool = False  # mBERT-style: output scored on the input embedding
  num_extra_output_layers: int = 0  # pre-training-only layers on top
  activation_dtype: str = "float32"  # or "bfloat16"
  initializer_range: float = 0.02

  def __post_init__(self):
    if self.coupled and not (self.input_embedding_size ==
                             self.output_embedding_size == self.hidden_size):
      raise errors.UserError(
          "a coupled model shares one embedding: set "
          "RemBertConfig.input_embedding_size = output_embedding_size = "
          f"hidden_size (got {self.input_embedding_size}, "
          f"{self.output_embedding_size}, {self.hidden_size}).")
    for field in ("vocab_size", "input_embedding_size", "hidden_size",
                  "num_heads", "head_size", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size",
                  "output_embedding_size"):
      if getattr(self, field) <= 0:
        raise errors.UserError(f"RemBertConfig.{field} must be positive, got "
                               f"{getattr(self, field)}.")
    if self.num_layers < 0 or self.num_extra_output_layers < 0:
      raise errors.UserError("RemBertConfig.num_layers and num_extra_output_layers "
                             "must be >= 0.")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise errors.UserError(f"RemBertConfig.dropout_rate must be in [0, 1), got "
                       f"{self.dropout_rate}.")
    if self.activation_dtype not in ("float32", "bfloat16"):
      raise errors.UserError("RemBertConfig.activation_dtype must be 'float32' or "
                             f"'bfloat16', got {self.activation_dtype!r}.")

  @property
  def variable_dtype(self):
    """Variables are stored and updated in float32, computed in activations'."""
    return mtf.VariableDType(tf.float32, tf.float32,
                             tf.as_dtype(self.activation_dtype))

  def dimension_sizes(self):
    """Sizes of the model's own dimensions (batch-independent)."""
    return {
        VOCAB: self.vocab_size, EMB_IN: self.input_embedding_size,
        EMB_OUT: self.output_embedding_size, D_MODEL: self.hidden_size,
        HEADS: self.num_heads, D_KV: self.head_size,
        D_FF: self.intermediate_size,
        POSITIONS: self.max_position_embeddings,
        TOKEN_TYPES: self.type_vocab_size,
    }


def _dim(config, name):
  return mtf.Dimension(name, config.dimension_sizes()[name])


def _initializer(config, name):
  """Truncated normal, seeded by the variable's full name.

  A seed per name (not the graph seed plus op count) gives every variable
  the same initial value whatever else the graph holds: the same model on
  any mesh, and in any process, starts from the same weights.
  """
  scope = tf.get_variable_scope().name
  full_name = f"{scope}/{name}" if scope else name
  return tf.truncated_normal_initializer(
      stddev=config.initializer_range,
      seed=zlib.crc32(full_name.encode("utf-8")) & 0x7FFFFFFF)


# ----------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------


def gelu(x):
  """Exact (erf) GELU, as BERT and transformers' RemBERT use.

  mtf.gelu is the tanh approximation, which differs by up to 1e-3.
  """
  return mtf.cwise(lambda t: 0.5 * t * (1.0 + tf.math.erf(t / math.sqrt(2.0))),
                   [x], name="gelu")


def layer_norm(x, dim, config, name="LayerNorm"):
  """LayerNorm over `dim` with BERT's variable names (gamma, beta).

  mtf.layers.layer_norm names its variables layer_norm_scale/bias and fixes
  a different epsilon; checkpoint names are why this is our own.
  """
  with tf.variable_scope(name):
    gamma = mtf.get_variable(x.mesh, "gamma", [dim], dtype=config.variable_dtype,
                             initializer=tf.ones_initializer())
    beta = mtf.get_variable(x.mesh, "beta", [dim], dtype=config.variable_dtype,
                            initializer=tf.zeros_initializer())
    reduced = x.shape - dim
    mean = mtf.reduce_mean(x, output_shape=reduced)
    centered = x - mean
    variance = mtf.reduce_mean(mtf.square(centered), output_shape=reduced)
    return centered * mtf.rsqrt(variance + config.layer_norm_epsilon) * gamma + beta


def dense(x, new_dims, reduced_dims, config, name, use_bias=True):
  """x @ kernel[reduced_dims, new_dims] + bias[new_dims]."""
  return mtf.layers.dense(
      x, new_dims=list(new_dims), reduced_dims=list(reduced_dims),
      use_bias=use_bias, variable_dtype=config.variable_dtype,
      kernel_initializer=_initializer(config, name + "/kernel"), name=name)


def dropout(x, config, is_training):
  if not is_training or config.dropout_rate == 0.0:
    return x
  return mtf.dropout(x, is_training, rate=config.dropout_rate)


def embedding_table(mesh, name, rows_dim, width_dim, config):
  return mtf.get_variable(mesh, name, [rows_dim, width_dim],
                          dtype=config.variable_dtype,
                          initializer=_initializer(config, name))


# ----------------------------------------------------------------------------
# Input side
# ----------------------------------------------------------------------------


def embed_inputs(input_ids, token_type_ids, config, is_training):
  """Word + position + token-type embeddings, LayerNorm, projection to H.

  Args:
    input_ids, token_type_ids: int32 mtf.Tensors [batch, length].
  Returns:
    [batch, length, d_model]
  """
  mesh = input_ids.mesh
  vocab, emb_in = _dim(config, VOCAB), _dim(config, EMB_IN)
  length = input_ids.shape.get_dim_by_name(LENGTH)
  if length.size > config.max_position_embeddings:
    raise errors.UserError(
        f"sequence length {length.size} exceeds the model's "
        f"RemBertConfig.max_position_embeddings={config.max_position_embeddings}"
        "; shorten the sequence length or grow the position table.")
  with tf.variable_scope("embeddings"):
    words = embedding_table(mesh, "word_embeddings", vocab, emb_in, config)
    x = mesh_ops.embedding_lookup(words, input_ids, vocab)
    positions = embedding_table(mesh, "position_embeddings",
                                _dim(config, POSITIONS), emb_in, config)
    # Rows 0..length-1 of the table, renamed so they add along `length`.
    x += mtf.rename_dimension(
        mtf.slice(positions, 0, length.size, POSITIONS), POSITIONS, LENGTH)
    types = embedding_table(mesh, "token_type_embeddings",
                            _dim(config, TOKEN_TYPES), emb_in, config)
    x += mtf.gather(types, token_type_ids, _dim(config, TOKEN_TYPES))
    x = layer_norm(x, emb_in, config)
    x = dropout(x, config, is_training)
  if config.coupled:
    # E_in = H: the embedding is the model's width, no projection.
    return mtf.rename_dimension(x, EMB_IN, D_MODEL)
  with tf.variable_scope("encoder"):
    return dense(x, [_dim(config, D_MODEL)], [emb_in], config,
                 name="embedding_hidden_mapping_in")


# ----------------------------------------------------------------------------
# Encoder
# ----------------------------------------------------------------------------


def attention_bias(input_mask, dtype, segment_ids=None):
  """Additive attention bias: 0 where a query may attend, -1e9 elsewhere.

  Args:
    input_mask: [batch, length], 1 on tokens, 0 on padding.
    dtype: the activations' dtype.
    segment_ids: optional [batch, length] ids of the packed documents
      (pack_documents with attention "within"): a token attends only to its
      own document.
  Returns:
    [batch, memory_length] without segment_ids, else [batch, length,
    memory_length].
  """
  memory_mask = mtf.rename_dimension(input_mask, LENGTH, MEMORY_LENGTH)
  allowed = mtf.cast(memory_mask, dtype)
  if segment_ids is not None:
    memory_segments = mtf.rename_dimension(segment_ids, LENGTH, MEMORY_LENGTH)
    allowed *= mtf.cast(mtf.equal(segment_ids, memory_segments), dtype)
  return (1.0 - allowed) * -1e9


def self_attention(x, bias, config, is_training):
  """Multi-head self-attention with BERT's q/k/v/output variables."""
  d_model = _dim(config, D_MODEL)
  heads, d_kv = _dim(config, HEADS), _dim(config, D_KV)
  with tf.variable_scope("self"):
    q = dense(x, [heads, d_kv], [d_model], config, name="query")
    memory = mtf.rename_dimension(x, LENGTH, MEMORY_LENGTH)
    k = dense(memory, [heads, d_kv], [d_model], config, name="key")
    v = dense(memory, [heads, d_kv], [d_model], config, name="value")
  memory_length = memory.shape.get_dim_by_name(MEMORY_LENGTH)
  scores = mtf.einsum([q * (d_kv.size ** -0.5), k],
                      reduced_dims=[d_kv]) + bias
  weights = dropout(mtf.softmax(scores, memory_length), config, is_training)
  context = mtf.einsum([weights, v], reduced_dims=[memory_length])
  with tf.variable_scope("output"):
    return dense(context, [d_model], [heads, d_kv], config, name="dense")


def transformer_layer(x, bias, config, is_training, name):
  """One post-LayerNorm BERT layer: attention, add & norm, FFN, add & norm."""
  d_model, d_ff = _dim(config, D_MODEL), _dim(config, D_FF)
  with tf.variable_scope(name):
    with tf.variable_scope("attention"):
      attended = self_attention(x, bias, config, is_training)
      with tf.variable_scope("output"):
        x = layer_norm(x + dropout(attended, config, is_training), d_model,
                       config)
    with tf.variable_scope("intermediate"):
      hidden = gelu(dense(x, [d_ff], [d_model], config, name="dense"))
    with tf.variable_scope("output"):
      out = dense(hidden, [d_model], [d_ff], config, name="dense")
      return layer_norm(x + dropout(out, config, is_training), d_model, config)


def encode(features, config, is_training):
  """The encoder: embeddings then config.num_layers Transformer layers.

  Args:
    features: dict of int32 mtf.Tensors [batch, length]: input_ids,
      token_type_ids, input_mask (1 on tokens, 0 on padding), and optionally
      segment_ids (packed documents attend only within themselves).
    config: RemBertConfig.
    is_training: enables dropout.
  Returns:
    (sequence_output [batch, length, d_model], attention bias).
  """
  with tf.variable_scope("bert"):
    x = embed_inputs(features["input_ids"], features["token_type_ids"], config,
                     is_training)
    bias = attention_bias(features["input_mask"], x.dtype,
                          features.get("segment_ids"))
    with tf.variable_scope("encoder"):
      for i in range(config.num_layers):
        x = transformer_layer(x, bias, config, is_training, f"layer_{i}")
  return x, bias


# ----------------------------------------------------------------------------
# Pre-training head: decoupled (or coupled) masked-LM output
# ----------------------------------------------------------------------------


def mlm_logits(sequence_output, bias, masked_lm_positions, config, is_training):
  """Logits over the vocabulary at the masked positions only.

  Args:
    sequence_output: [batch, length, d_model] from `encode`.
    bias: attention bias from `encode` (used by the extra output layers).
    masked_lm_positions: int32 [batch, mlm_predictions].
  Returns:
    [batch, mlm_predictions, vocab] in the activation dtype.
  """
  x = sequence_output
  d_model, vocab = _dim(config, D_MODEL), _dim(config, VOCAB)
  with tf.variable_scope(MLM_SCOPE):
    for i in range(config.num_extra_output_layers):
      x = transformer_layer(x, bias, config, is_training, f"extra_layer_{i}")
    x = mtf.gather(x, masked_lm_positions, x.shape.get_dim_by_name(LENGTH))
    # Coupled: the output side lives in the input embedding's space.
    out_dim = _dim(config, EMB_IN if config.coupled else EMB_OUT)
    with tf.variable_scope("predictions"):
      with tf.variable_scope("transform"):
        x = gelu(dense(x, [out_dim], [d_model], config, name="dense"))
        x = layer_norm(x, out_dim, config)
      if config.coupled:
        table = x.mesh.graph.name_to_variable[WORD_EMBEDDINGS].outputs[0]
      else:
        table = embedding_table(x.mesh, "output_embedding", vocab, out_dim,
                                config)
      output_bias = mtf.get_variable(x.mesh, "output_bias", [vocab],
                                     dtype=config.variable_dtype,
                                     initializer=tf.zeros_initializer())
      return mtf.einsum([x, table], reduced_dims=[out_dim]) + output_bias


def mlm_loss(logits, masked_lm_ids, masked_lm_weights, config):
  """Weighted mean cross-entropy and accuracy over the masked predictions.

  Returns:
    (loss, accuracy, num_predictions): float32 mtf scalars.
  """
  vocab = _dim(config, VOCAB)
  logits = mtf.cast(logits, tf.float32)
  per_token = mtf.layers.softmax_cross_entropy_with_logits(
      logits, masked_lm_ids, vocab)
  weights = mtf.cast(masked_lm_weights, tf.float32)
  count = mtf.reduce_sum(weights)
  denominator = count + 1e-5
  loss = mtf.reduce_sum(per_token * weights) / denominator
  correct = mtf.cast(mtf.equal(mtf.argmax(logits, vocab), masked_lm_ids),
                     tf.float32)
  accuracy = mtf.reduce_sum(correct * weights) / denominator
  return loss, accuracy, count


# ----------------------------------------------------------------------------
# Fine-tuning heads (the pooler counts as one: MLM pre-training has no NSP)
# ----------------------------------------------------------------------------


def pooled_output(sequence_output, config):
  """tanh(dense(hidden state of the first token)): [batch, d_model]."""
  first = mtf.slice(sequence_output, 0, 1, LENGTH)
  first = mtf.reduce_sum(first, reduced_dim=first.shape.get_dim_by_name(LENGTH))
  d_model = _dim(config, D_MODEL)
  with tf.variable_scope(POOLER_SCOPE):
    return mtf.tanh(dense(first, [d_model], [d_model], config, name="dense"))


def classification_logits(sequence_output, num_classes, config, is_training):
  """Sequence classification on the pooled output: [batch, classes]."""
  pooled = dropout(pooled_output(sequence_output, config), config, is_training)
  return dense(pooled, [mtf.Dimension(CLASSES, num_classes)],
               [_dim(config, D_MODEL)], config, name=CLASSIFIER_SCOPE)


def token_logits(sequence_output, num_classes, config, is_training):
  """Token classification: [batch, length, classes]."""
  x = dropout(sequence_output, config, is_training)
  return dense(x, [mtf.Dimension(CLASSES, num_classes)],
               [_dim(config, D_MODEL)], config, name=TOKEN_CLASSIFIER_SCOPE)


def span_logits(sequence_output, config):
  """Extractive QA: (start_logits, end_logits), each [batch, length]."""
  span_ends = mtf.Dimension(SPAN_ENDS, 2)
  logits = dense(sequence_output, [span_ends], [_dim(config, D_MODEL)], config,
                 name=SPAN_SCOPE)
  start = mtf.reduce_sum(mtf.slice(logits, 0, 1, SPAN_ENDS),
                         reduced_dim=mtf.Dimension(SPAN_ENDS, 1))
  end = mtf.reduce_sum(mtf.slice(logits, 1, 1, SPAN_ENDS),
                       reduced_dim=mtf.Dimension(SPAN_ENDS, 1))
  return start, end


def masked_cross_entropy(logits, labels, classes_dim):
  """Mean cross-entropy over entries whose label is >= 0 (-1 is ignored)."""
  logits = mtf.cast(logits, tf.float32)
  valid = mtf.cast(mtf.greater_equal(labels, 0), tf.float32)
  safe_labels = mtf.cast(mtf.cast(labels, tf.float32) * valid, tf.int32)
  per_entry = mtf.layers.softmax_cross_entropy_with_logits(
      logits, safe_labels, classes_dim)
  return mtf.reduce_sum(per_entry * valid) / (mtf.reduce_sum(valid) + 1e-5)
