"""Command groups of the ``meshlake`` CLI, one module per group.

Each module defines a ``typer.Typer`` per group (``account_app`` ...) or a ``register(app)``
function for top-level commands; :mod:`meshlake.cli` assembles them.
"""
