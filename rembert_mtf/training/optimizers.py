"""Optimizers, gradient clipping and the learning-rate schedule.

Defaults are the paper's pre-training recipe (Table 14): Adam with
beta1 0.9, beta2 0.999, eps 1e-6, decoupled weight decay 0.01 (not on
LayerNorm or biases), global-norm clipping at 1.0, learning rate 2e-4 with
15,000 linear warm-up steps then linear decay. The update rules are
mesh_tensorflow's: AdamWeightDecayOptimizer (BERT's Adam without bias
correction; subclassed below so bfloat16 activations build, and optionally
run as TensorFlow's fused Adam kernel) and mtf.optimize.AdafactorOptimizer.
Their settings arrive as arguments (config.OptimizerConfig and
config.ScheduleConfig, bound in gin as `optimizer.*` and
`learning_rate_schedule.*`); nothing here reads gin.
"""

from rembert_mtf import compat
from rembert_mtf import errors

mtf = compat.mtf
tf = compat.tf

# Variables that get no weight decay (BERT's convention).
NO_DECAY_PATTERNS = ("LayerNorm", r"/bias$", "output_bias")


def learning_rate(step, schedule):
  """Linear warm-up to the peak, then linear decay to the final rate.

  Args:
    step: int64/int32 tf scalar, the global step (an argument, as in
      mesh_tensorflow's learning_rate_schedules, not read from the graph).
    schedule: config.ScheduleConfig with total_steps resolved.
  Returns:
    float32 tf scalar.
  """
  peak, final = schedule.peak_learning_rate, schedule.final_learning_rate
  warmup_steps, total_steps = schedule.warmup_steps, schedule.total_steps
  step = tf.cast(step, tf.float32)
  warmup = tf.minimum(1.0, (step + 1.0) / max(warmup_steps, 1))
  decay_span = max(total_steps - warmup_steps, 1)
  remaining = tf.clip_by_value((total_steps - step) / decay_span, 0.0, 1.0)
  decayed = final + (peak - final) * remaining
  return tf.where(step < warmup_steps, peak * warmup, decayed)


class AdamWeightDecayOptimizer(mtf.optimize.AdamWeightDecayOptimizer):
  """mtf's Adam with decoupled weight decay, bfloat16 activations included.

  The update is mtf's (BERT's Adam, no bias correction; slots adam_m and
  adam_v, so checkpoints are interchangeable). mtf adds the decay term,
  computed from the variable in the activation dtype, to a float32 update,
  so with bfloat16 activations its graph does not build; here the decay
  reads the variable as float32.
  """

  def __init__(self, *args, fused=False, **kwargs):
    super().__init__(*args, **kwargs)
    self._fused = fused

  def apply_grads(self, grads, variables):
    """mtf's, except that fused updates are not mtf.Assigns to combine."""
    ops = [op for g, v in zip(grads, variables) for op in self.apply_grad(g, v)]
    assigns = [op for op in ops if isinstance(op, mtf.Assign)]
    fused = [op for op in ops if not isinstance(op, mtf.Assign)]
    return (variables[0].graph.combine_assignments(assigns) if assigns
            else []) + fused

  def apply_grad(self, grad, var):
    if grad is None:
      return []
    grad = mtf.to_float(grad)
    m, v = (mtf.get_variable(var.mesh, f"{var.name}/adam_{slot}", var.shape,
                             initializer=tf.zeros_initializer(),
                             trainable=False) for slot in ("m", "v"))
    if self._fused and var.slice_dtype == tf.float32:
      return [FusedAdamUpdate(self, var, m.operation, v.operation, grad)]
    next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
    next_v = self.beta_2 * v + (1.0 - self.beta_2) * mtf.square(grad)
    update = next_m / (mtf.sqrt(next_v) + self.epsilon)
    if self._do_use_weight_decay(var.name):
      update += self.weight_decay_rate * mtf.to_float(var.value)
    return [mtf.assign_sub(var, self.learning_rate * update),
            mtf.assign(m, next_m), mtf.assign(v, next_v)]


