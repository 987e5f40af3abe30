"""The reference scenario: a producer domain publishes credit data, a consumer uses it.

It follows the AWS "MLOps with a data mesh" write-up with real data (the UCI Statlog German
credit file shipped in ``demo/data``), through the public API only:

1. the mesh root creates the central governance, producer and consumer accounts;
2. central creates the ``credit-card`` database and tag ontology and shares them;
3. the producer links the database, crawls its source system's raw export (German attribute
   names as header) into ``credit_card_raw`` and curates it into ``credit_card`` with the
   German-to-English recipe built from the codebook;
4. the producer publishes the data product under its ODCS contract (quality, bias, tags);
5. the consumer discovers it, requests access, the producer approves, and the consumer's
   analyst queries it through its resource link;
6. the ML CoE runs the default pipeline on the product, a consumer approver approves the
   model, the analyst batch-scores with it, and the lineage is printed (``demo/ml.py``);
7. the loop closes: the producer publishes a month of shifted applications, a trigger finds
   the drift against the model's training data, another retrains and registers version 2
   for approval; a month without a shift changes nothing but the notification
   (``demo/loop.py``).

:func:`run` runs it on an embedded mesh, :func:`run_remote` against a server through the HTTP
SDK (``meshlake demo --url``); the steps are the same code, given each principal's session
by a :class:`~meshlake.demo.sessions.Sessions`.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console
from rich.table import Table as RichTable

import meshlake
from meshlake import Database, TagKey, TagPolicy
from meshlake.demo import CODEBOOK, CONTRACT, STATLOG
from meshlake.demo.sessions import EmbeddedSessions, ServerSessions, Sessions
from meshlake.errors import InvalidInputError
from meshlake.storage.recipes import recipe_from_codebook, recipe_to_yaml

if TYPE_CHECKING:
    from meshlake.mesh import Session

__all__ = ["MARKER", "run", "run_remote"]

MARKER = ".meshlake-demo"
DATABASE = "credit-card"
LINK = "rl_credit-card"
#: The accounts the root creates, with their admin.
ACCOUNTS = {
    "central": "DataMeshOwner",
    "producer": "ProducerSteward",
    "consumer": "ConsumerAdmin",
}
ONTOLOGY = {
    "database": ["credit-card"],
    "domain": ["consumer-banking"],
    "classification": ["public", "internal", "confidential", "restricted"],
    "pii": ["true", "false"],
    "sensitive": ["true", "false"],
}


def _prepare_home(home: Path, option: str) -> None:
    """Start from an empty folder; re-running replaces a previous demo's folder only."""
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise InvalidInputError(
                f"{home} already holds files that the demo did not write: run the demo with "
                f"{option} pointing at a new folder"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("created by `meshlake demo`; re-running the demo replaces it\n")


def write_raw_export(landing: Path) -> Path:
    """The producer's source-system export: the Statlog rows under a German-named header."""
    attributes = yaml.safe_load(CODEBOOK.read_text())["attributes"]
    header = " ".join(a["german"] for a in attributes)
    landing.mkdir(parents=True, exist_ok=True)
    out = landing / "credit_export.txt"
    out.write_text(header + "\n" + STATLOG.read_text())
    return out


def translation_recipe(folder: Path) -> Path:
    """The German-to-English recipe (names, code meanings, label 1 = good / 0 = bad)."""
    attributes = yaml.safe_load(CODEBOOK.read_text())["attributes"]
    recipe = yaml.safe_load(recipe_to_yaml(recipe_from_codebook(CODEBOOK, "statlog")))
    positional = {f"col{i}": a["german"] for i, a in enumerate(attributes)}
    for step in recipe["steps"]:
        if step["action"] == "rename":
            step["mapping"] = {positional[k]: v for k, v in step["mapping"].items()}
    recipe["description"] = (
        "Translate the source system's export (German attribute names, Statlog codes) into "
        "the curated credit_card product. Codebook: UCI (CC BY 4.0)."
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "translate.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    return path


class _Steps:
    """Prints each step as it completes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.n = 0
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def step(self, actor: str, what: str) -> Iterator[Callable[[str], None]]:
        self.n += 1
        notes: list[str] = []
        start = time.perf_counter()
        yield notes.append
        took = time.perf_counter() - start
        self.timings.append((what, took))
        self.console.print(
            f"[bold cyan]{self.n:>2}[/] [green]{actor}[/] {what} [dim]({took:.2f}s)[/]"
        )
        for note in notes:
            self.console.print(f"     [dim]{note}[/]")


def run(
    home: str | Path = ".meshlake", console: Console | None = None, *, ml: bool = True
) -> dict[str, Any]:
    """Run the whole scenario into the embedded mesh at ``home``; returns a summary (also
    printed).

    With ``ml`` (the default) the ML CoE's half follows (:mod:`meshlake.demo.ml`).

    Raises:
        InvalidInputError: ``home`` holds a mesh the demo did not create.
    """
    console = console or Console()
    home = Path(home).resolve()
    _prepare_home(home, "--home")
    started = time.perf_counter()
    explore = (
        f"meshlake --home {home} --as consumer/analyst1 query "
        f"'SELECT * FROM \"{LINK}\".credit_card LIMIT 5'"
    )
    return _run(
        EmbeddedSessions(meshlake.connect(home)),
        home,
        console,
        ml=ml,
        started=started,
        summary={"home": str(home)},
        explore=explore,
    )


def run_remote(
    url: str,
    token: str,
    files: str | Path = ".meshlake-demo",
    console: Console | None = None,
    *,
    ml: bool = True,
) -> dict[str, Any]:
    """Run the whole scenario against the server at ``url`` through the HTTP SDK, with a
    token of the mesh root; returns the same summary as :func:`run`.

    The root creates a short-lived token for every principal the scenario acts as (revoked
    at the end). The demo writes its files into ``files``: the source system's export, which
    the server crawls (so the server must reach ``files`` at the same path and allow it,
    ``MESHLAKE_ALLOWED_ROOTS``: rule 29), the recipe (sent as text, as is the contract) and
    the OpenLineage events.

    Raises:
        InvalidInputError: ``files`` holds files the demo did not write, or the server's
            mesh already has one of the demo's accounts (the demo needs a fresh mesh).
        AccessDeniedError: ``token`` is not the mesh root's.
    """
    console = console or Console()
    folder = Path(files).resolve()
    _prepare_home(folder, "--files")
    started = time.perf_counter()
    sessions = ServerSessions(url, token)
    try:
        _require_fresh(sessions.root(), url)
    except BaseException:
        with contextlib.suppress(Exception):
            sessions.close()
        raise
    explore = (
        f"as root, meshlake --url {url} token create --for consumer/analyst1; with that "
        f"token, meshlake --url {url} query 'SELECT * FROM \"{LINK}\".credit_card LIMIT 5'"
    )
    return _run(
        sessions,
        folder,
        console,
        ml=ml,
        started=started,
        summary={"url": url, "files": str(folder)},
        explore=explore,
    )


def _require_fresh(root: Session, where: str) -> None:
    """Refuse a mesh that already has one of the demo's accounts."""
    taken = sorted({a.name for a in root.accounts.list()} & set(ACCOUNTS))
    if taken:
        raise InvalidInputError(
            f"the mesh at {where} already has the account(s) {', '.join(taken)}: the demo "
            "creates its accounts, so it needs a fresh mesh (a new server home)"
        )


def _run(
    sessions: Sessions,
    folder: Path,
    console: Console,
    *,
    ml: bool,
    started: float,
    summary: dict[str, Any],
    explore: str,
) -> dict[str, Any]:
    """The scenario itself, over ``sessions``; its local files go to ``folder``."""
    console.rule("[bold]meshlake demo: a data mesh for ML on the German credit data")
    steps = _Steps(console)
    try:
        with steps.step("root", "creates the accounts, their admins and principals") as note:
            root = sessions.root()
            for account, admin in ACCOUNTS.items():
                root.accounts.create(account)
                root.principals.create(f"{account}/{admin}")
                root.accounts.set_admins(account, [f"{account}/{admin}"])
            root.principals.create("consumer/analyst1", kind="user")
            note(
                "central/DataMeshOwner, producer/ProducerSteward, consumer/ConsumerAdmin, "
                "consumer/analyst1"
            )

        owner = sessions.session("central/DataMeshOwner")
        with steps.step(
            "central/DataMeshOwner",
            "creates the tag ontology and the "
            f"{DATABASE} database, and shares them with the producer",
        ) as note:
            for key, values in ONTOLOGY.items():
                owner.tags.create(key, values)
            owner.catalog.create_database(DATABASE, description="Consumer credit applications")
            owner.tags.assign(Database(DATABASE), {"database": DATABASE})
            for key, values in ONTOLOGY.items():
                owner.grant(
                    "producer",
                    TagKey(key, values),
                    ["DESCRIBE", "ASSOCIATE"],
                    grantable=["DESCRIBE", "ASSOCIATE"],
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
            note(f"tag keys: {', '.join(ONTOLOGY)}; shared by tag policy database={DATABASE}")

        steward = sessions.session("producer/ProducerSteward")
        landing = folder / "landing" / "credit"
        with steps.step(
            "producer/ProducerSteward",
            "links the shared database and crawls the source system's raw export",
        ) as note:
            steward.catalog.create_resource_link(LINK, account="central", database=DATABASE)
            export = write_raw_export(landing)
            crawl = steward.crawl(str(landing), database=LINK, table="credit_card_raw")
            raw = steward.catalog.get_table(LINK, "credit_card_raw")
            note(
                f"{export.name}: {crawl.rows_added} rows, {len(raw.columns)} columns "
                f"({', '.join(raw.column_names[:4])}, ...), state {crawl.state.value}"
            )
            summary["crawl"] = {"rows": crawl.rows_added, "columns": raw.column_names}

        with steps.step(
            "producer/ProducerSteward", "curates it with the German-to-English recipe"
        ) as note:
            recipe = translation_recipe(folder / "recipes")
            run_ = steward.storage.run_recipe(
                recipe, source=f"{LINK}.credit_card_raw", target=f"{LINK}.credit_card"
            )
            note(
                f"{recipe.name}: {run_.rows_out} rows -> credit_card "
                f"(snapshot {run_.target_snapshot}, recipe sha256 {run_.recipe_sha256[:12]})"
            )

        with steps.step(
            "producer/ProducerSteward",
            "publishes the credit_card data product under its ODCS contract",
        ) as note:
            version = steward.products.publish(CONTRACT, database=LINK)
            q = version.quality
            note(
                f"version {version.version}: {q.row_count} rows, "
                f"{len(q.blocking_failures)} blocking failures"
            )
            if version.bias is not None:
                for cb in version.bias.columns:
                    ratio = "n/a" if cb.ratio is None else f"{cb.ratio:.2f}"
                    note(
                        f"bias {cb.column}: lowest/highest good-credit rate = {ratio} "
                        f"({cb.min_group} vs {cb.max_group})"
                    )
            summary["product"] = version.to_dict()

        consumer_admin = sessions.session("consumer/ConsumerAdmin")
        with steps.step(
            "consumer/ConsumerAdmin",
            "discovers the product and requests access for consumer/analyst1",
        ) as note:
            hits = consumer_admin.products.search("credit risk")
            request = consumer_admin.access.request(
                "credit_card",
                ["SELECT"],
                "credit risk model (ML CoE)",
                for_principal="consumer/analyst1",
            )
            note(f"search 'credit risk': {[h.product_id for h in hits]}; request #{request.id}")

        with steps.step("producer/ProducerSteward", "approves the request") as note:
            steward.access.approve(request.id)
            note(f"granted SELECT to consumer, re-granted to consumer/analyst1, link {LINK}")

        analyst = sessions.session("consumer/analyst1")
        with steps.step("consumer/analyst1", "queries the product in place") as note:
            sample = analyst.query(f'SELECT * FROM "{LINK}".credit_card LIMIT 10')
            balance = analyst.query(
                f'SELECT credit_risk, count(*) AS n FROM "{LINK}".credit_card '
                "GROUP BY credit_risk ORDER BY credit_risk"
            )
            note(
                f"sample: {sample.num_rows} rows x {len(sample.columns)} columns "
                f"(query {sample.query_id})"
            )
            summary["class_balance"] = {int(k): int(n) for k, n in balance.rows()}
            summary["sample_columns"] = list(sample.columns)
        _print_results(console, sample.to_pandas(), summary["class_balance"])
        if ml:
            from meshlake.demo.ml import run_ml

            summary["ml"] = run_ml(sessions, steps, console, folder)
            if "version" in summary["ml"]:
                from meshlake.demo.loop import run_loop

                summary["loop"] = run_loop(sessions, steps, console)
        report = owner.verify_audit()
        summary["audit_events"] = report.events
        summary["audit_verified"] = report.ok
        summary["seconds"] = round(time.perf_counter() - started, 2)
        chain = "verified" if report.ok else "[bold red]NOT verified[/]"
        console.print(
            f"\n[bold green]done[/] in {summary['seconds']}s; audit chain {chain} "
            f"({report.events} events). Explore it: [bold]{explore}[/]"
        )
    except BaseException:
        with contextlib.suppress(Exception):  # the scenario's error is the one to report
            sessions.close()
        raise
    sessions.close()
    return summary


def _print_results(console: Console, sample: Any, balance: dict[int, int]) -> None:
    table = RichTable(title=f'SELECT * FROM "{LINK}".credit_card LIMIT 10 (some columns)')
    cols = [
        c
        for c in ("duration", "amount", "age", "purpose", "housing", "credit_risk")
        if c in sample.columns
    ]
    for c in cols:
        table.add_column(c, no_wrap=True, max_width=24, overflow="ellipsis")
    for _, row in sample.iterrows():
        table.add_row(*(str(row[c]) for c in cols))
    console.print(table)
    bal = RichTable(title="class balance (1 = good, 0 = bad)")
    bal.add_column("credit_risk")
    bal.add_column("applications", justify="right")
    for k, n in sorted(balance.items()):
        bal.add_row(str(k), str(n))
    console.print(bal)
