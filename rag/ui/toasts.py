"""gradio's pop-up messages with their text escaped: a toast renders its message as HTML.

An upload refusal quotes the file name and an error may quote an article title,
so every toast goes through here, never through ``gr.Warning``/``gr.Info`` directly.
"""

from __future__ import annotations

from rag.ui.escape import esc


def warning_toast(message: str) -> None:
    """Show ``message`` (plain text) as a warning pop-up."""
    import gradio as gr

    gr.Warning(esc(message))


def info_toast(message: str) -> None:
    """Show ``message`` (plain text) as an information pop-up."""
    import gradio as gr

    gr.Info(esc(message))
