"""Quality metrics of a product version: profile the table and evaluate the contract's rules.

Everything runs on pyarrow compute kernels over the Arrow table (a few million rows take well
under a second). Metric definitions:

- **completeness** of a column = non-null values / rows; **uniqueness** = distinct non-null
  values / non-null values (None when undefined, e.g. an empty table).
- ``nullValues`` = null count; ``missingValues`` = values in the rule's missing list (null and
  ``""`` by default); ``invalidValues`` = non-null values outside ``validValues`` or not fully
  matching ``pattern`` (RE2 syntax, whole value); ``duplicateValues`` = non-null values minus
  distinct non-null values (for a column combination: rows minus distinct combinations);
  ``unit: percent`` divides by the row count (0..100).
- **freshness** = age of ``last_modified`` at ``now``, against the SLA's ``latency``.
- ``sql`` rules are run through the caller's ``run_sql(sql) -> scalar`` (the governed query
  layer); without one they are ``skipped``.

A rule ends ``passed``, ``failed``, ``skipped`` (``text``/``custom`` rules, or ``sql`` without a
runner) or ``error`` (it could not be evaluated: missing column, failing SQL, ...). A blocking
rule (``severity: error``) that fails or errors refuses the publish; a skipped one does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from meshlake.errors import InvalidInputError, MeshError
from meshlake.products.model import Contract
from meshlake.products.rules import (
    DUPLICATE_VALUES,
    FRESHNESS,
    INVALID_VALUES,
    MISSING_VALUES,
    NULL_VALUES,
    ROW_COUNT,
    SQL,
    UNIT_PERCENT,
    QualityRule,
)

__all__ = ["ColumnQuality", "Freshness", "QualityReport", "RuleResult", "compute_quality"]

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


@dataclass(frozen=True)
class ColumnQuality:
    """Profile of one table column."""

    name: str
    type: str
    non_null: int
    nulls: int
    completeness: float | None
    distinct: int | None
    uniqueness: float | None


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one quality rule.

    ``observed`` is the measured value (a count, a percentage, seconds of age, or the SQL
    scalar); ``threshold`` is the rule's ``{"operator", "value"}``.
    """

    name: str
    kind: str
    scope: str
    column: str | None
    severity: str
    blocking: bool
    status: str
    observed: Any = None
    threshold: dict[str, Any] | None = None
    unit: str = "rows"
    message: str = ""

    @property
    def refuses_publish(self) -> bool:
        """Blocking, and failed or could not be evaluated."""
        return self.blocking and self.status in (FAILED, ERROR)


@dataclass(frozen=True)
class Freshness:
    """Age of the table's last change against the SLA (``ok`` None when there is no SLA)."""

    last_modified: datetime | None
    age_seconds: float | None
    max_age_seconds: float | None
    ok: bool | None


