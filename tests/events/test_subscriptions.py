"""Subscriptions and the inbox: a principal sees only what it may see when it reads."""

from __future__ import annotations

import pytest
from tests.events.conftest import setup_accounts

import meshlake
from meshlake import Database, Table
from meshlake.errors import InvalidInputError, NotFoundError


def test_inbox_follows_access_at_read_time(mesh: meshlake.Mesh) -> None:
    s = setup_accounts(mesh)
    owner, analyst = s["owner"], s["analyst"]
    with pytest.raises(NotFoundError):  # invisible database: no subscription
        analyst.events.subscribe(database="sales", account="central")
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    sub = analyst.events.subscribe(database="sales", account="central")
    assert sub.target == "central/sales" and analyst.events.subscriptions() == [sub]
    owner.catalog.create_table("sales", "orders", {"id": "long"}, [[1]])
    owner.grant("consumer/analyst", Table("sales", "orders"), ["SELECT"])
    inbox = analyst.events.inbox()
    assert [i.event.type for i in inbox] == ["table.created", "grant.created"]
    assert not any(i.read for i in inbox)
    assert analyst.events.mark_read([inbox[0].id]) == 1
    assert [i.event.type for i in analyst.events.inbox(unread_only=True)] == ["grant.created"]
    # revoked: the consumer stops seeing the database's events at once, old ones included
    owner.revoke("consumer/analyst", Database("sales"), ["DESCRIBE"])
    owner.revoke("consumer/analyst", Table("sales", "orders"), ["SELECT"])
    assert analyst.events.inbox() == []
    # the owner's admin subscribed too sees everything about its database
    admin = s["owner"]
    admin.events.subscribe(database="sales")
    owner.catalog.append("sales", "orders", [[2]])
    assert [i.event.type for i in admin.events.inbox()] == ["table.updated"]


def test_type_subscriptions_unsubscribe_and_errors(sqlite_mesh: meshlake.Mesh) -> None:
    s = setup_accounts(sqlite_mesh)
    owner, analyst = s["owner"], s["analyst"]
    sub = analyst.events.subscribe(type="grant.*")
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    owner.tags.create("tier", ["gold"])  # not a grant event; and not visible to the analyst
    owner.grant("consumer/admin", Database("sales"), ["DESCRIBE"])  # visible: DESCRIBE
    assert [i.event.data["grantee"] for i in analyst.events.inbox()] == [
        "consumer/analyst",
        "consumer/admin",
    ]
    analyst.events.unsubscribe(sub.id)
    owner.grant("consumer/analyst", Database("sales"), ["CREATE_TABLE"])
    assert len(analyst.events.inbox()) == 2 and analyst.events.subscriptions() == []
    with pytest.raises(NotFoundError):
        s["consumer"].events.unsubscribe(sub.id)
    with pytest.raises(InvalidInputError):
        analyst.events.subscribe(type="x", database="sales")
    with pytest.raises(InvalidInputError):
        analyst.events.subscribe(type="x", url="ftp://nowhere")
