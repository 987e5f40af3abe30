"""Stratified, seeded splits: train / validation / test, and repeated stratified k-fold.

Each class is shuffled with the seed and cut by the fractions separately, so every split keeps
the class balance and no row ever lands in two splits. (The reference pipeline sampled its test
set from all rows, unseeded, so test rows could also be training rows; this does not.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from meshlake.errors import InvalidInputError

__all__ = ["SPLIT_NAMES", "check_fractions", "repeated_stratified_kfold", "stratified_split"]

SPLIT_NAMES = ("train", "validation", "test")


def check_fractions(split: Sequence[float]) -> tuple[float, float, float]:
    """Validate ``(train, validation, test)`` fractions: positive train and test, sum 1.

    >>> check_fractions((0.7, 0.15, 0.15))
    (0.7, 0.15, 0.15)
    """
    if len(split) != 3:
        raise InvalidInputError("split needs three fractions: (train, validation, test)")
    fr = tuple(float(f) for f in split)
    if any(f < 0 for f in fr) or fr[0] <= 0 or fr[2] <= 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise InvalidInputError(
            f"split fractions {split} must be non-negative, with train and test above 0, "
            "and add up to 1"
        )
    return fr[0], fr[1], fr[2]


def stratified_split(
    labels: Sequence[object] | np.ndarray, fractions: Sequence[float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of the train, validation and test splits.

    Per class, rows are shuffled with ``seed`` and cut at the cumulative fractions (rounded),
    so the splits are disjoint, cover every row, and keep each class's share.

    >>> y = [0] * 40 + [1] * 60
    >>> tr, va, te = stratified_split(y, (0.5, 0.25, 0.25), seed=7)
    >>> len(tr), len(va), len(te), sum(y[i] for i in te)
    (50, 25, 25, 15)
    """
    fr = check_fractions(fractions)
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in sorted(set(y.tolist()), key=str):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        n = len(idx)
        cut1 = round(n * fr[0])
        cut2 = round(n * (fr[0] + fr[1]))
        for part, chunk in zip(parts, (idx[:cut1], idx[cut1:cut2], idx[cut2:]), strict=True):
            part.append(chunk)
    out = tuple(np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in parts)
    return out[0], out[1], out[2]


def repeated_stratified_kfold(
    labels: Sequence[object] | np.ndarray, k: int, repeats: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) index pairs of ``repeats`` x stratified ``k``-fold CV.

    >>> folds = list(repeated_stratified_kfold([0] * 10 + [1] * 20, k=5, repeats=2, seed=1))
    >>> len(folds), sorted(len(te) for _, te in folds)[:2]
    (10, [6, 6])
    """
    if k < 2 or repeats < 1:
        raise InvalidInputError("cross-validation needs k >= 2 folds and at least one repeat")
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        fold_of = np.empty(len(y), dtype=np.int64)
        for cls in sorted(set(y.tolist()), key=str):
            idx = np.flatnonzero(y == cls)
            rng.shuffle(idx)
            offset = int(rng.integers(k))  # spread each class's remainder over the folds
            fold_of[idx] = (np.arange(len(idx)) + offset) % k
        all_idx = np.arange(len(y))
        for f in range(k):
            yield all_idx[fold_of != f], all_idx[fold_of == f]
