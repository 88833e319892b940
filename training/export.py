"""Writing the shipped files: the head as ONNX, its JSON (config, calibration, identity) and nothing else.

The ONNX head runs with onnxruntime and numpy alone (no torch, no pickle at
question time). The JSON says what the head expects (feature layers, windows,
prefixes), how spans are chosen (max span, length prior) and how "no answer"
was calibrated on the held-out training passages.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from rag.files import file_sha256
from training.model import ReaderHead

HEAD_FILE = "reader_head.onnx"
CONFIG_FILE = "reader.json"


def export_head(model: ReaderHead, out: Path) -> None:
    """Export the head (passage, passage_mask, question, question_mask, match -> start, end) to ONNX."""
    model.eval()
    b, t, tq = 2, 12, 7
    example = (torch.randn(b, t, 768), torch.ones(b, t), torch.randn(b, tq, 768), torch.ones(b, tq),
               torch.zeros(b, t, 2))
    example[1][1, 9:] = 0
    example[3][1, 5:] = 0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(out),
            input_names=["passage", "passage_mask", "question", "question_mask", "match"],
            output_names=["start", "end"],
            dynamic_axes={"passage": {0: "batch", 1: "tokens"}, "passage_mask": {0: "batch", 1: "tokens"},
                          "question": {0: "batch", 1: "qtokens"}, "question_mask": {0: "batch", 1: "qtokens"},
                          "match": {0: "batch", 1: "tokens"}, "start": {0: "batch", 1: "tokens"},
                          "end": {0: "batch", 1: "tokens"}},
            opset_version=17, do_constant_folding=True, dynamo=False,
        )


def load_head_onnx(model: ReaderHead, path: Path) -> None:
    """Load a head's weights back from its ONNX export (``export_head``), to warm-start training from it.

    The export names most matrices anonymously (``onnx::MatMul_323``, transposed), so a probe head whose
    every parameter holds its own marker value is exported the same way, and each initializer of the
    file is matched to the parameter whose marker the probe's initializer at that name carries.
    """
    import copy
    import tempfile

    import onnx
    from onnx import numpy_helper

    probe = copy.deepcopy(model)
    marker = {}
    with torch.no_grad():
        for i, (name, param) in enumerate(probe.named_parameters()):
            param.copy_(torch.full(param.shape, float(i + 1)))
            marker[i + 1] = name
    with tempfile.TemporaryDirectory() as tmp:
        export_head(probe, Path(tmp) / "probe.onnx")
        probe_file = onnx.load(str(Path(tmp) / "probe.onnx"))
    name_of = {init.name: marker[round(float(numpy_helper.to_array(init).flat[0]))]
               for init in probe_file.graph.initializer}
    state = {}
    for init in onnx.load(str(path)).graph.initializer:
        array = numpy_helper.to_array(init)
        if init.name.startswith("onnx::MatMul"):  # x @ W: the transpose of torch's Linear weight
            array = array.T
        state[name_of[init.name]] = torch.from_numpy(array.copy())
    model.load_state_dict(state)


def write_config(folder: Path, settings: dict[str, Any]) -> Path:
    """Write ``reader.json`` beside the head, with the head's SHA-256 and size."""
    head = folder / HEAD_FILE
    record = {"format": 1, **settings, "head_file": HEAD_FILE, "head_sha256": file_sha256(head),
              "head_bytes": head.stat().st_size}
    path = folder / CONFIG_FILE
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
