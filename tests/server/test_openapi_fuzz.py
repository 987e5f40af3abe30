"""Schemathesis against ``/openapi.json``: no generated request makes the server fail (5xx)
or answer an error outside the ``{"error": {"type", "message"}}`` form.

The cases are drawn with hypothesis from each operation's strategy (schemathesis' pytest
plugin does not load under this pytest), a few per operation, as the mesh root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import meshlake
from meshlake.server import create_app

from .world import build_world, token_for

schemathesis = pytest.importorskip("schemathesis")
EXAMPLES = 6


def test_no_generated_request_breaks_the_server(tmp_path: Path) -> None:
    from schemathesis.checks import not_a_server_error

    mesh = meshlake.connect(tmp_path / "home", allowed_roots=[])
    try:
        build_world(mesh)
        auth = {"Authorization": f"Bearer {token_for(mesh, 'root', '1d')}"}
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(mesh))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 50

        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call(headers=auth)
                case.validate_response(response, checks=[not_a_server_error])
                if response.status_code >= 400:
                    error = response.json()["error"]
                    assert isinstance(error["type"], str) and isinstance(error["message"], str)

            check()
    finally:
        mesh.close()
