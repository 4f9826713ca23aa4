"""The model_dir: what the trainer, import/export and `embed` read and write.

  <model_dir>/
    checkpoint                   TF checkpoint state (paths relative to here)
    model.ckpt-<step>.index      a TF1 (V2-format) checkpoint whose keys are our
    model.ckpt-<step>.data-*     variable names and global_step (int64);
                                 training checkpoints also hold optimizer
                                 slots (<variable>/adam_m, .../adam_v)
    operative_config.gin         every RemBertConfig binding and
                                 get_vocabulary.sentencepiece_model_file
    sentencepiece.model          the vocabulary

The trainer writes checkpoints with tf.train.Saver; import-hf and import-tf
write a model_dir from arrays through interop/model_dir_writer.py, which
streams them (never the whole model at once). Reading goes through tf.train.load_checkpoint, one tensor at a time; read
errors become one-line ValueErrors naming the file and the variable.

Measured at the released RemBERT's size (575.9M parameters plus the 416.5M
output embedding, 3.71 GiB in float32; tests/interop/test_checkpoints_tf.py, slow)
on a 2-core machine: import-tf 14 s, peak RSS 3.0 GiB; export-hf 15 s,
2.8 GiB; import-hf 13 s, 3.0 GiB. Of that, about 0.7 GiB is TensorFlow
itself, 1.55 GiB the largest tensor (the output embedding) and the rest one
group: a peak set by the largest tensor, never by the model.
"""

import dataclasses
import glob
import os
import re

from absl import logging
from gin import config_parser

from rembert_mtf import compat
from rembert_mtf import errors
from rembert_mtf.model import modeling
from rembert_mtf.data import vocabulary

mtf = compat.mtf
tf = compat.tf

OPERATIVE_CONFIG = "operative_config.gin"
VOCABULARY = "sentencepiece.model"
CHECKPOINT_PREFIX = "model.ckpt"
GLOBAL_STEP = "global_step"
# Names in a training checkpoint that are not model variables: Adam's slots
# (BERT's and mtf's AdamWeightDecayOptimizer) and mtf Adafactor's.
_SLOT_PATTERN = re.compile(
    r"(/adam_[mv]|/AdamWeightDecayOptimizer(_1)?|_slot_\w+)$")
CONFIG_FIELDS = tuple(
    f.name for f in dataclasses.fields(modeling.RemBertConfig))
# What TensorFlow's checkpoint reader raises on a truncated or corrupt file
# (its C++ status codes map to several Python types).
_READ_ERRORS = (tf.errors.OpError, ValueError, IndexError, RuntimeError,
                OSError)


def make_config(**fields):
  """RemBertConfig from `fields`, the dataclass defaults for the rest.

  Every field is passed explicitly: RemBertConfig is gin-configurable, and
  bindings parsed elsewhere in the process must not fill the gaps.
  """
  values = {f.name: f.default
            for f in dataclasses.fields(modeling.RemBertConfig)}
  values.update(fields)
  return modeling.RemBertConfig(**values)


def is_model_variable(name):
  """False for global_step and optimizer slots."""
  return name != GLOBAL_STEP and not _SLOT_PATTERN.search(name)


# ----------------------------------------------------------------------------
# Which variables a configuration has
# ----------------------------------------------------------------------------


def variable_shapes(config, mlm=False, pooler=False, task_heads=None):
  """{our variable name: shape} of the model with the given parts.

  The mtf graph is built (not lowered, so nothing is allocated): the names
  and shapes are those of modeling.py by construction.

  Args:
    config: RemBertConfig.
    mlm: include the MLM head (cls/...).
    pooler: include bert/pooler.
    task_heads: {"classification"|"token"|"span": number of classes}
      (heads.HEADS names).
  Returns:
    dict of name -> tuple of ints, in creation order.
  """
  task_heads = task_heads or {}
  with tf.Graph().as_default():
    mesh = mtf.Mesh(mtf.Graph(), "shapes")
    batch = mtf.Dimension(modeling.BATCH, 1)
    length = mtf.Dimension(modeling.LENGTH, 1)
    features = {n: mtf.zeros(mesh, [batch, length], tf.int32)
                for n in ("input_ids", "token_type_ids", "input_mask")}
    sequence_output, bias = modeling.encode(features, config, False)
    if mlm:
      positions = mtf.zeros(
          mesh, [batch, mtf.Dimension(modeling.MLM_PREDICTIONS, 1)], tf.int32)
      modeling.mlm_logits(sequence_output, bias, positions, config, False)
    if "classification" in task_heads:  # the pooler comes with it
      modeling.classification_logits(
          sequence_output, task_heads["classification"], config, False)
    elif pooler:
      modeling.pooled_output(sequence_output, config)
    if "token" in task_heads:
      modeling.token_logits(sequence_output, task_heads["token"], config, False)
    if "span" in task_heads:
      modeling.span_logits(sequence_output, config)
    return {v.name: tuple(v.shape.to_integer_list)
            for v in mesh.graph.all_variables}


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------


