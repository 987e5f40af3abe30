"""Service-level agreements of a contract (ODCS ``slaProperties``) and freshness.

ODCS names freshness ``latency`` (value + unit, e.g. ``4`` ``d``); meshlake also accepts the
property name ``freshness``. Each such item becomes a non-blocking ``freshness`` quality rule
(the age of the table's last change must not exceed it), on the table its ``element`` names
(``table.column``) or, when it names none of the contract's tables, on every table.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from open_data_contract_standard.model import ServiceLevelAgreementProperty

from meshlake.errors import InvalidInputError
from meshlake.products.rules import FRESHNESS, QualityRule, Threshold

__all__ = ["FRESHNESS_SLA_PROPERTIES", "SlaItem", "freshness_rules", "load_sla_item"]

FRESHNESS_SLA_PROPERTIES = ("latency", "freshness")
_UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * 86400),
}


@dataclass(frozen=True)
class SlaItem:
    """One ODCS ``slaProperties`` entry."""

    property: str
    value: Any
    unit: str | None = None
    element: str | None = None
    driver: str | None = None
    description: str | None = None

    @builtins.property
    def is_freshness(self) -> bool:
        """Whether the item is a freshness promise (``latency`` or ``freshness``)."""
        return self.property.strip().lower() in FRESHNESS_SLA_PROPERTIES

    def duration(self) -> timedelta | None:
        """The value as a duration when it is a number with a time unit, else None.

        >>> SlaItem("latency", 2, "d").duration()
        datetime.timedelta(days=2)
        >>> SlaItem("retention", "forever", "y").duration() is None
        True
        """
        seconds = _UNIT_SECONDS.get((self.unit or "").strip().lower())
        if seconds is None or isinstance(self.value, bool):
            return None
        try:
            amount = float(self.value)
        except (TypeError, ValueError):
            return None
        return timedelta(seconds=amount * seconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "property": self.property,
            "value": self.value,
            "unit": self.unit,
            "element": self.element,
            "driver": self.driver,
            "description": self.description,
        }


def load_sla_item(item: ServiceLevelAgreementProperty, location: str) -> SlaItem:
    """Check one ODCS SLA entry and return it as an :class:`SlaItem`.

    Args:
        item: the parsed ODCS entry.
        location: where it sits in the contract, e.g. ``"slaProperties[0]"``.

    Returns:
        The SLA item.

    Raises:
        InvalidInputError: no ``property``, or a freshness item that is not a number with a
            time unit (s, m, h, d, w, y).
    """
    if not item.property:
        raise InvalidInputError(f"{location}: property is required", location=location)
    sla = SlaItem(
        property=item.property,
        value=item.value,
        unit=item.unit,
        element=item.element,
        driver=item.driver,
        description=item.description,
    )
    if sla.is_freshness and sla.duration() is None:
        raise InvalidInputError(
            f"{location}: {item.property} needs a number value and a time unit "
            f"(s, m, h, d, w, y), got value {item.value!r} unit {item.unit!r}",
            location=location,
        )
    return sla


def freshness_rules(
    table: str, all_tables: Sequence[str], sla: Sequence[SlaItem]
) -> list[QualityRule]:
    """The freshness rules the SLA puts on one table.

    Args:
        table: physical name of the table.
        all_tables: physical names of every table of the contract.
        sla: the contract's SLA items.

    Returns:
        One ``freshness`` rule (threshold in seconds, severity ``warning``) per freshness item
        that applies to ``table``.
    """
    rules = []
    for item in sla:
        duration = item.duration()
        if not item.is_freshness or duration is None:
            continue
        target = (item.element or "").split(".")[0]
        if target != table and target in all_tables:
            continue  # the item names another table of the contract
        rules.append(
            QualityRule(
                name=f"{table} {FRESHNESS}",
                kind=FRESHNESS,
                scope="table",
                table=table,
                threshold=Threshold("mustBeLessOrEqualTo", duration.total_seconds()),
                unit="seconds",
                description=f"SLA {item.property}: {item.value} {item.unit}",
            )
        )
    return rules
