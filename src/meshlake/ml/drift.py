"""Data drift between a reference sample and a current one: PSI, Kolmogorov-Smirnov, chi-square.

- **PSI** (population stability index) over the reference's quantile bins (numeric columns)
  or its categories: ``sum((c - r) * ln(c / r))`` over bins, with empty bins floored at
  ``EPS``. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 drifted.
- **KS**: ``scipy.stats.ks_2samp`` on numeric columns (statistic and p-value).
- **Chi-square**: ``scipy.stats.chisquare`` of the current counts against the reference
  proportions, on categorical columns (categories unseen in the reference pooled into one).

A column drifts when its PSI exceeds ``psi_threshold`` or its test's p-value falls below
``p_threshold``. Nulls are dropped (their share is reported).

:func:`distributions` summarises the reference and current distributions of the most
drifted columns as plain data kept with the report; :func:`render_plot` draws a report's
plots from it (PNG, matplotlib): every column's PSI, and each of those distributions.
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
    "distributions",
    "drift_report",
    "ks",
    "plot_name",
    "plot_names",
    "psi",
    "render_plot",
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


def plot_name(column: str) -> str:
    """The file name of a column's distribution plot.

    >>> plot_name("credit amount")
    'credit_amount.png'
    """
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in column)
    return f"{safe}.png"


def distributions(
    reference: pa.Table, current: pa.Table, report: DriftReport, *, top: int = 4, bins: int = 20
) -> dict[str, dict[str, Any]]:
    """What the distribution plots of the top drifted columns show, as plain data (kept with
    the report, so its plots can be drawn at any time without the data): numeric columns as
    densities over shared bin edges, categorical ones as each category's share."""
    out: dict[str, dict[str, Any]] = {}
    for col in top_columns(report, top):
        if not col.drifted:
            continue
        rv = [v for v in reference.column(col.column).to_pylist() if v is not None]
        cv = [v for v in current.column(col.column).to_pylist() if v is not None]
        if col.kind == "numeric":
            r, c = np.asarray(rv, dtype=float), np.asarray(cv, dtype=float)
            both = np.concatenate([r, c])
            edges = np.histogram_bin_edges(both if both.size else np.zeros(1), bins=bins)
            rd = np.histogram(r, edges, density=True)[0] if r.size else np.zeros(bins)
            cd = np.histogram(c, edges, density=True)[0] if c.size else np.zeros(bins)
            out[col.column] = {
                "kind": "numeric",
                "edges": [float(e) for e in edges],
                "reference": [float(x) for x in rd],
                "current": [float(x) for x in cd],
            }
        else:
            cats = sorted({str(v) for v in rv} | {str(v) for v in cv})
            rs = {k: 0 for k in cats}
            cs = {k: 0 for k in cats}
            for v in rv:
                rs[str(v)] += 1
            for v in cv:
                cs[str(v)] += 1
            out[col.column] = {
                "kind": "categorical",
                "categories": cats,
                "reference": [rs[k] / max(len(rv), 1) for k in cats],
                "current": [cs[k] / max(len(cv), 1) for k in cats],
            }
    return out


def plot_names(report: dict[str, Any]) -> list[str]:
    """The plots a report (its JSON form, with ``distributions``) has: ``psi.png`` and one
    per column in its distributions."""
    return ["psi.png", *(plot_name(c) for c in report.get("distributions") or {})]


def render_plot(report: dict[str, Any], name: str, folder: Path) -> Path:
    """Draw one plot of a report (JSON form) into ``folder``: ``psi.png`` (every column's PSI
    against the threshold, drifted ones in red) or ``<column>.png`` (the reference and
    current distributions). Returns the file.

    Raises:
        KeyError: the report has no such plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dists = report.get("distributions") or {}
    by_name = {plot_name(c): c for c in dists}
    if name != "psi.png" and name not in by_name:
        raise KeyError(name)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "psi.png":
        cols = sorted(report.get("columns") or [], key=lambda c: c["psi"])
        fig, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(cols) + 1)))
        ax.barh(
            [c["column"] for c in cols],
            [c["psi"] for c in cols],
            color=["tab:red" if c["drifted"] else "tab:blue" for c in cols],
        )
        ax.axvline(report.get("psi_threshold", 0.25), color="grey", linestyle="--", lw=0.8)
        ax.set_xlabel("PSI")
        ax.set_title("population stability index (red: drifted)")
        ax.tick_params(axis="y", labelsize=7)
        fig.subplots_adjust(left=0.3, right=0.97, top=0.9, bottom=0.15)
    else:
        column = by_name[name]
        d = dists[column]
        stats: dict[str, Any] = next(
            (c for c in report.get("columns") or [] if c["column"] == column), {}
        )
        fig, ax = plt.subplots(figsize=(6, 4))
        if d["kind"] == "numeric":
            edges = np.asarray(d["edges"])
            widths = np.diff(edges)
            ax.bar(edges[:-1], d["reference"], widths, align="edge", alpha=0.55, label="reference")
            ax.bar(edges[:-1], d["current"], widths, align="edge", alpha=0.55, label="current")
            ax.set_ylabel("density")
        else:
            x = np.arange(len(d["categories"]))
            ax.bar(x - 0.2, d["reference"], width=0.4, label="reference")
            ax.bar(x + 0.2, d["current"], width=0.4, label="current")
            ax.set_xticks(x, d["categories"], rotation=45, ha="right", fontsize=7)
            ax.set_ylabel("share")
        ax.set_title(
            f"{column}: PSI {stats.get('psi', 0):.3f}, "
            f"{stats.get('test', '')} p = {stats.get('p_value', 1):.2g}"
        )
        ax.legend()
        fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.3)
    path = folder / name
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_drift_plots(folder: Path, report: dict[str, Any]) -> list[str]:
    """Every plot of a report (JSON form, with ``distributions``) into ``folder``; returns
    the file names."""
    return [render_plot(report, name, folder).name for name in plot_names(report)]
