"""Start the browser chat: ``python app.py [--port N] [--host ADDR]``, the same as ``rag serve``."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
