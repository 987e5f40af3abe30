"""Benchmark: the default ML pipeline in meshlake against the same steps in plain Python.

meshlake: ``session.ml.pipelines.run(credit_pipeline(), cache=False)`` as the ML CoE's role:
governed query (audited) -> one-hot featurization fitted on the training rows -> stratified
seeded 70/15/15 split -> three governed Iceberg tables -> training job (three governed reads,
XGBoost with early stopping on validation, metrics, ROC and importance PNGs, an MLflow run with
its artifacts) -> evaluation job (governed read of the test table) -> condition -> registered
version (MLflow registry + governed store row + audit).

Baseline (ARCHITECTURE.md §10: the least work that produces the same result without meshlake):
pandas reads the product snapshot's Parquet files, the same stratified split and one-hot
encoding, three Parquet files written, XGBoost with the same parameters and early stopping,
the same metrics with scikit-learn, the same two PNGs, the model saved as JSON. Runs alternate
after one warm-up each (MLflow's store is created in the warm-up); medians, p99 and the ratio
go to ``bench/README.md`` under ``## ml``.

    python bench/ml.py               # 5 runs of each
    python bench/ml.py --runs 3 --no-readme
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np
import pandas as pd
from rich.console import Console

import meshlake
from meshlake.demo.ml import SCIENTIST, credit_pipeline, grant_ml_roles
from meshlake.demo.scenario import run as run_demo
from meshlake.ml.estimators import DEFAULT_XGBOOST
from meshlake.ml.split import stratified_split

sys.path.insert(0, str(Path(__file__).parent))
from _readme import write_section

SECTION = "## ml"
TARGET_RATIO = 1.2


def baseline(files: list[str], out: Path) -> float:
    """The pipeline's steps in pandas + scikit-learn + xgboost; returns the test AUC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xgboost as xgb
    from sklearn import metrics as skm

    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    y = df.pop("credit_risk").to_numpy()
    parts = stratified_split(y.astype(str), (0.7, 0.15, 0.15), 7)
    cat = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    train_dummies = pd.get_dummies(df.iloc[parts[0]], columns=cat, dtype=float)
    frames = []
    for name, idx in zip(("train", "validation", "test"), parts, strict=True):
        x = pd.get_dummies(df.iloc[idx], columns=cat, dtype=float)
        x = x.reindex(columns=train_dummies.columns, fill_value=0.0)
        x["credit_risk"] = y[idx]
        x.to_parquet(out / f"{name}.parquet")
        frames.append(x)
    params = {k: v for k, v in DEFAULT_XGBOOST.items() if k not in ("num_round",)}
    stop = params.pop("early_stopping_rounds")
    params.update(seed=7, nthread=1, tree_method="hist", verbosity=0)
    read = [pd.read_parquet(out / f"{n}.parquet") for n in ("train", "validation", "test")]
    xs = [f.drop(columns="credit_risk").to_numpy(float) for f in read]
    ys = [f["credit_risk"].to_numpy() for f in read]
    booster = xgb.train(
        params,
        xgb.DMatrix(xs[0], ys[0]),
        DEFAULT_XGBOOST["num_round"],
        evals=[(xgb.DMatrix(xs[1], ys[1]), "validation")],
        early_stopping_rounds=stop,
        verbose_eval=False,
    )
    end = booster.best_iteration + 1
    scores = {}
    for name, x, yy in zip(("validation", "test"), xs[1:], ys[1:], strict=True):
        p = booster.predict(xgb.DMatrix(x), iteration_range=(0, end))
        pred = (p > 5 / 6).astype(int)
        scores[name] = {
            "roc_auc": skm.roc_auc_score(yy, p),
            "pr_auc": skm.average_precision_score(yy, p),
            "f1": skm.f1_score(yy, pred),
            "log_loss": skm.log_loss(yy, p),
            "confusion": skm.confusion_matrix(yy, pred).tolist(),
            "roc": skm.roc_curve(yy, p),
        }
    fig, ax = plt.subplots()
    for name, s in scores.items():
        ax.plot(s["roc"][0], s["roc"][1], label=name)
    fig.savefig(out / "roc.png", dpi=80)
    plt.close(fig)
    imp = booster.get_score(importance_type="total_gain")
    fig, ax = plt.subplots()
    top = sorted(imp.items(), key=lambda kv: -kv[1])[:15]
    ax.barh([k for k, _ in top], [v for _, v in top])
    fig.savefig(out / "feature_importance.png", dpi=80)
    plt.close(fig)
    booster.save_model(str(out / "model.json"))
    (out / "metrics.json").write_text(
        json.dumps({k: {m: v for m, v in s.items() if m != "roc"} for k, s in scores.items()})
    )
    return float(scores["test"]["roc_auc"])


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(np.ceil(0.99 * len(ordered))) - 1)]


