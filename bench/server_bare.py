"""The HTTP stack alone, for ``bench/server.py``: a bare FastAPI app on uvicorn whose one
route runs the same embedded governed query as ``meshlake serve`` would, without its token
check, session per request, routers or error handling, and answers the result as one Arrow
IPC body. What ``meshlake serve`` adds on top of this app is meshlake's own cost per call.

    python bench/server_bare.py HOME PORT PRINCIPAL
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

import meshlake
from meshlake.server.routes.query import ARROW_STREAM, QUERY_ID_HEADER, arrow_body


class QueryBody(BaseModel):
    sql: str


def main() -> None:
    home, port, principal = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    session = meshlake.connect(home).session(principal)
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.post("/v1/query")
    def query(body: QueryBody) -> Response:
        result = session.query(body.sql)
        return Response(
            arrow_body(result.to_arrow()),
            media_type=ARROW_STREAM,
            headers={QUERY_ID_HEADER: result.query_id or ""},
        )

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
