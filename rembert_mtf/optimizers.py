"""Optimizers, gradient clipping and learning-rate schedules (all gin-bound).

Defaults are the paper's pre-training recipe (Table 14): Adam with
beta1 0.9, beta2 0.999, eps 1e-6, decoupled weight decay 0.01 (not on
LayerNorm or biases), global-norm clipping at 1.0, learning rate 2e-4 with
15,000 linear warm-up steps then linear decay. The update rules are
mesh_tensorflow's: AdamWeightDecayOptimizer (BERT's Adam without bias
correction; subclassed below only so bfloat16 activations build) and
mtf.optimize.AdafactorOptimizer.
"""

import gin

from rembert_mtf import compat

mtf = compat.mtf
tf = compat.tf

# Variables that get no weight decay (BERT's convention).
NO_DECAY_PATTERNS = ("LayerNorm", r"/bias$", "output_bias")


@gin.configurable
def learning_rate_schedule(step, peak_learning_rate=2e-4, warmup_steps=15000,
                           total_steps=1760000, final_learning_rate=0.0):
  """Linear warm-up to the peak, then linear decay to `final_learning_rate`.

  Args:
    step: int64/int32 tf scalar, the global step.
  Returns:
    float32 tf scalar.
  """
  step = tf.cast(step, tf.float32)
  warmup = tf.minimum(1.0, (step + 1.0) / max(warmup_steps, 1))
  decay_span = max(total_steps - warmup_steps, 1)
  remaining = tf.clip_by_value((total_steps - step) / decay_span, 0.0, 1.0)
  decayed = final_learning_rate + (peak_learning_rate -
                                   final_learning_rate) * remaining
  return tf.where(step < warmup_steps, peak_learning_rate * warmup, decayed)


class AdamWeightDecayOptimizer(mtf.optimize.AdamWeightDecayOptimizer):
  """mtf's Adam with decoupled weight decay, bfloat16 activations included.

  The update is mtf's (BERT's Adam, no bias correction; slots adam_m and
  adam_v, so checkpoints are interchangeable). mtf adds the decay term,
  computed from the variable in the activation dtype, to a float32 update,
  so with bfloat16 activations its graph does not build; here the decay
  reads the variable as float32.
  """

  def apply_grad(self, grad, var):
    if grad is None:
      return []
    grad = mtf.to_float(grad)
    m, v = (mtf.get_variable(var.mesh, f"{var.name}/adam_{slot}", var.shape,
                             initializer=tf.zeros_initializer(),
                             trainable=False) for slot in ("m", "v"))
    next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
    next_v = self.beta_2 * v + (1.0 - self.beta_2) * mtf.square(grad)
    update = next_m / (mtf.sqrt(next_v) + self.epsilon)
    if self._do_use_weight_decay(var.name):
      update += self.weight_decay_rate * mtf.to_float(var.value)
    return [mtf.assign_sub(var, self.learning_rate * update),
            mtf.assign(m, next_m), mtf.assign(v, next_v)]


@gin.configurable
def make_optimizer(learning_rate, name="adam", weight_decay_rate=0.01,
                   beta_1=0.9, beta_2=0.999, epsilon=1e-6):
  """An mtf optimizer: "adam" (decoupled weight decay) or "adafactor".

  Args:
    learning_rate: tf scalar (from learning_rate_schedule).
  """
  if name == "adam":
    return AdamWeightDecayOptimizer(
        learning_rate=learning_rate, weight_decay_rate=weight_decay_rate,
        beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
        exclude_from_weight_decay=list(NO_DECAY_PATTERNS))
  if name == "adafactor":
    return mtf.optimize.AdafactorOptimizer(learning_rate=learning_rate)
  raise ValueError(f"make_optimizer.name must be 'adam' or 'adafactor', got "
                   f"{name!r}.")


@gin.configurable
def clip_by_global_norm(grads, max_norm=1.0):
  """Scales all gradients by min(1, max_norm / global norm).

  Args:
    grads: list of mtf.Tensors (None entries pass through).
  Returns:
    (clipped grads, global norm as an mtf scalar).
  """
  squares = [mtf.reduce_sum(mtf.square(mtf.to_float(g)))
             for g in grads if g is not None]
  norm = mtf.sqrt(mtf.add_n(squares))
  if not max_norm:
    return grads, norm
  scale = mtf.minimum(1.0, max_norm / mtf.maximum(norm, 1e-12))
  return [None if g is None else g * mtf.cast(scale, g.dtype)
          for g in grads], norm


def update_ops(loss, mtf_graph, learning_rate):
  """The optimizer's assignments for one step on `loss`.

  Returns:
    (list of mtf assignment operations, global gradient norm before clipping)
  """
  variables = mtf_graph.trainable_variables
  grads = mtf.gradients([loss], [v.outputs[0] for v in variables])
  grads, norm = clip_by_global_norm(grads)
  optimizer = make_optimizer(learning_rate)
  return optimizer.apply_grads(grads, variables), norm
