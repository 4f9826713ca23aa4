"""The configuration of a run: frozen dataclasses that gin binds once.

    RemBertConfig (model/modeling.py)   RemBertConfig.*     sizes of the model
    TrainerConfig                       trainer.*           data, batch, steps
    OptimizerConfig                     optimizer.*         Adam / Adafactor, clipping
    ScheduleConfig                      learning_rate_schedule.*   warm-up, decay
    mesh shape, layout                  partitioning.mesh.* (or --mesh_shape)

The CLI builds one `Run` from gin (`Run.from_gin`) after parsing the flags,
checks it, and passes it down; nothing under the model_fn reads gin. A
program that trains several models (the demo, the XTREME runner) derives
each run with `dataclasses.replace` instead of rebinding global gin, and
`Run.gin_bindings()` is what goes into the run's operative_config.gin.
"""

import dataclasses
from typing import Optional

import gin

from rembert_mtf import errors
from rembert_mtf.data import preprocessors
from rembert_mtf.model import heads
from rembert_mtf.model import modeling
from rembert_mtf.model import partitioning

HEAD_NAMES = tuple(heads.HEADS)


def _check_positive(prefix, config, fields):
  for field in fields:
    value = getattr(config, field)
    if value is None or value <= 0:
      raise errors.UserError(f"{prefix}.{field} must be positive, got {value}.")


@gin.configurable("trainer")
@dataclasses.dataclass(frozen=True)
class TrainerConfig:
  """What to train on and how; every field is a `trainer.*` gin binding."""
  mixture_or_task_name: Optional[str] = None
  head: str = "mlm"  # mlm | classification | token | span (heads.HEADS)
  num_classes: int = 2
  split: str = "train"
  batch_size: int = 32
  sequence_length: int = 128
  # Masked positions per sequence; None: floor(0.15 x sequence_length), the
  # masking's own cap (76 at 512, 19 at 128); a binding wins.
  mlm_predictions: Optional[int] = None
  train_steps: int = 1000
  save_checkpoints_steps: int = 500
  keep_checkpoint_max: int = 5
  init_checkpoint: Optional[str] = None  # fine-tuning: a pre-trained ckpt
  log_every_steps: int = 10
  num_devices: int = 8  # virtual CPU devices of the placement mesh
  seed: int = 0
  # The --output_dir of `rembert-mtf cache`: training reads the tokenised
  # documents seqio cached there instead of tokenising on the fly (None).
  cache_dir: Optional[str] = None
  # Evaluation during training: every eval_every_steps (0: never) the eval
  # tasks of eval_mixture_name are scored on eval_split; the checkpoint with
  # the best mean of best_metric over languages is copied to model_dir/best.
  eval_mixture_name: Optional[str] = None
  eval_split: str = "validation"
  eval_every_steps: int = 0
  best_metric: str = "accuracy"

  def validate(self):
    """One-line errors for values no run can use (before any graph)."""
    heads.get_head(self.head)
    if not self.mixture_or_task_name:
      raise errors.UserError("no training data: bind "
                             "`trainer.mixture_or_task_name` (see "
                             "`rembert-mtf tasks`).")
    if self.eval_every_steps < 0:
      raise errors.UserError("trainer.eval_every_steps must be >= 0 (0: "
                             f"never), got {self.eval_every_steps}.")
    if self.eval_every_steps and not self.eval_mixture_name:
      raise errors.UserError("trainer.eval_every_steps needs "
                             "`trainer.eval_mixture_name` (a mixture with "
                             "*_eval_* tasks).")
    _check_positive("trainer", self, (
        "batch_size", "sequence_length", "train_steps",
        "save_checkpoints_steps", "keep_checkpoint_max", "log_every_steps",
        "num_devices", "num_classes", "mlm_predictions"))
    if self.mlm_predictions > self.sequence_length:
      raise errors.UserError(
          f"trainer.mlm_predictions = {self.mlm_predictions} exceeds "
          f"trainer.sequence_length = {self.sequence_length}.")

  def feature_lengths(self):
    lengths = {"input_ids": self.sequence_length}
    if self.head == "mlm":
      lengths["masked_lm_positions"] = self.mlm_predictions
    return lengths


@gin.configurable("optimizer")
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """The update rule; every field is an `optimizer.*` gin binding.

  Defaults are the paper's pre-training recipe (Table 14): Adam with beta1
  0.9, beta2 0.999, eps 1e-6, decoupled weight decay 0.01 (not on LayerNorm
  or biases), global-norm clipping at 1.0.
  """
  name: str = "adam"  # adam | adafactor
  weight_decay_rate: float = 0.01
  beta_1: float = 0.9
  beta_2: float = 0.999
  epsilon: float = 1e-6
  # Adam as TensorFlow's fused kernel (optimizers.FusedAdamUpdate): x1.08
  # and x0.99 on the small benchmark step in two runs, but no variable
  # stacking on meshes (slower graph building).
  fused: bool = False
  clip_norm: Optional[float] = 1.0  # global-norm clipping; None or 0: off

  def validate(self):
    if self.name not in ("adam", "adafactor"):
      raise errors.UserError("optimizer.name must be 'adam' or 'adafactor', "
                             f"got {self.name!r}.")
    for field in ("beta_1", "beta_2"):
      if not 0.0 <= getattr(self, field) < 1.0:
        raise errors.UserError(f"optimizer.{field} must be in [0, 1), got "
                               f"{getattr(self, field)}.")
    if self.epsilon <= 0 or self.weight_decay_rate < 0:
      raise errors.UserError("optimizer.epsilon must be > 0 and "
                             "optimizer.weight_decay_rate >= 0, got "
                             f"{self.epsilon} and {self.weight_decay_rate}.")
    if self.clip_norm is not None and self.clip_norm < 0:
      raise errors.UserError("optimizer.clip_norm must be >= 0 (0 or None: no"
                             f" clipping), got {self.clip_norm}.")


