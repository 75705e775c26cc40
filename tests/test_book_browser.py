"""The built book, read as a reader's browser reads it (headless Chromium driven by Playwright).

Every page of the table of contents loads and is checked (:func:`page_problems`) for:

- a request leaving the book (any URL that is not ``file:``, ``data:``, ``blob:``), a page or console error;
- a table wider than the text column without the presenter's deliberate scroll wrapper (``div.pde-table``,
  scrolling sideways, first column frozen when the table is wider than it);
- a figure whose smallest text is under 9 px as rendered: the PNG records its smallest text in pixels
  (:data:`pdedenoise.book.TEXT_PX_KEY`; a PNG without it is taken to use the book's 9 pt at 90 dpi) and
  the page shows it at ``clientWidth / naturalWidth`` of that;
- "nan" or "inf", or a code key of :data:`pdedenoise.labels.LABELS` (``foe-s-authors``, ``rms_db``), in the
  visible text outside code;
- raw LaTeX in the visible text (``\\sigma``, ``$...$``, ``g_t(v)``, ``u^t``) that MathJax did not render;
- an absolute path or a Python traceback in the page's HTML or its downloadable notebook;
- maths not rendered, or a slider that does not move its panels;
- more than one search field (the theme's top bar repeating the sidebar's).

``test_each_check_catches_its_defect`` shows on small synthetic pages that each check fails when its defect is
there. ``test_every_page_reads_cleanly`` builds the book from the notebooks the session executed (those of
``tests/test_notebooks.py``: nothing runs twice) and checks every page; ``PDEDENOISE_BOOK_HTML=book/_build/html``
(``make browser-test``) checks an already built book instead. Needs Chromium (Debian's ``chromium``) and Playwright
(the ``browser`` extra); building the book also needs npm once, to fetch the book's JavaScript into
``book/_widgetjs`` (``make test`` installs Debian's ``chromium`` and ``npm`` where it can). Skipped, saying which is
missing, otherwise.
"""
from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from pdedenoise import book
from pdedenoise.checkout import repo_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

MISSING = [what for what, ok in (("chromium (apt-get install chromium)", CHROMIUM),
                                 ("playwright (pip install -e '.[browser]')", HAVE_PLAYWRIGHT)) if not ok]
needs_browser = pytest.mark.skipif(bool(MISSING), reason=f"browser test skipped: no {' and no '.join(MISSING)}")

#: smallest rendered text of a figure (px)
MIN_TEXT_PX = book.MIN_TEXT_PX
ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|root|tmp|Users|mnt|srv|var/folders)/[\w.-]|[A-Z]:\\\\?Users")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
NOT_A_NUMBER = re.compile(r"(?<![\w.-])[-−]?(nan|inf|infinity)(?![\w-])", re.I)
RAW_LATEX = re.compile(r"\\[A-Za-z]{2,}|\$[^$\n]{1,80}\$|\b[A-Za-z]_\{|\b[A-Za-z]\^\{|\b[A-Za-z]_[A-Za-z0-9]\(|"
                       r"\b[A-Za-z]\^[A-Za-z0-9]\b")

