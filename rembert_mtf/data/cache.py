"""A mixture preprocessed once with Apache Beam, in seqio's cache format.

`rembert-mtf cache` runs `cache_mixture`; training reads the result with
seqio's `use_cached=True` after `open_cache` has checked it. The work is
done by seqio's own Beam transforms (seqio.beam_utils): `PreprocessTask`
reads each source shard and runs a task's preprocessors up to its
`seqio.CacheDatasetPlaceholder`; `GetInfo`, `GetStats` and `WriteJson`
write the info.SPLIT.json and stats.SPLIT.json that seqio reads back. So
the same command runs on Beam's DirectRunner here and on Dataflow, Flink or
Spark for a pod-scale corpus (`--runner`, and Beam's options after `--`).

What is cached follows seqio's convention: only steps that take no
`sequence_length` may come before the placeholder (seqio refuses the others
when it validates a task), and random steps should come after it, or every
epoch would read the same draws. For the MLM tasks that is: blank-text
filter, rekey, tokenize | CacheDatasetPlaceholder | pack documents, BERT
masking. Tokenizing is the costly step; packing (tf.data batching in C++)
and masking run on the fly, so one cache serves every sequence length (128
then 512, as BERT trains) and every epoch gets new masks.

Layout of OUTPUT_DIR/TASK/ (seqio's names, which seqio reads unchanged):
  SPLIT.tfrecord-00000-of-0000N  one file per source shard, in source order
  info.SPLIT.json     seqio's feature info, plus "rembert_mtf": the
                      vocabulary fingerprints and the cached steps
  stats.SPLIT.json    seqio's counts (examples, input_ids_tokens, ...)
  files.SPLIT.json    each file's examples and bytes, as the writer saw them
  COMPLETED           the manifest, written last by the driver once every
                      split's files match their counts (seqio looks for it)

Where this departs from seqio's cache_tasks_main, and why:
  - Order. cache_tasks_main reshuffles examples globally before writing
    (beam_utils.WriteExampleTfRecord); here each source shard becomes one
    file in its own order. seqio's masking seeds are positional (a seed
    stream zipped with the examples) and packing fills sequences from
    consecutive documents, so only the source order makes the cached
    examples equal the on-the-fly ones for the same seed (bit for bit for a
    single-shard source such as the demo's). Training still shuffles: seqio
    shuffles the files and the packed examples.
  - Completion. COMPLETED is written by the driver after the checks above,
    never by a job that stopped midway; `check_task_cache` also compares the
    files with the manifest and the vocabulary with the gin-bound one.
  - cache_tasks_main's `run_pipeline` reads its absl flags (seeds, shard
    counts), so it cannot be called as a library; the wiring is redone here.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)
from rembert_mtf import errors

import dataclasses
import hashlib
import importlib
import json
import os
import time
import uuid

from absl import logging
import apache_beam as beam
import gin
import seqio
from seqio import beam_utils
import tensorflow.compat.v2 as tf

from rembert_mtf.data import registry

COMPLETED = "COMPLETED"  # seqio's marker of a finished task cache
INFO_KEY = "rembert_mtf"  # our entry in seqio's info.SPLIT.json
_FILES = "files.{split}.json"
_SHARD = "{prefix}-{index:05d}-of-{count:05d}"


def task_cache_dir(output_dir, task):
  """OUTPUT_DIR/TASK, where seqio looks for `task`'s cache."""
  return os.path.join(output_dir, seqio.get_task_dir_from_name(task.name))


def _command(name, output_dir):
  return f"`rembert-mtf cache --mixture={name} --output_dir={output_dir}`"


def read_json(path):
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _write_json(path, value):
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)


# ------------------------------------------------------------ vocabulary ---


def _resolved(vocab):
  """The real vocabulary behind a vocabulary.DeferredVocabulary."""
  resolve = getattr(type(vocab), "resolve", None)
  return resolve(vocab) if resolve else vocab


def vocabulary_fingerprint(vocab):
  """What identifies a vocabulary: its SentencePiece model's bytes.

  Args:
    vocab: a seqio vocabulary (DeferredVocabulary resolves via gin).
  Returns:
    dict kind, size and, for SentencePiece, sha256 of the serialized model
    and the file it was read from (the path is shown, not compared).
  """
  vocab = _resolved(vocab)
  fingerprint = {"kind": type(vocab).__name__, "size": int(vocab.vocab_size)}
  if isinstance(vocab, seqio.SentencePieceVocabulary):
    fingerprint["sha256"] = hashlib.sha256(vocab.sp_model).hexdigest()
    fingerprint["file"] = vocab.sentencepiece_model_file
  return fingerprint


