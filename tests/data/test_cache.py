"""`rembert-mtf cache`: the demo mixture through Beam's DirectRunner.

The demo's MLM tasks are copied with the demo's own sources, output
features, preprocessors and mixing rates; the copies carry seqio's
CacheDatasetPlaceholder after tokenize when the demo's do not yet
(`cacheable_steps`). The fast tests cache 40 training documents per language
(one Beam job for the module, through the command line); the slow ones the
whole demo_mlm mixture, both splits, and a job killed midway.

"Equal" below means bit for bit: the same examples in the same order, each
feature with the same dtype, shape and values, as seqio.get_dataset yields
them with the same seed, once with use_cached=True and once on the fly.
"""

import argparse
import contextlib
import dataclasses
import functools
import io
import os
import shutil
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest
import seqio

from rembert_mtf import errors
from rembert_mtf.cli import main as cli_main
from rembert_mtf.data import cache
from rembert_mtf.data import feature_converters
from rembert_mtf.data import registry
from rembert_mtf.training import config
from rembert_mtf.training import input as input_lib
from rembert_mtf.tasks import demo
from tests.conftest import bound_vocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TINY = {"train": 40, "validation": 10}
LENGTHS = {"input_ids": 64, "masked_lm_positions": 9}


# --------------------------------------------------------------- helpers ---


def cacheable_steps(steps):
  """The steps with seqio's placeholder after tokenize, if they lack one."""
  steps = list(steps)
  if any(isinstance(s, seqio.CacheDatasetPlaceholder) for s in steps):
    return steps
  names = [seqio.utils.function_name(s) for s in steps]
  index = names.index("tokenize") + 1
  return steps[:index] + [seqio.CacheDatasetPlaceholder()] + steps[index:]


def _documents(split, shuffle_files=False, seed=None, *, lang, sizes,
               blank=False):
  del shuffle_files, seed
  ds = demo.documents_dataset(split, lang=lang).take(sizes[split])
  return ds.map(lambda ex: {"text": " \n"}) if blank else ds


def register_demo_copy(prefix, sizes=None, languages=demo.LANGUAGES,
                       blank=(), placeholder=True):
  """Registers PREFIX_<lang> tasks and mixture PREFIX like demo_mlm.

  Args:
    prefix: name of the mixture and prefix of its tasks.
    sizes: documents per split (the first ones of the demo's corpus); None
      for all of them (demo.DOCUMENTS).
    languages: demo languages to copy.
    blank: languages whose documents are all replaced by blank text.
    placeholder: False drops seqio's placeholder (a task seqio cannot cache).
  Returns:
    the mixture name.
  """
  if prefix in seqio.MixtureRegistry.names():
    return prefix
  mixture = seqio.get_mixture_or_task("demo_mlm")
  rates = []
  for lang in languages:
    task = seqio.TaskRegistry.get(demo.mlm_task_name(lang))
    name = f"{prefix}_{lang}"
    lang_sizes = sizes or demo.DOCUMENTS[lang]
    steps = [s for s in task.preprocessors
             if not isinstance(s, seqio.CacheDatasetPlaceholder)]
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            functools.partial(_documents, lang=lang, sizes=lang_sizes,
                              blank=lang in blank),
            splits=tuple(lang_sizes), num_input_examples=dict(lang_sizes)),
        preprocessors=cacheable_steps(steps) if placeholder else steps,
        output_features=task.output_features, metric_fns=[])
    rates.append((name, mixture.get_rate(task)))
  seqio.MixtureRegistry.add(prefix, rates)
  return prefix


def cache_parser():
  """`rembert-mtf`'s parser; `cache ...` selects the command's row."""
  return cli_main.build_parser()


def run_cache(argv):
  """Runs `rembert-mtf cache argv` in-process: (exit code, stdout, stderr).

  As tests/cli_testing.py does, but without capsys, which the module-scoped
  fixture cannot use; gin is restored after.
  """
  saved = gin.config_str()
  out, err = io.StringIO(), io.StringIO()
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      cli_main.run(["cache", *argv])
    code = 0
  except SystemExit as e:
    code = e.code
  finally:
    gin.clear_config()
    gin.parse_config(saved)
  return code, out.getvalue(), err.getvalue()


