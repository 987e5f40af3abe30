"""Data drift between a reference sample and a current one: PSI, Kolmogorov-Smirnov, chi-square.

- **PSI** (population stability index) over the reference's quantile bins (numeric columns)
  or its categories: ``sum((c - r) * ln(c / r))`` over bins, with empty bins floored at
  ``EPS``. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 drifted.
- **KS**: ``scipy.stats.ks_2samp`` on numeric columns (statistic and p-value).
- **Chi-square**: ``scipy.stats.chisquare`` of the current counts against the reference
  proportions, on categorical columns (categories unseen in the reference pooled into one).

A column drifts when its PSI exceeds ``psi_threshold`` or its test's p-value falls below
``p_threshold``. Nulls are dropped (their share is reported).

:func:`write_drift_plots` draws a report: every column's PSI, and the reference and current
distributions of the most drifted columns (PNG, matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "ColumnDrift",
    "DriftReport",
    "chi_square",
    "drift_report",
    "ks",
    "psi",
    "top_columns",
    "write_drift_plots",
]

EPS = 1e-4


def _bins(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges of the reference's quantile bins (duplicates dropped)."""
    qs = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total else np.zeros_like(counts, dtype=float)
    return np.maximum(shares, EPS)


def psi(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
) -> float:
    """PSI of numeric ``current`` against ``reference``'s quantile bins.

    >>> round(psi([1, 2, 3, 4] * 25, [1, 2, 3, 4] * 25), 6)
    0.0
    >>> psi(range(100), range(50, 150)) > 0.25
    True
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        return 0.0
    edges = _bins(ref, bins)
    r = _shares(np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1))
    c = _shares(np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1))
    return float(np.sum((c - r) * np.log(c / r)))


def categorical_psi(reference: Sequence[Any], current: Sequence[Any]) -> float:
    """PSI over the categories (those unseen in the reference pooled into one).

    >>> categorical_psi(["a", "b"] * 10, ["a", "b"] * 10)
    0.0
    """
    r, c = _category_counts(reference, current)
    return float(np.sum((_shares(c) - _shares(r)) * np.log(_shares(c) / _shares(r))))


def _category_counts(reference: Sequence[Any], current: Sequence[Any]) -> tuple[np.ndarray, ...]:
    cats = sorted({str(v) for v in reference})
    index = {v: i for i, v in enumerate(cats)}
    r = np.zeros(len(cats) + 1)
    c = np.zeros(len(cats) + 1)
    for v in reference:
        r[index[str(v)]] += 1
    for v in current:
        c[index.get(str(v), len(cats))] += 1
    return r, c


def ks(
    reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (statistic, p-value).

    >>> ks([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    (0.0, 1.0)
    """
    from scipy import stats

    if len(reference) == 0 or len(current) == 0:
        return 0.0, 1.0
    result = stats.ks_2samp(np.asarray(reference, float), np.asarray(current, float))
    return float(result.statistic), float(result.pvalue)


