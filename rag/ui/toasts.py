"""gradio's pop-up messages with their text escaped: a toast renders its message as HTML.

An upload refusal quotes the file name and an error may quote an article title,
so every toast goes through here, never through ``gr.Warning``/``gr.Info`` directly.
gradio 6 titles a toast by its kind in English (Warning, Info), whatever title is given
and whatever the page's language: ``TOAST_TITLE_SCRIPT`` (run on page load) puts the
page's words in their place on a Chinese page.
"""

from __future__ import annotations

import json

from rag.ui.escape import esc
from rag.ui.texts import TOAST_TITLES, request_lang


def warning_toast(message: str) -> None:
    """Show ``message`` (plain text) as a warning pop-up, titled in the browser's language."""
    import gradio as gr

    gr.Warning(esc(message), title=TOAST_TITLES[request_lang()]["warning"])


def info_toast(message: str) -> None:
    """Show ``message`` (plain text) as an information pop-up, titled in the browser's language."""
    import gradio as gr

    gr.Info(esc(message), title=TOAST_TITLES[request_lang()]["info"])


# The toast's title is the first text node of ``span.toast-title``, which gradio sets to the kind's
# English name; replaced in place (a changed text is seen again, and left, being no key).
TOAST_TITLE_SCRIPT = """() => {
  const words = WORDS;
  const fix = () => {
    const lang = (document.documentElement.lang || navigator.language || "").toLowerCase().slice(0, 2);
    const titles = words[lang];
    if (!titles) return;
    document.querySelectorAll(".toast-title").forEach((span) => {
      const node = span.firstChild;
      const word = node && node.nodeType === Node.TEXT_NODE ? node.data.trim() : "";
      if (titles[word]) node.data = titles[word] + " ";
    });
  };
  new MutationObserver(fix).observe(document.body, {childList: true, subtree: true, characterData: true});
}""".replace("WORDS", json.dumps({"zh": {"Warning": "注意", "Info": "提示", "Error": "错误", "Success": "完成"}},
                                 ensure_ascii=False))