class FusedAdamUpdate(mtf.Operation):
  """One variable's Adam step as TensorFlow's fused kernel on every slice.

  mtf's update is about a dozen elementwise passes over the variable, its
  slots and its gradient; ResourceApplyAdam updates m, v and the variable in
  one. With beta powers 0 its bias correction is 1, which is BERT's Adam;
  the decoupled decay is applied first, from the variable before the step,
  as in mtf's update. Same arithmetic, other rounding: within 1e-6 of mtf's
  after two steps (tests/test_optimizers.py).
  """

  # It names its variables directly, so the lowering must not stack them
  # (partitioning.lower).
  reads_variables_directly = True

  def __init__(self, optimizer, var, m, v, grad):
    super().__init__([grad], mesh=var.mesh, name="fused_adam")
    self._optimizer = optimizer
    self._variables = (var, m, v)
    self._decay = optimizer._do_use_weight_decay(var.name)  # pylint: disable=protected-access
    self._outputs = []

  def lower(self, lowering):
    o = self._optimizer
    var, m, v = (lowering.variables[x].laid_out_tensor.all_slices
                 for x in self._variables)
    grads = lowering.tensors[self.inputs[0]].to_laid_out_tensor().all_slices
    updates = []
    for device, w, m_slice, v_slice, g in zip(
        lowering.mesh_impl(self).devices, var, m, v, grads):
      with tf.device(device):
        lr = tf.cast(o.learning_rate, tf.float32)
        # After the (clipped) gradient, which waits for every read of the
        # weights in the forward and backward passes: decaying earlier
        # would change what they read.
        with tf.control_dependencies([g]):
          decay = ([w.assign_sub(lr * o.weight_decay_rate * w.read_value())]
                   if self._decay else [])
        with tf.control_dependencies(decay):
          updates.append(tf.raw_ops.ResourceApplyAdam(
              var=w.handle, m=m_slice.handle, v=v_slice.handle,
              beta1_power=0.0, beta2_power=0.0, lr=lr, beta1=o.beta_1,
              beta2=o.beta_2, epsilon=o.epsilon, grad=g))
    lowering.operations[self] = tf.group(updates)


def make_optimizer(learning_rate, optimizer):
  """The mtf optimizer of config.OptimizerConfig `optimizer`.

  Args:
    learning_rate: tf scalar (from learning_rate).
    optimizer: config.OptimizerConfig.
  """
  if optimizer.name == "adam":
    return AdamWeightDecayOptimizer(
        learning_rate=learning_rate,
        weight_decay_rate=optimizer.weight_decay_rate,
        beta_1=optimizer.beta_1, beta_2=optimizer.beta_2,
        epsilon=optimizer.epsilon,
        exclude_from_weight_decay=list(NO_DECAY_PATTERNS),
        fused=optimizer.fused)
  if optimizer.name == "adafactor":
    return mtf.optimize.AdafactorOptimizer(learning_rate=learning_rate)
  raise errors.UserError("optimizer.name must be 'adam' or 'adafactor', got "
                         f"{optimizer.name!r}.")


def clip_by_global_norm(grads, max_norm):
  """Scales all gradients by min(1, max_norm / global norm).

  Args:
    grads: list of mtf.Tensors (None entries pass through).
    max_norm: the clipping norm; None or 0: no clipping.
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


def update_ops(loss, mtf_graph, learning_rate_value, optimizer):
  """The optimizer's assignments for one step on `loss`.

  Args:
    loss: mtf scalar.
    mtf_graph: the mtf.Graph holding the trainable variables.
    learning_rate_value: tf scalar.
    optimizer: config.OptimizerConfig.
  Returns:
    (list of mtf assignment operations, global gradient norm before clipping)
  """
  variables = mtf_graph.trainable_variables
  grads = mtf.gradients([loss], [v.outputs[0] for v in variables])
  grads, norm = clip_by_global_norm(grads, optimizer.clip_norm)
  return (make_optimizer(learning_rate_value, optimizer).apply_grads(
      grads, variables), norm)


def step_update_fn(optimizer, schedule):
  """update_fn(loss, mtf_graph, global_step) -> (ops, gradient norm).

  What model.mesh_graph.MeshGraph takes to build a training step, without
  the model package importing the optimizers.
  """
  def update_fn(loss, mtf_graph, global_step):
    return update_ops(loss, mtf_graph, learning_rate(global_step, schedule),
                      optimizer)
  return update_fn
