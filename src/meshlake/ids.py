"""Principal identifiers: ``account/name`` at the edges, :class:`PrincipalId` inside."""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshlake.errors import InvalidInputError

__all__ = ["NAME_PATTERN", "ROOT", "PrincipalId", "check_name", "parse_principal"]

#: Accounts, principals, databases, tables, columns and tag keys share this shape.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$")

#: The name of the mesh's bootstrap root principal.
ROOT = "root"


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid identifier of ``kind``, else raise.

    >>> check_name("database", "credit-card")
    'credit-card'
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid {kind} name {name!r}: use 1-128 letters, digits, '_' or '-', "
            "starting with a letter, digit or '_'"
        )
    return name


@dataclass(frozen=True, order=True)
class PrincipalId:
    """A principal (``account/name``), the bare account (``name`` empty) or the mesh root.

    >>> PrincipalId.parse("producer/steward").account
    'producer'
    >>> PrincipalId.parse("consumer").is_account
    True
    """

    account: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> PrincipalId:
        """Parse ``account/name``, a bare ``account``, or ``root``."""
        if not isinstance(text, str) or not text:
            raise InvalidInputError(f"invalid principal {text!r}: write 'account/name'")
        if text == ROOT:
            return cls(ROOT, ROOT)
        account, sep, name = text.partition("/")
        check_name("account", account)
        if sep:
            check_name("principal", name)
        return cls(account, name)

    @property
    def is_account(self) -> bool:
        """True when this names a whole account (a cross-account grantee)."""
        return self.name == ""

    @property
    def is_root(self) -> bool:
        """True for the mesh's bootstrap root."""
        return self.account == ROOT and self.name == ROOT

    def __str__(self) -> str:
        if self.is_root:
            return ROOT
        return self.account if self.is_account else f"{self.account}/{self.name}"


def parse_principal(text: str | PrincipalId) -> PrincipalId:
    """Accept a string or a :class:`PrincipalId`."""
    return text if isinstance(text, PrincipalId) else PrincipalId.parse(text)
