"""Search: a question becomes ranked chunks.

Owns reciprocal rank fusion (``fusion``, a pure function), the ``Searcher``
that runs the two legs side by side over one index version (``searcher``), linked
questions as extra dense keys of their chunks (``linked``) and
sentence scoring, shared with answers (``sentences``). May import store, embed
and the bottom layer.
"""
