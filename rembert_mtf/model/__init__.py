"""Features -> mesh model -> loss: the RemBERT encoder, its heads and layouts.

Holds the model (one file, named dimensions), what each training objective
reads and scores, the mesh operations Mesh TF lacks, mesh shapes and layout
rules with their pre-build checks, and a synchronous lowered graph for
parity tests, interop and accounting.

May import: rembert_mtf.data (feature names only), compat, errors.
"""
