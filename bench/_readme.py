"""Replace one benchmark's ``## <name>`` section of ``bench/README.md``, leaving the rest alone.

Each benchmark script renders its own section (heading line first) and calls
:func:`write_section`; sections of other benchmarks are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["README", "write_section"]

README = Path(__file__).with_name("README.md")
INTRO = "# meshlake benchmarks\n"


def write_section(heading: str, section: str, path: Path = README) -> None:
    """Replace (or append) the section that starts with the line ``heading``.

    Args:
        heading: the section's heading line, e.g. ``"## crawl"``.
        section: the new section text, starting with ``heading``.
        path: the README to edit (created with a title if missing).
    """
    text = path.read_text() if path.exists() else INTRO
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        text = "".join(lines[:start]) + section + ("\n" if end < len(lines) else "")
        text += "".join(lines[end:])
    path.write_text(text)
