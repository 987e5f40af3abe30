"""Full-text search over data products: an in-memory inverted index with BM25F scoring.

Documents are product listings (name, description, purpose, domain, column names and
descriptions, tags). Text is cut into words (unicode letters and digits; ``_`` and ``-``
separate words, so ``credit_risk`` is ``credit`` + ``risk``), case-folded and stemmed for plural
``s`` (``ies`` → ``y``, ``sses`` → ``ss``, a final ``s`` dropped unless the word ends in ``ss``,
``us`` or ``is``, words of 3 letters or fewer kept). A query word that matches no indexed word
matches the words it begins (3 letters or more), at a lower weight.

Scoring is BM25F (k1 = 1.2, b = 0.75): per field, a word's count is length-normalised and
weighted (:data:`FIELD_WEIGHTS`), the sum is saturated and multiplied by the word's IDF. Hits
are filtered by the caller's ``visible(product_id)`` in score order, so a product the searcher
may not discover is never returned, and ``visible`` is called only as often as needed.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshlake.products.model import Contract

__all__ = [
    "FIELD_WEIGHTS",
    "Highlight",
    "Hit",
    "ProductDocument",
    "SearchIndex",
    "build_index",
    "search",
    "stem",
    "tokenize",
]

# Long fields first: a term's packed per-field counts are decoded until no higher field is left.
FIELDS = ("column_text", "description", "purpose", "columns", "name", "tags", "domain")
FIELD_WEIGHTS = {
    "name": 3.0,
    "domain": 2.0,
    "tags": 2.0,
    "columns": 1.5,
    "description": 1.0,
    "purpose": 1.0,
    "column_text": 0.75,
}
_WEIGHTS = tuple(FIELD_WEIGHTS[f] for f in FIELDS)
K1, B = 1.2, 0.75
PREFIX_WEIGHT = 0.5
MIN_PREFIX = 3
SNIPPET = 160
_WORD = re.compile(r"[^\W_]+")
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation, " "))
_BITS = 12  # per-field counts packed into one int, capped at 4095
_CAP = (1 << _BITS) - 1


@functools.lru_cache(maxsize=1 << 18)
def stem(word: str) -> str:
    """Strip a plural ``s`` (see the module docstring).

    >>> [stem(w) for w in ["products", "categories", "classes", "status", "bus", "gas"]]
    ['product', 'category', 'class', 'status', 'bus', 'gas']
    """
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Words of ``text``, case-folded and stemmed.

    >>> tokenize("Credit_Risk scores for Café owners")
    ['credit', 'risk', 'score', 'for', 'café', 'owner']
    """
    text = text.casefold()
    parts = text.translate(_PUNCTUATION).split()
    if not all(map(str.isalnum, parts)):  # other separators than ASCII punctuation: exact path
        parts = _WORD.findall(text)
    return list(map(stem, parts))


@dataclass(frozen=True)
class ProductDocument:
    """What search knows of one product (the lead persists these as JSON)."""

    product_id: str
    name: str
    description: str = ""
    purpose: str = ""
    domain: str = ""
    columns: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def from_contract(
        cls, product_id: str, contract: Contract, tags: Mapping[str, Any] | None = None
    ) -> ProductDocument:
        """The document of a product published from ``contract``.

        Args:
            product_id: the product's id in the catalog.
            contract: its contract (every table's columns are indexed).
            tags: the product's tag assignments (:func:`~meshlake.products.tags.derive_tags`
                output); their values are indexed with the contract's free ``tags``.
        """
        values: list[str] = list(contract.tags)
        if tags:
            values += [str(v) for v in tags.get("table", {}).values()]
            for col_tags in tags.get("columns", {}).values():
                values += [str(v) for v in col_tags.values()]
        return cls(
            product_id=product_id,
            name=contract.name,
            description=contract.description or "",
            purpose=contract.purpose or "",
            domain=contract.domain or "",
            columns=tuple(
                (c.physical_name, c.description or "") for t in contract.tables for c in t.columns
            ),
            tags=tuple(dict.fromkeys(v for v in values if v not in ("true", "false"))),
        )

    def field_texts(self) -> tuple[str, ...]:
        """The text of each field, in :data:`FIELDS` order."""
        return (
            " ".join(desc for _, desc in self.columns),
            self.description,
            self.purpose,
            " ".join(name for name, _ in self.columns),
            self.name,
            " ".join(self.tags),
            self.domain,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "product_id": self.product_id,
            "name": self.name,
            "description": self.description,
            "purpose": self.purpose,
            "domain": self.domain,
            "columns": [list(c) for c in self.columns],
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProductDocument:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            product_id=data["product_id"],
            name=data["name"],
            description=data.get("description", ""),
            purpose=data.get("purpose", ""),
            domain=data.get("domain", ""),
            columns=tuple((str(n), str(d)) for n, d in data.get("columns", ())),
            tags=tuple(data.get("tags", ())),
        )


