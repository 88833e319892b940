"""ONNX export of a converted encoder: torch.onnx in fp32, then onnxruntime's optimizer and int8 weights.

Both steps write one file at a path they are given; ``rag.embed.modelprep.export_onnx``
decides where and keeps a half-written export from ever being used.
torch, transformers, onnx and onnxruntime are imported only inside the functions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

_log = logging.getLogger(__name__)


# The reader's features (issue 16): the last layer beside the mean of layers
# 9-12, 768 numbers a token. The feasibility run measured this pair above the
# last layer alone; hidden_states[0] is the embedding output, so layer k is [k].
READER_LAYERS = (9, 10, 11, 12)


def export_fp32(model_dir: Path, out: Path) -> None:
    """Export the transformer (input_ids, attention_mask -> last_hidden_state) with torch.onnx."""
    _export(model_dir, out, reader=False)


def export_reader_fp32(model_dir: Path, out: Path) -> None:
    """Export the reader's feature extractor (input_ids, attention_mask -> features, 2 x hidden wide)."""
    _export(model_dir, out, reader=True)


def _export(model_dir: Path, out: Path, reader: bool) -> None:
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention exports as plain MatMul/Softmax, a pattern onnxruntime's
    # transformer optimizer fuses into its Attention op; SDPA's does not fuse.
    encoder = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager")
    encoder.eval()

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            if not reader:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            states = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                output_hidden_states=True).hidden_states
            top = torch.stack([states[k] for k in READER_LAYERS]).mean(dim=0)
            return torch.cat([states[-1], top], dim=-1)

    output = "features" if reader else "last_hidden_state"
    # A padded row in the example keeps the mask path in the traced graph.
    ids = torch.tensor([[0, 6, 7, 8, 2], [0, 6, 2, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-side shape checks in transformers; the
        # export is checked against torch on padded and unpadded batches in tests.
        warnings.simplefilter("ignore")
        # The TorchScript exporter: the dynamo one needs onnxscript, not installed.
        torch.onnx.export(
            _Wrapper(encoder), (ids, mask), str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=[output],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                output: {0: "batch", 1: "sequence"},
            },
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )


def quantize_int8(model_dir: Path, fp32: Path, out: Path) -> None:
    """Fuse the graph with onnxruntime's transformer optimizer, then quantise weights to int8.

    Measured on the article paragraphs, 2 threads: fusing (Attention,
    SkipLayerNorm, BiasGelu) makes the int8 model faster, and per-channel
    weight scales lift its agreement with fp32 from cosine 0.986 to 0.995.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    source = fp32
    fused = out.with_name(f"{out.stem}_fused.onnx")
    try:
        from onnxruntime.transformers import optimizer

        optimized = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=config["num_attention_heads"],
                                             hidden_size=config["hidden_size"])
        optimized.save_model_to_file(str(fused))
        source = fused
    except Exception as exc:  # the optimizer is best effort: quantise the plain export instead
        _log.warning("onnxruntime optimizer failed (%s); quantising the plain export", exc)
    # The quantiser's advice to pre-process is noise here (the graph is already
    # optimised); drop just that record from the root logger while it runs.
    root = logging.getLogger()
    advice = _DropMessage("pre-processing before quantization")
    root.addFilter(advice)
    try:
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         # fused ops are from the com.microsoft domain, where shape
                         # inference gives no types: tell the quantiser they are float
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.removeFilter(advice)
    fused.unlink(missing_ok=True)


class _DropMessage(logging.Filter):
    """Drops log records whose message contains a given text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but those mentioning the text."""
        return self.text not in record.getMessage()