@gin.configurable("learning_rate_schedule")
@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
  """Linear warm-up to the peak, then linear decay to the final rate.

  Every field is a `learning_rate_schedule.*` gin binding. `total_steps`
  defaults to trainer.train_steps (`Run.from_gin` fills it in), so a recipe
  states its length once.
  """
  peak_learning_rate: float = 2e-4
  warmup_steps: int = 15000
  total_steps: Optional[int] = None
  final_learning_rate: float = 0.0

  def validate(self):
    if not self.peak_learning_rate > 0 or self.final_learning_rate < 0:
      raise errors.UserError(
          "learning_rate_schedule.peak_learning_rate must be > 0 and "
          "final_learning_rate >= 0, got "
          f"{self.peak_learning_rate} and {self.final_learning_rate}.")
    if self.warmup_steps < 0:
      raise errors.UserError("learning_rate_schedule.warmup_steps must be >= "
                             f"0, got {self.warmup_steps}.")
    if self.total_steps is not None and self.total_steps <= 0:
      raise errors.UserError("learning_rate_schedule.total_steps must be "
                             f"positive, got {self.total_steps}.")


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything one training or prediction run is built from."""
  model: modeling.RemBertConfig
  trainer: TrainerConfig
  optimizer: OptimizerConfig = OptimizerConfig()
  schedule: ScheduleConfig = ScheduleConfig()
  mesh_shape: str = ""
  layout: str = ""

  @classmethod
  def from_gin(cls, mesh_shape=None, layout=None, **trainer_overrides):
    """The run gin binds (parse the gin files first); flags override.

    Args:
      mesh_shape, layout: --mesh_shape / --mesh_layout, or None for
        partitioning.mesh.*.
      **trainer_overrides: TrainerConfig fields set by flags.
    """
    bound_shape, bound_layout, _ = partitioning.mesh_spec()
    return cls(
        model=modeling.RemBertConfig(),
        trainer=dataclasses.replace(TrainerConfig(), **trainer_overrides),
        optimizer=OptimizerConfig(), schedule=ScheduleConfig(),
        mesh_shape=bound_shape if mesh_shape is None else mesh_shape,
        layout=bound_layout if layout is None else layout).resolved()

  def resolved(self):
    """Fills the defaults that follow other fields (total steps, masking)."""
    run = self
    if run.schedule.total_steps is None:
      run = dataclasses.replace(run, schedule=dataclasses.replace(
          run.schedule, total_steps=run.trainer.train_steps))
    if run.trainer.mlm_predictions is None:
      run = dataclasses.replace(run, trainer=dataclasses.replace(
          run.trainer,
          mlm_predictions=preprocessors.default_max_predictions(
              run.trainer.sequence_length)))
    return run

  def replace(self, *, model=None, trainer=None, optimizer=None,
              schedule=None, **fields):
    """A copy with whole parts or TrainerConfig fields replaced.

    `run.replace(train_steps=10, schedule=ScheduleConfig(...))`: keyword
    arguments other than the parts' names are TrainerConfig fields. The
    schedule's total steps follow train_steps unless given.
    """
    parts = dict(model=model or self.model,
                 trainer=dataclasses.replace(trainer or self.trainer,
                                             **fields),
                 optimizer=optimizer or self.optimizer,
                 schedule=schedule or self.schedule)
    if schedule is None and "train_steps" in fields:
      parts["schedule"] = dataclasses.replace(self.schedule,
                                              total_steps=None)
    return dataclasses.replace(self, **parts).resolved()

  def validate(self):
    self.trainer.validate()
    self.optimizer.validate()
    self.schedule.validate()

  def dimension_sizes(self):
    """Every named dimension's size for this run's graphs."""
    t = self.trainer
    return {**self.model.dimension_sizes(), modeling.BATCH: t.batch_size,
            modeling.LENGTH: t.sequence_length,
            modeling.MEMORY_LENGTH: t.sequence_length,
            modeling.MLM_PREDICTIONS: t.mlm_predictions,
            modeling.CLASSES: t.num_classes}

  def gin_bindings(self):
    """Binding lines that rebuild exactly this run (operative config)."""
    lines = []
    for prefix, part in (("RemBertConfig", self.model),
                         ("trainer", self.trainer),
                         ("optimizer", self.optimizer),
                         ("learning_rate_schedule", self.schedule)):
      for field in dataclasses.fields(part):
        if (part is self.schedule and field.name == "total_steps" and
            part.total_steps == self.trainer.train_steps):
          # Left to follow train_steps, so a fine-tuning run that reads this
          # file does not decay over the pre-training's length.
          continue
        lines.append(f"{prefix}.{field.name} = "
                     f"{getattr(part, field.name)!r}")
    lines.append(f"partitioning.mesh.shape = {self.mesh_shape!r}")
    lines.append(f"partitioning.mesh.layout = {self.layout!r}")
    return lines