@dataclass(frozen=True)
class Highlight:
    """Where a hit matched: a field's text (a snippet of it) and the matched spans in it."""

    field: str
    text: str
    spans: tuple[tuple[int, int], ...]

    def marked(self, before: str = "[", after: str = "]") -> str:
        """The text with each span wrapped (escape the text first for HTML)."""
        out, last = [], 0
        for start, end in self.spans:
            out += [self.text[last:start], before, self.text[start:end], after]
            last = end
        out.append(self.text[last:])
        return "".join(out)


@dataclass(frozen=True)
class Hit:
    """One search result."""

    product_id: str
    score: float
    highlights: tuple[Highlight, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "product_id": self.product_id,
            "score": self.score,
            "highlights": [
                {"field": h.field, "text": h.text, "spans": [list(s) for s in h.spans]}
                for h in self.highlights
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        """Rebuild a hit from :meth:`to_dict` output (as the server sends it)."""
        return cls(
            data["product_id"],
            float(data["score"]),
            tuple(
                Highlight(h["field"], h["text"], tuple((int(a), int(b)) for a, b in h["spans"]))
                for h in data.get("highlights", ())
            ),
        )


class SearchIndex:
    """An inverted index over product documents; add, replace and remove are incremental.

    Args:
        documents: initial documents.
    """

    def __init__(self, documents: Iterable[ProductDocument] = ()) -> None:
        self._postings: dict[str, dict[int, int]] = {}
        self._docs: dict[int, ProductDocument] = {}
        self._lengths: dict[int, tuple[int, ...]] = {}
        self._slot_of: dict[str, int] = {}
        self._total = [0] * len(FIELDS)
        self._next = 0
        self._vocabulary: list[str] | None = None
        self._scales: dict[int, tuple[float, ...]] | None = None
        for doc in documents:
            self.add(doc)

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._slot_of

    def add(self, document: ProductDocument) -> None:
        """Index a document, replacing the one with the same product id."""
        self.remove(document.product_id)
        slot = self._next
        self._next += 1
        counts, lengths = self._counts(document)
        postings = self._postings
        for term, packed in counts.items():
            entry = postings.get(term)
            if entry is None:
                postings[term] = {slot: packed}
            else:
                entry[slot] = packed
        for i, length in enumerate(lengths):
            self._total[i] += length
        self._docs[slot] = document
        self._lengths[slot] = lengths
        self._slot_of[document.product_id] = slot
        self._vocabulary = None
        self._scales = None

    def remove(self, product_id: str) -> bool:
        """Drop a product from the index; returns whether it was there."""
        slot = self._slot_of.pop(product_id, None)
        if slot is None:
            return False
        for term in self._counts(self._docs[slot])[0]:
            postings = self._postings[term]
            del postings[slot]
            if not postings:
                del self._postings[term]
        for i, length in enumerate(self._lengths.pop(slot)):
            self._total[i] -= length
        del self._docs[slot]
        self._vocabulary = None
        self._scales = None
        return True

    def document(self, product_id: str) -> ProductDocument | None:
        """The indexed document of a product, if any."""
        slot = self._slot_of.get(product_id)
        return None if slot is None else self._docs[slot]

    def search(
        self,
        query: str,
        visible: Callable[[str], bool] | None = None,
        *,
        limit: int = 20,
    ) -> list[Hit]:
        """Products matching ``query``, best first (see :func:`search`)."""
        terms = self._expand(dict.fromkeys(tokenize(query)))
        if not terms or limit <= 0:
            return []
        count = len(self._docs)
        scales = self._field_scales()
        scores: dict[int, float] = {}
        for term, weight in terms.items():
            postings = self._postings[term]
            idf = math.log(1.0 + (count - len(postings) + 0.5) / (len(postings) + 0.5))
            for slot, packed in postings.items():
                scale = scales[slot]
                tf, i = 0.0, 0
                while packed:
                    n = packed & _CAP
                    if n:
                        tf += n * scale[i]
                    packed >>= _BITS
                    i += 1
                scores[slot] = scores.get(slot, 0.0) + weight * idf * tf / (K1 + tf)
        ranked = sorted(scores.items(), key=lambda s: (-s[1], self._docs[s[0]].product_id))
        hits: list[Hit] = []
        matched = set(terms)
        for slot, score in ranked:
            doc = self._docs[slot]
            if visible is not None and not visible(doc.product_id):
                continue
            hits.append(Hit(doc.product_id, round(score, 6), _highlights(doc, matched)))
            if len(hits) == limit:
                break
        return hits

    def _field_scales(self) -> dict[int, tuple[float, ...]]:
        """Per document, each field's weight over its BM25 length norm (cached until a change)."""
        if self._scales is None:
            count = max(len(self._docs), 1)
            averages = [max(total / count, 1e-9) for total in self._total]
            self._scales = {
                slot: tuple(
                    w / (1.0 - B + B * length / avg)
                    for w, length, avg in zip(_WEIGHTS, lengths, averages, strict=True)
                )
                for slot, lengths in self._lengths.items()
            }
        return self._scales

    def _counts(self, document: ProductDocument) -> tuple[dict[str, int], tuple[int, ...]]:
        """Per term, the per-field counts packed into one int; and each field's length."""
        packed: dict[str, int] = {}
        lengths = []
        for i, text in enumerate(document.field_texts()):
            tokens = tokenize(text)
            lengths.append(len(tokens))
            counts = Counter(tokens)
            if counts and max(counts.values()) > _CAP:
                counts = Counter({term: min(n, _CAP) for term, n in counts.items()})
            if i == 0:
                packed = dict(counts)  # the first field sits in the lowest bits: no shift
                continue
            shift = i * _BITS
            get = packed.get
            for term, n in counts.items():
                packed[term] = get(term, 0) + (n << shift)
        return packed, tuple(lengths)

    def _expand(self, words: Iterable[str]) -> dict[str, float]:
        terms: dict[str, float] = {}
        for word in words:
            if word in self._postings:
                terms[word] = 1.0
            elif len(word) >= MIN_PREFIX:
                for term in self._with_prefix(word):
                    terms.setdefault(term, PREFIX_WEIGHT)
        return terms

    def _with_prefix(self, prefix: str) -> list[str]:
        if self._vocabulary is None:
            self._vocabulary = sorted(self._postings)
        vocab = self._vocabulary
        start = bisect.bisect_left(vocab, prefix)
        end = bisect.bisect_left(vocab, prefix + "\U0010ffff")
        return vocab[start:end]


def build_index(documents: Iterable[ProductDocument]) -> SearchIndex:
    """Index documents (see :class:`SearchIndex`)."""
    return SearchIndex(documents)


def search(
    index: SearchIndex,
    query: str,
    visible: Callable[[str], bool] | None = None,
    *,
    limit: int = 20,
) -> list[Hit]:
    """Search the index.

    Args:
        index: the index.
        query: free text; every word counts, products matching more (and rarer) words rank
            higher. An empty query (no words) finds nothing.
        visible: ``visible(product_id)`` says whether the searcher may discover the product;
            None shows everything.
        limit: the most hits to return.

    Returns:
        Visible hits, best first (ties by product id), each with up to 3 highlights.

    >>> idx = build_index([ProductDocument("p1", "credit_card", "Credit applications")])
    >>> [h.product_id for h in search(idx, "credits", lambda pid: True)]
    ['p1']
    """
    return index.search(query, visible, limit=limit)


def _highlights(doc: ProductDocument, matched: set[str], most: int = 3) -> tuple[Highlight, ...]:
    candidates: list[tuple[float, str, str]] = [
        (FIELD_WEIGHTS["name"], "name", doc.name),
        (FIELD_WEIGHTS["domain"], "domain", doc.domain),
        (FIELD_WEIGHTS["tags"], "tags", ", ".join(doc.tags)),
        (FIELD_WEIGHTS["description"], "description", doc.description),
        (FIELD_WEIGHTS["purpose"], "purpose", doc.purpose),
    ]
    for name, desc in doc.columns:
        candidates.append((FIELD_WEIGHTS["columns"], "column", f"{name}: {desc}" if desc else name))
    candidates.sort(key=lambda c: -c[0])  # stable: keeps document order within a weight
    out: list[Highlight] = []
    for _, field_name, text in candidates:
        spans = [m.span() for m in _WORD.finditer(text) if stem(m.group(0).casefold()) in matched]
        if spans:
            out.append(_snippet(field_name, text, spans))
            if len(out) == most:
                break
    return tuple(out)


def _snippet(field_name: str, text: str, spans: list[tuple[int, int]]) -> Highlight:
    if len(text) <= SNIPPET:
        return Highlight(field_name, text, tuple(spans))
    start = max(0, spans[0][0] - SNIPPET // 4)
    end = min(len(text), start + SNIPPET)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    kept = tuple((a + shift, b + shift) for a, b in spans if a >= start and b <= end)
    return Highlight(field_name, prefix + text[start:end] + suffix, kept)
