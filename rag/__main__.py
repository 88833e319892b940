"""``python -m rag``: the ``rag`` command, as ``python -m rag.cli`` runs it."""

import sys

from rag.cli.main import main

sys.exit(main())
