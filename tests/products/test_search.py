"""Product search: tokens, BM25F ranking, visibility, highlights, incremental index."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlake.products.contract import load_contract
from meshlake.products.search import (
    ProductDocument,
    SearchIndex,
    build_index,
    search,
    stem,
    tokenize,
)
from meshlake.products.tags import derive_tags

from .conftest import DEMO_CONTRACT

DOCS = [
    ProductDocument(
        "p-credit",
        "credit_card",
        "Credit card applications and their outcome",
        "Train credit risk models",
        "consumer-banking",
        (("credit_risk", "The label"), ("age", "Age in years")),
        ("confidential",),
    ),
    ProductDocument(
        "p-loans",
        "mortgages",
        "Mortgage loans; mentions credit once",
        "Reporting",
        "consumer-banking",
        (("loan_id", "Loan identifier"),),
    ),
    ProductDocument(
        "p-sales",
        "orders",
        "Web shop orders",
        "Revenue",
        "sales",
        (("amount", "Order amount"), ("country", "Country of the customer")),
        ("internal",),
    ),
]


def _ids(hits: list) -> list[str]:
    return [h.product_id for h in hits]


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("orders", "order"),
        ("categories", "category"),
        ("addresses", "address"),
        ("status", "status"),
        ("analysis", "analysis"),
        ("gas", "gas"),
        ("class", "class"),
        ("ties", "tie"),
    ],
)
def test_stem(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


def test_tokenize_splits_on_underscores_and_punctuation_and_folds_case() -> None:
    assert tokenize("Credit_Risk (DM) Straße naïve-Orders 2024") == [
        "credit",
        "risk",
        "dm",
        "strasse",
        "naïve",
        "order",
        "2024",
    ]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ9_ -.,;(ß)Éé«»—\u00a0\u2003文s"), max_size=60))
def test_tokenize_fast_path_equals_the_unicode_word_rule(text: str) -> None:
    words = re.findall(r"[^\W_]+", text.casefold())
    assert tokenize(text) == [stem(w) for w in words]


def test_name_match_ranks_above_a_passing_mention() -> None:
    index = build_index(DOCS)
    hits = search(index, "credit", lambda pid: True)
    assert _ids(hits) == ["p-credit", "p-loans"]
    assert hits[0].score > hits[1].score > 0


def test_more_matched_words_rank_higher_and_plurals_match() -> None:
    index = build_index(DOCS)
    assert _ids(search(index, "consumer banking loans"))[0] == "p-loans"
    assert _ids(search(index, "order amounts")) == ["p-sales"]
    assert search(index, "") == []
    assert search(index, "  ,;  ") == []
    assert search(index, "zebra") == []


def test_invisible_products_never_appear_and_visible_is_called_lazily() -> None:
    index = build_index(DOCS)
    asked: list[str] = []

    def visible(pid: str) -> bool:
        asked.append(pid)
        return pid != "p-credit"

    assert _ids(search(index, "credit", visible)) == ["p-loans"]
    asked.clear()

    def count_and_allow(pid: str) -> bool:
        asked.append(pid)
        return True

    hits = search(index, "consumer banking", count_and_allow, limit=1)
    assert len(hits) == 1
    assert len(asked) == 1


def test_prefix_of_an_unknown_word_matches_at_lower_weight() -> None:
    index = build_index(DOCS)
    prefix = search(index, "mortg")
    assert _ids(prefix) == ["p-loans"]
    assert prefix[0].score < search(index, "mortgage")[0].score
    assert search(index, "mo") == []  # too short to expand


def test_highlights_mark_the_matched_words() -> None:
    index = build_index(DOCS)
    (hit,) = search(index, "risk models")
    fields = {h.field: h.marked() for h in hit.highlights}
    assert fields == {
        "column": "credit_[risk]: The label",
        "purpose": "Train credit [risk] [models]",
    }


def test_long_text_is_cut_around_the_first_match() -> None:
    text = "filler " * 60 + "needle in the haystack " + "tail " * 60
    index = build_index([ProductDocument("p", "x", text)])
    (highlight,) = search(index, "needle")[0].highlights
    assert highlight.text.startswith("…") and highlight.text.endswith("…")
    assert len(highlight.text) <= 162
    start, end = highlight.spans[0]
    assert highlight.text[start:end] == "needle"


def test_incremental_index_scores_like_a_fresh_build() -> None:
    rng = random.Random(3)
    words = ["credit", "risk", "loan", "order", "customer", "revenue", "age", "churn", "fraud"]
    docs = [
        ProductDocument(
            f"p{i}",
            " ".join(rng.sample(words, 2)),
            " ".join(rng.choices(words, k=12)),
            columns=tuple((w, "") for w in rng.sample(words, 3)),
        )
        for i in range(60)
    ]
    index = SearchIndex()
    for doc in docs:
        index.add(doc)
    for doc in docs[:20]:
        assert index.remove(doc.product_id)
    index.add(ProductDocument("p25", "replaced", "nothing about it"))
    assert not index.remove("p0")
    kept = [d for d in docs[20:] if d.product_id != "p25"]
    fresh = build_index([*kept, ProductDocument("p25", "replaced", "nothing about it")])
    assert len(index) == len(fresh) == 40
    assert "p25" in index and "p0" not in index
    for query in ("credit risk", "churn fraud", "replaced", "cust"):
        got = [(h.product_id, h.score) for h in search(index, query)]
        assert got == [(h.product_id, h.score) for h in search(fresh, query)]


def test_document_from_the_demo_contract() -> None:
    contract = load_contract(DEMO_CONTRACT)
    doc = ProductDocument.from_contract("credit-card-1", contract, derive_tags(contract))
    assert doc.name == "credit_card"
    assert doc.domain == "consumer-banking"
    assert {"credit", "confidential", "restricted"} <= set(doc.tags)
    assert "true" not in doc.tags
    assert ProductDocument.from_dict(doc.to_dict()) == doc
    index = build_index([doc, *DOCS])
    assert set(_ids(search(index, "credit risk"))[:2]) == {"credit-card-1", "p-credit"}
    assert _ids(search(index, "foreign worker")) == ["credit-card-1"]
    hit = search(index, "fairness")[0]
    assert hit.to_dict()["highlights"][0]["field"] == "purpose"