def vocab_flag(spm_file):
  return f"--gin_param=get_vocabulary.sentencepiece_model_file = '{spm_file}'"


def snapshot(folder):
  """{relative path: bytes} of every file under folder."""
  files = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, folder)] = f.read()
  return files


def expect_refusal(argv, *fragments):
  """Exit 2, nothing on stdout, one `rembert-mtf: error:` line; returns it."""
  code, out, err = run_cache(argv)
  err = err.strip().splitlines()
  assert code == 2, (code, err)
  assert not out, out
  lines = [e for e in err if e.startswith("rembert-mtf: error: ")]
  assert len(lines) == 1, err
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def read(name, use_cached, split="train", lengths=None, seed=3,
         shuffle=True, take=None):
  """seqio.get_dataset as training/input.py calls it, as numpy examples."""
  converter = feature_converters.EncoderFeatureConverter.for_task(
      registry.tasks_of(registry.get_task_or_mixture(name))[0])
  ds = seqio.get_dataset(
      name, lengths or LENGTHS, dataset_split=split, shuffle=shuffle,
      num_epochs=None if take else 1, seed=seed, use_cached=use_cached,
      feature_converter=converter)
  if take:
    ds = ds.take(take)
  return list(ds.as_numpy_iterator())


def assert_bitwise_equal(got, want):
  assert len(got) == len(want) > 0
  for a, b in zip(got, want):
    assert sorted(a) == sorted(b)
    for key in a:
      assert a[key].dtype == b[key].dtype, key
      assert a[key].shape == b[key].shape, key
      assert np.array_equal(a[key], b[key]), key