def vocabulary_fingerprints(task):
  """{feature name: vocabulary_fingerprint} over a task's output features."""
  return {name: vocabulary_fingerprint(feature.vocabulary)
          for name, feature in sorted(task.output_features.items())}


def _same_vocabulary(written, current):
  keys = ("kind", "size", "sha256")
  return all(written.get(k) == current.get(k) for k in keys)


def _describe(fingerprint):
  if "sha256" in fingerprint:
    return (f"{fingerprint['file']} (sha256 {fingerprint['sha256'][:12]}, "
            f"{fingerprint['size']} pieces)")
  return f"{fingerprint['kind']}({fingerprint['size']})"


# ---------------------------------------------------------------- checks ---


def cacheable_tasks(name):
  """The tasks of task or mixture `name`; each must support seqio caching.

  Raises:
    errors.UserError: naming a task without a seqio.CacheDatasetPlaceholder.
  """
  tasks = registry.tasks_of(registry.get_task_or_mixture(name))
  for task in tasks:
    if not task.supports_caching:
      raise errors.UserError(
          f"task {task.name} (of {name}) has no seqio.CacheDatasetPlaceholder "
          "in its preprocessors, so seqio cannot cache it; put one after its "
          "tokenize step (see rembert_mtf/data/cache.py).")
  return tasks


def _splits_of(task, splits):
  """The splits of `task` to cache: all of them, or the requested ones."""
  if not splits:
    return list(task.splits)
  missing = [s for s in splits if s not in task.splits]
  if missing:
    raise errors.UserError(
        f"task {task.name} has no split {missing[0]!r} (its splits: "
        f"{', '.join(task.splits)}); drop --split={missing[0]}.")
  return list(splits)


def check_task_cache(task, directory, splits, name=None):
  """Checks that `directory` holds a whole cache of `task` for this run.

  Args:
    task: a seqio.Task.
    directory: the task's cache folder (OUTPUT_DIR/TASK).
    splits: the splits that will be read.
    name: the mixture it was cached for (named in the fix); default task's.
  Raises:
    errors.MissingFileError: no cache there.
    errors.UserError: an incomplete cache (a job stopped midway, files
      missing or cut short), another vocabulary, or a split not cached.
  """
  output_dir = os.path.dirname(directory.rstrip("/"))
  rebuild = _command(name or task.name, output_dir)
  if (not tf.io.gfile.isdir(directory)
      or not tf.io.gfile.listdir(directory)):
    raise errors.MissingFileError(
        f"no cache of task {task.name} in {directory}; build it with "
        f"{rebuild}.")
  incomplete = (f"the cache of task {task.name} in {directory} is incomplete "
                "(a cache job stopped before it finished): delete that folder "
                f"and run {rebuild} again")
  marker = os.path.join(directory, COMPLETED)
  if not tf.io.gfile.exists(marker):
    raise errors.UserError(f"{incomplete}; it has no {COMPLETED} file.")
  try:
    manifest = read_json(marker)
  except ValueError:
    raise errors.UserError(
        f"{marker} is not a rembert-mtf cache manifest (written by another "
        f"tool?); rebuild the cache with {rebuild} into a new "
        "--output_dir.") from None
  current = vocabulary_fingerprints(task)
  for split in splits:
    if split not in manifest.get("splits", {}):
      raise errors.UserError(
          f"the cache of task {task.name} in {directory} holds splits "
          f"{', '.join(sorted(manifest.get('splits', {})))}, not {split!r}; "
          "cache that split into another --output_dir.")
    info_path = seqio.utils.get_cached_info_path(directory, split)
    stats_path = seqio.utils.get_cached_stats_path(directory, split)
    for path in (info_path, stats_path):
      if not tf.io.gfile.exists(path):
        raise errors.UserError(f"{incomplete}; {path} is missing.")
    for file_name, size in sorted(manifest["splits"][split]["files"].items()):
      path = os.path.join(directory, file_name)
      if not tf.io.gfile.exists(path):
        raise errors.UserError(f"{incomplete}; {path} is missing.")
      found = tf.io.gfile.stat(path).length
      if found != size:
        raise errors.UserError(
            f"{incomplete}; {path} has {found} bytes, {COMPLETED} says "
            f"{size}.")
    written = read_json(info_path).get(INFO_KEY, {}).get("vocabulary", {})
    for feature, fingerprint in current.items():
      old = written.get(feature)
      if old is None or not _same_vocabulary(old, fingerprint):
        was = _describe(old) if old else "an unrecorded vocabulary"
        raise errors.UserError(
            f"the cache of task {task.name} in {directory} was written for "
            f"{feature} vocabulary {was}, but this run uses "
            f"{_describe(fingerprint)}: bind "
            "get_vocabulary.sentencepiece_model_file to the model it was "
            f"written for, or build a new cache with {rebuild} into another "
            "--output_dir.")


