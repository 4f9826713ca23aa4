"""Checkpoint -> scores -> report: metrics, task scoring, XTREME, plots.

Holds the metrics (accuracy, entity F1, SQuAD/MLQA), scoring a task's or a
mixture's predictions through its own metric functions, QA answer
post-processing, keeping the best checkpoint, the XTREME protocol and the
report's tables and plots.

May import: rembert_mtf.training, model, data, compat, errors.
"""
