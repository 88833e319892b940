"""What the page refuses before gradio acts on a request: files that were not uploaded, inputs it would echo.

gradio copies every file named in an event's inputs into its upload cache
before the handler runs, and checks that the file came from an upload only when
the page was started by ``launch``: mounted in a FastAPI app (``rag serve``) it
copies any path a request names, so one request imported a server file into the
corpus. ``guard_page`` puts the check back in front of gradio's own work, on the
resolved path: a file's path (or anything it links to) must lie inside gradio's
upload cache, and a web address is no file of the page either. It also refuses
an event sent with too few inputs, or inputs gradio's models cannot read, in one
line (gradio's own message echoes every input into the server log, a 100 MB body
making a 100 MB log line, beside a traceback), and keeps the page's endpoint
names out of what a stranger can read (``api_visibility``).

gradio is imported inside the functions only.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)



def upload_folder() -> Path:
    """gradio's upload cache (``GRADIO_TEMP_DIR``, else ``<temp>/gradio``), resolved: the one place uploads land."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def is_uploaded(path: str | Path) -> bool:
    """True when ``path``, with every link in it followed, lies inside gradio's upload cache.

    >>> is_uploaded(upload_folder() / "0a1b" / "a.txt"), is_uploaded("/etc/passwd")
    (True, False)
    >>> is_uploaded(upload_folder() / ".." / "passwd"), is_uploaded("http://example.com/a.txt")
    (False, False)
    """
    text = str(path)
    if not text or "\0" in text or "://" in text:
        return False
    root = upload_folder()
    try:
        resolved = Path(text).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a name the system refuses
        return False
    return resolved != root and resolved.is_relative_to(root)


def file_paths(value: Any, depth: int = 0) -> list[str]:
    """The paths of the files a request's input names (gradio's FileData: a ``path`` with its ``meta`` type).

    >>> file_paths([{"path": "/x.txt", "meta": {"_type": "gradio.FileData"}}, {"path": "y"}, "z"])
    ['/x.txt']
    """
    if depth > 64:  # gradio's own JSON holds files a few levels down; deeper is no input of this page
        return ["(nested too deeply)"]
    if isinstance(value, dict):
        meta = value.get("meta")
        if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData":
            return [str(value.get("path"))]
        return [p for item in value.values() for p in file_paths(item, depth + 1)]
    if isinstance(value, list | tuple):
        return [p for item in value for p in file_paths(item, depth + 1)]
    return []


def guard_page(demo: gr.Blocks) -> None:
    """Check every event's inputs before gradio preprocesses them; hide the endpoint names (see the module)."""
    import gradio as gr

    from rag.ui.texts import page_message

    preprocess = demo.preprocess_data

    async def checked(block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        if len(inputs) < len(block_fn.inputs):
            log.info("refused an event of the page with %d of its %d inputs", len(inputs), len(block_fn.inputs))
            raise gr.Error(page_message("too_few_inputs"), print_exception=False)
        if not all(is_uploaded(path) for path in file_paths(inputs)):
            log.warning("refused an event of the page that names a file not uploaded through it")
            raise gr.Error(page_message("not_uploaded"), print_exception=False)
        try:
            return await preprocess(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as exc:  # inputs gradio's own models refuse (a file without its meta, a wrong type)
            log.warning("refused an event of the page whose inputs gradio cannot read (%s)", type(exc).__name__)
            raise gr.Error(page_message("unreadable_inputs"), print_exception=False) from exc

    # gradio calls it as an attribute of the page (``self.preprocess_data``): this one runs first.
    demo.preprocess_data = checked  # type: ignore[method-assign]
    for fn in demo.fns.values():
        # Still callable (the page itself calls them); only not listed in what /info and the page's HTML tell.
        if fn.api_visibility == "public":
            fn.api_visibility = "undocumented"