def copy_cache(output_dir, tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(output_dir, target)
  return target


@pytest.fixture(autouse=True)
def fresh_cache_lookup():
  """seqio keeps global cache folders and each task's found folder."""
  saved = list(seqio.utils.get_global_cache_dirs())
  yield
  seqio.set_global_cache_dirs(saved)
  for name in seqio.TaskRegistry.names():
    if name.startswith(("cachetest", "demo_mlm")):
      # Private, but the only way to make seqio search again (test only).
      task = seqio.TaskRegistry.get(name)
      task._cache_dir = None  # pylint: disable=protected-access


@pytest.fixture(scope="module")
def vocab_file(demo_vocabulary):
  registry.ensure_registered()
  with bound_vocabulary(demo_vocabulary):
    yield demo_vocabulary


@pytest.fixture(scope="module")
def tiny_cache(vocab_file, tmp_path_factory):
  """The tiny demo copy cached through the command line (train split).

  Returns:
    (mixture name, cache folder, the command's stdout, seconds).
  """
  name = register_demo_copy("cachetest_tiny", TINY)
  output_dir = str(tmp_path_factory.mktemp("cache") / "out")
  start = time.time()
  code, out, err = run_cache(
      [f"--mixture={name}", f"--output_dir={output_dir}", "--split=train",
       vocab_flag(vocab_file), "--", "--direct_num_workers=1"])
  seconds = time.time() - start
  assert code == 0, err[-3000:]
  return name, output_dir, out, seconds


# ------------------------------------------------------------ fast tests ---


def test_cache_command_writes_seqio_layout(tiny_cache):
  name, output_dir, out, seconds = tiny_cache
  tasks = registry.tasks_of(registry.get_task_or_mixture(name))
  lines = out.strip().splitlines()
  assert len(lines) == len(tasks) + 1
  for task, line in zip(tasks, lines):
    assert line.startswith(f"{task.name} train: {TINY['train']} examples, ")
    directory = cache.task_cache_dir(output_dir, task)
    assert sorted(os.listdir(directory)) == [
        "COMPLETED", "files.train.json", "info.train.json",
        "stats.train.json", "train.tfrecord-00000-of-00001"]
  assert f"into {output_dir}" in lines[-1]
  print(f"tiny cache: {len(tasks)} tasks x {TINY['train']} documents in "
        f"{seconds:.1f} s")


def test_cached_examples_equal_on_the_fly_bit_for_bit(tiny_cache):
  name, output_dir, _, _ = tiny_cache
  cache.open_cache(name, output_dir, "train")
  tasks = registry.tasks_of(registry.get_task_or_mixture(name))
  for task in tasks:
    assert task.cache_dir == cache.task_cache_dir(output_dir, task)
  # The mixture as training reads it: sampled by rate, repeated, shuffled,
  # 300 examples (more than an epoch of every task: 48 to 63 sequences).
  cached = read(name, use_cached=True, take=300)
  assert_bitwise_equal(cached, read(name, use_cached=False, take=300))
  # One task, one epoch, in order.
  assert_bitwise_equal(read(tasks[0].name, use_cached=True, shuffle=False),
                       read(tasks[0].name, use_cached=False, shuffle=False))
  # The seed matters (so equality is not vacuous).
  other = read(name, use_cached=True, take=300, seed=4)
  assert sum(not np.array_equal(a["input_ids"], b["input_ids"])
             for a, b in zip(cached, other)) > 250


def test_one_cache_serves_every_sequence_length(tiny_cache):
  # Packing runs after the cache (seqio refuses length-dependent steps
  # before its placeholder), so no length is recorded nor checked.
  name, output_dir, _, _ = tiny_cache
  cache.open_cache(name, output_dir, "train")
  task = registry.tasks_of(registry.get_task_or_mixture(name))[0]
  for lengths in ({"input_ids": 32, "masked_lm_positions": 4},
                  {"input_ids": 128, "masked_lm_positions": 19}):
    cached = read(task.name, use_cached=True, lengths=lengths)
    assert_bitwise_equal(cached, read(task.name, use_cached=False,
                                      lengths=lengths))
    assert cached[0]["input_ids"].shape == (lengths["input_ids"],)


def test_cache_info_records_the_vocabulary(tiny_cache, vocab_file):
  name, output_dir, _, _ = tiny_cache
  task = registry.tasks_of(registry.get_task_or_mixture(name))[0]
  info = cache.read_json(seqio.utils.get_cached_info_path(
      cache.task_cache_dir(output_dir, task), "train"))
  ours = info[cache.INFO_KEY]
  assert ours["vocabulary"]["input_ids"]["file"] == vocab_file
  assert ours["vocabulary"]["input_ids"]["size"] == 768
  assert len(ours["vocabulary"]["input_ids"]["sha256"]) == 64
  assert ours["cached_steps"] == ["drop_blank_text", "rekey", "tokenize"]
  assert info["features"] == {"input_ids": {"dtype": "int32",
                                            "shape": [None]}}


def test_running_again_skips_what_is_cached(tiny_cache, vocab_file):
  name, output_dir, _, _ = tiny_cache
  before = snapshot(output_dir)
  code, out, err = run_cache([f"--mixture={name}", f"--output_dir={output_dir}",
                              "--split=train", vocab_flag(vocab_file)])
  assert code == 0, err
  assert out.count("already cached, skipped") == len(
      registry.get_task_or_mixture(name).tasks)
  assert snapshot(output_dir) == before


def test_cache_for_another_vocabulary_is_refused(tiny_cache, spm_path,
                                                 tmp_path):
  name, output_dir, _, _ = tiny_cache
  target = copy_cache(output_dir, tmp_path)
  before = snapshot(target)
  line = expect_refusal(
      [f"--mixture={name}", f"--output_dir={target}", "--split=train",
       vocab_flag(spm_path)],
      "was written for input_ids vocabulary", "256 pieces", "768 pieces",
      "get_vocabulary.sentencepiece_model_file")
  assert spm_path in line
  assert snapshot(target) == before
  with bound_vocabulary(spm_path):
    with pytest.raises(errors.UserError, match="was written for input_ids"):
      cache.open_cache(name, target, "train")


@pytest.mark.parametrize("damage", ["no_completed", "short_file",
                                    "no_shard", "no_info"])
def test_incomplete_cache_is_refused(tiny_cache, tmp_path, damage,
                                     vocab_file):
  name, output_dir, _, _ = tiny_cache
  target = copy_cache(output_dir, tmp_path)
  task = registry.tasks_of(registry.get_task_or_mixture(name))[1]
  directory = cache.task_cache_dir(target, task)
  shard = os.path.join(directory, "train.tfrecord-00000-of-00001")
  if damage == "no_completed":  # stopped before the driver's last step
    os.remove(os.path.join(directory, cache.COMPLETED))
    expected = "has no COMPLETED file"
  elif damage == "short_file":  # a copy cut short
    with open(shard, "r+b") as f:
      f.truncate(100)
    expected = "has 100 bytes, COMPLETED says"
  elif damage == "no_shard":
    os.remove(shard)
    expected = "is missing"
  else:
    os.remove(seqio.utils.get_cached_info_path(directory, "train"))
    expected = "info.train.json is missing"
  before = snapshot(target)
  line = expect_refusal(
      [f"--mixture={name}", f"--output_dir={target}", "--split=train",
       vocab_flag(vocab_file)], f"task {task.name}", "incomplete",
      expected, "delete that folder")
  assert directory in line
  assert snapshot(target) == before
  with pytest.raises(errors.UserError, match=expected):
    cache.open_cache(name, target, "train")


def test_reading_a_missing_cache_is_refused(vocab_file, tmp_path):
  del vocab_file
  name = register_demo_copy("cachetest_tiny", TINY)
  with pytest.raises(errors.MissingFileError, match="no cache of task "
                     "cachetest_tiny_lang_a .* build it with `rembert-mtf "
                     "cache --mixture=cachetest_tiny"):
    cache.open_cache(name, str(tmp_path / "nothing"), "train")


def test_empty_corpus_is_refused_before_anything_is_written(
    vocab_file, tmp_path):
  name = register_demo_copy("cachetest_blank", TINY,
                            languages=("lang_a", "lang_b"),
                            blank=("lang_b",))
  output_dir = str(tmp_path / "out")
  expect_refusal([f"--mixture={name}", f"--output_dir={output_dir}",
                  vocab_flag(vocab_file)],
                 "task cachetest_blank_lang_b has no documents in split "
                 "'train'", "empty corpus", "nothing was written")
  assert not os.path.exists(output_dir)


def test_task_without_placeholder_bad_split_and_runner_are_refused(
    vocab_file, tmp_path):
  output_dir = str(tmp_path / "out")
  plain = register_demo_copy("cachetest_plain", TINY, languages=("lang_a",),
                             placeholder=False)
  expect_refusal([f"--mixture={plain}", f"--output_dir={output_dir}",
                  vocab_flag(vocab_file)],
                 "task cachetest_plain_lang_a (of cachetest_plain) has no "
                 "seqio.CacheDatasetPlaceholder")
  name = register_demo_copy("cachetest_tiny", TINY)
  expect_refusal([f"--mixture={name}", f"--output_dir={output_dir}",
                  "--split=test", vocab_flag(vocab_file)],
                 "has no split 'test'", "--split=test")
  expect_refusal([f"--mixture={name}", f"--output_dir={output_dir}",
                  "--runner=NoSuchRunner", vocab_flag(vocab_file)],
                 "--runner=NoSuchRunner", "Unexpected pipeline runner")
  assert not os.path.exists(output_dir)


def test_pipeline_options_after_the_separator():
  args = cache_parser().parse_args(
      ["cache", "--mixture=m", "--output_dir=d", "--runner=FlinkRunner", "--",
       "--flink_master=localhost:8081", "--parallelism=4"])
  assert args.pipeline_options == ["--flink_master=localhost:8081",
                                   "--parallelism=4"]
  options = cache.pipeline_options(args.runner, args.pipeline_options)
  assert options.get_all_options()["runner"] == "FlinkRunner"
  assert options.get_all_options()["parallelism"] == 4


def test_training_input_reads_the_cache_when_bound(tiny_cache, tmp_path):
  """trainer.cache_dir: the trainer's batches come from the cache, bit for
  bit the on-the-fly ones; a folder without the cache is refused first."""
  name, output_dir, _, _ = tiny_cache
  base = config.TrainerConfig(mixture_or_task_name=name, batch_size=4,
                              sequence_length=64, mlm_predictions=9, seed=5)
  cached = dataclasses.replace(base, cache_dir=output_dir)
  took = lambda c: list(input_lib.dataset(c, name, "train", training=True)
                        .take(3).as_numpy_iterator())
  want = took(base)
  for task in registry.tasks_of(registry.get_task_or_mixture(name)):
    assert task.cache_dir is None  # on the fly: seqio found no cache
  got = took(cached)
  for task in registry.tasks_of(registry.get_task_or_mixture(name)):
    assert task.cache_dir == cache.task_cache_dir(output_dir, task)
  assert_bitwise_equal(got, want)
  missing = dataclasses.replace(base, cache_dir=str(tmp_path / "none"))
  with pytest.raises(errors.MissingFileError, match="no cache of task "):
    input_lib.dataset(missing, name, "train", training=True)


# ------------------------------------------------------------ slow tests ---


def _full_demo_mixture():
  """demo_mlm itself once its tasks are cacheable, else a full-size copy."""
  if all(t.supports_caching for t in
         seqio.get_mixture_or_task("demo_mlm").tasks):
    return "demo_mlm"
  return register_demo_copy("cachetest_full")


@pytest.mark.slow
def test_whole_demo_mixture_cached_equals_on_the_fly(vocab_file, tmp_path):
  del vocab_file
  name = _full_demo_mixture()
  output_dir = str(tmp_path / "out")
  result = cache.cache_mixture(name, output_dir)
  documents = {split: sum(s[split]["examples"]
                          for s in result["tasks"].values())
               for split in ("train", "validation")}
  assert documents == {
      split: sum(v[split] for v in demo.DOCUMENTS.values())
      for split in ("train", "validation")}
  print(f"demo_mlm cached: {documents} documents in "
        f"{result['seconds']:.1f} s")
  cache.open_cache(name, output_dir, "train")
  for split in ("train", "validation"):
    for task in registry.tasks_of(registry.get_task_or_mixture(name)):
      assert_bitwise_equal(read(task.name, True, split, shuffle=False),
                           read(task.name, False, split, shuffle=False))
  assert_bitwise_equal(read(name, use_cached=True, take=2000),
                       read(name, use_cached=False, take=2000))


_KILLED_JOB = """
import gin, sys
from rembert_mtf.data import cache, registry
from tests.data import test_cache
registry.ensure_registered()
gin.bind_parameter("get_vocabulary.sentencepiece_model_file", sys.argv[1])
name = test_cache.register_demo_copy("cachetest_tiny", test_cache.TINY)
cache.cache_mixture(name, sys.argv[2])
"""


@pytest.mark.slow
def test_job_killed_midway_leaves_a_refused_cache(vocab_file, tmp_path):
  output_dir = str(tmp_path / "out")
  job = subprocess.Popen(
      [sys.executable, "-c", _KILLED_JOB, vocab_file, output_dir], cwd=ROOT,
      env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  # Kill once the job has started writing (Beam's temporary folders or a
  # first record file), well before the driver writes any COMPLETED.
  while time.time() < deadline and job.poll() is None:
    if os.path.isdir(output_dir) and any(
        files for _, _, files in os.walk(output_dir)):
      break
    time.sleep(0.2)
  assert job.poll() is None, "the job ended before it could be killed"
  job.send_signal(signal.SIGKILL)
  job.wait()
  written = sorted(os.path.relpath(os.path.join(r, f), output_dir)
                   for r, _, fs in os.walk(output_dir) for f in fs)
  assert written and not any(w.endswith(cache.COMPLETED) for w in written)
  name = register_demo_copy("cachetest_tiny", TINY)
  before = snapshot(output_dir)
  expect_refusal([f"--mixture={name}", f"--output_dir={output_dir}",
                  vocab_flag(vocab_file)], "incomplete",
                 "delete that folder")
  assert snapshot(output_dir) == before
  with pytest.raises(errors.UserError, match="incomplete|no cache"):
    cache.open_cache(name, output_dir, "train")
