"""``python -m rag.modelprep [--models-dir DIR] [--onnx]``: prepare the default embedding model.

The work is in ``rag.embed.modelprep``; this module keeps the set-up command's name.
"""

from __future__ import annotations

import sys

from rag.embed.modelprep import main

if __name__ == "__main__":
    sys.exit(main())
