"""The web page in a real browser (headless Chromium from Debian's chromium + chromium-driver,
driven by selenium), against `genrec serve` on a small run, the way a person uses it: search,
build a history, recommend, read the paths, open a branch, add an item and find it in the tree;
then /docs and /redoc. DNS resolves nothing but 127.0.0.1 and every URL the pages request is
recorded (Chrome's performance log), so "works offline" is checked, not assumed.

Skipped when chromium or chromedriver is missing, unless GENREC_BROWSER_TESTS=require (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import free_port, serve

from genrec.coldstart import ColdStart, save_coldstart
from genrec.semantic_ids import SemanticIndex

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SCREENSHOT = os.environ.get("GENREC_SCREENSHOT")  # also save the page's screenshot here
NEW_TITLE = "Zanzibar Velvet Matte Lip Crayon, Rosewood"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not CHROMIUM or not DRIVER:
        return "chromium / chromedriver not found (apt-get install chromium chromium-driver)"
    return None


pytestmark = pytest.mark.slow
if _missing() and os.environ.get("GENREC_BROWSER_TESTS") != "require":
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason=_missing())]


@pytest.fixture(scope="module")
def service(head_run, tmp_path_factory) -> Iterator[str]:
    run = tmp_path_factory.mktemp("browser") / "run"
    shutil.copytree(head_run, run)  # the flow adds an item
    # the page's wiring is under test, not the tuned constants: a fresh pick always shows
    save_coldstart(run, ColdStart(margin=(1e9,)))
    port = free_port()
    proc = serve(run, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert not _missing(), _missing()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1100", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                # the network is off: no host but loopback resolves
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait(fn: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """fn's first truthy value, polled (selenium's waits hide which condition failed)."""
    deadline = time.time() + timeout
    last: Exception | None = None
    while time.time() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as err:  # stale element while the page re-renders
            last = err
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} ({last})")


def by_testid(driver: Any, testid: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def press(find: Callable[[], Any], what: str) -> None:
    """Click what `find` returns, again if the page re-rendered it meanwhile (stale) or
    something was over it for a moment; what the click does is checked by the caller."""

    def once() -> bool:
        find().click()
        return True

    wait(once, f"a click on {what}")


def ids(driver: Any, testid: str) -> list[str]:
    return [e.get_attribute("data-id") for e in by_testid(driver, testid)]


class Network:
    """Every URL the browser's pages request, from Chrome's performance log."""

    def __init__(self, driver: Any) -> None:
        self.driver, self.urls, self.failed = driver, [], []
        self.statuses: dict[str, int] = {}

    def read(self) -> None:
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            if msg["method"] == "Network.requestWillBeSent":
                self.urls.append(params["request"]["url"])
            elif msg["method"] == "Network.responseReceived":
                self.statuses[params["response"]["url"]] = params["response"]["status"]
            elif msg["method"] == "Network.loadingFailed" and not params.get("canceled"):
                self.failed.append(params.get("errorText"))


def search_and_pick(driver: Any, query: str, item_id: str | None = None) -> str:
    """Type `query` into the search box and click the result `item_id` (default: the first)."""
    box = by_testid(driver, "search")[0]
    box.clear()
    box.send_keys(query)

    def result() -> Any:
        if driver.find_element("id", "search-results").get_attribute("data-q") != query:
            return None  # still the previous query's list
        taken = ids(driver, "history-item")
        for e in by_testid(driver, "search-result"):
            if e.get_attribute("data-id") == item_id or (
                    item_id is None and e.get_attribute("data-id") not in taken):
                return e
        return None

    def pick() -> str | None:
        hit = result()
        if hit is None:
            return None
        picked = hit.get_attribute("data-id")
        hit.click()
        return picked

    picked = wait(pick, f"a search result for {query!r}")
    wait(lambda: picked in ids(driver, "history-item"), f"{picked} in the history")
    return picked


def test_the_page_flow_in_a_browser(service, browser, head_run, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.keys import Keys

    d, net = browser, Network(browser)
    items = httpx.get(f"{service}/items", params={"q": "nail polish", "limit": 5}).json()["items"]
    d.get(f"{service}/")
    wait(lambda: re.search(r"1,?500 items", by_testid(d, "status")[0].text), "the status line")
    assert "model: d_model 32" in by_testid(d, "status")[0].text

    # history: an id, part of a title, then the first hit of a word; remove one, order kept
    first = search_and_pick(d, items[0]["id"], items[0]["id"])
    words = items[1]["title"].split()
    second = search_and_pick(d, " ".join(words[:4])[:-1], items[1]["id"])
    by_testid(d, "search")[0].clear()
    by_testid(d, "search")[0].send_keys("shampoo")
    wait(lambda: d.find_element("id", "search-results").get_attribute("data-q") == "shampoo",
         "the hits for shampoo")
    third = by_testid(d, "search-result")[0].get_attribute("data-id")
    by_testid(d, "search")[0].send_keys(Keys.ENTER)  # Enter takes the top hit
    wait(lambda: third in ids(d, "history-item"), "the top hit in the history")
    assert ids(d, "history-item") == [first, second, third]
    press(lambda: by_testid(d, "history-item")[1].find_element("css selector", "button"),
          "a chip's remove button")
    wait(lambda: ids(d, "history-item") == [first, third], "the chip removed")
    search_and_pick(d, " ".join(words[:4])[:-1], second)
    assert ids(d, "history-item") == [first, third, second]

    # recommend: ten items, none from the history, each with its labelled path
    press(lambda: by_testid(d, "recommend")[0], "Recommend")
    wait(lambda: len(by_testid(d, "rec-item")) == 10, "10 recommendations")
    recs = ids(d, "rec-item")
    assert not set(recs) & {first, second, third}
    paths = [e.text for e in by_testid(d, "rec-path")]
    assert len(paths) == 10 and all(p.count(" › ") == 3 for p in paths), paths
    top = httpx.get(f"{service}/items/{recs[0]}").json()
    assert paths[0] == top["path"]

    # clicking a recommendation opens its branch, with the item marked
    press(lambda: by_testid(d, "rec-item")[0], "the top recommendation")
    leaf = wait(lambda: [e for e in by_testid(d, "tree-node")
                         if e.get_attribute("data-id") == recs[0]], "the item's branch")[0]
    assert "target" in leaf.get_attribute("class")
    sid = top["semantic_id"]
    alone = leaf.get_attribute("data-leaf") == "false"  # shown as its parent's only child
    assert leaf.get_attribute("data-prefix") == ",".join(map(str, sid[:-1] if alone else sid))
    crumbs = [c.text for c in by_testid(d, "crumb")]
    assert len(crumbs) == (3 if alone else 4)
    assert crumbs[1].startswith(top["path"].split(" › ")[0])

    # an item alone on its last level is shown, marked, among its parent's children
    codes = SemanticIndex.load(head_run / "index").codes
    _, first_row, counts = np.unique(codes[:, :-1], axis=0, return_index=True,
                                         return_counts=True)
    alone_row = int(first_row[np.flatnonzero(counts == 1)[0]])
    alone_id = str(json.loads((head_run / "items.json").read_text())[alone_row]["id"])
    d.execute_script("openItem(arguments[0])", alone_id)
    marked = wait(lambda: [e for e in by_testid(d, "tree-node")
                           if e.get_attribute("data-id") == alone_id], "the marked branch")[0]
    assert marked.get_attribute("data-leaf") == "false"
    assert "target" in marked.get_attribute("class")
    assert marked.get_attribute("data-prefix") == ",".join(map(str, codes[alone_row, :-1]))

    # walk down from the root: level by level to an item
    press(lambda: by_testid(d, "crumb")[0], "the root crumb")
    wait(lambda: all(len(e.get_attribute("data-prefix").split(",")) == 1
                     for e in by_testid(d, "tree-node")), "the first level")
    for depth in (2, 3, 4):
        press(lambda: by_testid(d, "tree-node")[0], "a tree node")
        wait(lambda depth=depth: by_testid(d, "tree-node") and all(
            len(e.get_attribute("data-prefix").split(",")) == depth
            for e in by_testid(d, "tree-node")), f"level {depth}")
    assert by_testid(d, "tree-node")[0].get_attribute("data-leaf") == "true"

    # add an item: its semantic ID and branch, then it is in the tree and searchable
    by_testid(d, "add-title")[0].send_keys(NEW_TITLE)
    by_testid(d, "add-brand")[0].send_keys("Qwertyco")
    by_testid(d, "add-categories")[0].send_keys("Beauty > Makeup > Lips > Lipstick")
    press(lambda: by_testid(d, "add-submit")[0], "Add item")
    path = wait(lambda: by_testid(d, "added-path")[0].text, "the new item's path")
    assert path.count(" › ") == 3
    press(lambda: by_testid(d, "added-open")[0], "Show in the tree")
    new = wait(lambda: [e for e in by_testid(d, "tree-node") if NEW_TITLE in e.text],
               "the new item in its branch")[0]
    new_id = new.get_attribute("data-id")
    assert new_id.startswith("web-") and "target" in new.get_attribute("class")

    # fresh slots: the new item can be recommended
    fresh = by_testid(d, "fresh")[0]
    wait(fresh.is_enabled, "the fresh toggle (this run has an item head)")
    press(lambda: by_testid(d, "fresh")[0], "the fresh toggle")
    press(lambda: by_testid(d, "recommend")[0], "Recommend")
    wait(lambda: new_id in ids(d, "rec-item"), "the new item among the recommendations")

    d.set_window_size(1400, 1800)  # the whole page, top to bottom
    d.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "page.png"
    d.save_screenshot(str(shot))
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20)
    assert image.size[0] >= 1000 and len(colors) > 50, "the screenshot is blank"
    assert max(c for c, _ in colors) < 0.9 * image.size[0] * image.size[1]
    if SCREENSHOT:
        shutil.copy(shot, SCREENSHOT)
    net.read()
    severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe  # e.g. a CSP refusal or a script error

    # the API docs render from packaged assets
    d.get(f"{service}/docs")
    wait(lambda: len(d.find_elements("css selector", ".opblock")) >= 8, "Swagger UI operations")
    d.get(f"{service}/redoc")
    wait(lambda: "Search Items" in d.find_element("tag name", "body").text, "ReDoc")
    net.read()

    foreign = [u for u in net.urls if not u.startswith((f"{service}/", "data:", "blob:"))]
    assert not foreign, foreign
    assert not net.failed, net.failed
    assert {f"{service}/static/app.js", f"{service}/static-docs/swagger-ui-bundle.js",
            f"{service}/redoc.js"} <= set(net.urls)
    bad = {u: s for u, s in net.statuses.items() if s >= 400}
    assert not bad, bad
    Path(tmp_path / "urls.txt").write_text("\n".join(net.urls))
