"""seqio task and mixture registrations (installed as rembert_mtf.tasks)."""
