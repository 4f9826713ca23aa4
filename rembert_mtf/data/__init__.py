"""Text -> task -> features: everything before the model sees a batch.

Holds the SentencePiece vocabulary and its training, the MLM pre-training
preprocessors (packing, BERT masking), the fine-tuning feature builders
(sentence pairs, word tags, QA windows), seqio post-processors, the padding
feature converter, registry look-ups and the demo's synthetic corpus.

May import: rembert_mtf.compat, rembert_mtf.errors and the field's libraries
(seqio, t5, tfds, sentencepiece). Nothing of model/, training/ or above.
"""
