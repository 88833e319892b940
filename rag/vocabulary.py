"""A knowledge base's own words for the lexical leg: a jieba user dictionary and groups of synonyms.

``rag.text.lexical_tokens`` cuts with the project's built-in words; a knowledge
base that has words of its own (``dictionary.txt``: 「上海交通大学」 kept whole) or
synonyms (``synonyms.txt``: 「华强北 HQB」) tokenises with its ``Vocabulary``: the
same folding and rules, one jieba tokenizer of its own holding the built-in
words, its dictionary and every synonym. Synonyms are folded onto the first word
of their group in the text before it is cut (``canonical``), at index and at
query time alike, so 「HQB」 in a question finds 「华强北」 in a chunk, on FAISS's BM25
and in Milvus's analyzer the same way.

Chunking keeps the process's built-in tokenizer (``rag.text.jieba_tokenizer``):
a dictionary changes no chunk boundary and no vector. The vocabulary's
``identity`` (the tokenizer version, plus a hash of its words) is the lexical
leg's identity in an index manifest: changing a word rebuilds the lexical leg.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from rag.errors import CurationError
from rag.text import TOKENIZER_VERSION, USER_WORD_FREQ, USER_WORDS, cut_words, fold_text, jieba_cache_dir

# What jieba's cut keeps together in one word (its ``re_han_default``): a word with other characters
# (a space, 「·」) is cut apart whatever the dictionary says.
JIEBA_WORD = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+")
JIEBA_TAG = re.compile(r"[a-z]{1,8}")
MAX_WORD_CHARS = 50
MAX_ENTRIES = 50_000  # dictionary words, or synonym groups
MAX_FREQ = 10**9
_SEPARATORS = re.compile(r"[\s,，、;；]+")
_LATIN = re.compile(r"[a-z0-9]")


@dataclass(frozen=True)
class UserWord:
    """A word of a knowledge base's dictionary, folded as the lexical leg sees text; its jieba frequency and tag."""

    word: str
    freq: int = USER_WORD_FREQ
    tag: str | None = None


def check_word(raw: str, where: str) -> str:
    """``raw`` folded (simplified, half-width, lower case), when jieba can keep it as one word; else CurationError.

    >>> check_word("上海交通大學", "x")
    '上海交通大学'
    >>> check_word("威廉·莎士比亚", "synonyms.txt line 2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rag.errors.CurationError: synonyms.txt line 2: 「威廉·莎士比亚」 holds 「·」, which jieba ...
    """
    word = fold_text(raw.strip())
    if not word:
        raise CurationError(f"{where}: the word is empty")
    if len(word) > MAX_WORD_CHARS:
        raise CurationError(f"{where}: 「{word[:20]}…」 has {len(word)} characters, over {MAX_WORD_CHARS}")
    if not JIEBA_WORD.fullmatch(word):
        bad = next(ch for ch in word if not JIEBA_WORD.fullmatch(ch))
        raise CurationError(f"{where}: 「{word}」 holds 「{bad}」, which jieba never keeps inside a word (only "
                            "Chinese characters, letters, digits and + # & . _ % -); write it without")
    return word


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines that say something: blank lines and ``#`` comments left out."""
    out = [(n, line.strip()) for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1)]
    kept = [(n, line) for n, line in out if line and not line.startswith("#")]
    if len(kept) > MAX_ENTRIES:
        raise CurationError(f"{len(kept):,} lines, over the limit of {MAX_ENTRIES:,}")
    return kept


def parse_dictionary(text: str, source: str = "dictionary.txt") -> tuple[UserWord, ...]:
    """The words of a jieba user dictionary: ``word [freq] [tag]`` a line (jieba's own format), ``#`` comments.

    A line jieba would misread (a frequency that is no number, a word it would cut apart)
    raises CurationError naming the line; a frequency of 0 (jieba: always split) too.

    >>> [(w.word, w.freq, w.tag) for w in parse_dictionary("上海交通大学 30000 nt\\n# 注释\\n华强北")]
    [('上海交通大学', 30000, 'nt'), ('华强北', 20000, None)]
    >>> parse_dictionary("交大 abc 12")
    Traceback (most recent call last):
    rag.errors.CurationError: dictionary.txt line 1: 「交大 abc 12」 is not `word [frequency] [tag]` (jieba's format)
    """
    try:
        lines = _lines(text)
    except CurationError as exc:
        raise CurationError(f"{source}: {exc}") from None
    words: dict[str, UserWord] = {}
    for n, line in lines:
        where = f"{source} line {n}"
        parts = line.split()
        freq, tag = USER_WORD_FREQ, None
        rest = parts[1:]
        if rest and rest[0].isdigit():
            freq = int(rest.pop(0))
        if rest and JIEBA_TAG.fullmatch(rest[0]):
            tag = rest.pop(0)
        if rest:
            raise CurationError(f"{where}: 「{line[:60]}」 is not `word [frequency] [tag]` (jieba's format)")
        if not 1 <= freq <= MAX_FREQ:
            raise CurationError(f"{where}: frequency {freq} must be between 1 and {MAX_FREQ:,} "
                                "(jieba splits a word of frequency 0 everywhere in the process)")
        word = check_word(parts[0], where)
        words[word] = UserWord(word, freq, tag)
    return tuple(words.values())