def open_cache(name, cache_dir, split):
  """Lets seqio read `name` from `cache_dir`, after checking every task.

  Call before seqio.get_dataset(name, ..., use_cached=True).

  Args:
    name: task or mixture name.
    cache_dir: the --output_dir of `rembert-mtf cache`.
    split: the split that will be read.
  Raises:
    errors.UserError: as `check_task_cache`, for the first bad task.
  """
  tasks = cacheable_tasks(name)
  for task in tasks:
    check_task_cache(task, task_cache_dir(cache_dir, task), [split],
                     name=name)
  # seqio reads a task from the first global cache folder that holds it:
  # this one goes first.
  seqio.set_global_cache_dirs(
      [cache_dir] + [d for d in seqio.utils.get_global_cache_dirs()
                     if d != cache_dir])
  for task in tasks:
    # seqio keeps the folder it found first for the life of the process.
    if task.cache_dir != task_cache_dir(cache_dir, task):
      raise errors.UserError(
          f"this process already read task {task.name} from the cache in "
          f"{task.cache_dir}; run with trainer.cache_dir = "
          f"'{cache_dir}' in a new process.")


def _has_documents(task, split):
  """Whether `task`'s split yields at least one example before the cache."""
  ds = task.source.get_dataset(split=split, shuffle=False)
  ds = task.preprocess_precache(ds)
  return any(True for _ in ds.take(1))


def plan(name, output_dir, splits=None):
  """What `cache_mixture` would write; refuses before anything is written.

  Args:
    name: task or mixture.
    output_dir: the cache folder.
    splits: splits to cache (default: every split of each task).
  Returns:
    (to_cache, cached): lists of (task, splits); `cached` are complete
    caches already in output_dir for this vocabulary (skipped).
  Raises:
    errors.UserError: a task seqio cannot cache, a split it lacks, an empty
      corpus, or a folder in output_dir that is incomplete or was written
      for another vocabulary (nothing is overwritten).
  """
  to_cache, cached = [], []
  for task in cacheable_tasks(name):
    task_splits = _splits_of(task, splits)
    directory = task_cache_dir(output_dir, task)
    if tf.io.gfile.isdir(directory) and tf.io.gfile.listdir(directory):
      check_task_cache(task, directory, task_splits, name=name)
      cached.append((task, task_splits))
      continue
    for split in task_splits:
      if not _has_documents(task, split):
        raise errors.UserError(
            f"task {task.name} has no documents in split {split!r} once "
            "blank text is dropped (an empty corpus): fill its source or "
            f"leave the task out of {name}; nothing was written.")
    to_cache.append((task, task_splits))
  return to_cache, cached


# -------------------------------------------------------------- pipeline ---


class WorkerSetup:
  """Registers the tasks and binds gin in a Beam worker process.

  PreprocessTask looks its task up by name in the worker, and the task's
  vocabulary is the gin-bound one, so a worker on another machine (Dataflow,
  Flink) needs the same imports and bindings as the command that built the
  pipeline. In the same process (DirectRunner) it finds them done.
  """

  def __init__(self, modules=(), gin_config=""):
    self._modules = tuple(modules)
    self._gin_config = gin_config

  def __call__(self):
    registry.ensure_registered()
    for module in self._modules:
      importlib.import_module(module)
    if self._gin_config and gin.config_str() != self._gin_config:
      gin.parse_config(self._gin_config, skip_unknown=True)


def _keyed_record(example):
  """(source shard, (index within shard, serialized tf.Example))."""
  features = {k: v for k, v in example.items()
              if not k.startswith(beam_utils.PROVENANCE_PREFIX)}
  record = seqio.dict_to_tfexample(features).SerializeToString()
  return (int(example[beam_utils.SOURCE_SHARD_ID_PROVENANCE_KEY]),
          (int(example[beam_utils.ID_WITHIN_SHARD_PROVENANCE_KEY]), record))


