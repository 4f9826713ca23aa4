"""An example a user copies: register your own MLM task and mixture.

Copy this file into your own package (say my_tasks.py), point it at your
text, and load it with --module_import:

  rembert-mtf tasks --module_import=my_tasks --filter=example
  rembert-mtf train --module_import=my_tasks \
      --gin_file=models/tiny.gin \
      --gin_param="example_corpus.pattern = '/data/my_corpus/*.txt'" \
      --gin_param="trainer.mixture_or_task_name = 'example_mlm'" \
      --gin_param="get_vocabulary.sentencepiece_model_file = 'spm.model'" \
      --model_dir=/tmp/example

Each line of each file is one document. The task reuses the project's MLM
preprocessing (tokenize, pack into [CLS] ... [SEP], BERT masking), so its
features are exactly those of the Wikipedia and mC4 tasks.
"""

import glob

import gin
import seqio
import tensorflow as tf

from rembert_mtf import errors
from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary


@gin.configurable
def example_corpus(pattern=gin.REQUIRED):
  """The files of the example corpus: `example_corpus.pattern` (a glob)."""
  files = sorted(glob.glob(pattern))
  if not files:
    raise errors.MissingFileError(f"no file matches example_corpus.pattern = "
                                  f"{pattern!r}.")
  return files


def _text(split, shuffle_files, seed=None):
  del split, shuffle_files, seed
  return tf.data.TextLineDataset(example_corpus()).map(
      lambda line: {"text": line})


seqio.TaskRegistry.add(
    "example_mlm",
    source=seqio.FunctionDataSource(_text, splits=["train"]),
    preprocessors=preprocessors.mlm_preprocessors(),
    output_features=preprocessors.mlm_output_features(
        vocabulary.DeferredVocabulary()))

# A mixture of your task with any registered one, by rate.
seqio.MixtureRegistry.add("example_mixture", [("example_mlm", 1.0)])
