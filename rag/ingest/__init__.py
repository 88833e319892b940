"""Ingest: files in the corpus folder become typed ``Article`` records, then sentences and chunks.

Owns decoding (``decode``), text extraction from .html/.docx/.pdf (``extract``,
with ``docx_text`` reading a .docx as a stream and ``html_text`` scanning HTML
without a tree), the limits that keep one hostile file cheap (``limits``),
titles, sections and numbered paragraphs with exact spans and the per-file
boundary ``load_article`` (``articles``), sentence splitting and chunking
(``chunking``) and the corpus watcher (``watch``).
May import only the bottom layer (records, settings, errors, text, files).
"""
