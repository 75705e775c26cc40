"""The built book, read as a reader's browser reads it (headless Chromium driven by Playwright).

Every page of the table of contents loads with no request leaving the book, no page error and no console
error; every slider renders and moves its panels; MathJax renders the maths; no page shows an absolute
path of the build machine or a Python traceback.

Needs Chromium (``apt-get install chromium``) and Playwright (``pip install playwright``, the
``browser`` extra) and npm (for the book's JavaScript); skipped when any is missing.
``make browser-test`` installs them (where it can) and runs this test.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pdedenoise.checkout import repo_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and HAVE_PLAYWRIGHT and shutil.which("npm")),
                                 reason="needs chromium, playwright and npm (make browser-test installs them)")]


@pytest.fixture(scope="session")
def built_book(executed_book, tmp_path_factory):
    """The book built from the session's executed notebooks, in a temporary copy of ``book/``."""
    executed, _, errors = executed_book
    assert not any(errors.values()), errors
    src, book = repo_root() / "book", tmp_path_factory.mktemp("jb") / "book"
    shutil.copytree(src, book, ignore=shutil.ignore_patterns("_build", "executed", "_widgetjs", "_widgetfonts"))
    shutil.copytree(executed, book / "executed")
    subprocess.run(["bash", str(repo_root() / "tools" / "fetch_book_js.sh"), str(book / "_widgetjs")], check=True,
                   capture_output=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    res = subprocess.run([str(jb), "build", str(book), "--warningiserror", "--keep-going"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return book / "_build" / "html"


def toc_pages(html: Path) -> list[Path]:
    import yaml

    toc = yaml.safe_load((repo_root() / "book" / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    return [html / f"{f}.html" for f in files]


def test_every_page_loads_offline_cleanly_with_working_widgets_and_maths(built_book):
    from playwright.sync_api import sync_playwright

    forbidden = [re.escape(str(repo_root())), r"/tmp/", r"/root/", r"/home/", r"Traceback \(most recent call last\)"]
    report = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for page_file in toc_pages(built_book):
            page = browser.new_page()
            problems = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.on("request", lambda r: problems.append(f"external: {r.url}")
                    if not r.url.startswith(("file://", "data:", "blob:")) else None)
            page.goto(page_file.as_uri())
            page.wait_for_timeout(2500)
            text = page.inner_text("body")
            problems += [f"shows {pat}" for pat in forbidden if re.search(pat, text)]
            source = page_file.read_text()
            if "$" in source or "\\(" in source:
                if page.locator("mjx-container").count() == 0:
                    problems.append("maths not rendered")
            sliders = page.locator(".widget-slider")
            if "application/vnd.jupyter.widget-view+json" in source:
                if sliders.count() == 0:
                    problems.append("widget not rendered")
                else:  # moving the slider shows another panel (its caption changes)
                    caption = ("e => Array.from(e.parentElement.querySelectorAll('.widget-html-content'))"
                               ".map(c => c.innerText).join('|')")
                    before = sliders.first.evaluate(caption)
                    sliders.first.locator("[role=slider]").first.focus()
                    page.keyboard.press("ArrowRight")
                    page.wait_for_timeout(300)
                    after = sliders.first.evaluate(caption)
                    if not before or before == after:
                        problems.append(f"slider does not move its panels ({before!r} -> {after!r})")
            report[page_file.name] = problems
            page.close()
        browser.close()
    assert report and not any(report.values()), {k: v for k, v in report.items() if v}
