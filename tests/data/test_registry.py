"""`rembert-mtf tasks` core: rows, formatting and name lookup."""

import io

import pytest
import seqio
import tensorflow as tf

from rembert_mtf.data import registry


@pytest.fixture
def function_task():
  """A throwaway task read from a function, removed afterwards."""
  name = "registry_test_function_task"
  seqio.TaskRegistry.add(
      name,
      source=seqio.FunctionDataSource(
          lambda split, shuffle_files: tf.data.Dataset.range(1),
          splits=("train",)),
      output_features={})
  yield name
  seqio.TaskRegistry.remove(name)


@pytest.fixture
def weighted_mixture():
  name = "registry_test_mixture"
  seqio.MixtureRegistry.add(
      name, [("xnli_train_en", 3.0), ("xnli_eval_de", 1.0)])
  yield name
  seqio.MixtureRegistry.remove(name)


def test_task_rows_name_their_tfds_source_and_splits():
  rows = {r.name: r for r in registry.registered_rows()}
  assert rows["xnli_eval_de"] == registry.Row(
      "xnli_eval_de", "task", "tfds xnli:1.1.0", ("validation", "test"))
  assert rows["pos_train_en"].source == "tfds xtreme_pos/xtreme_pos_en:1.0.0"
  assert rows["pos_train_en"].splits == ("train",)
  assert rows["pos_eval_fr"].splits == ("validation=dev", "test")


def test_function_sources_are_labelled(function_task):
  (row,) = registry.registered_rows(f"^{function_task}$")
  assert (row.kind, row.source, row.splits) == ("task", "function", ("train",))


def test_mixture_rates_are_normalised(weighted_mixture):
  (row,) = registry.registered_rows(f"^{weighted_mixture}$")
  assert row.kind == "mixture"
  assert dict(row.rates) == {"xnli_eval_de": 0.25, "xnli_train_en": 0.75}
  (pawsx,) = registry.registered_rows("^pawsx$")
  assert len(pawsx.rates) == 8
  assert sum(r for _, r in pawsx.rates) == pytest.approx(1.0)


def test_filter_is_a_regex_search():
  names = [r.name for r in registry.registered_rows(
      "^(ner|pawsx|pos|xnli)_eval_(de|ja)$")]
  assert names == ["ner_eval_de", "ner_eval_ja", "pawsx_eval_de",
                   "pawsx_eval_ja", "pos_eval_de", "pos_eval_ja",
                   "xnli_eval_de"]
  with pytest.raises(ValueError, match="not a regex"):
    registry.registered_rows("(")


def test_format_lists_tasks_and_mixture_members(weighted_mixture):
  out = io.StringIO()
  registry.print_registered(f"^({weighted_mixture}|xnli_eval_de)$", out=out)
  lines = out.getvalue().splitlines()
  assert lines[0].split() == ["registry_test_mixture", "mixture", "2", "tasks"]
  assert lines[1].split() == ["xnli_eval_de", "0.2500"]
  assert lines[2].split() == ["xnli_train_en", "0.7500"]
  assert lines[3].split() == ["xnli_eval_de", "task", "tfds", "xnli:1.1.0",
                              "[validation,", "test]"]


def test_get_task_or_mixture():
  assert isinstance(registry.get_task_or_mixture("ner_eval_sw"), seqio.Task)
  assert isinstance(registry.get_task_or_mixture("ner"), seqio.Mixture)


def test_unknown_name_suggests_close_ones_on_one_line():
  with pytest.raises(ValueError) as error:
    registry.get_task_or_mixture("xnli_eval_dee")
  message = str(error.value)
  assert "\n" not in message
  assert message.startswith("unknown task or mixture 'xnli_eval_dee'; closest:")
  assert "xnli_eval_de" in message.split("closest:")[1]
  with pytest.raises(ValueError, match="no close match"):
    registry.get_task_or_mixture("qqqqqqqqqqqqqq")