def checkpoint_step(model_dir):
  """global_step of the latest checkpoint in model_dir (0 if none)."""
  path = tf.train.latest_checkpoint(model_dir) if model_dir else None
  if not path:
    return 0
  return int(re.search(r"-(\d+)$", path).group(1))


def write_operative_config(model_dir, gin_text, run_bindings):
  """Writes model_dir/operative_config.gin: what a later run reads back.

  gin.tf's GinConfigSaverHook would write operative_config-<step>.gin only
  once a session exists; a later run, `report` and the interop commands
  read this one file, written before any graph is built.

  Args:
    model_dir: the run's folder (created if missing).
    gin_text: gin.config_str() after the user's files and bindings.
    run_bindings: lines binding the run as built (config.Run.gin_bindings):
      they follow, so they win when the file is parsed again.
  """
  tf.io.gfile.makedirs(model_dir)
  path = os.path.join(model_dir, OPERATIVE_CONFIG)
  text = "\n".join([
      gin_text.rstrip(), "",
      "# The run as built (rembert_mtf.training.config.Run):",
      "import rembert_mtf.model.modeling",
      "import rembert_mtf.model.partitioning",
      "import rembert_mtf.training.config", *run_bindings, ""])
  with tf.io.gfile.GFile(path + ".tmp", "w") as f:
    f.write(text)
  tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def latest_checkpoint(model_dir):
  """Path prefix of the newest checkpoint in model_dir.

  Raises:
    FileNotFoundError: no such folder or no checkpoint in it.
  """
  if not os.path.isdir(model_dir):
    raise errors.MissingFileError(f"model_dir {model_dir} does not exist.")
  path = tf.train.latest_checkpoint(model_dir)
  if path:
    return path
  # The `checkpoint` file is missing or names absolute paths of a folder
  # that has moved: take the highest step present.
  steps = []
  pattern = os.path.join(model_dir, CHECKPOINT_PREFIX + "-*.index")
  for index in glob.glob(pattern):
    match = re.search(r"-(\d+)\.index$", index)
    if match:
      steps.append((int(match.group(1)), index[:-len(".index")]))
  if not steps:
    raise errors.MissingFileError(f"no checkpoint ({CHECKPOINT_PREFIX}-<step>.index) "
                                  f"in {model_dir}.")
  return max(steps)[1]


class CheckpointReader:
  """The variables of one TF checkpoint, read one at a time.

  Attributes:
    path: the checkpoint prefix.
    shapes: {name: shape} of every key (slots and global_step included).
  """

  def __init__(self, path):
    self.path = path
    try:
      self._reader = tf.train.load_checkpoint(path)
      self.shapes = {k: tuple(v) for k, v in
                     self._reader.get_variable_to_shape_map().items()}
      self.dtypes = self._reader.get_variable_to_dtype_map()
    except _READ_ERRORS as e:
      raise errors.UserError(f"cannot read checkpoint {path}: "
                             f"{_first_line(e)}") from e

  def model_variables(self):
    """Names of the model's variables (no slots, no global_step), sorted."""
    return sorted(n for n in self.shapes if is_model_variable(n))

  def get(self, name):
    """One variable as a numpy array.

    Raises:
      KeyError: no such variable.
      ValueError: the data cannot be read (truncated or corrupt file).
    """
    if name not in self.shapes:
      raise errors.MissingKeyError(f"checkpoint {self.path} has no variable {name}.")
    try:
      return self._reader.get_tensor(name)
    except _READ_ERRORS as e:
      raise errors.UserError(f"checkpoint {self.path}: cannot read {name}: "
                             f"{_first_line(e)}") from e

  def step(self):
    return int(self.get(GLOBAL_STEP)) if GLOBAL_STEP in self.shapes else 0


def _first_line(error):
  text = str(getattr(error, "message", error)).strip()
  return text.splitlines()[0] if text else type(error).__name__


class _GinValues(config_parser.ParserDelegate):
  """Parses gin values; macros and references become markers, not calls."""

  def configurable_reference(self, scoped_name, evaluate):
    return _Reference("@" + scoped_name + ("()" if evaluate else ""))

  def macro(self, name):
    return _Reference("%" + name)


