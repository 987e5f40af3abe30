"""The NATS JetStream relay, against the real server on 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from typing import Any

import pytest
from tests.events.conftest import setup_accounts

import meshlake
from meshlake.events.transport import NatsTransport, Relay

NATS = "nats://127.0.0.1:4222"


def _nats_up() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 4222)) == 0


async def _read(stream: str, n: int) -> list[tuple[str, dict[str, Any], str]]:
    import nats

    nc = await nats.connect(NATS)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("meshlake.events.>", stream=stream)
        msgs = await sub.fetch(n, timeout=5)
        out = []
        for m in msgs:
            await m.ack()
            out.append((m.subject, json.loads(m.data), m.headers.get("Nats-Msg-Id")))
        info = await js.stream_info(stream)
        out.append(("count", {"messages": info.state.messages}, ""))
        await js.delete_stream(stream)
        return out
    finally:
        await nc.close()


@pytest.mark.skipif(not _nats_up(), reason="NATS JetStream is not running on 127.0.0.1:4222")
def test_relay_to_jetstream_in_order_without_duplicates(sqlite_mesh: meshlake.Mesh) -> None:
    s = setup_accounts(sqlite_mesh)
    s["owner"].tags.create("tier", ["gold"])
    stream = f"MESHLAKE_TEST_{uuid.uuid4().hex[:8].upper()}"
    relay = Relay(sqlite_mesh.runtime.store, NatsTransport(NATS, stream=stream), name=stream)
    try:
        assert relay.drain() == 2  # database.created, tag.created
        s["owner"].tags.update("tier", add=["silver"])
        assert relay.drain() == 1 and relay.drain() == 0
        # a relay whose cursor was lost re-sends: JetStream drops the copies by id
        lost = Relay(sqlite_mesh.runtime.store, relay.transport, name=stream + "-lost")
        assert lost.drain() == 3
        got = asyncio.run(_read(stream, 3))
    finally:
        relay.transport.close()
    *msgs, (_, count, _) = got
    assert count["messages"] == 3
    assert [subject for subject, _, _ in msgs] == [
        "meshlake.events.database.created",
        "meshlake.events.tag.created",
        "meshlake.events.tag.updated",
    ]
    assert all(doc["id"] == msg_id and doc["specversion"] == "1.0" for _, doc, msg_id in msgs)
