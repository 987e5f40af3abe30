"""Stratified splits and CV folds against their definition (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlake.errors import InvalidInputError
from meshlake.ml.split import repeated_stratified_kfold, stratified_split

labels = st.lists(st.sampled_from(["good", "bad", "other"]), min_size=1, max_size=300)
fractions = (
    st.tuples(st.floats(0.1, 0.8), st.floats(0.0, 0.3))
    .map(lambda t: (t[0], t[1], round(1 - t[0] - t[1], 10)))
    .filter(lambda f: f[2] > 0.01)
)


@settings(max_examples=150, deadline=None)
@given(labels, fractions, st.integers(0, 2**31))
def test_split_is_a_partition_that_keeps_every_class_share(
    y: list[str], fr: tuple[float, float, float], seed: int
) -> None:
    parts = stratified_split(y, fr, seed)
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(len(y)))  # disjoint and complete
    arr = np.asarray(y)
    for cls in set(y):
        n = int((arr == cls).sum())
        for part, f in zip(parts, fr, strict=True):
            got = int((arr[part] == cls).sum())
            assert abs(got - n * f) <= 1.0 + 1e-9  # stratified: each class cut by fraction


@settings(max_examples=50, deadline=None)
@given(labels, st.integers(0, 1000))
def test_split_depends_on_the_seed_only(y: list[str], seed: int) -> None:
    a = stratified_split(y, (0.7, 0.15, 0.15), seed)
    b = stratified_split(list(y), (0.7, 0.15, 0.15), seed)
    assert all(np.array_equal(x, z) for x, z in zip(a, b, strict=True))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0, 1]), min_size=10, max_size=200),
    st.integers(2, 6),
    st.integers(1, 3),
    st.integers(0, 1000),
)
def test_each_row_is_held_out_once_per_repeat(
    y: list[int], k: int, repeats: int, seed: int
) -> None:
    folds = list(repeated_stratified_kfold(y, k, repeats, seed))
    assert len(folds) == k * repeats
    for r in range(repeats):
        held = np.concatenate([te for _, te in folds[r * k : (r + 1) * k]])
        assert sorted(held.tolist()) == list(range(len(y)))
        for tr, te in folds[r * k : (r + 1) * k]:
            assert not set(tr.tolist()) & set(te.tolist())
            for cls in set(y):  # stratified: folds differ by at most one row per class
                n = sum(1 for v in y if v == cls)
                assert abs(sum(1 for i in te if y[i] == cls) - n / k) < 1


def test_bad_fractions_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="add up to 1"):
        stratified_split([0, 1], (0.5, 0.5, 0.5), 1)
    with pytest.raises(InvalidInputError, match="three fractions"):
        stratified_split([0, 1], (0.5, 0.5), 1)