@dataclasses.dataclass(frozen=True)
class _Reference:
  text: str


def read_bindings(path):
  """{(selector, parameter): value} of the unscoped bindings in a gin file.

  Macros (NAME = value; x.y = %NAME) are resolved; a binding to a configurable
  reference (@fn) is kept as a marker whose use is an error.
  """
  try:
    with open(path) as f:
      statements = list(config_parser.ConfigParser(f, _GinValues()))
  except SyntaxError as e:
    raise errors.UserError(f"{path}: gin syntax error: {_first_line(e)}") from e
  macros, bindings = {}, {}
  for st in statements:
    if isinstance(st, config_parser.IncludeStatement):
      logging.warning("%s: include %s ignored.", path, st.filename)
    if not isinstance(st, config_parser.BindingStatement) or st.scope:
      continue
    if not st.arg_name:
      macros[st.selector] = st.value
    else:
      bindings[(st.selector.split(".")[-1], st.arg_name)] = st.value
  for key, value in bindings.items():
    seen = set()
    while isinstance(value, _Reference) and value.text.startswith("%"):
      name = value.text[1:]
      if name in seen or name not in macros:
        break
      seen.add(name)
      value = macros[name]
    bindings[key] = value
  return bindings


def read_config(model_dir):
  """The RemBertConfig bound in model_dir/operative_config.gin.

  Fields the file does not bind keep RemBertConfig's defaults (as parsing
  the file alone with gin would), whatever else gin holds in this process.
  Raises:
    FileNotFoundError: no operative config.
    ValueError: an unknown field or a value that is not a literal.
  """
  path = os.path.join(model_dir, OPERATIVE_CONFIG)
  if not os.path.isfile(path):
    raise errors.MissingFileError(f"{path} does not exist: {model_dir} is not a "
                                  "model_dir (import or train a model first).")
  values = {}
  for (selector, field), value in read_bindings(path).items():
    if selector != "RemBertConfig":
      continue
    if field not in CONFIG_FIELDS:
      raise errors.UserError(f"{path}: RemBertConfig has no field {field}.")
    if isinstance(value, _Reference):
      raise errors.UserError(f"{path}: RemBertConfig.{field} = {value.text} is not "
                             "a literal value.")
    values[field] = value
  try:
    return make_config(**values)
  except (TypeError, ValueError) as e:
    raise errors.UserError(f"{path}: {_first_line(e)}") from e


def vocabulary_path(model_dir):
  """The model's SentencePiece file: the copy in model_dir, else the binding.

  Raises:
    FileNotFoundError: neither exists.
  """
  local = os.path.join(model_dir, VOCABULARY)
  if os.path.isfile(local):
    return local
  bound = None
  config_path = os.path.join(model_dir, OPERATIVE_CONFIG)
  if os.path.isfile(config_path):
    bound = read_bindings(config_path).get(
        ("get_vocabulary", "sentencepiece_model_file"))
  if isinstance(bound, str) and os.path.isfile(bound):
    return bound
  raise errors.MissingFileError(
      f"no vocabulary for {model_dir}: neither {local} nor the "
      "get_vocabulary.sentencepiece_model_file binding "
      f"({bound!r}) exists.")


def check_vocabulary(path, config):
  """Opens a SentencePiece model and checks it fits the config.

  Returns:
    vocabulary.SpecialTokens of the model.
  Raises:
    FileNotFoundError: no such file.
    ValueError: not a SentencePiece model, no [CLS]/[SEP]/[MASK], or more
      pieces than config.vocab_size.
  """
  if not os.path.isfile(path):
    raise errors.MissingFileError(f"vocabulary {path} does not exist.")
  try:
    vocab = vocabulary.get_vocabulary(path)
    size = vocab.tokenizer.get_piece_size()
  except (RuntimeError, OSError, tf.errors.OpError) as e:
    raise errors.UserError(f"{path} is not a SentencePiece model: "
                           f"{_first_line(e)}") from e
  if size > config.vocab_size:
    raise errors.UserError(f"vocabulary {path} has {size} pieces, more than the "
                           f"model's vocab_size {config.vocab_size}.")
  return vocabulary.special_tokens(vocab)


def read_weights(model_dir, names=None):
  """{name: numpy array} from model_dir's latest checkpoint.

  Args:
    model_dir: a model_dir.
    names: the variables to read (default: every model variable).
  """
  reader = CheckpointReader(latest_checkpoint(model_dir))
  return {n: reader.get(n) for n in (names or reader.model_variables())}