class _WriteShardFile(beam.DoFn):
  """Writes one source shard's records, in their order, to one TFRecord.

  A temporary name then a rename: a worker stopped midway leaves no file
  under the final name, and a retried bundle replaces its own file.
  """

  def __init__(self, prefix, count):
    super().__init__()
    self._prefix = prefix
    self._count = count

  def process(self, element):
    index, records = element
    # Sorting holds one source shard in memory (a tfds shard: < 1 GB).
    records = sorted(r for r in records if r is not None)
    path = _SHARD.format(prefix=self._prefix, index=index, count=self._count)
    temporary = f"{path}.incomplete-{uuid.uuid4().hex}"
    with tf.io.TFRecordWriter(temporary) as writer:
      for _, record in records:
        writer.write(record)
    tf.io.gfile.rename(temporary, path, overwrite=True)
    yield {"file": os.path.basename(path), "examples": len(records),
           "bytes": tf.io.gfile.stat(path).length}


class WriteOrderedTfRecord(beam.PTransform):
  """Examples of PreprocessTask(add_provenance=True) -> one file per shard.

  Files are named as seqio reads a cache (SPLIT.tfrecord-i-of-n, n the
  number of source shards; a shard without examples gets an empty file).
  Returns a PCollection of {"file", "examples", "bytes"} per file.
  """

  def __init__(self, prefix, count):
    super().__init__()
    self._prefix = prefix
    self._count = count

  def expand(self, examples):
    keyed = examples | "key" >> beam.Map(_keyed_record)
    every_shard = (examples.pipeline | "shards" >> beam.Create(
        [(i, None) for i in range(self._count)]))
    return ((keyed, every_shard)
            | "flatten" >> beam.Flatten()
            | "group" >> beam.GroupByKey()
            | "write" >> beam.ParDo(_WriteShardFile(self._prefix, self._count)))


def _add_cache_info(info, extra):
  return {**info, INFO_KEY: extra}


def _files_listing(files):
  return {"files": sorted(files, key=lambda f: f["file"])}


def _stats_features(task):
  """Output features with real vocabularies: GetStats' DoFns read them in
  workers where gin may not be parsed yet (DeferredVocabulary needs it)."""
  return {name: dataclasses.replace(f, vocabulary=_resolved(f.vocabulary))
          for name, f in task.output_features.items()}


def cached_steps(task):
  """Names of the preprocessors before the task's CacheDatasetPlaceholder."""
  names = []
  for step in task.preprocessors:
    if isinstance(step, seqio.CacheDatasetPlaceholder):
      break
    names.append(seqio.utils.function_name(step))
  return names


def add_task(pipeline, task, splits, output_dir, setup):
  """Adds the transforms caching `task`'s splits into output_dir/TASK."""
  directory = task_cache_dir(output_dir, task)
  if isinstance(task.source, seqio.FunctionDataSource):
    logging.info("%s reads a FunctionDataSource: one shard, one worker.",
                 task.name)
  extra = {"task": task.name, "vocabulary": vocabulary_fingerprints(task),
           "cached_steps": cached_steps(task)}
  for split in splits:
    label = f"{task.name}/{split}"
    try:
      preprocess = beam_utils.PreprocessTask(
          task, split, setup_fn=setup, add_provenance=True)
    except FileNotFoundError as e:
      raise errors.MissingFileError(
          f"{e}; prepare the task's data (tfds build) first.") from e
    count = len(preprocess.shards)
    examples = pipeline | f"{label}/preprocess" >> preprocess
    _ = (examples
         | f"{label}/records" >> WriteOrderedTfRecord(
             seqio.utils.get_cached_tfrecord_prefix(directory, split), count)
         | f"{label}/list" >> beam.combiners.ToList()
         | f"{label}/listing" >> beam.Map(_files_listing)
         | f"{label}/write_files" >> beam_utils.WriteJson(
             os.path.join(directory, _FILES.format(split=split))))
    _ = (examples
         | f"{label}/info" >> beam_utils.GetInfo(count)
         | f"{label}/our_info" >> beam.Map(
             _add_cache_info, {**extra, "split": split,
                               "source_shards": count})
         | f"{label}/write_info" >> beam_utils.WriteJson(
             seqio.utils.get_cached_info_path(directory, split)))
    _ = (examples
         | f"{label}/stats" >> beam_utils.GetStats(_stats_features(task))
         | f"{label}/write_stats" >> beam_utils.WriteJson(
             seqio.utils.get_cached_stats_path(directory, split)))


