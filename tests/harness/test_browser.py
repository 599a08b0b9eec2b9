"""The rendered book in a real headless Chromium (milestones/tools/browser.py, the check `make browser-test` runs).

The first test checks the session's strict build of the whole book (the ``strict_book``
fixture); the second shows the checker catches each kind of fault on a small broken site.
Chromium is installed with apt-get when missing and we are root, else the test fails saying
what to install.
"""

from __future__ import annotations

import struct
from pathlib import Path

from milestones.tools import browser
import pytest
from milestones.tools.bookbuild import ROOT, TEST_REPOSITORY_URL

from milestones import book, registry


@pytest.fixture(scope="module")
def chromium_ready():
    try:
        return browser.ensure_chromium()
    except browser.BrowserError as exc:
        pytest.fail(str(exc))


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_strict_book_every_page_loads_offline_with_figures_maths_links_and_launch_buttons(strict_book, chromium_ready):
    copy, result = strict_book
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    html = copy / "_build" / "html"
    repository = book.Repository(TEST_REPOSITORY_URL, book.DEFAULT_BRANCH, "the test build")
    report = browser.check_site(html, repository, browser.repository_files(ROOT), copy / "_build" / "screenshots")
    print(report.summary())
    assert report.problems == [], "\n".join(report.problems)

    chapters = [s for s in registry.ALL_MILESTONES if s.chapter_path.exists()]
    assert report.pages == len(browser.site_pages(html)) >= len(chapters) + 10
    assert report.formulas >= 20 and report.math_pages >= 3, "the maths is gone from the pages"
    assert report.figures >= len(chapters), "every chapter draws at least one figure"
    assert report.links >= 100 and report.anchors >= 20
    assert report.buttons["Colab"] == report.buttons["Binder"] == len(chapters)
    assert report.requests > report.pages and report.external == 0  # the pages' own files, from the local server
    assert sorted(p.stem for p in report.screenshots) == sorted(Path(s.docname).name for s in chapters)
    for shot in report.screenshots:
        width, height = png_size(shot)
        assert width == browser.VIEWPORT[0] and height > browser.VIEWPORT[1], f"{shot.name} is not the full page"


BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title><link rel="icon" href="data:,">
<script src="{elsewhere}script.js"></script></head><body>
<div class="article-header-buttons">
  <a href="https://colab.research.google.com/github/me/tt/blob/main/milestones/nope.ipynb">Colab</a>
  <a href="https://mybinder.org/v2/gh/someone/else/main?urlpath=tree/README.md">Binder</a>
</div>
<article>
  <img src="missing.png" alt="a figure that is not there">
  <div class="math notranslate nohighlight">\\[x^2\\]</div>
  <a href="clean.html#here">fine</a> <a href="clean.html#nowhere">bad anchor</a> <a href="gone.html">bad page</a>
</article>
<script>console.error("boom")</script>
</body></html>"""

CLEAN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>clean</title><link rel="icon" href="data:,"></head><body>
<div class="article-header-buttons">
  <a href="https://colab.research.google.com/github/me/tt/blob/main/README.md">Colab</a>
  <a href="https://github.com/me/tt">repository</a>
</div>
<article><h1 id="here">Here</h1><a href="broken.html">back</a></article></body></html>"""


def test_the_checker_reports_each_kind_of_fault(tmp_path, chromium_ready):
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    site.mkdir()
    elsewhere.mkdir()
    (elsewhere / "script.js").write_text("// served from another origin: the network, for the checker\n")
    with browser.serve(elsewhere) as other_origin:
        (site / "broken.html").write_text(BROKEN_PAGE.format(elsewhere=other_origin))
        (site / "clean.html").write_text(CLEAN_PAGE)
        repository = book.Repository("https://github.com/me/tt", "main", "the test")
        report = browser.check_site(site, repository, {"README.md"}, say=lambda _: None)
    problems = "\n".join(report.problems)
    assert report.pages == 2
    expected = [
        "broken.html: loads http://127.0.0.1:",  # not the site's own server: counts as the network
        "broken.html: console error: boom",
        "broken.html: image did not load",
        "broken.html: console error: Failed to load resource: the server responded with a status of 404",
        "broken.html: maths not typeset: '\\\\[x^2\\\\]'",
        "broken.html: link to a missing anchor: /clean.html#nowhere",
        "broken.html: link to a missing page: /gone.html",
        "broken.html: Colab button opens milestones/nope.ipynb, which the repository does not have",
        "broken.html: Binder button points at someone/else, the repository setting is me/tt",
    ]
    for line in expected:
        assert line in problems, f"not reported: {line}\nreported:\n{problems}"
    assert not [p for p in report.problems if p.startswith("clean.html")], problems
    assert len(report.problems) == len(expected), problems


