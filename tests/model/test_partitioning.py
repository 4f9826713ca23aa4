"""Layouts are checked before any graph is built, with one-line errors."""

import pytest

from rembert_mtf.model import mesh_graph
from rembert_mtf.model import partitioning
from tests import cli_testing
from tests import model_testing


def _check(shape, layout, sizes, num_devices=None):
  partitioning.check_partitioning(partitioning.parse_mesh_shape(shape),
                                  partitioning.parse_layout(layout), sizes,
                                  num_devices)


def test_indivisible_dimension_names_binding_and_numbers():
  with pytest.raises(partitioning.PartitioningError) as e:
    _check("batch:2;model:4", "heads:model", {"heads": 18})
  message = str(e.value)
  assert "heads = 18 is not divisible by mesh axis model = 4" in message
  assert "--mesh_layout" in message and "\n" not in message


def test_mesh_size_must_match_devices():
  with pytest.raises(partitioning.PartitioningError,
                     match="has 8 cores but 4 devices"):
    _check("batch:2;model:4", "", {}, num_devices=4)


@pytest.mark.parametrize("layout,problem", [
    ("heads:model;d_f:model", "unknown tensor dimension 'd_f'"),
    ("heads:modle", "mesh axis 'modle', which"),
    ("heads:model;heads:batch", "splits 'heads' twice"),
])
def test_bad_layout_rules(layout, problem):
  with pytest.raises(partitioning.PartitioningError, match=problem):
    _check("batch:2;model:4", layout, {"heads": 8})


def test_divisible_layout_passes():
  _check("batch:2;model:4", "batch:batch;vocab:model;heads:model;d_ff:model",
         {"batch": 8, "vocab": 128, "heads": 8, "d_ff": 64}, num_devices=8)


def test_two_dimensions_of_one_tensor_on_one_axis_is_named():
  config = model_testing.tiny_config()
  with pytest.raises(partitioning.PartitioningError,
                     match="both 'vocab' and 'emb_out'.*output_embedding"):
    mesh_graph.MeshGraph(config, mesh_graph.BatchShape(2, 8, 2), "model:8",
                         "vocab:model;emb_out:model", num_devices=8)


@pytest.mark.parametrize("shape,size", [("model:0", 0),
                                        ("batch:2;model:-1", -1)])
def test_mesh_axis_below_one_core_is_named(shape, size):
  with pytest.raises(partitioning.PartitioningError) as e:
    partitioning.parse_mesh_shape(shape)
  message = str(e.value)
  assert f"mesh axis 'model' has size {size}" in message
  assert "--mesh_shape" in message and "\n" not in message


def test_cli_prints_one_line_and_exits_nonzero(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  err = cli_testing.expect_refusal(
      ["params", "--gin_file=models/rembert.gin",
       "--gin_file=layouts/mesh_2x4.gin"], capsys)
  assert err == (
      "rembert-mtf: error: heads = 18 is not divisible by mesh axis model = 4 "
      "(mesh_layout (--mesh_layout or `partitioning.mesh.layout`) "
      "'heads:model'); change the model size, the mesh axis, or leave that "
      "dimension unsplit.")
  cli_testing.expect_refusal(
      ["params", "--gin_file=models/tiny.gin", "--mesh_shape=model:0"],
      capsys, "mesh axis 'model' has size 0; every axis needs at least 1 "
      "core")
  assert list(tmp_path.iterdir()) == []  # nothing written