def finalize(task, directory, splits):
  """Checks what the job wrote, then writes COMPLETED (the manifest).

  Returns:
    {split: {"examples", "files", "tokens"}} as written.
  Raises:
    errors.UserError: a split whose files disagree with their counts, or
      with no example at all; COMPLETED is then not written.
  """
  manifest, summary = {"task": task.name, "splits": {}}, {}
  for split in splits:
    listing = read_json(os.path.join(directory, _FILES.format(split=split)))
    stats = read_json(seqio.utils.get_cached_stats_path(directory, split))
    info = read_json(seqio.utils.get_cached_info_path(directory, split))
    files = listing["files"]
    examples = sum(f["examples"] for f in files)
    if len(files) != info.get("num_shards") or examples != stats["examples"]:
      raise errors.UserError(
          f"the cache job for task {task.name} split {split!r} wrote "
          f"{len(files)} files with {examples} examples, but its info says "
          f"{info.get('num_shards')} files and its stats {stats['examples']} "
          f"examples; delete {directory} and run the cache again.")
    if not examples:
      raise errors.UserError(
          f"task {task.name} has no documents in split {split!r} (an empty "
          f"corpus): fill its source; {directory} has no {COMPLETED}.")
    manifest["splits"][split] = {
        "examples": examples,
        "files": {f["file"]: f["bytes"] for f in files}}
    summary[split] = {"examples": examples, "files": len(files),
                      "tokens": stats.get("input_ids_tokens")}
  _write_json(os.path.join(directory, COMPLETED), manifest)
  return summary


def pipeline_options(runner, options=()):
  """Beam PipelineOptions from --runner and the options after `--`."""
  return beam.options.pipeline_options.PipelineOptions(
      [f"--runner={runner}", *options])


def cache_mixture(name, output_dir, runner="DirectRunner", options=(),
                  splits=None, modules=()):
  """Caches every task of `name` into output_dir with a Beam pipeline.

  Args:
    name: task or mixture; each task needs a seqio.CacheDatasetPlaceholder.
    output_dir: the cache folder (local, gs://, ...). Tasks already cached
      there for this vocabulary are skipped, so a stopped run can be
      completed once its incomplete folders are deleted.
    runner: Beam runner (DirectRunner, DataflowRunner, FlinkRunner, ...).
    options: further Beam pipeline options, e.g. ["--project=P"].
    splits: splits to cache (default: every split of each task).
    modules: modules the workers import first (--module_import).
  Returns:
    {"tasks": {task: {split: {"examples", "files", "tokens"}}}, "skipped":
    [task names already cached], "seconds": float}.
  Raises:
    errors.UserError: see `plan`; a runner Beam does not know or cannot run.
  """
  start = time.time()
  to_cache, cached = plan(name, output_dir, splits)
  result = {"tasks": {}, "skipped": [t.name for t, _ in cached]}
  if to_cache:
    setup = WorkerSetup(modules, gin.config_str())
    try:
      pipeline = beam.Pipeline(options=pipeline_options(runner, options))
    except (ValueError, ImportError) as e:
      # Beam lists every missing option on its own line: keep them all.
      reason = " ".join(str(e).split()) or repr(e)
      raise errors.UserError(
          f"--runner={runner}: {reason} (runner options go after `--`; "
          "DataflowRunner also needs pip install 'apache-beam[gcp]')") from e
    tf.io.gfile.makedirs(output_dir)
    for task, task_splits in to_cache:
      add_task(pipeline, task, task_splits, output_dir, setup)
    state = pipeline.run().wait_until_finish()
    if state != beam.runners.runner.PipelineState.DONE:
      raise errors.UserError(
          f"the Beam job ended {state}; delete the folders in {output_dir} "
          f"without {COMPLETED} and run {_command(name, output_dir)} again.")
    for task, task_splits in to_cache:
      result["tasks"][task.name] = finalize(
          task, task_cache_dir(output_dir, task), task_splits)
  result["seconds"] = time.time() - start
  return result


def format_summary(result, output_dir):
  """Lines for `rembert-mtf cache`: one per task and split, then a total."""
  lines = []
  for task, splits in sorted(result["tasks"].items()):
    for split, s in sorted(splits.items()):
      lines.append(f"{task} {split}: {s['examples']} examples, "
                   f"{s['tokens']} tokens, {s['files']} files")
  for task in result["skipped"]:
    lines.append(f"{task}: already cached, skipped")
  lines.append(f"cached {len(result['tasks'])} tasks into {output_dir} in "
               f"{result['seconds']:.1f} s; train with "
               f"trainer.cache_dir = '{output_dir}'")
  return "\n".join(lines)
