"""Checkpoint interop: names and layouts of other releases of the model."""
