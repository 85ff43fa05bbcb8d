"""`bench view` in a real headless browser (Debian's chromium driven by
Playwright): the overview lists the problems and its filters narrow them,
a problem shows its cut marks and every budget's answer, keys walk the
list, two runs compare side by side, planted markup stays text and never
runs, and the static export works from file://. Screenshots go to the
test's tmp folder."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from view_runs import HOSTILE, _known_run

from bench.view.data import RunView
from bench.view.export import export
from bench.view.server import make_server

playwright = pytest.importorskip("playwright.sync_api", reason="make setup installs playwright")
pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    # The browser's profile, caches and settings go to the test's folder, not ~ or /tmp.
    home = tmp_path_factory.mktemp("browser-home")
    places = {"HOME": home, "TMPDIR": home, "XDG_CACHE_HOME": home / "cache"}
    places |= {"XDG_CONFIG_HOME": home / "config", "XDG_RUNTIME_DIR": home / "run"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in places.items():
            Path(value).mkdir(exist_ok=True)
            patch.setenv(key, str(value))
        with playwright.sync_playwright() as p:
            # --no-sandbox: as root (CI) chromium refuses its own sandbox.
            launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield launched
            launched.close()


@pytest.fixture
def runs(tmp_path):
    return [
        RunView(_known_run(tmp_path / "a")),
        RunView(_known_run(tmp_path / "b", right_at_32=False)),
    ]


@pytest.fixture
def url(runs):
    server = make_server(runs, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, errors


def _rows(page):
    return page.locator("#problems tr.row")


def test_overview_filters_and_a_problem(page, url, tmp_path):
    page.goto(url)
    page.wait_for_selector("#problems tr.row")
    assert _rows(page).count() == 3
    assert page.locator("#scaling tr").count() > 1 and page.locator("#curve polyline").count() == 2
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    page.fill("#q", "k02")
    assert _rows(page).count() == 1
    page.fill("#q", "")
    page.select_option("select[name=flips]", "down")
    assert (
        _rows(page).count() == 1 and _rows(page).first.get_attribute("data-id") == "chain-k02-0001"
    )
    page.select_option("select[name=flips]", "")
    page.select_option("select[name=status]", "no answer")
    assert _rows(page).count() == 1
    page.select_option("select[name=status]", "")
    # "A right, B wrong" at budget 32: only problem a differs between the runs.
    page.select_option("select[name=budget]", "32")
    page.select_option("select[name=a]", "0")
    page.select_option("select[name=b]", "1")
    assert [r.get_attribute("data-id") for r in _rows(page).all()] == ["chain-k04-0000"]
    assert "share 3 of 3" in page.text_content("#shared")
    link = page.url
    _rows(page).first.click()
    page.wait_for_selector(".chain")
    assert "#/p/chain-k04-0000" in page.url
    assert page.locator(".runs > section").count() == 2  # the runs side by side
    marks = page.locator(".chain").first.locator(".cutmark")
    assert marks.count() == 1 and marks.first.text_content() == "✂ 8"
    table = page.locator(".chain").first.locator("table.outcomes").text_content()
    assert "</think>9" in table and "</think>13" in table and "cut at the budget" in table
    page.screenshot(path=str(tmp_path / "problem.png"), full_page=True)
    page.keyboard.press("Escape")
    page.wait_for_selector("#problems tr.row")
    assert page.url == link and _rows(page).count() == 1  # the filters came back with the list


def test_keys_walk_the_list_and_links_name_a_problem_and_budget(page, url):
    page.goto(url)
    page.wait_for_selector("#problems tr.row")
    first, second = (r.get_attribute("data-id") for r in _rows(page).all()[:2])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/#/p/{first}")
    page.keyboard.press("j")
    page.wait_for_url(f"**/#/p/{second}")
    page.keyboard.press("k")
    page.wait_for_url(f"**/#/p/{first}")
    page.goto(url + "#/p/chain-k04-0000?b=8")  # a shared link
    page.reload()
    page.wait_for_selector(".cutmark.on")
    assert page.locator(".cutmark.on").first.text_content() == "✂ 8"
    assert "sel" in page.locator("table.outcomes tr.sel").first.get_attribute("class")


def test_planted_markup_stays_text(page, url, tmp_path):
    page.goto(url + "#/p/chain-k03-0002")
    page.wait_for_selector(".chain")
    page.wait_for_timeout(300)  # an onerror or a script would have run by now
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    assert HOSTILE in page.locator(".chain pre.thinking").first.text_content()
    page.goto(url + "#/?q=" + "pwned")
    page.wait_for_selector("#problems tr.row")
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)


def test_the_static_export_opens_from_file(page, runs, tmp_path):
    index = export(runs, tmp_path / "site", progress=False)
    page.goto(index.as_uri())
    page.wait_for_selector("#problems tr.row")
    assert _rows(page).count() == 3
    page.locator("#problems tr.row[data-id='chain-k04-0000']").click()
    page.wait_for_selector(".cutmark")
    assert page.locator(".runs > section").count() == 2
    page.goto(index.as_uri() + "#/p/chain-k03-0002")
    page.reload()
    page.wait_for_selector(".chain")
    assert page.evaluate("window.__pwned") is None
    assert HOSTILE in page.locator(".chain pre.thinking").first.text_content()
    page.screenshot(path=str(tmp_path / "export.png"), full_page=True)
