"""Data-quality rules of a contract, normalised from ODCS ``quality`` entries.

ODCS v3 describes a check as a ``metric`` (``rowCount``, ``nullValues``, ``missingValues``,
``invalidValues``, ``duplicateValues``), a ``type: sql`` query, or free ``text`` / ``custom``
checks, each with one comparison operator (``mustBe``, ``mustBeGreaterThan``,
``mustBeBetween``, ...), an optional ``unit`` (``rows`` or ``percent``) and a ``severity``.
meshlake turns each entry into a :class:`QualityRule`:

- ``severity: error`` makes a rule **blocking**: failing it refuses the publish.
  A missing severity means ``warning``.
- A rule without an operator gets the obvious one: ``rowCount`` must be greater than 0, every
  other library metric must be 0 (no nulls, no invalid values, ...). A ``sql`` rule must name
  its operator.
- ``text`` and ``custom`` rules are kept for display and never evaluated.
- Percentages are of the table's row count, in 0..100.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from open_data_contract_standard.model import DataQuality

from meshlake.errors import InvalidInputError

__all__ = [
    "BLOCKING_SEVERITY",
    "COLUMN_METRICS",
    "DUPLICATE_VALUES",
    "FRESHNESS",
    "INVALID_VALUES",
    "MISSING_VALUES",
    "NULL_VALUES",
    "OPERATORS",
    "ROW_COUNT",
    "SQL",
    "QualityRule",
    "Threshold",
    "implicit_rules",
    "normalise_rule",
]

ROW_COUNT = "rowCount"
NULL_VALUES = "nullValues"
MISSING_VALUES = "missingValues"
INVALID_VALUES = "invalidValues"
DUPLICATE_VALUES = "duplicateValues"
FRESHNESS = "freshness"
SQL = "sql"
TEXT = "text"
CUSTOM = "custom"

LIBRARY_METRICS = (ROW_COUNT, NULL_VALUES, MISSING_VALUES, INVALID_VALUES, DUPLICATE_VALUES)
COLUMN_METRICS = frozenset({NULL_VALUES, MISSING_VALUES, INVALID_VALUES, DUPLICATE_VALUES})
BLOCKING_SEVERITY = "error"
DEFAULT_SEVERITY = "warning"
UNIT_ROWS = "rows"
UNIT_PERCENT = "percent"
_UNITS = {"rows": UNIT_ROWS, "row": UNIT_ROWS, "percent": UNIT_PERCENT, "%": UNIT_PERCENT}
_DEFAULT_MISSING: tuple[Any, ...] = (None, "")

OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
_SYMBOLS = {
    "mustBe": "=",
    "mustNotBe": "!=",
    "mustBeGreaterThan": ">",
    "mustBeGreaterOrEqualTo": ">=",
    "mustBeLessThan": "<",
    "mustBeLessOrEqualTo": "<=",
}
_PLACEHOLDER = re.compile(r"\$\{(table|object|column|property)\}")


@dataclass(frozen=True)
class Threshold:
    """One ODCS comparison: ``operator`` (an ODCS operator name) and its ``value``.

    ``mustBeBetween`` / ``mustNotBeBetween`` take a ``(low, high)`` pair, both ends inclusive.
    """

    operator: str
    value: Any

    def check(self, observed: Any) -> bool:
        """Whether ``observed`` satisfies the comparison.

        Args:
            observed: the measured value (a number for every metric; anything for ``mustBe``).

        Returns:
            True when the rule passes. ``None`` observed values never pass.

        >>> Threshold("mustBeBetween", (0, 1)).check(1)
        True
        >>> Threshold("mustBeGreaterThan", 0).check(0)
        False
        """
        if observed is None:
            return False
        op, value = self.operator, self.value
        if op == "mustBe":
            return bool(observed == value)
        if op == "mustNotBe":
            return bool(observed != value)
        try:
            if op == "mustBeGreaterThan":
                return bool(observed > value)
            if op == "mustBeGreaterOrEqualTo":
                return bool(observed >= value)
            if op == "mustBeLessThan":
                return bool(observed < value)
            if op == "mustBeLessOrEqualTo":
                return bool(observed <= value)
            low, high = value
            inside = bool(low <= observed <= high)
        except TypeError:
            return False
        return inside if op == "mustBeBetween" else not inside

    def describe(self) -> str:
        """A short human form, e.g. ``"> 0"`` or ``"between 0 and 1"``.

        >>> Threshold("mustNotBeBetween", (2, 5)).describe()
        'not between 2 and 5'
        """
        if self.operator in _SYMBOLS:
            return f"{_SYMBOLS[self.operator]} {self.value}"
        low, high = self.value
        prefix = "" if self.operator == "mustBeBetween" else "not "
        return f"{prefix}between {low} and {high}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"operator": ..., "value": ...}`` (pairs as lists)."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"operator": self.operator, "value": value}


@dataclass(frozen=True)
class QualityRule:
    """A normalised quality rule of one contract table.

    Attributes:
        name: the rule's ``name`` or ``id``, else ``"<column or table> <kind>"``.
        kind: a library metric (``rowCount``, ``nullValues``, ...), ``freshness`` (from the
            SLA), ``sql``, ``text`` or ``custom``.
        scope: ``"table"`` or ``"column"``.
        table: the contract table (its physical name).
        column: the column of a column-scoped rule (physical name), else None.
        columns: the column combination of a table-level ``duplicateValues`` rule.
        threshold: the comparison, None for ``text`` / ``custom`` rules.
        unit: ``"rows"`` (counts) or ``"percent"`` (0..100 of the row count); ``"seconds"``
            for freshness.
        severity: lower-case ODCS severity; ``"error"`` blocks a publish.
        valid_values / pattern: what ``invalidValues`` accepts (either or both).
        missing_values: the values ``missingValues`` counts (None stands for null).
        query: the SQL of a ``sql`` rule, with ``${table}`` / ``${column}`` placeholders.
        implicit: derived from a property's ``required`` / ``unique`` flag, not written as a rule.
    """

    name: str
    kind: str
    scope: str
    table: str
    column: str | None = None
    columns: tuple[str, ...] = ()
    threshold: Threshold | None = None
    unit: str = UNIT_ROWS
    severity: str = DEFAULT_SEVERITY
    valid_values: tuple[Any, ...] | None = None
    pattern: str | None = None
    missing_values: tuple[Any, ...] | None = None
    query: str | None = None
    description: str | None = None
    implicit: bool = False

    @property
    def blocking(self) -> bool:
        """Whether failing the rule refuses a publish (``severity: error``)."""
        return self.severity == BLOCKING_SEVERITY

    @property
    def evaluable(self) -> bool:
        """Whether meshlake can evaluate the rule (``text`` and ``custom`` cannot)."""
        return self.kind not in (TEXT, CUSTOM)

    def render_sql(self, table_ref: str) -> str:
        """The rule's query with ``${table}``/``${object}`` and ``${column}``/``${property}``
        replaced.

        Args:
            table_ref: how the governed query layer names the table (e.g. ``"db.t"``).

        Returns:
            The SQL text to run.

        Raises:
            InvalidInputError: the rule is not a ``sql`` rule, or it uses ``${column}``
                without being column-scoped.

        >>> r = QualityRule("r", "sql", "table", "t", threshold=Threshold("mustBe", 0),
        ...                 query="SELECT count(*) FROM ${table} WHERE amount < 0")
        >>> r.render_sql("db.t")
        'SELECT count(*) FROM db.t WHERE amount < 0'
        """
        if self.query is None:
            raise InvalidInputError(f"quality rule {self.name!r} has no SQL query")

        def replace(match: re.Match[str]) -> str:
            if match.group(1) in ("table", "object"):
                return table_ref
            if self.column is None:
                raise InvalidInputError(
                    f"quality rule {self.name!r} uses {match.group(0)} but is not on a column"
                )
            return self.column

        return _PLACEHOLDER.sub(replace, self.query)

    def to_dict(self) -> dict[str, Any]:
        """JSON form of the rule."""
        return {
            "name": self.name,
            "kind": self.kind,
            "scope": self.scope,
            "table": self.table,
            "column": self.column,
            "columns": list(self.columns),
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "unit": self.unit,
            "severity": self.severity,
            "blocking": self.blocking,
            "valid_values": None if self.valid_values is None else list(self.valid_values),
            "pattern": self.pattern,
            "missing_values": None if self.missing_values is None else list(self.missing_values),
            "query": self.query,
            "description": self.description,
            "implicit": self.implicit,
        }


def normalise_rule(
    quality: DataQuality,
    *,
    table: str,
    column: str | None,
    location: str,
    enum_values: Sequence[Any] | None = None,
) -> QualityRule:
    """Turn one ODCS ``quality`` entry into a :class:`QualityRule`.

    Args:
        quality: the parsed ODCS entry.
        table: physical name of the table it belongs to.
        column: physical name of the column for a property-level entry, else None.
        location: where the entry sits in the contract (for error messages), e.g.
            ``"schema[0].properties[2].quality[0]"``.
        enum_values: the property's ``enum`` values, used by an ``invalidValues`` rule that
            names no ``validValues`` or ``pattern``.

    Returns:
        The normalised rule.

    Raises:
        InvalidInputError: unknown metric or type, several operators, a ``sql`` rule without
            query or operator, an ``invalidValues`` rule with nothing to check against, a
            table-level column metric without ``arguments.properties``, or an unknown unit.
    """

    def fail(problem: str) -> InvalidInputError:
        return InvalidInputError(f"{location}: {problem}", location=location)

    kind = _kind(quality, fail)
    args: Mapping[str, Any] = quality.arguments or {}
    columns: tuple[str, ...] = ()
    if kind in COLUMN_METRICS and column is None:
        props = args.get("properties")
        if kind != DUPLICATE_VALUES or not props:
            raise fail(
                f"metric {kind} on a table needs arguments.properties (or put it on a column)"
            )
        columns = tuple(str(p) for p in (props if isinstance(props, list) else [props]))
    if kind == SQL and not quality.query:
        raise fail("a sql rule needs a query")
    threshold = _threshold(quality, kind, fail)
    valid_values, pattern, missing = _arguments(kind, args, enum_values, fail)
    unit = _UNITS.get((quality.unit or UNIT_ROWS).strip().lower())
    if unit is None:
        raise fail(f"unit {quality.unit!r} is not one of rows, percent")
    scope = "column" if column is not None and kind != ROW_COUNT else "table"
    default_name = f"{column or table} {kind}"
    return QualityRule(
        name=quality.name or quality.id or default_name,
        kind=kind,
        scope=scope,
        table=table,
        column=column if scope == "column" else None,
        columns=columns,
        threshold=threshold,
        unit=unit,
        severity=(quality.severity or DEFAULT_SEVERITY).strip().lower(),
        valid_values=valid_values,
        pattern=pattern,
        missing_values=missing,
        query=quality.query,
        description=quality.description,
    )


def implicit_rules(table: str, column: str, *, required: bool, unique: bool) -> list[QualityRule]:
    """The rules a property's ``required`` / ``unique`` flags imply (severity ``warning``).

    Args:
        table: physical table name.
        column: physical column name.
        required: the property may hold no nulls.
        unique: no value of the property repeats.

    Returns:
        A ``nullValues`` rule when required, a ``duplicateValues`` rule when unique, each with
        ``mustBe 0``.
    """
    flags = ((required, NULL_VALUES, "required"), (unique, DUPLICATE_VALUES, "unique"))
    return [
        QualityRule(
            name=f"{column} {word}",
            kind=kind,
            scope="column",
            table=table,
            column=column,
            threshold=Threshold("mustBe", 0),
            description=f"the property is {word}",
            implicit=True,
        )
        for flag, kind, word in flags
        if flag
    ]


def _kind(quality: DataQuality, fail: Any) -> str:
    qtype = (quality.type or "").strip().lower()
    metric = quality.metric or quality.rule
    if qtype == SQL or (not qtype and not metric and quality.query):
        return SQL
    if qtype in (TEXT, CUSTOM):
        return qtype
    if qtype not in ("", "library"):
        raise fail(f"quality type {quality.type!r} is not one of library, sql, text, custom")
    if not metric:
        if not qtype and quality.description:
            return TEXT
        raise fail(f"a library rule needs a metric: one of {', '.join(LIBRARY_METRICS)}")
    if metric not in LIBRARY_METRICS:
        raise fail(f"metric {metric!r} is not one of {', '.join(LIBRARY_METRICS)}")
    return metric


def _threshold(quality: DataQuality, kind: str, fail: Any) -> Threshold | None:
    given = [(op, getattr(quality, op)) for op in OPERATORS if getattr(quality, op) is not None]
    if len(given) > 1:
        raise fail(f"give one operator, not {', '.join(op for op, _ in given)}")
    if given:
        op, value = given[0]
        if op in ("mustBeBetween", "mustNotBeBetween"):
            low, high = value
            if low > high:
                raise fail(f"{op} needs the smaller number first, got {value}")
            value = (low, high)
        return Threshold(op, value)
    if kind in (TEXT, CUSTOM):
        return None
    if kind == SQL:
        raise fail("a sql rule needs an operator such as mustBe or mustBeLessThan")
    if kind == ROW_COUNT:
        return Threshold("mustBeGreaterThan", 0)
    return Threshold("mustBe", 0)


def _arguments(
    kind: str, args: Mapping[str, Any], enum_values: Sequence[Any] | None, fail: Any
) -> tuple[tuple[Any, ...] | None, str | None, tuple[Any, ...] | None]:
    valid: tuple[Any, ...] | None = None
    pattern: str | None = None
    missing: tuple[Any, ...] | None = None
    if kind == INVALID_VALUES:
        raw_valid = args.get("validValues")
        if raw_valid is not None:
            if not isinstance(raw_valid, list):
                raise fail("arguments.validValues must be a list")
            valid = tuple(raw_valid)
        elif enum_values:
            valid = tuple(enum_values)
        raw_pattern = args.get("pattern")
        if raw_pattern is not None:
            pattern = str(raw_pattern)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise fail(f"arguments.pattern is not a regular expression: {exc}") from exc
        if valid is None and pattern is None:
            raise fail("invalidValues needs arguments.validValues or arguments.pattern")
    if kind == MISSING_VALUES:
        raw_missing = args.get("missingValues")
        if raw_missing is None:
            missing = _DEFAULT_MISSING
        elif isinstance(raw_missing, list):
            missing = tuple(raw_missing)
        else:
            raise fail("arguments.missingValues must be a list")
    return valid, pattern, missing
