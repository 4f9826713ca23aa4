"""Before renting a pod: parameter counts, per-core bytes, FLOPs and step time.

  accounting  parameters of the pre-training / fine-tuning graphs, bytes
              per device (`rembert-mtf params`)
  devices     TPU cores: peak FLOP/s and HBM (pure Python)
  step_graph  the symbolic mtf graph of one training step
  costs       what a core holds and computes in that step; the verdict
  planner     plan, report and the README table (`rembert-mtf plan`)

May import: rembert_mtf.training (config, optimizers), model, data, compat,
errors.
"""
