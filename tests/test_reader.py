"""The reading model (issue 16): the shipped head on the real encoder, and the training script's plumbing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.answer.reader import Reader, Span
from rag.embed.modelprep import export_reader
from rag.errors import ModelError

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTICLE = REPO_ROOT / "corpus" / "shenzhen-ai-industry.txt"
SLICE = REPO_ROOT / "tests" / "data" / "cmrc2018_train_slice50.json"


@pytest.fixture(scope="module")
def models_dir(model_dir: Path) -> Path:
    """The models folder with the reader's feature extractor prepared (as set-up does)."""
    export_reader(model_dir)
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


# Own questions about the default article, each with the paragraph that answers it.
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
    passages = paragraphs[max(0, holder - 2): holder + 3]
    spans = reader.read(question, passages)
    _check_offsets(spans, passages)
    assert expected in spans[0].text and len(spans[0].text) <= 20, spans[0]
    assert spans[0].passage == passages.index(paragraphs[holder])


def test_traditional_script_reads_like_simplified(reader: Reader) -> None:
    paragraphs = [_traditional(p) for p in _paragraphs()[:5]]
    spans = reader.read(_traditional("2025年深圳人工智能核心产业营收约多少？"), paragraphs)
    _check_offsets(spans, paragraphs)
    assert "2200" in spans[0].text and len(spans[0].text) <= 20, spans[0]


def test_unrelated_passage_scores_higher_null(reader: Reader) -> None:
    paragraphs = _paragraphs()
    holder = next(p for p in paragraphs if "2200" in p)
    unrelated = next(p for p in paragraphs if "荣耀" in p)
    spans = reader.read("2025年深圳人工智能核心产业营收约多少？", [unrelated, holder])
    by_passage = {s.passage: s for s in spans}
    assert by_passage[1].null_score < by_passage[0].null_score
    assert by_passage[1].null_score < 0


def test_a_span_that_only_repeats_the_question_gives_way(reader: Reader) -> None:
    """The article names 混元 T1 but no parameter count: the head's best span 「混元 T1」 is not an answer."""
    from rag.answer.reading import is_echo

    question = "腾讯混元T1模型有多少参数？"
    passage = next(p for p in _paragraphs() if "混元 T1" in p)
    reader.skip_echoes = False
    try:
        echoed = reader.read(question, [passage])
    finally:
        reader.skip_echoes = True
    assert echoed and is_echo(echoed[0].text, question), echoed  # what the head prefers
    spans = reader.read(question, [passage])
    _check_offsets(spans, [passage])
    assert all(not is_echo(s.text, question) for s in spans)
    # the next span is a worse one: its null score is higher than the echo's
    assert not spans or spans[0].null_score > echoed[0].null_score
    assert is_echo("騰訊 混元", question) and not is_echo("男的", "他是男的还是女的？")


def test_empty_input_reads_nothing(reader: Reader) -> None:
    assert reader.read("营收多少？", []) == []
    assert reader.read("营收多少？", ["", "  "]) == []


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


def test_missing_feature_extractor_names_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"python -m rag\.modelprep --onnx"):
        Reader.load(tmp_path)


def test_shipped_head_matches_its_card() -> None:
    from rag.answer.reader import shipped_reader_dir
    from rag.files import file_sha256

    folder = shipped_reader_dir()
    config = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
    head = folder / config["head_file"]
    assert file_sha256(head) == config["head_sha256"]
    assert head.stat().st_size <= 30_000_000
    assert (folder / "MODEL_CARD.md").is_file()


def test_training_script_trains_a_few_steps(models_dir: Path, tmp_path: Path) -> None:
    """A smoke run on 50 CMRC train questions: extraction, training, calibration, export, loading."""
    from training.train_reader import main

    out = tmp_path / "reader"
    code = main(["--train", str(SLICE), "--work-dir", str(tmp_path / "work"), "--out", str(out),
                 "--models-dir", str(models_dir), "--epochs", "1", "--max-steps", "3", "--width", "32",
                 "--layers", "1", "--val-fraction", "0.25"])
    assert code == 0
    config = json.loads((out / "reader.json").read_text(encoding="utf-8"))
    assert config["training"]["questions"] == 50
    assert "null_threshold" in config["null"]
    trained = Reader.load(models_dir, out)
    passages = ["数据显示，2025 年深圳人工智能核心产业营收约 2200 亿元。"]
    _check_offsets(trained.read("营收约多少？", passages), passages)


def test_a_head_loads_back_from_its_onnx_export(tmp_path: Path) -> None:
    """Warm starts (``--init``) read a head's weights back from its ONNX file: same outputs, every parameter set."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from training.export import export_head, load_head_onnx
    from training.model import ReaderHead

    torch.manual_seed(1)
    trained = ReaderHead(width=32, heads=2, layers=1, dropout=0.0, used_features=768)
    with torch.no_grad():  # trained weights: no two tensors alike (a fresh head's layer norms are all ones)
        for param in trained.parameters():
            param.normal_(0.0, 0.05)
    export_head(trained, tmp_path / "head.onnx")
    loaded = ReaderHead(width=32, heads=2, layers=1, dropout=0.0, used_features=768)
    load_head_onnx(loaded, tmp_path / "head.onnx")
    for name, value in trained.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    session = ort.InferenceSession(str(tmp_path / "head.onnx"))
    rng = np.random.default_rng(0)
    feeds = {"passage": rng.standard_normal((1, 9, 768)).astype(np.float32),
             "passage_mask": np.ones((1, 9), np.float32),
             "question": rng.standard_normal((1, 4, 768)).astype(np.float32),
             "question_mask": np.ones((1, 4), np.float32), "match": np.zeros((1, 9, 2), np.float32)}
    loaded.eval()
    with torch.no_grad():
        start, _ = loaded(*(torch.from_numpy(feeds[k]) for k in feeds))
    assert np.allclose(start.numpy(), session.run(None, feeds)[0], atol=1e-4)
