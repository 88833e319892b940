"""Ingest: files in the corpus folder become typed ``Article`` records, then sentences and chunks.

Owns decoding (``decode``), text extraction from .html/.docx/.pdf (``extract``),
titles, sections and numbered paragraphs with exact spans (``articles``),
sentence splitting and chunking (``chunking``) and the corpus watcher (``watch``).
May import only the bottom layer (records, settings, errors, text, files).
"""
