"""Tag text rules (rule 11): what a tag key or value may be."""

from __future__ import annotations

from meshlake.errors import InvalidInputError

__all__ = ["FORBIDDEN_CHARACTERS", "MAX_LEN", "MAX_TAGS", "check_tag_text", "clean_tag_text"]

MAX_TAGS = 50
MAX_LEN = 50


FORBIDDEN_CHARACTERS = "=,;\n\t"
"""Characters no tag key or value may hold (they separate tags in their text forms)."""


def check_tag_text(kind: str, value: str, raw: object = None) -> str:
    """``value`` (already lower-cased) if it is a valid tag key or value.

    Raises:
        InvalidInputError: empty, longer than 50 characters, or holding ``= , ;`` or tabs.
    """
    shown = value if raw is None else raw
    if not value or len(value) > MAX_LEN:
        raise InvalidInputError(f"tag {kind} {shown!r} must be 1-{MAX_LEN} characters")
    if any(c in value for c in FORBIDDEN_CHARACTERS):
        raise InvalidInputError(f"tag {kind} {shown!r} must not contain '=', ',', ';' or tabs")
    return value


def clean_tag_text(kind: str, text: str) -> str:
    """Strip, lower-case and check a tag key or value a caller gave.

    >>> clean_tag_text("key", " Domain ")
    'domain'
    """
    return check_tag_text(kind, str(text).strip().lower(), text)
