"""Loss -> estimator -> checkpoint: running the model on a mesh.

Holds the run configuration (frozen dataclasses bound in gin), the input
pipeline, the Estimator model_fn, session hooks, the training and
prediction loops, the optimizers and schedules, the model_dir format, and
the mesh over the processes of a TF cluster.

May import: rembert_mtf.model, rembert_mtf.data, compat, errors.
"""