# The page's tables: width, the width available, and the deliberate wrapper's state.
_TABLES_JS = """() => {
  const column = document.querySelector('main article') || document.querySelector('article') || document.body;
  const avail = column.clientWidth;
  return Array.from(column.querySelectorAll('table')).map(t => {
    const wrap = t.closest('.pde-table');
    const first = t.querySelector('tbody tr > :first-child');
    const cap = t.querySelector('caption');
    const head = t.querySelector('th, td');
    return {name: (cap ? cap.innerText : (head ? head.innerText : '')).slice(0, 60),
            width: t.getBoundingClientRect().width, avail: avail,
            wrapped: !!wrap,
            wrapScrolls: wrap ? ['auto', 'scroll'].includes(getComputedStyle(wrap).overflowX) : false,
            wrapWidth: wrap ? wrap.getBoundingClientRect().width : 0,
            firstSticky: first ? getComputedStyle(first).position === 'sticky' : false};
  });
}"""
# The page's figures as rendered: source, natural and rendered width; a widget's panel (a blob: or data: URL) also
# its bytes, base64.
_IMAGES_JS = """async () => {
  const column = document.querySelector('main article') || document.querySelector('article') || document.body;
  const out = [];
  for (const i of column.querySelectorAll('img')) {
    if (!(i.naturalWidth > 0 && i.clientWidth > 0)) continue;
    const src = i.currentSrc || i.src;
    let bytes = null;
    if (src.startsWith('blob:') || src.startsWith('data:')) {
      const buf = new Uint8Array(await (await fetch(src)).arrayBuffer());
      let bin = '';
      for (let k = 0; k < buf.length; k += 32768) bin += String.fromCharCode.apply(null, buf.subarray(k, k + 32768));
      bytes = btoa(bin);
    }
    out.push({src: src, natural: i.naturalWidth, shown: i.getBoundingClientRect().width, bytes: bytes});
  }
  return out;
}"""
# The search fields a reader sees (the theme's search dialog, closed, has no size).
_SEARCH_JS = """() => Array.from(document.querySelectorAll('.search-button-field, input[type=search]')).filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
}).length"""
# The visible prose: the page's text with code, maths and scripts hidden.
_PROSE_JS = """() => {
  const column = document.querySelector('main') || document.body;
  const hide = Array.from(column.querySelectorAll('code, pre, kbd, script, style, mjx-container, .highlight'));
  const was = hide.map(e => e.style.display);
  hide.forEach(e => e.style.display = 'none');
  const text = column.innerText;
  hide.forEach((e, k) => e.style.display = was[k]);
  return text;
}"""


def _downloads(page_file: Path, html_root: Path) -> list[Path]:
    """The page's source as offered for download (``_sources/...``) and any notebook next to it."""
    rel = page_file.relative_to(html_root).with_suffix("")
    return [p for p in (html_root / "_sources").glob(f"{rel}.*")] + list(page_file.parent.glob(f"{rel.name}.ipynb"))


