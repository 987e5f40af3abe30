"""Browser journeys in Debian's Chromium against a real ``meshlake serve``: a consumer admin
finds the credit product and requests access for an analyst without a PII column, the
producer approves, the analyst queries in the SQL editor (the column stays absent), and the
central admin finds it all in the audit log with the chain intact. Every step leaves a
screenshot in ``test-artifacts/console/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import journeys
from .journeys import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    need_chromium,
    prepare_credit_home,
    serving,
)

HIDDEN = "personal_status_sex"
SQL = 'SELECT * FROM "rl_credit-card".credit_card ORDER BY amount DESC LIMIT 10'


pytestmark = pytest.mark.xdist_group("console-journeys")  # one fixture per module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A served credit home (product published, nothing requested) and journey tokens."""
    need_chromium()
    home = tmp_path_factory.mktemp("journey") / "home"
    tokens = prepare_credit_home(home)
    with serving(home) as url:
        yield url, tokens


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def test_browser_tests_skip_without_chromium_except_on_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(journeys, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        need_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run"):
        need_chromium()


class Journey:
    """One principal's browser tab; ``shot`` keeps a numbered screenshot of each step."""

    def __init__(self, chromium: Any, url: str, name: str) -> None:
        self.url = url
        self.context = chromium.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.step = 0

    def _console(self, msg: Any) -> None:
        # an error page's own status is logged too ("Failed to load resource"): keep the rest
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.errors.append(msg.text)

    def shot(self, what: str) -> Path:
        self.step += 1
        path = self.folder / f"{self.step:02d}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, token: str, principal: str) -> None:
        self.page.goto(f"{self.url}/console")
        assert self.page.url.endswith("/console/login")
        self.shot("sign-in")
        self.page.fill("input[name=token]", token)
        self.page.click("main form button")
        assert self.page.inner_text("#who") == principal
        cookie = next(c for c in self.context.cookies() if c["name"] == "meshlake_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert self.page.evaluate("document.cookie") == ""  # scripts cannot read the token

    def close(self) -> None:
        assert self.errors == [], self.errors  # no CSP violation, no script error
        self.context.close()


def test_request_approve_query_audit(server: tuple[str, dict[str, str]], chromium: Any) -> None:
    url, tokens = server
    # the consumer admin finds the product and requests access for the analyst
    admin = Journey(chromium, url, "1-consumer-admin")
    admin.sign_in(tokens["consumer/ConsumerAdmin"], "consumer/ConsumerAdmin")
    page = admin.page
    page.click("header >> text=Products")
    page.fill("input[name=q]", "credit risk")
    page.click("button:has-text('Search')")
    assert page.locator("#products >> text=credit_card").count() == 1
    admin.shot("search")
    page.click("#products >> text=credit_card")
    assert page.locator("svg.chart").count() == 4
    assert page.locator("#consumers").count() == 0
    admin.shot("product")
    page.click("#request-access")
    page.fill("input[name=for_principal]", "consumer/analyst1")
    page.uncheck("input[name=all_columns]")
    for box in page.locator("input[name=columns]").all():
        if box.get_attribute("value") != HIDDEN:
            box.check()
    page.fill("input[name=reason]", "credit risk model (ML CoE)")
    admin.shot("request-form")
    page.click("#request-form button")
    assert page.inner_text("#state") == "PENDING"
    request_id = re.search(r"/console/access/(\d+)$", page.url)
    assert request_id
    assert page.locator("#approve").count() == 0
    admin.shot("request-sent")
    admin.close()

    # the producer approves it
    steward = Journey(chromium, url, "2-producer")
    steward.sign_in(tokens["producer/ProducerSteward"], "producer/ProducerSteward")
    page = steward.page
    page.click("header >> text=Access")
    assert page.locator("#pending tr").count() == 2  # header and the one request
    steward.shot("pending")
    page.click(f"#pending >> text=#{request_id[1]}")
    page.click("#approve")
    assert page.inner_text("#state") == "APPROVED"
    steward.shot("approved")
    steward.close()

    # the analyst queries the product; the column left out stays absent
    analyst = Journey(chromium, url, "3-analyst")
    analyst.sign_in(tokens["consumer/analyst1"], "consumer/analyst1")
    page = analyst.page
    page.click("header >> text=SQL")
    page.fill("textarea[name=sql]", SQL)
    page.press("textarea[name=sql]", "Control+Enter")  # the console's own script submits
    page.wait_for_selector("#result")
    headers = page.locator("#result th").all_inner_texts()
    assert "amount" in headers and "credit_risk" in headers and HIDDEN not in headers
    assert page.locator("#result tr").count() == 11
    assert "10 row(s)" in page.inner_text("#summary")
    analyst.shot("query-result")
    page.fill("textarea[name=sql]", f'SELECT {HIDDEN} FROM "rl_credit-card".credit_card')
    page.click("#run")
    assert "not_found" in page.inner_text("[role=alert]")
    assert page.locator("#result").count() == 0
    analyst.shot("hidden-column")
    page.goto(f"{url}/console/databases/rl_credit-card/tables/credit_card?account=consumer")
    columns = page.locator("#columns td:first-child").all_inner_texts()
    assert "amount" in columns and HIDDEN not in columns
    analyst.shot("columns")
    analyst.close()

    # the central admin sees the grants and the reads in the audit log, chain intact
    central = Journey(chromium, url, "4-central-admin")
    central.sign_in(tokens["central/DataMeshOwner"], "central/DataMeshOwner")
    page = central.page
    page.click("header >> text=Audit")
    assert page.inner_text("#chain").startswith("Hash chain intact")
    rows = page.locator("#events tr").all_inner_texts()
    assert any("producer/ProducerSteward" in r and "grant" in r for r in rows)
    assert any("consumer/ConsumerAdmin" in r and "consumer/analyst1" in r for r in rows)
    assert "file://" not in page.content() and "journey" not in page.content()  # no paths
    central.shot("audit")
    page.fill("input[name=principal]", "consumer/analyst1")
    page.select_option("select[name=category]", "read")
    page.click("#audit-filters button")
    reads = page.locator("#events tr").all_inner_texts()[1:]
    assert len(reads) == 1 and "credit_card" in reads[0] and HIDDEN not in reads[0]
    central.shot("audit-analyst-reads")
    twin = page.request.get(page.url + "&format=json").json()  # the page's JSON twin
    (read,) = twin["events"]
    assert "amount" in read["data"]["columns"] and HIDDEN not in read["data"]["columns"]
    assert read["data"]["query_id"] in page.content()
    central.close()

    # the consumer admin asks why the analyst may read the product, and sees the grants
    admin = Journey(chromium, url, "5-consumer-admin-explains")
    admin.sign_in(tokens["consumer/ConsumerAdmin"], "consumer/ConsumerAdmin")
    page = admin.page
    page.click("header >> text=Permissions")
    grants = page.locator("#grants tr").all_inner_texts()
    (granted,) = [g for g in grants if g.startswith("consumer/analyst1") and "credit_card (" in g]
    assert "amount" in granted and HIDDEN not in granted  # the columns the request named
    admin.shot("permissions")
    page.click("text=Why can a principal do something?")
    page.fill("#explain-form input[name=principal]", "consumer/analyst1")
    page.select_option("#explain-form select[name=action]", "SELECT")
    page.select_option("#explain-form select[name=kind]", "table")
    page.fill("#explain-form input[name=database]", "rl_credit-card")
    page.fill("#explain-form input[name=table]", "credit_card")
    page.click("#explain-form button")
    assert "consumer/analyst1 may SELECT" in page.inner_text("#verdict")
    assert page.locator("#path li").count() >= 1
    admin.shot("explain")
    admin.close()

    # the producer revokes (the console's script asks first): the analyst's access ends
    steward = Journey(chromium, url, "6-producer-revokes")
    steward.sign_in(tokens["producer/ProducerSteward"], "producer/ProducerSteward")
    page = steward.page
    page.goto(f"{url}/console/access/{request_id[1]}")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#revoke")
    assert asked == ["Revoke this access now?"]
    assert page.inner_text("#state") == "REVOKED"
    steward.shot("revoked")
    steward.close()
    analyst = Journey(chromium, url, "7-analyst-after-revoke")
    analyst.sign_in(tokens["consumer/analyst1"], "consumer/analyst1")
    page = analyst.page
    page.click("header >> text=SQL")
    page.locator("#history a[data-sql]").filter(has_text="ORDER BY amount").click()
    assert page.input_value("textarea[name=sql]") == SQL  # put back by the console's script
    page.click("#run")
    assert "not_found" in page.inner_text("[role=alert]")
    analyst.shot("access-ended")
    analyst.close()


def test_tag_ontology_assignment_and_inbox(
    server: tuple[str, dict[str, str]], chromium: Any
) -> None:
    url, tokens = server
    # the producer's steward follows tag events in its inbox
    steward = Journey(chromium, url, "8-producer-follows-tags")
    steward.sign_in(tokens["producer/ProducerSteward"], "producer/ProducerSteward")
    page = steward.page
    page.click("header >> text=Inbox")
    page.fill("#subscribe input[name=type]", "tag.*")
    page.click("#subscribe button")
    assert "tag.*" in page.inner_text("#subscriptions")
    steward.shot("follows-tags")

    # the central admin creates a tag key, is told why a second one is refused, adds a
    # value, and tags the database
    central = Journey(chromium, url, "9-central-admin-tags")
    central.sign_in(tokens["central/DataMeshOwner"], "central/DataMeshOwner")
    page = central.page
    page.click("header >> text=Tags")
    page.fill("#new-tag input[name=key]", "tier")
    page.fill("#new-tag input[name=values]", "gold, silver")
    page.click("#new-tag button")
    row = page.locator("#tags tr", has_text="tier")
    assert row.inner_text().split()[:4] == ["central", "tier", "gold", "silver"]
    central.shot("tag-created")
    page.fill("#new-tag input[name=key]", "tier")
    page.fill("#new-tag input[name=values]", "x")
    page.click("#new-tag button")
    assert "conflict: tag key tier already exists" in page.inner_text("[role=alert]")
    central.shot("tag-refused")
    row = page.locator("#tags tr", has_text="tier")
    row.locator("input[name=add]").fill("bronze")
    row.locator("button:has-text('Change values')").click()
    assert "bronze" in page.locator("#tags tr", has_text="tier").inner_text()
    page.goto(f"{url}/console/databases/credit-card?account=central")
    page.select_option("#assign-database-tag select[name=tag]", "tier=gold")
    page.click("#assign-database-tag button")
    assert "tier=gold" in page.inner_text("#database-tags")
    central.shot("database-tagged")
    central.close()

    # the steward, who may describe the database, finds the assignment in its inbox
    page = steward.page
    deadline = time.monotonic() + 20
    while "tag.assigned" not in page.inner_text("main"):
        assert time.monotonic() < deadline, "the tag event never reached the inbox"
        time.sleep(0.2)
        page.reload()
    assert "tier" in page.locator("#events tr", has_text="tag.assigned").inner_text()
    steward.shot("inbox")
    steward.close()
