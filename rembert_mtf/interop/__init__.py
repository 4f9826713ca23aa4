"""Checkpoints in and out: transformers folders, the TF release, embeddings.

  hf_config     a transformers folder's files, architectures, config.json
  hf_weights    its weight files (safetensors, pytorch_model.bin)
  hf_names      our variable names and layouts <-> transformers' keys
  hf_tokenizer  the tokenizer files of an exported folder
  hf_convert    import_hf and export_hf
  original_tf   import_tf: the original TF release
  embed         hidden states of lines of text

May import: rembert_mtf.training (the model_dir format), model, data,
compat, errors.
"""