@dataclass(frozen=True)
class QualityReport:
    """Quality metrics of one table of a product version."""

    table: str
    row_count: int
    computed_at: datetime
    columns: tuple[ColumnQuality, ...]
    rules: tuple[RuleResult, ...]
    freshness: Freshness

    @property
    def blocking_failures(self) -> tuple[RuleResult, ...]:
        """Rules that refuse the publish."""
        return tuple(r for r in self.rules if r.refuses_publish)

    @property
    def ok(self) -> bool:
        """No blocking rule failed."""
        return not self.blocking_failures

    def column(self, name: str) -> ColumnQuality:
        """The profile of one column.

        Raises:
            InvalidInputError: the table has no such column.
        """
        for col in self.columns:
            if col.name == name:
                return col
        raise InvalidInputError(f"quality report of {self.table!r} has no column {name!r}")

    def raise_for_blocking(self) -> None:
        """Refuse a publish whose blocking rules failed.

        Raises:
            InvalidInputError: one or more blocking rules failed or errored; the message lists
                each with its observed value and threshold, ``details["failures"]`` holds them.
        """
        failures = self.blocking_failures
        if failures:
            listed = "; ".join(f"{r.name}: {r.message}" for r in failures)
            raise InvalidInputError(
                f"publish refused, blocking quality rules failed on {self.table!r}: {listed}",
                failures=[_result_dict(r) for r in failures],
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (datetimes as ISO 8601 strings)."""
        fresh = self.freshness
        return {
            "table": self.table,
            "row_count": self.row_count,
            "computed_at": self.computed_at.isoformat(),
            "ok": self.ok,
            "columns": [col.__dict__.copy() for col in self.columns],
            "rules": [_result_dict(r) for r in self.rules],
            "freshness": {
                "last_modified": _iso(fresh.last_modified),
                "age_seconds": fresh.age_seconds,
                "max_age_seconds": fresh.max_age_seconds,
                "ok": fresh.ok,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """Rebuild a report from :meth:`to_dict` output (as stored with a product version)."""
        fresh = data["freshness"]
        last = fresh["last_modified"]
        return cls(
            table=data["table"],
            row_count=data["row_count"],
            computed_at=datetime.fromisoformat(data["computed_at"]),
            columns=tuple(ColumnQuality(**c) for c in data["columns"]),
            rules=tuple(
                RuleResult(**{k: v for k, v in r.items() if k != "refuses_publish"})
                for r in data["rules"]
            ),
            freshness=Freshness(
                last_modified=None if last is None else datetime.fromisoformat(last),
                age_seconds=fresh["age_seconds"],
                max_age_seconds=fresh["max_age_seconds"],
                ok=fresh["ok"],
            ),
        )


def compute_quality(
    table: pa.Table,
    contract: Contract,
    *,
    now: datetime,
    last_modified: datetime | None,
    table_name: str | None = None,
    run_sql: Callable[[str], Any] | None = None,
    sql_table_ref: str | None = None,
) -> QualityReport:
    """Profile ``table`` and evaluate the contract table's quality rules on it.

    Args:
        table: the product version's data (all rows; read through the governed query layer).
        contract: the loaded contract.
        now: the time of the check (timezone-aware, like ``last_modified``).
        last_modified: when the table last changed (the snapshot's commit time), None if unknown.
        table_name: which contract table (physical name); None for the only one.
        run_sql: runs one ``sql`` rule's query and returns its scalar; None skips sql rules.
        sql_table_ref: what ``${table}`` becomes in sql rules (default: the physical name).

    Returns:
        The report; call :meth:`QualityReport.raise_for_blocking` to refuse a failing publish.

    Raises:
        InvalidInputError: ``table_name`` names no contract table, or ``now`` and
            ``last_modified`` mix naive and aware datetimes.
    """
    ctable = contract.table_named(table_name)
    rows = table.num_rows
    columns = tuple(_profile(name, table.column(name)) for name in table.column_names)
    age: float | None = None
    if last_modified is not None:
        try:
            age = (now - last_modified).total_seconds()
        except TypeError as exc:
            raise InvalidInputError("now and last_modified must both be timezone-aware") from exc
    max_ages = [r.threshold.value for r in ctable.rules if r.kind == FRESHNESS and r.threshold]
    max_age = float(min(max_ages)) if max_ages else None
    fresh_ok = None if max_age is None or age is None else age <= max_age
    ref = sql_table_ref or ctable.physical_name
    results = tuple(_evaluate(rule, table, age, run_sql, ref) for rule in ctable.rules)
    return QualityReport(
        table=ctable.physical_name,
        row_count=rows,
        computed_at=now,
        columns=columns,
        rules=results,
        freshness=Freshness(last_modified, age, max_age, fresh_ok),
    )


def _profile(name: str, col: pa.ChunkedArray) -> ColumnQuality:
    rows = len(col)
    nulls = col.null_count
    non_null = rows - nulls
    distinct: int | None
    try:
        distinct = 0 if pa.types.is_null(col.type) else pc.count_distinct(col).as_py()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        distinct = None  # e.g. nested types
    return ColumnQuality(
        name=name,
        type=str(col.type),
        non_null=non_null,
        nulls=nulls,
        completeness=non_null / rows if rows else None,
        distinct=distinct,
        uniqueness=distinct / non_null if distinct is not None and non_null else None,
    )


def _evaluate(
    rule: QualityRule,
    table: pa.Table,
    age: float | None,
    run_sql: Callable[[str], Any] | None,
    table_ref: str,
) -> RuleResult:
    def result(status: str, observed: Any = None, message: str = "") -> RuleResult:
        return RuleResult(
            name=rule.name,
            kind=rule.kind,
            scope=rule.scope,
            column=rule.column,
            severity=rule.severity,
            blocking=rule.blocking,
            status=status,
            observed=observed,
            threshold=None if rule.threshold is None else rule.threshold.to_dict(),
            unit=rule.unit,
            message=message,
        )

    if not rule.evaluable or rule.threshold is None:
        return result(SKIPPED, message=f"{rule.kind} rules are not evaluated")
    if rule.kind == SQL and run_sql is None:
        return result(SKIPPED, message="no SQL runner was given")
    if rule.kind == FRESHNESS and age is None:
        return result(SKIPPED, message="the table's last change time is unknown")
    missing = [c for c in (rule.column, *rule.columns) if c and c not in table.column_names]
    if missing:
        return result(ERROR, message=f"the table has no column {missing[0]!r}")
    try:
        observed = _measure(rule, table, age, run_sql, table_ref)
    except MeshError as exc:
        return result(ERROR, message=exc.message)
    except (pa.ArrowException, ValueError, TypeError, ArithmeticError) as exc:
        return result(ERROR, message=f"cannot evaluate: {exc}")
    except Exception as exc:  # a failing run_sql callback: reported, never raised
        return result(ERROR, message=f"cannot evaluate: {type(exc).__name__}: {exc}")
    passed = rule.threshold.check(observed)
    unit = "" if rule.unit == "rows" else f" {rule.unit}"
    verdict = "" if passed else ", expected " + rule.threshold.describe()
    return result(PASSED if passed else FAILED, observed, f"observed {observed}{unit}{verdict}")


def _measure(
    rule: QualityRule,
    table: pa.Table,
    age: float | None,
    run_sql: Callable[[str], Any] | None,
    table_ref: str,
) -> Any:
    rows = table.num_rows
    if rule.kind == ROW_COUNT:
        return rows
    if rule.kind == FRESHNESS:
        return age
    if rule.kind == SQL:
        assert run_sql is not None
        return _jsonable(run_sql(rule.render_sql(table_ref)))
    if rule.columns:
        count = rows - table.group_by(list(rule.columns)).aggregate([]).num_rows
    else:
        assert rule.column is not None
        count = _column_count(rule, _plain(table.column(rule.column)))
    if rule.unit == UNIT_PERCENT:
        return 100.0 * count / rows if rows else 0.0
    return count


def _column_count(rule: QualityRule, col: pa.ChunkedArray) -> int:
    if rule.kind == NULL_VALUES:
        return col.null_count
    if rule.kind == DUPLICATE_VALUES:
        distinct = pc.count_distinct(col).as_py()  # mode only_valid: nulls are not values
        return int(len(col) - col.null_count - distinct)
    if rule.kind == MISSING_VALUES:
        values = rule.missing_values or ()
        count = col.null_count if None in values else 0
        value_set = _value_set([v for v in values if v is not None], col.type)
        if len(value_set):
            count += pc.sum(pc.is_in(col, value_set=value_set)).as_py() or 0
        return count
    if rule.kind == INVALID_VALUES:
        ok: Any = None
        if rule.valid_values is not None:
            ok = pc.is_in(col, value_set=_value_set(rule.valid_values, col.type))
        if rule.pattern is not None:
            is_text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
            text = col if is_text else pc.cast(col, pa.string())
            matches = pc.match_substring_regex(text, f"^(?:{rule.pattern})$")
            ok = matches if ok is None else pc.and_(ok, matches)
        assert ok is not None
        invalid = pc.and_kleene(pc.is_valid(col), pc.invert(ok))  # nulls are never invalid
        return pc.sum(invalid).as_py() or 0
    raise InvalidInputError(f"unknown quality metric {rule.kind!r}")


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(col.type):
        return pc.cast(col, col.type.value_type)
    return col


def _value_set(values: Sequence[Any], data_type: pa.DataType) -> pa.Array:
    """The values that can exist in a column of ``data_type`` (others can never match)."""
    kept = []
    for value in values:
        try:
            kept.append(pa.scalar(value).cast(data_type).as_py())
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            continue
    return pa.array(kept, type=data_type)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _result_dict(result: RuleResult) -> dict[str, Any]:
    return {**result.__dict__, "refuses_publish": result.refuses_publish}
