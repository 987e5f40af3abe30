"""Drift statistics against a reference model (plain-Python formulas) and scipy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from meshlake.ml.drift import EPS, chi_square, drift_report, ks, psi

samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=5, max_size=200)


def reference_psi(ref: list[float], cur: list[float], bins: int = 10) -> float:
    """PSI written out: quantile edges of the reference, shares floored at EPS."""
    edges = sorted(set(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]).tolist()))

    def shares(xs: list[float]) -> list[float]:
        counts = [0] * (len(edges) + 1)
        for x in xs:
            counts[sum(1 for e in edges if x >= e)] += 1
        return [max(c / len(xs), EPS) for c in counts]

    r, c = shares(ref), shares(cur)
    return sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_psi_matches_the_reference_model(ref: list[float], cur: list[float]) -> None:
    assert math.isclose(psi(ref, cur), reference_psi(ref, cur), rel_tol=1e-9, abs_tol=1e-9)
    assert psi(ref, cur) >= 0 and psi(ref, ref) == 0


@settings(max_examples=30, deadline=None)
@given(samples, samples)
def test_ks_is_scipys(ref: list[float], cur: list[float]) -> None:
    expected = stats.ks_2samp(ref, cur)
    assert ks(ref, cur) == (float(expected.statistic), float(expected.pvalue))


def test_report_flags_shifted_and_recategorised_columns() -> None:
    rng = np.random.default_rng(0)
    ref = pa.table({"x": rng.normal(0, 1, 500), "c": ["a", "b"] * 250, "same": [1.0] * 500})
    cur = pa.table(
        {"x": rng.normal(2, 1, 500), "c": ["a"] * 400 + ["z"] * 100, "same": [1.0] * 500}
    )
    report = drift_report(ref, cur)
    flags = {c.column: c.drifted for c in report.columns}
    assert flags == {"x": True, "c": True, "same": False} and report.drifted
    assert chi_square(["a", "b"] * 50, ["a", "b"] * 50) == (0.0, 1.0)


def test_distributions_and_plots_of_the_drifted_columns(tmp_path: Path) -> None:
    from meshlake.ml.drift import distributions, plot_names, render_plot, write_drift_plots

    rng = np.random.default_rng(3)
    ref = pa.table(
        {
            "x": rng.normal(0, 1, 500),
            "y": rng.normal(0, 1, 500),
            "c": rng.choice(["a", "b"], 500),
        }
    )
    cur = pa.table(
        {
            "x": rng.normal(2, 1, 200),
            "y": rng.normal(0, 1, 200),
            "c": rng.choice(["a", "b", "new"], 200),
        }
    )
    report = drift_report(ref, cur, p_threshold=1e-6)
    assert {c.column for c in report.columns if c.drifted} == {"x", "c"}
    dists = distributions(ref, cur, report)
    assert set(dists) == {"x", "c"}  # only drifted columns are drawn
    x = dists["x"]
    widths = np.diff(x["edges"])
    assert np.isclose(np.sum(np.asarray(x["reference"]) * widths), 1.0)  # densities
    assert dists["c"]["categories"] == ["a", "b", "new"]
    assert dists["c"]["reference"][2] == 0 and np.isclose(sum(dists["c"]["current"]), 1.0)
    doc = {**report.to_dict(), "distributions": dists}
    assert plot_names(doc) == ["psi.png", "x.png", "c.png"]
    names = write_drift_plots(tmp_path, doc)
    assert names == ["psi.png", "x.png", "c.png"]
    assert all((tmp_path / n).read_bytes().startswith(b"\x89PNG") for n in names)
    with pytest.raises(KeyError):
        render_plot(doc, "y.png", tmp_path)
