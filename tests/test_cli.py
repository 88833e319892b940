"""The command line: help everywhere, version, lazy imports, settings precedence."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from rag import __version__
from rag.cli import build_parser, main
from rag.errors import RagError, SettingsError
from rag.settings import load_settings

COMMANDS = ["index", "search", "ask", "status", "chunks", "serve", "mcp", "kb", "eval", "faq"]
# `rag kb` and `rag faq` have actions of their own, each with the common options
WITH_OPTIONS = [c for c in COMMANDS if c not in ("kb", "faq")] + ["kb create", "kb list", "kb delete",
                                                                  "faq import", "faq list", "faq delete",
                                                                  "faq teach"]


@pytest.mark.parametrize("command", WITH_OPTIONS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: rag {command}")
    assert "--index-dir" in out and "--config" in out


def test_subcommands_are_all_listed() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)  # type: ignore[union-attr]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"rag {__version__}"


def test_help_does_not_import_heavy_libraries() -> None:
    code = ("import sys; from rag.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'gradio', 'faiss', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_settings_precedence(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('chunk_size = 250\ntop_k = 7\nretrieval_mode = "dense"\n', encoding="utf-8")
    env = {"RAG_TOP_K": "9", "RAG_CHUNK_OVERLAP": "30"}
    s = load_settings(config, {"retrieval_mode": "lexical"}, env)
    assert (s.chunk_size, s.top_k, s.chunk_overlap, s.retrieval_mode) == (250, 9, 30, "lexical")
    assert load_settings(None, None, {}).chunk_size == 200


@pytest.mark.parametrize(("env", "message"), [
    ({"RAG_TOP_K": "many"}, "cannot read"),
    ({"RAG_RETRIEVAL_MODE": "fuzzy"}, "retrieval_mode must be one of"),
    ({"RAG_CHUNK_OVERLAP": "500"}, "chunk_overlap must be between"),
    ({"RAG_CHUNK_CONTEXT": "maybe"}, "not true or false"),
])
def test_bad_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, None, env)


def test_secrets_stay_out_of_reports() -> None:
    s = load_settings(None, None, {"RAG_LLM_API_KEY": "sk-secret-123", "RAG_AUTH_PASSWORD": "pw"})
    assert "sk-secret-123" not in repr(s) and "sk-secret-123" not in str(s.public_dict())
    assert s.public_dict()["llm_api_key"] == "***"


def test_unknown_setting_in_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "rag.toml"
    config.write_text("chunk_sise = 3\n", encoding="utf-8")
    assert main(["status", "--config", str(config)]) == 2
    assert "unknown setting 'chunk_sise'" in capsys.readouterr().err


def test_an_unknown_command_is_an_error() -> None:
    from rag.cli import commands

    with pytest.raises(RagError, match="unknown command 'nope'"):
        commands.run(argparse.Namespace(command="nope"), load_settings(None, None, {}))


def test_eval_help_says_when_it_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    assert "--strict" in out and "skipped rows or not" in out and "beside the index folder" in out


def test_text_arguments_must_be_utf8(capsys: pytest.CaptureFixture[str]) -> None:
    """A question the shell passed as bytes that are not UTF-8 (lone surrogates in argv) is one line, exit 2."""
    assert main(["search", "caf\udce9"]) == 2
    assert capsys.readouterr().err == ("error: the argument caf\\xe9 is not valid UTF-8 (the bytes shown as \\xNN); "
                                       "pass UTF-8 text, e.g. with a UTF-8 locale (LANG=C.UTF-8)\n")