def parse_synonyms(text: str, source: str = "synonyms.txt") -> tuple[tuple[str, ...], ...]:
    """Groups of synonyms, one a line, words apart by spaces or commas; the first word is the one kept.

    >>> parse_synonyms("华强北 HQB\\n上海交通大学，上海交大，交大")
    (('华强北', 'hqb'), ('上海交通大学', '上海交大', '交大'))
    >>> parse_synonyms("交大")
    Traceback (most recent call last):
    rag.errors.CurationError: synonyms.txt line 1: a group of synonyms needs two words or more (got 「交大」)
    """
    try:
        lines = _lines(text)
    except CurationError as exc:
        raise CurationError(f"{source}: {exc}") from None
    groups: list[tuple[str, ...]] = []
    seen: dict[str, int] = {}
    for n, line in lines:
        where = f"{source} line {n}"
        group = tuple(dict.fromkeys(check_word(w, where) for w in _SEPARATORS.split(line) if w))
        if len(group) < 2:
            raise CurationError(f"{where}: a group of synonyms needs two words or more (got 「{line[:40]}」)")
        for word in group:
            if word in seen:
                raise CurationError(f"{where}: 「{word}」 is already in the group of line {seen[word]}; "
                                    "a word belongs to one group")
            seen[word] = n
        groups.append(group)
    return tuple(groups)


@dataclass(frozen=True)
class Vocabulary:
    """A knowledge base's dictionary words and synonym groups (both folded); empty: the built-in tokenizer."""

    words: tuple[UserWord, ...] = ()
    synonyms: tuple[tuple[str, ...], ...] = ()

    @property
    def empty(self) -> bool:
        """True when the knowledge base has no words of its own (then ``lexical_tokens`` is the built-in one)."""
        return not self.words and not self.synonyms

    @cached_property
    def identity(self) -> str:
        """The lexical leg's identity: the tokenizer version, and a hash of the words when there are any.

        >>> Vocabulary().identity == TOKENIZER_VERSION
        True
        >>> Vocabulary(synonyms=(("华强北", "hqb"),)).identity.startswith(TOKENIZER_VERSION + "+kb-")
        True
        """
        if self.empty:
            return TOKENIZER_VERSION
        body = "\n".join([*(f"{w.word} {w.freq} {w.tag or ''}" for w in self.words), "--",
                          *(" ".join(g) for g in self.synonyms)])
        return f"{TOKENIZER_VERSION}+kb-{hashlib.sha256(body.encode()).hexdigest()[:12]}"

    def tokenizer(self) -> Any:
        """The knowledge base's jieba tokenizer: the built-in words, its dictionary and its synonyms (loaded once)."""
        if self.empty:
            from rag.text import jieba_tokenizer

            return jieba_tokenizer()
        entries = [(w.word, w.freq, w.tag) for w in self.words]
        entries += [(word, USER_WORD_FREQ, None) for group in self.synonyms for word in group]
        return _tokenizer(self.identity, tuple(entries))

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        others = sorted({w for group in self.synonyms for w in group[1:]}, key=len, reverse=True)
        if not others:
            return None
        # A Latin word is replaced as a whole word only (「hqb」, not the hqb of 「hqbx」).
        parts = [rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])" if _LATIN.search(w) else re.escape(w) for w in others]
        return re.compile("|".join(parts))

    @cached_property
    def _canonical_of(self) -> dict[str, str]:
        return {word: group[0] for group in self.synonyms for word in group}

    def canonical(self, folded: str) -> str:
        """Folded text with each synonym written as the first word of its group.

        >>> Vocabulary(synonyms=(("华强北", "hqb"),)).canonical("hqb在哪，hqbx不是")
        '华强北在哪，hqbx不是'
        """
        pattern = self._pattern
        if pattern is None:
            return folded
        return pattern.sub(lambda m: self._canonical_of[m.group(0)], folded)

    def lexical_tokens(self, text: str) -> list[str]:
        """``rag.text.lexical_tokens`` with this vocabulary: synonyms folded onto their first word, its own words whole.

        >>> Vocabulary(synonyms=(("华强北", "hqb"),)).lexical_tokens("HQB有多少商户？")
        ['华强北', '商户']
        """
        if self.empty:
            from rag.text import lexical_tokens

            return lexical_tokens(text)
        return cut_words(self.canonical(fold_text(text)), self.tokenizer())

    def group(self, term: str) -> tuple[str, ...]:
        """The words that say the same as a folded ``term`` (itself alone when it is in no group)."""
        canonical = self._canonical_of.get(term)
        if canonical is None:
            return (term,)
        return next(g for g in self.synonyms if g[0] == canonical)

    def to_json(self) -> dict[str, Any]:
        """The vocabulary as an index version keeps it (``from_json`` reads it back)."""
        return {"words": [[w.word, w.freq, w.tag] for w in self.words], "synonyms": [list(g) for g in self.synonyms]}

    @classmethod
    def from_json(cls, data: Any) -> Vocabulary:
        """A vocabulary from ``to_json``'s form; ValueError when it does not read."""
        if not isinstance(data, dict):
            raise ValueError("a vocabulary is an object")
        words = tuple(UserWord(str(w), int(f), None if t is None else str(t)) for w, f, t in data.get("words", []))
        synonyms = tuple(tuple(str(w) for w in g) for g in data.get("synonyms", []))
        return cls(words, synonyms)


@lru_cache(maxsize=8)
def _tokenizer(identity: str, entries: tuple[tuple[str, int, str | None], ...]) -> Any:
    """One jieba tokenizer per vocabulary (``identity`` keys it): jieba's dictionary, the built-in and its own words."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(jieba_cache_dir())
    for word in USER_WORDS:
        tokenizer.add_word(word, freq=USER_WORD_FREQ)
    for word, freq, tag in entries:
        tokenizer.add_word(word, freq=freq, tag=tag)
    return tokenizer
