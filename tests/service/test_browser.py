"""The pages in a real browser (Debian's chromium through Playwright) against a real
``nbwarden serve`` process: a suspended user reads the evidence and appeals, a reviewer
dismisses from the queue, the user sees the result, an operator's dashboard draws its
charts (saved to test-artifacts/dashboard.png)."""
from __future__ import annotations

import os
import random
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from nbwarden.service import crud
from nbwarden.service.db import make_engine, make_sessionmaker, migrate

from .conftest import ROOT, issue_token
from .server import ServerProcess
from .factory import days_ago, event, mining_event

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CATS = ["mining", "remote.tunnel", "deepfake.faceswap", "torrent", "remote.webui"]
ACTS = {"mining": ("terminated", "terminate"), "remote.tunnel": ("blocked", "block"),
        "deepfake.faceswap": ("blocked", "block"), "torrent": ("warned", "warn"), "remote.webui": ("warned", "warn")}


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing; scripts/install.sh installs Debian's chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def seed(url: str, service: str, token: str) -> dict:
    """Two weeks of events from several users, a few answered appeals; ada suspended."""
    rnd = random.Random(5)
    evs = []
    for d in range(14):
        for _ in range(rnd.randint(2, 9)):
            cat = rnd.choice(CATS)
            outcome, action = ACTS[cat]
            evs.append(event(user=rnd.choice(["ben", "cyd", "dee", "eli"]), category=cat, outcome=outcome,
                             action=action, time=days_ago(d + rnd.random() * 0.9)))
    ada = [mining_event("ada")] + [event(user="ada", category="remote.tunnel", outcome="blocked", action="block")
                                   for _ in range(2)]
    r = httpx.post(f"{service}/api/events", json=evs + ada, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    eng = make_engine(url)
    with make_sessionmaker(eng)() as db:
        rita = crud.get_user(db, name="rita")
        for i, e in enumerate(evs[:8]):
            user = crud.get_user(db, name=e["user"])
            a = crud.create_appeal(db, user=user, event=crud.get_event(db, event_id=e["id"]), message="please look")
            if i < 6:
                crud.review_appeal(db, appeal=a, reviewer=rita, decision="uphold" if i % 2 else "dismiss", note="")
            # spread the appeals over the fortnight so the charts show a history
            opened = days_ago(13 - i * 1.5)
            db.flush()
            db.execute(text("UPDATE appeals SET created_at = :c, decided_at = CASE WHEN decided_at IS NULL "
                            "THEN NULL ELSE :d END WHERE id = :i"),
                       {"c": opened, "d": opened + timedelta(hours=2 + 5 * i), "i": a.id})
        db.commit()
    eng.dispose()
    return {"ada_event": ada[0]["id"]}


def login(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", f"{name}-password")
    page.click("button:has-text('Log in')")


def test_appeal_review_and_dashboard_in_chromium(browser, tmp_path):
    url = f"sqlite:///{tmp_path / 'service.sqlite'}"
    eng = make_engine(url)
    migrate(eng)
    with make_sessionmaker(eng)() as db:
        for name, role in (("ada", "user"), ("rita", "reviewer"), ("otto", "operator")):
            crud.create_account(db, name=name, role=role, password=f"{name}-password", tier=None, actor="test")
        db.commit()
    eng.dispose()
    token = issue_token(url)
    srv = ServerProcess(url, tmp_path).start()
    try:
        ids = seed(url, srv.url, token)
        ada = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        login(ada, srv.url, "ada")
        assert ada.text_content("#standing") == "suspended"
        ada.click(f"a[href='/events/{ids['ada_event']}']")
        marks = ada.locator("pre.evidence mark").all_text_contents()
        assert any("stratum+tcp://pool.supportxmr.com:3333" in m for m in marks), marks
        assert "NBW201" in ada.content()
        ada.fill("textarea[name=message]", "I was benchmarking a miner detector, not mining.")
        ada.click("#appeal")
        assert "open" in ada.content() and "benchmarking a miner detector" in ada.content()

        rita = browser.new_context().new_page()
        login(rita, srv.url, "rita")
        assert rita.url.endswith("/queue")  # reviewers land on their queue
        rows = rita.locator("#queue tr").all_text_contents()
        assert len(rows) == 1 + 3 and "ada" in rows[-1]  # header + 2 older seeded appeals + ada's (newest last)
        rita.click("#queue tr:last-child a:has-text('#')")
        assert rita.locator("pre.evidence mark").count() >= 1
        rita.fill("textarea[name=note]", "Detector research; allowlisted.")
        rita.click("#dismiss")
        assert "ada" not in " ".join(rita.locator("#queue tr").all_text_contents())

        ada.goto(f"{srv.url}/me")
        assert ada.text_content("#standing") == "restricted"
        assert "Detector research; allowlisted." in ada.text_content("#notifications")

        otto = browser.new_context(viewport={"width": 1000, "height": 1400}).new_page()
        login(otto, srv.url, "otto")
        otto.goto(f"{srv.url}/dashboard")
        assert otto.locator("svg.chart").count() == 4
        assert otto.locator("svg.chart rect").count() > 20
        assert int(otto.text_content("#total")) > 30
        # a test artifact; NBWARDEN_UPDATE_DOCS=1 refreshes the README's copy in docs/img
        import os
        out = ROOT / ("docs/img" if os.environ.get("NBWARDEN_UPDATE_DOCS") else "test-artifacts") / "dashboard.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        otto.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
    finally:
        srv.stop()
