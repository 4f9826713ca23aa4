"""Before renting a pod: parameter counts, per-core bytes, FLOPs and step time.

May import: rembert_mtf.training (optimizers), model, data, compat, errors.
"""