def chi_square(reference: Sequence[Any], current: Sequence[Any]) -> tuple[float, float]:
    """Chi-square goodness of fit of ``current``'s category counts to ``reference``'s
    proportions: (statistic, p-value).

    >>> chi_square(["a", "b"] * 50, ["a", "b"] * 50)
    (0.0, 1.0)
    """
    from scipy import stats

    r, c = _category_counts(reference, current)
    if c.sum() == 0 or r.sum() == 0:
        return 0.0, 1.0
    if c[-1] == 0:  # no category unseen in the reference
        r, c = r[:-1], c[:-1]
    expected = _shares(r) * c.sum()
    expected *= c.sum() / expected.sum()
    result = stats.chisquare(c, expected)
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift statistics."""

    column: str
    kind: str  # numeric | categorical
    psi: float
    test: str  # ks | chi_square
    statistic: float
    p_value: float
    null_share_reference: float
    null_share_current: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """Drift of every compared column."""

    columns: tuple[ColumnDrift, ...]
    psi_threshold: float
    p_threshold: float
    reference_rows: int
    current_rows: int

    @property
    def drifted(self) -> bool:
        """Whether any column drifted."""
        return any(c.drifted for c in self.columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "drifted": self.drifted,
            "psi_threshold": self.psi_threshold,
            "p_threshold": self.p_threshold,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [asdict(c) for c in self.columns],
        }


def _null_share(col: pa.ChunkedArray | pa.Array) -> float:
    return col.null_count / len(col) if len(col) else 0.0


def drift_report(
    reference: pa.Table,
    current: pa.Table,
    columns: Sequence[str] | None = None,
    *,
    psi_threshold: float = 0.25,
    p_threshold: float = 0.01,
    bins: int = 10,
) -> DriftReport:
    """Compare ``current`` to ``reference`` column by column (default: common columns).

    Numeric columns get PSI over quantile bins and KS; everything else categorical PSI and
    chi-square.
    """
    names = (
        list(columns)
        if columns is not None
        else [n for n in reference.column_names if n in current.column_names]
    )
    out = []
    for name in names:
        rcol, ccol = reference.column(name), current.column(name)
        numeric = (
            pa.types.is_integer(rcol.type)
            or pa.types.is_floating(rcol.type)
            or (pa.types.is_decimal(rcol.type))
        )
        rv = [v for v in rcol.to_pylist() if v is not None]
        cv = [v for v in ccol.to_pylist() if v is not None]
        if numeric:
            value = psi([float(v) for v in rv], [float(v) for v in cv], bins=bins)
            stat, p = ks([float(v) for v in rv], [float(v) for v in cv])
            test = "ks"
        else:
            value = categorical_psi(rv, cv)
            stat, p = chi_square(rv, cv)
            test = "chi_square"
        out.append(
            ColumnDrift(
                name,
                "numeric" if numeric else "categorical",
                round(value, 6),
                test,
                round(stat, 6),
                p,
                _null_share(rcol),
                _null_share(ccol),
                value > psi_threshold or p < p_threshold,
            )
        )
    return DriftReport(tuple(out), psi_threshold, p_threshold, reference.num_rows, current.num_rows)


def top_columns(report: DriftReport, n: int = 5) -> list[ColumnDrift]:
    """The ``n`` most drifted columns: drifted first, then by PSI, then by p-value."""
    return sorted(report.columns, key=lambda c: (not c.drifted, -c.psi, c.p_value))[:n]


def _plot_name(column: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in column)
    return f"{safe}.png"


def write_drift_plots(
    folder: Path,
    reference: pa.Table,
    current: pa.Table,
    report: DriftReport,
    *,
    top: int = 4,
    bins: int = 20,
) -> list[str]:
    """PNG figures of a report into ``folder``: ``psi.png`` (every column's PSI against the
    threshold) and one distribution plot per top drifted column (numeric: reference and
    current histograms over shared bins, as densities; categorical: each category's share).

    Returns:
        The file names written (relative to ``folder``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    cols = sorted(report.columns, key=lambda c: c.psi)
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(cols) + 1)))
    ax.barh(
        [c.column for c in cols],
        [c.psi for c in cols],
        color=["tab:red" if c.drifted else "tab:blue" for c in cols],
    )
    ax.axvline(report.psi_threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("PSI")
    ax.set_title("population stability index (red: drifted)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(folder / "psi.png", dpi=80)
    plt.close(fig)
    written.append("psi.png")
    for col in top_columns(report, top):
        if not col.drifted:
            continue
        rv = [v for v in reference.column(col.column).to_pylist() if v is not None]
        cv = [v for v in current.column(col.column).to_pylist() if v is not None]
        fig, ax = plt.subplots(figsize=(6, 4))
        if col.kind == "numeric":
            r = np.asarray(rv, dtype=float)
            c = np.asarray(cv, dtype=float)
            both = np.concatenate([r, c]) if r.size + c.size else np.zeros(1)
            edges = np.histogram_bin_edges(both, bins=bins).tolist()
            ax.hist(r, bins=edges, density=True, alpha=0.55, label=f"reference ({r.size})")
            ax.hist(c, bins=edges, density=True, alpha=0.55, label=f"current ({c.size})")
            ax.set_ylabel("density")
        else:
            cats = sorted({str(v) for v in rv} | {str(v) for v in cv})
            rs = np.array([sum(str(v) == k for v in rv) for k in cats], float) / max(len(rv), 1)
            cs = np.array([sum(str(v) == k for v in cv) for k in cats], float) / max(len(cv), 1)
            x = np.arange(len(cats))
            ax.bar(x - 0.2, rs, width=0.4, label=f"reference ({len(rv)})")
            ax.bar(x + 0.2, cs, width=0.4, label=f"current ({len(cv)})")
            ax.set_xticks(x, cats, rotation=45, ha="right", fontsize=7)
            ax.set_ylabel("share")
        ax.set_title(f"{col.column}: PSI {col.psi:.3f}, {col.test} p = {col.p_value:.2g}")
        ax.legend()
        fig.tight_layout()
        name = _plot_name(col.column)
        fig.savefig(folder / name, dpi=80)
        plt.close(fig)
        written.append(name)
    return written
