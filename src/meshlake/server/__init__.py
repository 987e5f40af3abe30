"""``meshlake serve``: the REST API (FastAPI) over one mesh, behind bearer tokens."""

from __future__ import annotations

from meshlake.server.app import create_app, serve

__all__ = ["create_app", "serve"]