def measure(runs: int) -> dict[str, Any]:
    """Alternate meshlake and baseline runs after one warm-up each."""
    with tempfile.TemporaryDirectory(prefix="meshlake-mlb-") as tmp:
        home = Path(tmp) / "home"
        run_demo(home, console=Console(file=io.StringIO()), ml=False)
        mesh = meshlake.connect(home)
        grant_ml_roles(mesh)
        sci = mesh.session(SCIENTIST)
        st = mesh.runtime.engine.state()
        db_id = st.db_by_name[("central", "credit-card")]
        table = st.tables[st.table_by_name[(db_id, "credit_card")]]
        files = [
            f.file.file_path for f in mesh.runtime.tables.load(table.iceberg_id).scan().plan_files()
        ]
        files = [f[7:] if f.startswith("file://") else f for f in files]
        mesh_times: list[float] = []
        base_times: list[float] = []
        steps: dict[str, list[float]] = {}
        aucs: dict[str, float] = {}
        for i in range(runs + 1):
            t0 = time.perf_counter()
            execution = sci.ml.pipelines.run(credit_pipeline(), cache=False)
            took = time.perf_counter() - t0
            out = Path(tmp) / f"base{i}"
            out.mkdir()
            t1 = time.perf_counter()
            aucs["baseline"] = baseline(files, out)
            base_took = time.perf_counter() - t1
            if i == 0:
                continue  # warm-up: imports, MLflow's store
            mesh_times.append(took)
            base_times.append(base_took)
            for s in execution.steps:
                steps.setdefault(s.name, []).append(s.seconds)
            aucs["meshlake"] = execution.step("evaluate").outcome["test"]["roc_auc"]  # type: ignore[index]
        mesh.close()
    m, b = statistics.median(mesh_times), statistics.median(base_times)
    return {
        "runs": runs,
        "meshlake_median_s": round(m, 3),
        "meshlake_p99_s": round(p99(mesh_times), 3),
        "baseline_median_s": round(b, 3),
        "baseline_p99_s": round(p99(base_times), 3),
        "ratio": round(m / b, 2),
        "steps_median_s": {k: round(statistics.median(v), 3) for k, v in steps.items()},
        "test_auc": {k: round(v, 4) for k, v in aucs.items()},
    }


def render(r: dict[str, Any], command: str) -> str:
    """The README section."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps_median_s"].items())
    return "\n".join(
        [
            SECTION,
            "",
            "The default pipeline (process -> train XGBoost -> evaluate -> condition -> "
            "register) on the demo's credit product as `consumer/SageMakerExecutionRole`, "
            "without step caching, against the same steps in plain pandas + scikit-learn + "
            "xgboost on the same snapshot's Parquet files (same split, encoding, parameters, "
            "metrics, PNGs; model and metrics written to files). "
            f"{r['runs']} alternating runs each after one warm-up.",
            "",
            "| | median (s) | p99 (s) | test AUC |",
            "| --- | ---: | ---: | ---: |",
            f"| baseline (pandas + scikit-learn + xgboost) | {r['baseline_median_s']:.2f} | "
            f"{r['baseline_p99_s']:.2f} | {r['test_auc']['baseline']:.4f} |",
            f"| meshlake pipeline | {r['meshlake_median_s']:.2f} | {r['meshlake_p99_s']:.2f} | "
            f"{r['test_auc']['meshlake']:.4f} |",
            "",
            f"Ratio meshlake / baseline: **{r['ratio']:.2f}x** (goal: within {TARGET_RATIO}x). "
            f"meshlake by step (medians, s): {steps}.",
            "",
            f"Command: `{command}`  ",
            f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}; 1-minute load average {load:.1f}; run "
            f"{datetime.now(UTC).date().isoformat()}.",
            "",
        ]
    )


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-readme", action="store_true", help="do not edit bench/README.md")
    args = parser.parse_args()
    result = measure(args.runs)
    command = f"python bench/ml.py --runs {args.runs}"
    if not args.no_readme:
        write_section(SECTION, render(result, command))
    print(json.dumps(result) if args.json else render(result, command))


if __name__ == "__main__":
    main()
