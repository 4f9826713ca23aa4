"""The TPU devices the planner knows: peak FLOP/s and HBM of one mesh core.

Pure Python (no TensorFlow or mesh_tensorflow): `rembert-mtf plan` takes
its --device choices from DEVICES while building the parser.
"""

import dataclasses

GIB = 2.0 ** 30


@dataclasses.dataclass(frozen=True)
class Device:
  """One mesh core: its peak bf16 FLOP/s and its HBM bytes."""
  name: str
  peak_flops: float
  hbm_bytes: float
  core: str  # what one mesh core is on this device


# Public numbers (cloud.google.com/tpu/docs/v3 and /tpu/docs/v4): a v3 chip
# has 2 TensorCores, 123 TFLOP/s bf16 and 32 GiB HBM, so one core is 61.5
# TFLOP/s and 16 GiB; a v4 chip has 275 TFLOP/s bf16 and 32 GiB HBM and its
# 2 TensorCores run as one "megacore", so a v4 mesh core is a whole chip.
DEVICES = {
    "tpu-v3": Device("tpu-v3", 61.5e12, 16 * GIB,
                     "TensorCore (2 per chip)"),
    "tpu-v4": Device("tpu-v4", 275e12, 32 * GIB,
                     "chip (megacore: its 2 TensorCores act as one)"),
}


def slice_name(device, cores):
  """The Cloud TPU name of a slice of `cores` mesh cores of `device`."""
  if device.name == "tpu-v4":  # named by TensorCores, 2 per (megacore) chip
    return f"v4-{2 * cores} ({cores} chips)"
  return f"v3-{cores} ({cores} cores)"
