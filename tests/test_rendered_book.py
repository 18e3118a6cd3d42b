"""Open the rendered book in headless Chromium: every page loads, its figures decode, every audio
player has its data and a duration, every equation is typeset by MathJax (no raw TeX), no script
errors, no tracebacks; and no code cell is wider than the page (``test_code_fits_width``).

Runs after the smoke build (`make html`); the Makefile's `browser` step. Chromium and
chromedriver are Debian's (tests/ensure_chromium.sh installs them where it can); where they are
missing the test is skipped and says why.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("MAQAMGEN_HTML", ROOT / "_build" / "smoke" / "html"))
SHOTS = HTML.parent / "screenshots"
WINDOW_PX = 1440
"""Browser window width: the narrowest at which the theme (sphinx-book-theme) gives the article
its full width, both sidebars shown: a code cell's box is 786 px there, 89 characters of its
14-px monospace. (At 1280 px the article is squeezed to 672 px, 75 characters.)"""


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").exists():
        pytest.skip(f"no rendered book at {HTML} (run `make html` first)")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def driver():
    found = _chromium()
    if not found:
        pytest.skip("Debian chromium/chromedriver not installed and could not be installed here "
                    "(tests/ensure_chromium.sh); the rendered book was not checked in a browser")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--window-size={WINDOW_PX},2000",
                 "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(found[1]), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def _severe_errors(driver) -> list[str]:
    """Uncaught script errors and failed loads of the book's own files.

    What the theme asks of CDNs (MathJax, fonts) cannot load on this offline machine, and its
    own console chatter ("Got invalid theme mode") is not an error of the book. jupyter-book
    1.0.4's sphinx-thebe declares THEBE_JS_URL twice on every page (upstream; thebe is unused
    here): that one is ignored by name.
    """
    errors = []
    for entry in driver.get_log("browser"):
        msg = entry.get("message", "")
        ours = "127.0.0.1" in msg and "favicon.ico" not in msg
        real = "Uncaught" in msg or "Failed to load resource" in msg
        if (entry.get("level") == "SEVERE" and ours and real
                and "'THEBE_JS_URL' has already been declared" not in msg):
            errors.append(msg)
    return errors


CODE_SLACK_PX = 4
"""A code cell's ``pre`` may be this many pixels wider than its box (rounding) before it counts
as overflowing (a horizontal scroll bar)."""


def _page_report(driver) -> dict:
    return driver.execute_script(r"""
      const imgs = [...document.querySelectorAll('main img, article img, .bd-article img')];
      const audios = [...document.querySelectorAll('audio')];
      const maths = [...document.querySelectorAll('.math')];
      // code cells whose source is wider than their box: the lines that do not fit
      const canvas = document.createElement('canvas').getContext('2d');
      const overflow = [];
      document.querySelectorAll('div.cell_input pre').forEach((pre, i) => {
        if (pre.scrollWidth <= pre.clientWidth + arguments[0]) return;
        const style = getComputedStyle(pre);
        canvas.font = style.font;
        const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        const lines = pre.innerText.split('\n')
          .map(l => [l, Math.round(canvas.measureText(l).width)])
          .filter(([l, w]) => w > room + arguments[0]);
        overflow.push({cell: i, box_px: pre.clientWidth, scroll_px: pre.scrollWidth,
                       lines: lines.map(([l, w]) => [l.length, w, l])});
      });
      return {
        title: document.title,
        n_img: imgs.length,
        broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
        n_audio: audios.length,
        audio_ready: audios.map(a => [a.readyState, isFinite(a.duration) ? a.duration : -1]),
        tracebacks: [...document.querySelectorAll('.output.traceback, .output_error')].length,
        n_math: document.querySelectorAll('mjx-container').length,
        n_math_src: maths.length,
        untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                        .map(m => m.textContent.trim().slice(0, 60)),
        raw_tex: (document.body.innerText.match(/\\\(|\\\[/g) || []).length,
        n_code: document.querySelectorAll('div.cell_input pre').length,
        code_overflow: overflow,
        text: document.body.innerText.slice(0, 400),
      };
    """, CODE_SLACK_PX)


def _mathjax_done(driver, timeout: float = 30.0) -> None:
    """Wait for MathJax's first typesetting pass (a page without MathJax returns at once)."""
    driver.set_script_timeout(timeout)
    driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      const mj = window.MathJax;
      if (!mj || !mj.startup || !mj.startup.promise) { done(false); return; }
      mj.startup.promise.then(() => done(true), () => done(false));
    """)


def _settled(driver, timeout: float = 20.0) -> None:
    """Wait until the page (after any redirect, e.g. index.html -> intro.html) has loaded."""
    import time

    from selenium.common.exceptions import WebDriverException

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if driver.execute_script("return document.readyState === 'complete' && !!document.body "
                                     "&& !document.querySelector('meta[http-equiv=refresh]')"):
                return
        except WebDriverException:  # the page navigated under the script
            pass
        time.sleep(0.2)


def _load(driver, url: str, name: str) -> dict:
    """Open ``url``, let MathJax typeset and the audio players load their data, and report.

    The report (also written beside a screenshot under ``SHOTS``) carries the page's severe
    console errors under ``errors``: the browser log is read once, here, for this page.
    """
    import time

    driver.get_log("browser")  # drop what earlier pages left in the log
    driver.get(url)
    _settled(driver)
    if driver.execute_script("return !!document.querySelector('.math')"):
        _mathjax_done(driver)
    driver.execute_script("""
      document.querySelectorAll('audio').forEach(a => { a.preload = 'auto'; a.load(); });
    """)
    deadline = time.time() + 20
    report = _page_report(driver)
    while time.time() < deadline and any(r < 1 for r, _ in report["audio_ready"]):
        time.sleep(0.25)
        report = _page_report(driver)
    report["errors"] = _severe_errors(driver)
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    (SHOTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    return report


def test_index_renders(site, driver):
    report = _load(driver, site + "/index.html", "index")
    assert "maqamgen" in report["title"]
    assert "Profiles" in driver.page_source
    assert report["tracebacks"] == 0
    assert report["errors"] == []


def _pages() -> list[str]:
    """Every page of the book (the intro and each chapter), as paths of their HTML."""
    from maqamgen import book

    return [str(md.relative_to(ROOT).with_suffix(".html")) for md in book.chapters()]


@pytest.fixture(scope="module")
def reports(site, driver):
    """Each page's report, loaded once per test module (several tests read the same page)."""
    cache: dict[str, dict] = {}

    def get(page: str) -> dict:
        if page not in cache:
            if not (HTML / page).exists():
                pytest.fail(f"{HTML / page} was not rendered")
            cache[page] = _load(driver, f"{site}/{page}", page.replace("/", "_").removesuffix(".html"))
        return cache[page]

    return get


def test_chapter1_has_figures_and_playable_audio(reports):
    report = reports("book/part1/01_stft_filtering.html")
    assert report["broken"] == [], f"figures that did not decode: {report['broken']}"
    assert report["n_img"] >= 4, report
    assert report["n_audio"] >= 3, report
    assert report["n_math"] >= 10 and report["raw_tex"] == 0, "equations did not typeset (MathJax)"
    assert all(ready >= 1 and duration > 0.5 for ready, duration in report["audio_ready"]), report


@pytest.mark.parametrize("page", _pages())
def test_every_page_renders_plays_and_typesets(reports, page):
    """Figures decode, every audio player has its data and a duration, every equation is typeset
    (no raw TeX left), no script errors, no tracebacks in the outputs."""
    report = reports(page)
    assert report["broken"] == [], f"figures that did not decode: {report['broken']}"
    if not page.endswith("intro.html"):
        assert report["n_img"] >= 2, report
    silent = [(i, ready, duration) for i, (ready, duration) in enumerate(report["audio_ready"])
              if not (ready >= 1 and duration > 0)]
    assert silent == [], (f"{page}: audio players without data or duration "
                          f"(index, readyState, duration): {silent}")
    assert report["untypeset"] == [], f"{page}: equations MathJax did not typeset: {report['untypeset']}"
    assert report["n_math"] >= report["n_math_src"], report
    assert report["raw_tex"] == 0, f"{page}: raw TeX delimiters left in the page text"
    assert report["tracebacks"] == 0, f"{page}: {report['tracebacks']} traceback(s) in the outputs"
    assert report["errors"] == [], f"{page}: script errors: {report['errors']}"


@pytest.mark.parametrize("page", _pages())
def test_code_fits_width(reports, page):
    """No code cell's source is wider than its box at the default theme width (a horizontal
    scroll bar in a code cell): the failure lists each cell and the lines that do not fit."""
    report = reports(page)
    assert report["n_code"] > 0 or page.endswith("intro.html"), report
    too_wide = [f"cell {o['cell']} ({o['scroll_px']} px in a {o['box_px']} px box): "
                + "; ".join(f"{n} chars {line!r}" for n, _, line in o["lines"])
                for o in report["code_overflow"]]
    assert too_wide == [], f"{page}: code lines wider than the page:\n  " + "\n  ".join(too_wide)
