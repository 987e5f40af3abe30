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

import pyarrow as pa
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

import meshlake

ARROW_STREAM = "application/vnd.apache.arrow.stream"


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
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, result.schema) as writer:
            writer.write_table(result.to_arrow())
        return Response(
            sink.getvalue().to_pybytes(),
            media_type=ARROW_STREAM,
            headers={"X-Meshlake-Query-Id": result.query_id or ""},
        )

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
