"""Events over HTTP: subscriptions, the inbox, webhook deliveries and dead letters, and the
account's triggers (the embedded ``session.events`` names and values)."""

from __future__ import annotations

import builtins
import time
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote

from meshlake.client.http import HttpTransport
from meshlake.events.cloud import EventRecord
from meshlake.service.events import InboxItem, Subscription
from meshlake.service.triggers import DriftReportView, Trigger

__all__ = ["RemoteEvents", "RemoteTriggers"]

#: The longest pause between two questions of :meth:`RemoteTriggers.settle`.
SETTLE_POLL_MAX_S = 0.5


def _q(name: str) -> str:
    return quote(name, safe="")


def subscription(d: dict[str, Any]) -> Subscription:
    """A subscription from its JSON form (``secret`` only in subscribe's answer)."""
    return Subscription(
        d["id"],
        d["principal"],
        d["kind"],
        d["target"],
        tuple(d.get("types", ())),
        d.get("url"),
        d.get("secret"),
        datetime.fromisoformat(d["created_at"]),
    )


def inbox_item(d: dict[str, Any]) -> InboxItem:
    """An inbox item from its JSON form (the CloudEvent and the read flag)."""
    e = d["event"]
    record = EventRecord(
        int(e["meshlakeposition"]),
        e["id"],
        e["type"],
        e["source"],
        int(e["sequence"]),
        e["subject"],
        datetime.fromisoformat(str(e["time"]).replace("Z", "+00:00")),
        e["meshlakeprincipal"],
        dict(e.get("data") or {}),
    )
    return InboxItem(record, bool(d["read"]))


def trigger(d: dict[str, Any]) -> Trigger:
    """A trigger from its JSON form."""
    fields = {k: d[k] for k in Trigger.__dataclass_fields__ if k in d}
    fields["created_at"] = datetime.fromisoformat(d["created_at"])
    return Trigger(**fields)


class RemoteTriggers:
    """``session.events.triggers`` over HTTP (pipelines as dicts or YAML text, no scripts;
    no ``run``: the server's process or its workers run the triggers)."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    def create(
        self,
        name: str,
        *,
        on: str,
        do: str,
        where: str | dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        run_as: str | None = None,
    ) -> Trigger:
        """Create a trigger of the caller's account (its admins): ``where`` a condition's
        text or field equalities, run as ``run_as`` (a principal of the account; default the
        caller)."""
        body = {
            "name": name,
            "on": on,
            "do": do,
            "where": where,
            "params": params,
            "run_as": run_as,
        }
        return trigger(self.http.json("POST", "/v1/events/triggers", json=body))

    def list(self) -> builtins.list[Trigger]:
        """The account's active triggers."""
        return [trigger(d) for d in self.http.json("GET", "/v1/events/triggers")["items"]]

    def delete(self, name: str) -> None:
        """Deactivate a trigger (admins)."""
        self.http.call("DELETE", f"/v1/events/triggers/{_q(name)}")

    def runs(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Runs of the account's triggers, oldest first."""
        body = self.http.json("GET", "/v1/events/triggers/runs", params={"name": name})
        return list(body["items"])

    def settle(self, timeout_s: float = 120.0, *, poll_s: float = 0.05) -> bool:
        """Wait until the server's trigger runners have handled every event and no run is
        running or waiting for a retry (asked every ``poll_s`` seconds, then less often, up
        to every half second); whether that happened within ``timeout_s``."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        delay = max(0.01, poll_s)
        while not self.http.json("GET", "/v1/events/triggers/settled")["settled"]:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, SETTLE_POLL_MAX_S)
        return True

    def drift_reports(self) -> builtins.list[DriftReportView]:
        """The drift reports computed as the caller (newest first)."""
        body = self.http.json("GET", "/v1/events/drift-reports")
        return [DriftReportView.from_dict(d) for d in body["items"]]

    def drift_report(self, report_id: int) -> DriftReportView:
        """One drift report of the caller (the root: any)."""
        d = self.http.json("GET", f"/v1/events/drift-reports/{int(report_id)}")
        return DriftReportView.from_dict(d)

    def drift_plot(self, report_id: int, name: str) -> bytes:
        """A PNG of a drift report (``psi.png``, or ``<column>.png`` of a drifted column)."""
        path = f"/v1/events/drift-reports/{int(report_id)}/plots/{_q(name)}"
        return self.http.call("GET", path, accept="image/png").content


class RemoteEvents:
    """``session.events`` over HTTP."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    def subscribe(
        self,
        *,
        product: str | None = None,
        database: str | None = None,
        model_group: str | None = None,
        type: str | None = None,
        account: str | None = None,
        types: builtins.list[str] | None = None,
        url: str | None = None,
        secret: str | None = None,
    ) -> Subscription:
        """Subscribe (inbox, or a webhook with ``url``; its secret is returned only here).

        Raises:
            InvalidInputError: not exactly one target, or a webhook URL the server's policy
                refuses (not http/https, credentials, or an address that is not public
                unless its operator allowed it).
            NotFoundError: the target is missing or invisible.
        """
        body = {
            "product": product,
            "database": database,
            "model_group": model_group,
            "type": type,
            "account": account,
            "types": types,
            "url": url,
            "secret": secret,
        }
        return subscription(self.http.json("POST", "/v1/events/subscriptions", json=body))

    def unsubscribe(self, subscription_id: int) -> None:
        """End one of the caller's subscriptions."""
        self.http.call("DELETE", f"/v1/events/subscriptions/{int(subscription_id)}")

    def subscriptions(self) -> builtins.list[Subscription]:
        """The caller's active subscriptions."""
        body = self.http.json("GET", "/v1/events/subscriptions")
        return [subscription(d) for d in body["items"]]

    def inbox(self, *, unread_only: bool = False, limit: int = 100) -> builtins.list[InboxItem]:
        """Events of the caller's inbox, oldest first."""
        params = {"unread_only": unread_only, "limit": limit}
        body = self.http.json("GET", "/v1/events/inbox", params=params)
        return [inbox_item(d) for d in body["items"]]

    def mark_read(self, ids: builtins.list[str]) -> int:
        """Mark inbox events read; returns how many entries changed."""
        if not ids:
            return 0
        body = self.http.json("POST", "/v1/events/inbox/read", json={"ids": list(ids)})
        return int(body["changed"])

    def deliveries(
        self, *, state: str | None = None, subscription_id: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The caller's webhook deliveries."""
        params = {"state": state, "subscription_id": subscription_id}
        return list(self.http.json("GET", "/v1/events/deliveries", params=params)["items"])

    def dead_letters(self) -> builtins.list[dict[str, Any]]:
        """The caller's dead letters."""
        return list(self.http.json("GET", "/v1/events/dead-letters")["items"])

    def replay(self, ids: builtins.list[int] | None = None) -> int:
        """Queue dead letters again; returns how many."""
        body = self.http.json("POST", "/v1/events/dead-letters/replay", json={"ids": ids})
        return int(body["queued"])

    @cached_property
    def triggers(self) -> RemoteTriggers:
        """Triggers of the caller's account."""
        return RemoteTriggers(self.http)