def page_problems(browser, page_file: Path, html_root: Path, code_keys=None, settle_ms: int = 2500) -> list[str]:
    """Everything on one page a reader should not meet (module docstring), as readable findings."""
    from pdedenoise.labels import code_keys as _keys

    code_keys = _keys() if code_keys is None else code_keys
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("request", lambda r: problems.append(f"request leaves the book: {r.url}")
            if not r.url.startswith(("file://", "data:", "blob:", "about:")) else None)
    page.goto(page_file.as_uri())
    page.wait_for_timeout(settle_ms)

    for t in page.evaluate(_TABLES_JS):
        if not t["wrapped"] and t["width"] > t["avail"] + 1:
            problems.append(f"table '{t['name']}' is {t['width']:.0f} px wide in a {t['avail']} px column "
                            "with no scroll wrapper")
        elif t["wrapped"] and t["width"] > t["wrapWidth"] + 1 and not (t["wrapScrolls"] and t["firstSticky"]):
            problems.append(f"table '{t['name']}' overflows its wrapper without scrolling or a frozen first column")
    for im in page.evaluate(_IMAGES_JS):
        url = urlparse(im["src"])
        if im["bytes"]:
            source, name = io.BytesIO(base64.b64decode(im["bytes"])), "a widget panel"
        elif url.scheme == "file":
            source, name = Path(unquote(url.path)), Path(url.path).name
        else:
            continue
        px = book.png_text_px(source) * im["shown"] / im["natural"]
        if px < MIN_TEXT_PX - 0.05:
            problems.append(f"figure {name}: smallest text {px:.1f} px as shown "
                            f"({im['natural']} px wide shown at {im['shown']:.0f})")
    searches = page.evaluate(_SEARCH_JS)
    if searches > 1:
        problems.append(f"{searches} search fields on the page (one is enough)")
    prose = page.evaluate(_PROSE_JS)
    for pattern, what in ((NOT_A_NUMBER, "a non-number"), (RAW_LATEX, "raw LaTeX")):
        found = sorted({m.group(0) for m in pattern.finditer(prose)})
        if found:
            problems.append(f"shows {what}: {found[:5]}")
    keys = sorted(k for k in code_keys if re.search(rf"(?<![\w/.-]){re.escape(k)}(?![\w-])", prose))
    if keys:
        problems.append(f"shows code keys instead of their labels: {keys[:8]}")
    for f in [page_file] + _downloads(page_file, html_root):
        text = f.read_text(errors="replace")
        for pattern in (ABSOLUTE_PATH, TRACEBACK) + ((re.compile(re.escape(str(repo_root()))),)):
            m = pattern.search(text)
            if m:
                problems.append(f"{f.name} contains {m.group(0)!r}")
    source = page_file.read_text()
    if ("$" in source or "\\(" in source) and "mathjax" in source.lower():
        if page.locator("mjx-container").count() == 0:
            problems.append("maths not rendered")
    if "application/vnd.jupyter.widget-view+json" in source:
        sliders = page.locator(".widget-slider")
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
    page.close()
    return problems


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def built_book(request, tmp_path_factory):
    """The book's HTML: ``PDEDENOISE_BOOK_HTML`` when set, else built from the session's executed notebooks in a
    temporary copy of ``book/`` (the notebooks the notebook tests executed: nothing runs twice)."""
    given = os.environ.get("PDEDENOISE_BOOK_HTML")
    if given:
        return Path(given).resolve()
    src, book = repo_root() / "book", tmp_path_factory.mktemp("jb") / "book"
    js, fonts = src / "_widgetjs", src / "_widgetfonts"
    if not ((js / ".fetched").exists() and fonts.is_dir()):  # fetched once into the checkout, as make book does
        if not shutil.which("npm"):
            pytest.skip("whole-book browser test skipped: no npm, which fetches the book's JavaScript "
                        "(apt-get install npm; make test installs it where it can)")
        res = subprocess.run(["bash", str(repo_root() / "tools" / "fetch_book_js.sh"), str(js)], capture_output=True,
                             text=True)
        if res.returncode != 0:
            pytest.skip(f"whole-book browser test skipped: npm could not fetch the book's JavaScript "
                        f"(tools/fetch_book_js.sh): {res.stderr.strip()[-300:]}")
        (js / ".fetched").touch()
    executed, _, errors = request.getfixturevalue("executed_book")
    assert not any(errors.values()), errors
    shutil.copytree(src, book, ignore=shutil.ignore_patterns("_build", "executed", "_widgetjs", "_widgetfonts"))
    shutil.copytree(executed, book / "executed")
    shutil.copytree(js, book / "_widgetjs")
    shutil.copytree(fonts, book / "_widgetfonts")
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


@needs_browser
@pytest.mark.slow
def test_every_page_reads_cleanly(built_book, browser):
    report = {page.relative_to(built_book).as_posix(): page_problems(browser, page, built_book)
              for page in toc_pages(built_book)}
    assert report and not any(report.values()), {k: v for k, v in report.items() if v}


# --------------------------------------------------------------------------- each check fails on its defect

