"""What the browser journeys run against: a prepared credit home, a real ``meshlake serve``
process on it, and Debian's Chromium driven by Playwright (never ``playwright install``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import meshlake
from meshlake import Database, TagKey, TagPolicy
from meshlake.demo import CONTRACT
from meshlake.demo.scenario import DATABASE, LINK, ONTOLOGY, translation_recipe, write_raw_export

from ..serving import serve_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots of every journey step (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
PRINCIPALS = (
    "central/DataMeshOwner",
    "producer/ProducerSteward",
    "consumer/ConsumerAdmin",
    "consumer/analyst1",
)


def need_chromium() -> None:
    """Skip without Debian's Chromium or Playwright, except under ``CI=true`` (then fail)."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {missing}")
    pytest.skip(missing)


def prepare_credit_home(home: Path) -> dict[str, str]:
    """The demo's first four steps (accounts, ontology, crawl, recipe, publish) and a token
    per journey principal; nothing requested yet."""
    mesh = meshlake.connect(home)
    try:
        root = mesh.bootstrap()
        for account, admin in [
            ("central", "DataMeshOwner"),
            ("producer", "ProducerSteward"),
            ("consumer", "ConsumerAdmin"),
        ]:
            root.accounts.create(account)
            root.principals.create(f"{account}/{admin}")
            root.accounts.set_admins(account, [f"{account}/{admin}"])
        root.principals.create("consumer/analyst1", kind="user")
        owner = mesh.session("central/DataMeshOwner")
        for key, values in ONTOLOGY.items():
            owner.tags.create(key, values)
        owner.catalog.create_database(DATABASE, description="Consumer credit applications")
        owner.tags.assign(Database(DATABASE), {"database": DATABASE})
        for key, values in ONTOLOGY.items():
            owner.grant(
                "producer",
                TagKey(key, values),
                ["DESCRIBE", "ASSOCIATE"],
                ["DESCRIBE", "ASSOCIATE"],
            )
        owner.grant(
            "producer",
            TagPolicy("DATABASE", {"database": [DATABASE]}),
            ["CREATE_TABLE", "DESCRIBE"],
            grantable=["CREATE_TABLE", "DESCRIBE"],
        )
        owner.grant(
            "producer", TagPolicy("TABLE", {"database": [DATABASE]}), ["ALL"], grantable=["ALL"]
        )
        steward = mesh.session("producer/ProducerSteward")
        steward.catalog.create_resource_link(LINK, account="central", database=DATABASE)
        landing = home.parent / "landing"
        write_raw_export(landing)
        steward.crawl(str(landing), database=LINK, table="credit_card_raw")
        recipe = translation_recipe(home.parent / "recipes")
        steward.storage.run_recipe(
            recipe, source=f"{LINK}.credit_card_raw", target=f"{LINK}.credit_card"
        )
        steward.products.publish(CONTRACT, database=LINK)
        return {p: root.tokens.create(p, "1h").token for p in PRINCIPALS}
    finally:
        mesh.close()


@contextmanager
def serving(home: Path) -> Iterator[str]:
    """``meshlake serve`` on ``home`` as a real process; yields its base URL."""
    with serve_process(home, env={"MESHLAKE_ALLOWED_ROOTS": ""}) as (url, _):
        yield url