def fake_apt_get(folder: Path, works: bool) -> None:
    """An ``apt-get`` on PATH that 'installs' a chromium script, or fails as apt-get does."""
    script = folder / "apt-get"
    if works:
        script.write_text(f"#!/bin/sh\n[ \"$1\" = install ] && printf '#!/bin/sh\\n' > {folder}/chromium "
                          f"&& /bin/chmod +x {folder}/chromium\nexit 0\n")
    else:
        script.write_text("#!/bin/sh\necho 'E: Unable to locate package chromium' >&2\nexit 100\n")
    script.chmod(0o755)


@pytest.mark.parametrize("works", [True, False])
def test_missing_chromium_is_installed_with_apt_get_as_root_or_named_in_one_line(tmp_path, monkeypatch, works):
    fake_apt_get(tmp_path, works)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 0)
    if works:
        assert browser.ensure_chromium(say=lambda _: None) == str(tmp_path / "chromium")
    else:
        with pytest.raises(browser.BrowserError) as failure:
            browser.ensure_chromium(say=lambda _: None)
        assert "\n" not in str(failure.value)
        assert "apt-get install chromium" in str(failure.value) and "Unable to locate package" in str(failure.value)


def test_missing_chromium_without_root_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)
    with pytest.raises(browser.BrowserError, match=r"^Chromium not found: install it .*apt-get install chromium"):
        browser.ensure_chromium(say=lambda _: None)


