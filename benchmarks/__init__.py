"""Performance benchmarks: ``python benchmarks/run.py [--sizes 1k,10k,100k,1m] [--quick]``.

One module per measurement: ``encoders`` (throughput and retrieval quality per
backend), ``pipeline`` (index build overhead and re-indexing), ``scale``
(synthetic indexes of 1k to 1M chunks, query latency, memory and start-up),
``report`` (the Markdown table), ``machine`` (what the numbers were measured on)
and ``probe`` (the child process whose start-up and memory are measured).
"""
