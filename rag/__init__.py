"""rag: question answering over Chinese articles, with answers that cite their paragraphs.

Importing the package is cheap: torch, FAISS and gradio load only when used.
"""

__version__ = "0.1.0"