TALL_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>tall</title><link rel="icon" href="data:,">
<style>body {{ margin: 0; display: flex; }} nav {{ width: 200px; background: #ff0000; }}
main {{ flex: 1; height: {height}px; background: #ffffff; }} #end {{ height: 50px; background: #0000ff; }}</style></head>
<body><nav></nav><main><div style="height: {before_end}px"></div><div id="end"></div></main></body></html>"""


def test_a_page_taller_than_chromium_textures_is_captured_whole_with_its_layout(tmp_path, chromium_ready):
    from PIL import Image

    height = 20000  # one capture of more than ~16,000 px comes back shifted, the sidebar gone
    (tmp_path / "tall.html").write_text(TALL_PAGE.format(height=height, before_end=height - 50))
    with browser.chromium(say=lambda _: None) as chromium, browser.serve(tmp_path) as base:
        chromium.call("Page.navigate", url=base + "tall.html")
        assert chromium.wait_for("Page.loadEventFired") is not None
        chromium.screenshot(tmp_path / "tall.png")
    shot = Image.open(tmp_path / "tall.png").convert("RGB")
    assert shot.size == (browser.VIEWPORT[0], height)
    for y in (10, 8000, 16500, height - 10):
        assert shot.getpixel((100, y)) == (255, 0, 0), f"no sidebar at y={y}"
    assert shot.getpixel((600, height - 10)) == (0, 0, 255) and shot.getpixel((600, height - 100)) == (255, 255, 255)


def themed_long_page(folder: Path, moving: bool = False) -> None:
    """Write ``folder/long.html``: the book theme's layout (its own CSS, sticky sidebars) around 24
    blocks of text and wide outputs, each block a colour of its own, about 40,000 px in all, so
    every 4,000-px band shows different blocks. ``moving``: the page keeps growing at its top while
    it is captured."""
    import pydata_sphinx_theme
    import sphinx_book_theme

    for package, css in ((pydata_sphinx_theme, "theme/pydata_sphinx_theme/static/styles/pydata-sphinx-theme.css"),
                         (sphinx_book_theme, "theme/sphinx_book_theme/static/styles/sphinx-book-theme.css")):
        (folder / Path(css).name).write_bytes((Path(package.__file__).parent / css).read_bytes())
    blocks = []
    for i in range(24):
        wide = "\n".join(f"block {i:02d} row {r:03d} " + "=" * ((i * 37 + r * 7) % 400) for r in range(40 + (i * 13) % 60))
        words = " ".join(f"Words of block {i}, sentence {k}." for k in range(60))
        blocks.append(f'<section class="block" style="background: {block_colour(i)}; padding: 10px; margin: 0">'
                      f'<h2 style="margin: 0; height: 40px; color: white">Block {i}</h2><p>{words}</p>'
                      f'<pre style="overflow-x: auto; background: white; margin: 0; font-size: 12px; line-height: 15px">'
                      f'{wide}</pre></section>')
    nav = "".join(f'<li><a href="#">chapter {k}</a></li>' for k in range(60))
    grow = ('<div id="grow"></div><script>let h = 0; setInterval(() => '
            'document.getElementById("grow").style.height = (h += 7) + "px", 5);</script>') if moving else ""
    (folder / "long.html").write_text(f"""<!DOCTYPE html><html lang="en" data-theme="light"><head><meta charset="utf-8">
<title>long</title><link rel="icon" href="data:,"><link rel="stylesheet" href="pydata-sphinx-theme.css">
<link rel="stylesheet" href="sphinx-book-theme.css"></head><body>
<header class="bd-header navbar"><div class="bd-header__inner bd-page-width">header</div></header>
<div class="bd-container"><div class="bd-container__inner bd-page-width">
<div class="bd-sidebar-primary bd-sidebar"><div class="sidebar-primary-items__start sidebar-primary__section"><ul>{nav}</ul></div></div>
<main class="bd-main"><div class="bd-content"><div class="bd-article-container"><article class="bd-article">{grow}{''.join(blocks)}
</article></div><div class="bd-sidebar-secondary bd-toc">contents</div></div></main></div></div></body></html>""")


def block_colour(i: int) -> str:
    return f"rgb({(i * 53) % 256}, {(i * 97) % 256}, {(i * 151) % 256})"


BLOCKS = """[...document.querySelectorAll("section.block")].map(s => {
  const r = s.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.height]; })"""


def test_a_long_themed_page_with_wide_outputs_is_stitched_without_seams(tmp_path, chromium_ready):
    """Each band shows the blocks the page has there, right up to and across every seam. (Captured
    beyond a small window, band by band, this page came back with its bands shifted 100-300 px.)"""
    from PIL import Image

    themed_long_page(tmp_path)
    with browser.chromium(say=lambda _: None) as chromium, browser.serve(tmp_path) as base:
        chromium.call("Page.navigate", url=base + "long.html")
        assert chromium.wait_for("Page.loadEventFired") is not None
        blocks = chromium.evaluate(BLOCKS)
        problems = chromium.screenshot(tmp_path / "long.png")
    assert problems == []
    shot = Image.open(tmp_path / "long.png").convert("RGB")
    assert shot.height > blocks[-1][1] + blocks[-1][2] > 10 * browser.SCREENSHOT_BAND_PX
    seams = range(browser.SCREENSHOT_BAND_PX, shot.height, browser.SCREENSHOT_BAND_PX)
    wrong = []
    for i, (left, top, height) in enumerate(blocks):
        rows = [top + 2, top + height / 2, top + height - 3]
        rows += [y + d for y in seams for d in (-2, -1, 0, 1) if top + 2 <= y + d <= top + height - 3]
        expected = tuple(int(v) for v in block_colour(i)[4:-1].split(","))
        wrong += [(i, int(y)) for y in rows if shot.getpixel((int(left) + 3, int(y))) != expected]
    assert wrong == [], f"(block, row) where the screenshot does not show the page: {wrong[:20]}"


def test_a_page_that_moves_while_captured_is_reported_not_stitched_silently(tmp_path, chromium_ready):
    themed_long_page(tmp_path, moving=True)
    with browser.chromium(say=lambda _: None) as chromium, browser.serve(tmp_path) as base:
        chromium.call("Page.navigate", url=base + "long.html")
        assert chromium.wait_for("Page.loadEventFired") is not None
        problems = chromium.screenshot(tmp_path / "long.png")
    assert any(p.startswith("screenshot seam at y=") for p in problems), problems
    assert "the page's layout changed while its screenshot was taken" in problems
