"""The screenshot of the web page in docs/service.md, taken in headless Chromium.

    python benchmarks/web_screenshot.py --run runs/beauty --data-dir ../shared/data \
        --history "lipstick,mascara,nail polish" --out docs/web.png

Serves a copy of the run (the run folder is not touched), picks the first search hit of each
history query, recommends with paths, opens the top item's branch and adds one item, as a
person would, then saves the whole page. Needs chromium, chromium-driver and selenium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import copy_run  # noqa: E402

from genrec.serve.launch import free_port, start_service  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--data-dir", default=os.environ.get("GENREC_DATA"))
    ap.add_argument("--history", default="lipstick,mascara,nail polish")
    ap.add_argument("--new-title", default="Velvet Matte Lip Crayon, Rosewood")
    ap.add_argument("--out", type=Path, default=Path("docs/web.png"))
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    def testid(name: str) -> list:
        return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{name}"]')

    def until(fn, timeout: float = 30):  # noqa: ANN001, ANN202
        end = time.time() + timeout
        while time.time() < end:
            try:
                if value := fn():
                    return value
            except Exception:  # re-rendered element
                pass
            time.sleep(0.1)
        raise TimeoutError

    with tempfile.TemporaryDirectory(prefix="genrec-shot-") as tmp:
        served = copy_run(args.run, Path(tmp) / args.run.resolve().name)  # named as the run
        port = free_port()
        proc = start_service(served, port,
                             env={"GENREC_DATA": args.data_dir} if args.data_dir else None)
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or ""
        for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--window-size=1400,1500", "--hide-scrollbars"]:
            opts.add_argument(arg)
        driver = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            until(lambda: "items" in testid("status")[0].text)
            for i, query in enumerate(q.strip() for q in args.history.split(",")):
                testid("search")[0].clear()
                testid("search")[0].send_keys(query)
                until(lambda q=query: driver.find_element(By.ID, "search-results")
                      .get_attribute("data-q") == q)
                testid("search-result")[0].click()
                until(lambda i=i: len(testid("history-item")) == i + 1)
            testid("recommend")[0].click()
            until(lambda: testid("rec-item"))
            testid("rec-item")[0].click()
            until(lambda: driver.find_elements(By.CSS_SELECTOR, "#tree li.target"))
            testid("add-title")[0].send_keys(args.new_title)
            testid("add-categories")[0].send_keys("Beauty > Makeup > Lips > Lipstick")
            testid("add-submit")[0].click()
            until(lambda: testid("added-path")[0].text, timeout=120)  # first use loads MiniLM
            testid("search")[0].clear()
            testid("search")[0].send_keys(args.history.split(",")[0])
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(1)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=60)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