def _png(path: Path, width: int, text_px: float | None) -> None:
    from PIL import Image, PngImagePlugin

    from pdedenoise import book

    info = PngImagePlugin.PngInfo()
    if text_px is not None:
        info.add_text(book.TEXT_PX_KEY, f"{text_px:.2f}")
    Image.new("L", (width, width // 4), 200).save(path, pnginfo=info)


_GOOD_TABLE = ('<div class="pde-table" style="overflow-x: auto; max-width: 100%;"><table><tbody>'
               + "<tr>" + "".join(f'<td style="position: sticky; left: 0; background: #fff;">{k}</td>' if k == 0 else
                                  f"<td>{k * 1000:,} samples</td>" for k in range(40)) + "</tr></tbody></table></div>")
_CLEAN = ("<p>PSNR 28.12 dB, SSIM 0.812, FoE-S diffusivity; the missing value is shown as —.</p>"
          + _GOOD_TABLE + '<img src="ok.png" style="max-width: 100%;">'
          + "<p>run <code>pdedenoise denoise in.png out.png --method foe-s-authors</code></p>")
DEFECTS = {
    "clean": "",
    "wide table": "<table><tr>" + "".join(f"<td>{k * 1000:,} samples</td>" for k in range(40)) + "</tr></table>",
    "wrapper without frozen column": ('<div class="pde-table" style="overflow-x: auto;"><table><tr>'
                                      + "".join(f"<td>{k * 1000:,} samples</td>" for k in range(40))
                                      + "</tr></table></div>"),
    "small figure text": '<img src="big.png" style="max-width: 100%;">',
    "unlabelled big figure": '<img src="unknown.png" style="max-width: 100%;">',
    "small panel text": '<img src="data:image/png;base64,{panel}" style="width: 100%;">',
    "nan": "<table><tr><td>PSNR</td><td>nan</td></tr></table>",
    "inf": "<p>the error is -inf</p>",
    "code key": "<p>best tnrd minus best perona-malik-tuned</p>",
    "quantity key": "<table><tr><th>rms_db</th></tr><tr><td>0.12</td></tr></table>",
    "external request": '<img src="http://example.com/logo.png">',
    "console error": "<script>console.error('widget state missing')</script>",
    "raw LaTeX": r"<p>the diffusivity $g(\sigma)$ and g_t(v)</p>",
    "absolute path": "<p>saved to /work/main/results/ci/04_diffnet.json</p>",
    "absolute path in the notebook": "",
    "two search fields": ('<button class="search-button-field">Search Ctrl+K</button>'
                          '<button class="search-button-field">Search Ctrl+K</button>'),
    "traceback": "<pre>Traceback (most recent call last):\n  ValueError: sigma must be positive</pre>",
    "page error": "<script>throw new Error('panel state missing')</script>",
    "failed request": '<img src="missing.png">',
    "maths not rendered": '<p>the energy <span class="math">$E(u)$</span></p><!-- MathJax configured, never loaded -->',
    "widget not rendered": '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "a1"}</script>',
    "slider does not move": ('<script type="application/vnd.jupyter.widget-view+json">{"model_id": "a1"}</script>'
                             '<div><div class="widget-slider"><div role="slider" tabindex="0" aria-valuenow="1">'
                             '</div></div><div class="widget-html-content">t = 1</div></div>'),
}
EXPECTED = {"wide table": "no scroll wrapper", "wrapper without frozen column": "frozen first column",
            "small figure text": "big.png: smallest text", "small panel text": "a widget panel: smallest text", "unlabelled big figure": "unknown.png: smallest text",
            "nan": "non-number", "inf": "non-number", "code key": "code keys", "quantity key": "code keys",
            "external request": "leaves the book", "console error": "console error", "raw LaTeX": "raw LaTeX",
            "absolute path": "contains '/work/", "absolute path in the notebook": "page.ipynb contains '/home/",
            "two search fields": "2 search fields", "traceback": "contains 'Traceback",
            "page error": "page error: ", "failed request": "failed: file://", "maths not rendered": "maths not rendered",
            "widget not rendered": "widget not rendered", "slider does not move": "slider does not move its panels"}


@needs_browser
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_check_catches_its_defect(defect, browser, tmp_path):
    from pdedenoise.labels import code_keys

    _png(tmp_path / "ok.png", 600, 11.25)          # shown unscaled: 11 px text
    _png(tmp_path / "big.png", 3139, 11.25)        # shrunk to the column: 2.5 px text
    _png(tmp_path / "unknown.png", 3139, None)     # no record: the book's 9 pt at 90 dpi, shrunk the same
    _png(tmp_path / "panel.png", 1200, 11.25)     # a slider panel as a data: URL, shown 688 px wide: 6.5 px text
    body = DEFECTS[defect].replace("{panel}", base64.b64encode((tmp_path / "panel.png").read_bytes()).decode())
    page = tmp_path / "page.html"
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8"></head><body><main><article '
                    f'style="width: 688px">{_CLEAN}{body}</article></main></body></html>')
    if defect == "absolute path in the notebook":
        (tmp_path / "page.ipynb").write_text('{"metadata": {"papermill": {"input_path": "/home/me/nb.ipynb"}}}')
    problems = page_problems(browser, page, tmp_path, code_keys(), settle_ms=300)
    if defect == "clean":
        assert problems == []
    else:
        assert any(EXPECTED[defect] in p for p in problems), problems
