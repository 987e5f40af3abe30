"""Data contracts: a typed, frozen view over an ODCS v3 contract.

Contracts are parsed with the ``open-data-contract-standard`` pydantic models. Where ODCS has no
field of its own, meshlake reads ``customProperties`` (ARCHITECTURE.md §4):

==========================  ===========================================================
meaning                     where it is read
==========================  ===========================================================
product name                ``name``, else ``dataProduct``, else ``id``
owner / team                ``team.name`` (ODCS 3.1); for the older list-of-members form,
                            the member whose role contains "owner", else the first member
description / purpose       ``description.usage`` (else the first schema object's
                            ``description``) / ``description.purpose``
product classification      contract ``customProperties`` key ``classification``
discoverable                contract ``customProperties`` key ``discoverable`` (default true)
PII column                  property ``customProperties`` key ``pii: true``
sensitive column (bias)     property ``customProperties`` key ``sensitive: true``
label column (bias)         contract ``customProperties`` key ``label: <column>``, or a
                            property with ``customProperties`` key ``label: true``
positive label              ``customProperties`` key ``positiveLabel`` (default 1), on the
                            contract or on the label property
blocking rule               ``quality[].severity: error``
freshness                   SLA property ``latency`` (or ``freshness``) with ``unit``
==========================  ===========================================================

Column names everywhere in this package are **physical** names (``physicalName``, else
``name``): the names of the table's columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pydantic
import yaml
from open_data_contract_standard.model import (
    CustomProperty,
    OpenDataContractStandard,
    SchemaObject,
    SchemaProperty,
    Team,
)

from meshlake.errors import InvalidInputError
from meshlake.products.conformance import (
    SchemaProblem,
    check_contract_against_schema,
    schema_problems,
)
from meshlake.products.model import Contract, ContractColumn, ContractTable
from meshlake.products.rules import QualityRule, implicit_rules, normalise_rule
from meshlake.products.sla import SlaItem, freshness_rules, load_sla_item

__all__ = [
    "LOGICAL_TYPES",
    "Contract",
    "ContractColumn",
    "ContractTable",
    "SchemaProblem",
    "SlaItem",
    "check_contract_against_schema",
    "load_contract",
    "schema_problems",
]

LOGICAL_TYPES = frozenset(
    {"string", "date", "timestamp", "time", "number", "integer", "object", "array", "boolean"}
    | {"map", "vector"}
)
KEY_CLASSIFICATION = "classification"
KEY_DISCOVERABLE = "discoverable"
KEY_PII = "pii"
KEY_SENSITIVE = "sensitive"
KEY_LABEL = "label"
KEY_POSITIVE_LABEL = "positivelabel"
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


def load_contract(source: str | os.PathLike[str]) -> Contract:
    """Parse and check an ODCS v3 contract.

    Args:
        source: the YAML text, or a path to it (a :class:`~pathlib.Path`, or a one-line string
            ending in ``.yaml``, ``.yml`` or ``.json``).

    Returns:
        The contract.

    Raises:
        InvalidInputError: the file is missing, the YAML is malformed (``line``/``column`` in
            the details), the ODCS models reject it (``errors`` lists each location and
            message), or it breaks a meshlake rule (no schema, duplicate column, unknown
            logical type, label column missing, malformed quality rule or SLA, ...).
    """
    text = _read(source)
    try:
        model = OpenDataContractStandard.from_string(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        where = "" if mark is None else f" at line {line}, column {column}"
        raise InvalidInputError(
            f"contract is not valid YAML: {exc.problem or exc.context}{where}",
            line=line,
            column=column,
        ) from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"contract is not valid YAML: {exc}") from exc
    except pydantic.ValidationError as exc:
        errors = [{"location": _loc(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        listed = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        raise InvalidInputError(f"contract is not valid ODCS: {listed}", errors=errors) from exc
    except TypeError as exc:
        raise InvalidInputError("contract must be a YAML mapping (apiVersion, kind, ...)") from exc
    return _build(model)


def _read(source: str | os.PathLike[str]) -> str:
    if isinstance(source, str) and not (
        "\n" not in source and source.strip().lower().endswith((".yaml", ".yml", ".json"))
    ):
        return source
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInputError(f"contract file {str(path)!r} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read contract file {str(path)!r}: {exc}") from exc


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _custom(props: list[CustomProperty] | None) -> dict[str, Any]:
    return {p.property.strip().lower(): p.value for p in props or () if p.property}


def _flag(props: Mapping[str, Any], key: str, location: str, default: bool = False) -> bool:
    value = props.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise InvalidInputError(f"{location}: customProperties {key!r} must be true or false")


def _lower(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip().lower()


def _build(model: OpenDataContractStandard) -> Contract:
    header = {"apiVersion": model.apiVersion, "kind": model.kind, "id": model.id}
    header["version"] = model.version
    problems = [f"{key} is required" for key, value in header.items() if not value]
    if model.apiVersion and not model.apiVersion.lower().startswith("v3"):
        problems.append(f"apiVersion {model.apiVersion!r} is not ODCS v3 (v3.x)")
    if model.kind and model.kind != "DataContract":
        problems.append(f"kind must be DataContract, not {model.kind!r}")
    if not model.schema_:
        problems.append("schema must list at least one table")
    if problems:
        raise InvalidInputError("contract is not valid: " + "; ".join(problems))
    custom = _custom(model.customProperties)
    team, owner, members = _team(model.team)
    tables = tuple(_table(obj, i, custom) for i, obj in enumerate(model.schema_ or ()))
    _unique([t.physical_name for t in tables], "schema", "table")
    label = custom.get(KEY_LABEL)
    if label is not None and not any(t.label_column == label for t in tables):
        raise InvalidInputError(f"customProperties label names no column: {label!r}")
    sla = tuple(
        load_sla_item(item, f"slaProperties[{i}]")
        for i, item in enumerate(model.slaProperties or ())
    )
    names = [t.physical_name for t in tables]
    tables = tuple(
        replace(t, rules=(*t.rules, *freshness_rules(t.physical_name, names, sla))) for t in tables
    )
    description = model.description
    usage = description.usage if description else None
    assert model.id is not None and model.version is not None  # checked above
    return Contract(
        id=model.id,
        name=model.name or model.dataProduct or model.id,
        version=model.version,
        status=_lower(model.status),
        domain=_lower(model.domain),
        data_product=model.dataProduct,
        team=team,
        owner=owner,
        members=members,
        description=usage or tables[0].description,
        purpose=description.purpose if description else None,
        limitations=description.limitations if description else None,
        classification=_lower(custom.get(KEY_CLASSIFICATION)),
        discoverable=_flag(custom, KEY_DISCOVERABLE, "contract", default=True),
        tags=tuple(model.tags or ()),
        tables=tables,
        sla=sla,
        model=model,
    )


def _team(team: Team | list[Any] | None) -> tuple[str | None, str | None, tuple[str, ...]]:
    if team is None:
        return None, None, ()
    members = team.members or [] if isinstance(team, Team) else team
    usernames = tuple(m.username for m in members if m.username)
    if isinstance(team, Team) and team.name:
        return team.name, team.name, usernames
    owners = [m.username for m in members if m.username and "owner" in (m.role or "").lower()]
    owner = owners[0] if owners else (usernames[0] if usernames else None)
    return None, owner, usernames


def _unique(names: list[str], location: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInputError(f"{location}: {what} {name!r} appears twice")
        seen.add(name)


def _table(obj: SchemaObject, index: int, contract_custom: Mapping[str, Any]) -> ContractTable:
    where = f"schema[{index}]"
    if not obj.name and not obj.physicalName:
        raise InvalidInputError(f"{where}: a table needs a name")
    physical = obj.physicalName or obj.name
    assert physical is not None
    if not obj.properties:
        raise InvalidInputError(f"{where}: table {physical!r} lists no properties (columns)")
    columns = tuple(_column(p, f"{where}.properties[{i}]") for i, p in enumerate(obj.properties))
    _unique([c.physical_name for c in columns], where, "column")
    label, positive = _label(obj, columns, contract_custom, where)
    rules: list[QualityRule] = []
    for i, q in enumerate(obj.quality or ()):
        location = f"{where}.quality[{i}]"
        rules.append(normalise_rule(q, table=physical, column=None, location=location))
    for i, (prop, col) in enumerate(zip(obj.properties, columns, strict=True)):
        for j, q in enumerate(prop.quality or ()):
            location = f"{where}.properties[{i}].quality[{j}]"
            rules.append(
                normalise_rule(
                    q,
                    table=physical,
                    column=col.physical_name,
                    location=location,
                    enum_values=col.enum_values,
                )
            )
        rules.extend(
            implicit_rules(physical, col.physical_name, required=col.required, unique=col.unique)
        )
    names = {c.physical_name for c in columns}
    for rule in rules:
        unknown = [c for c in rule.columns if c not in names]
        if unknown:
            raise InvalidInputError(f"{where}: quality rule {rule.name!r} names unknown {unknown}")
    return ContractTable(
        name=obj.name or physical,
        physical_name=physical,
        description=obj.description,
        columns=columns,
        rules=tuple(rules),
        label_column=label,
        positive_label=positive,
    )


def _column(prop: SchemaProperty, where: str) -> ContractColumn:
    if not prop.name and not prop.physicalName:
        raise InvalidInputError(f"{where}: a property needs a name")
    physical = prop.physicalName or prop.name
    assert physical is not None
    logical = _lower(prop.logicalType)
    if logical is not None and logical not in LOGICAL_TYPES:
        known = ", ".join(sorted(LOGICAL_TYPES))
        raise InvalidInputError(f"{where}: logicalType {prop.logicalType!r} is not one of {known}")
    custom = _custom(prop.customProperties)
    enum = tuple(e.value for e in prop.enum) if prop.enum else None
    return ContractColumn(
        name=prop.name or physical,
        physical_name=physical,
        logical_type=logical,
        physical_type=prop.physicalType,
        description=prop.description,
        required=bool(prop.required),
        unique=bool(prop.unique),
        primary_key=bool(prop.primaryKey),
        classification=_lower(prop.classification),
        pii=_flag(custom, KEY_PII, where),
        sensitive=_flag(custom, KEY_SENSITIVE, where),
        enum_values=enum,
    )


def _label(
    obj: SchemaObject,
    columns: tuple[ContractColumn, ...],
    contract_custom: Mapping[str, Any],
    where: str,
) -> tuple[str | None, Any]:
    flagged: list[tuple[str, Mapping[str, Any]]] = []
    for i, (prop, col) in enumerate(zip(obj.properties or (), columns, strict=True)):
        custom = _custom(prop.customProperties)
        if _flag(custom, KEY_LABEL, f"{where}.properties[{i}]"):
            flagged.append((col.physical_name, custom))
    named = contract_custom.get(KEY_LABEL)
    names = {c.physical_name for c in columns}
    if len(flagged) > 1:
        raise InvalidInputError(f"{where}: several properties are marked label: true")
    if flagged and named is not None and flagged[0][0] != named:
        raise InvalidInputError(
            f"{where}: customProperties label {named!r} and label: true on "
            f"{flagged[0][0]!r} disagree"
        )
    label_custom: Mapping[str, Any] = {}
    if flagged:
        column, label_custom = flagged[0]
    elif named is not None and str(named) in names:
        column = str(named)
    else:
        return None, None
    if next(c for c in columns if c.physical_name == column).sensitive:
        raise InvalidInputError(f"{where}: label column {column!r} cannot also be sensitive")
    positive = label_custom.get(KEY_POSITIVE_LABEL, contract_custom.get(KEY_POSITIVE_LABEL, 1))
    return column, positive
