"""Checkpoints in and out: transformers folders, the original TF release, embeddings.

May import: rembert_mtf.training (the model_dir format), model, data,
compat, errors.
"""
