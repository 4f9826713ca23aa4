"""RemBERT in Mesh TensorFlow: decoupled input/output embeddings on a mesh."""
