"""The rendered book in a real headless Chromium: every page loads cleanly, offline.

    python -m milestones.tools.browser [_build/html] [--screenshots _build/screenshots]    (what `make browser-test` runs)

Every HTML page of the built site is served from 127.0.0.1 and loaded in Debian's Chromium,
driven through the Chrome DevTools protocol over a pipe (``--remote-debugging-pipe``): no
driver, no extra package, no port, and no version coupling to a browser build of a test tool's
own (this machine cannot download those). A page fails on: a console error or uncaught
exception, any request that leaves the local server (the network), an image that did not load
(naturalWidth 0), maths that MathJax did not typeset, an internal link to a missing page or
anchor, and a launch or repository button whose URL is not the repository setting or names a
file the repository does not have (``git ls-files``). Each milestone and extra chapter gets a
full-page screenshot, whose band seams are checked (a seam that does not join fails the page).
tests/harness/test_browser.py runs the same check on the test session's build.
"""

from __future__ import annotations

import argparse
import ast
import base64
import fcntl
import functools
import http.server
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from milestones import book, registry  # noqa: E402

CHROMIUM_NAMES = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome", "google-chrome-stable")
APT_PACKAGE = "chromium"
INSTALL_HINT = (f"Chromium not found: install it (Debian/Ubuntu: `sudo apt-get install {APT_PACKAGE}`) "
                "or set CHROMIUM=/path/to/chromium")
# The flags that work on a machine without network or display (see the machine notes).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                  "--no-default-browser-check", "--remote-debugging-pipe")
VIEWPORT = (1280, 900)
PAGE_TIMEOUT_S = 60
SCREENSHOT_BAND_PX = 4000  # each capture well under Chromium's texture limit
SEAM_CHECK_PX = 32  # rows each band repeats from the band above, to prove the seam
SEAM_TOLERANCE_PX = 40  # of those 40,960 pixels, how many may differ (antialiasing at a tile's edge), not a shifted line of text
MAX_SCREENSHOT_PX = 60000
SKIPPED_FOLDERS = ("_static", "_sources", "_images", "_downloads")
LOCAL_SCHEMES = ("data:", "blob:", "about:")

# Run in each page once it has loaded: wait for images, maths and fonts, then report what is there.
SETTLE_AND_INSPECT = """(async () => {
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done); setTimeout(done, 15000);
  })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  const maths = [...document.querySelectorAll(".math")];
  return {
    url: location.href,
    images: images.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth,
                                figure: !!img.closest("article")})),
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.trim().slice(0, 60)),
    mathErrors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")].map(
      e => e.getAttribute("data-mjx-error") || e.textContent.slice(0, 60)),
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    buttons: [...document.querySelectorAll(".article-header-buttons a[href]")].map(a => a.href),
    ids: [...document.querySelectorAll("[id]")].map(e => e.id)
          .concat([...document.querySelectorAll("a[name]")].map(a => a.name)),
  };
})()"""


# After the window is resized: two frames for layout and paint, then a moment for the page's own
# (debounced) resize handlers.
AFTER_RESIZE = """new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 400))))"""
# Where the page's blocks are: the same before and after a screenshot, or the page moved meanwhile.
LAYOUT_SIGNATURE = """JSON.stringify([scrollX, scrollY, document.documentElement.scrollWidth,
  document.documentElement.scrollHeight, ...[...document.querySelectorAll("h1, h2, h3, p, pre, img, table, section, nav")]
  .map(e => { const r = e.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.top), Math.round(r.width)]; })])"""


class BrowserError(RuntimeError):
    """Chromium could not be found, installed, started or driven."""


# ---------------------------------------------------------------- finding (and installing) Chromium

def find_chromium() -> str | None:
    """``$CHROMIUM`` or the first Chromium/Chrome on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def ensure_chromium(say=print) -> str:
    """Chromium's path, installing Debian's package with apt-get when root and it is missing.

    Raises BrowserError with one line saying what to install where that is not possible.
    """
    found = find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserError(INSTALL_HINT)
    say(f"Chromium not found: installing Debian's {APT_PACKAGE} with apt-get (once) ...")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", APT_PACKAGE]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    done = subprocess.run(install, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env)
        done = subprocess.run(install, capture_output=True, text=True, env=env)
    found = find_chromium()
    if done.returncode != 0 or not found:
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise BrowserError(f"{INSTALL_HINT} (apt-get install {APT_PACKAGE} failed: {said[-1] if said else '?'})")
    return found


# ---------------------------------------------------------------- the DevTools protocol over a pipe

class Chromium:
    """One headless Chromium with one tab, driven by DevTools protocol messages over a pipe."""

    def __init__(self, executable: str, workdir: Path):
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4; lift our ends above both first.
        child_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
        child_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)

        def wire_pipes():  # runs in the child before exec (no threads are running here yet)
            os.dup2(child_read, 3)
            os.dup2(child_write, 4)

        self.log = workdir / "chromium.log"
        command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={workdir / 'profile'}",
                   f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            pass_fds=(3, 4), preexec_fn=wire_pipes)
        os.close(child_read)
        os.close(child_write)
        self._out, self._in = to_browser_write, from_browser_read
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                  deviceScaleFactor=1, mobile=False)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited: {self.log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, timeout: float = PAGE_TIMEOUT_S, **params) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, event: str, timeout: float = PAGE_TIMEOUT_S) -> dict | None:
        """The first kept or new event of this name (removed from the queue), or None on time-out."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.events):
                if message["method"] == event:
                    return self.events.pop(index)
            try:
                message = self._read_message(deadline)
            except BrowserError:
                if time.monotonic() >= deadline:
                    return None
                raise
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def _window(self, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=height, deviceScaleFactor=1,
                  mobile=False)

    def _fit_window_to_page(self) -> tuple[int, list[str]]:
        """Make the window as tall as the page; returns its height (and a problem if the page is too tall).

        A page can grow with its window (something 100vh tall below a header): after a few rounds
        the window stays as it is, and what grew below it is that growth, not the page's content.
        """
        height, problems = VIEWPORT[1], []
        for _ in range(4):
            wanted = int(self.call("Page.getLayoutMetrics")["cssContentSize"]["height"])
            if wanted > MAX_SCREENSHOT_PX:
                problems = [f"the page is {wanted} px tall: its screenshot shows the first {MAX_SCREENSHOT_PX} px"]
                wanted = MAX_SCREENSHOT_PX
            if wanted == height:
                break
            height = wanted
            self._window(height)
            self.evaluate(AFTER_RESIZE)
        return height, problems

    def _capture(self, top: int, bottom: int):
        from PIL import Image

        clip = {"x": 0, "y": top, "width": VIEWPORT[0], "height": bottom - top, "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip)
        return Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")

    def screenshot(self, path: Path) -> list[str]:
        """A PNG of the whole page, not just the viewport; returns the problems seen (a seam, a page
        that moved while it was captured).

        The window is first made as tall as the page, so the page is laid out once, as it is
        captured: nothing scrolls or resizes between the bands of SCREENSHOT_BAND_PX (each capture
        stays well under Chromium's largest texture) that are stitched with Pillow. Capturing beyond
        a small window instead lays the page out anew for each band, and its bands then disagree at
        the seams. Each band repeats the last SEAM_CHECK_PX rows of the band above, which must come
        back identical, and the layout is compared before and after: a seam cannot pass unseen.
        """
        from PIL import Image

        self.evaluate("window.scrollTo(0, 0)")
        try:
            height, problems = self._fit_window_to_page()
            layout = self.evaluate(LAYOUT_SIGNATURE)
            page = Image.new("RGB", (VIEWPORT[0], height), "white")
            for top in range(0, height, SCREENSHOT_BAND_PX):
                start = max(0, top - SEAM_CHECK_PX)
                band = self._capture(start, min(top + SCREENSHOT_BAND_PX, height))
                if top and _pixels_apart(band.crop((0, 0, VIEWPORT[0], top - start)),
                                         page.crop((0, start, VIEWPORT[0], top))) > SEAM_TOLERANCE_PX:
                    problems.append(f"screenshot seam at y={top}: the band below does not continue the band above")
                page.paste(band.crop((0, top - start, VIEWPORT[0], band.height)), (0, top))
            if self.evaluate(LAYOUT_SIGNATURE) != layout:
                problems.append("the page's layout changed while its screenshot was taken")
        finally:
            self._window(VIEWPORT[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        page.save(path)
        return problems

    def log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        return lines[-1] if lines else "no output"

    def close(self) -> None:
        try:
            self.session = None
            self.call("Browser.close", timeout=10)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._in, self._out):
            os.close(fd)


def _pixels_apart(one, other) -> int:
    """How many pixels of two same-sized images differ visibly (a channel by more than 32 of 255)."""
    from PIL import ImageChops

    return ImageChops.difference(one, other).convert("L").point(lambda v: 255 if v > 32 else 0).histogram()[255]


@contextmanager
def chromium(say=print):
    """A started Chromium (installed first where possible), closed afterwards."""
    executable = ensure_chromium(say)
    with tempfile.TemporaryDirectory(prefix="tinytorch-chromium-") as workdir:
        browser = Chromium(executable, Path(workdir))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- what the repository has

def configured_repository_url(book_root: Path = ROOT) -> str | None:
    """The ``repository_url = "..."`` literal of conf.py, read without running conf.py."""
    tree = ast.parse((book_root / "conf.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "repository_url" for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return node.value.value
    return None


def repository_files(book_root: Path = ROOT) -> set[str]:
    """The files the repository has: ``git ls-files`` of the checkout (every file when not a checkout)."""
    done = subprocess.run(["git", "-C", str(book_root), "ls-files", "-z"], capture_output=True)
    if done.returncode == 0:
        return {name for name in done.stdout.decode().split("\0") if name}
    return {p.relative_to(book_root).as_posix() for p in book_root.rglob("*") if p.is_file()}


LAUNCH_PATTERNS = {
    "Colab": re.compile(r"^https://colab\.research\.google\.com/github/(?P<repo>[^/]+/[^/]+)/blob/(?P<branch>[^/]+)/"
                        r"(?P<path>[^?#]+)$"),
    "Binder": re.compile(r"^https://mybinder\.org/v2/gh/(?P<repo>[^/]+/[^/]+)/(?P<branch>[^?/]+)\?(?P<query>.+)$"),
    "repository": re.compile(r"^https://github\.com/(?P<repo>[^/]+/[^/?#]+)/?(?:(?:blob|edit|tree)/"
                             r"(?P<branch>[^/]+)/(?P<path>[^?#]+))?$"),
}


def check_button(url: str, repository: book.Repository | None, files: set[str]) -> tuple[str | None, str | None]:
    """(kind, problem) for one header button URL; kind None means not a launch/repository button."""
    for kind, pattern in LAUNCH_PATTERNS.items():
        found = pattern.match(url)
        if not found:
            continue
        if repository is None:
            return kind, f"{kind} button {url} although no repository is set"
        expected = f"{repository.owner}/{repository.name}"
        if found["repo"] != expected:
            return kind, f"{kind} button points at {found['repo']}, the repository setting is {expected}"
        if found.groupdict().get("branch") and found["branch"] != repository.branch:
            return kind, f"{kind} button uses branch {found['branch']}, the setting is {repository.branch}"
        path = found.groupdict().get("path")
        if kind == "Binder":
            urlpath = parse_qs(found["query"]).get("urlpath", [""])[0]
            path = re.sub(r"^(?:lab/)?tree/", "", urlpath)
        if path is not None and unquote(path) not in files:
            return kind, f"{kind} button opens {unquote(path)}, which the repository does not have (git ls-files)"
        return kind, None
    return None, None


# ---------------------------------------------------------------- the check

@dataclass
class Report:
    """What the browser saw: counts, and one line per problem."""

    pages: int = 0
    images: int = 0
    figures: int = 0
    formulas: int = 0
    math_pages: int = 0
    links: int = 0
    anchors: int = 0
    buttons: dict = field(default_factory=dict)
    requests: int = 0
    external: int = 0
    screenshots: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        buttons = ", ".join(f"{n} {kind}" for kind, n in sorted(self.buttons.items())) or "none"
        return (f"{self.pages} pages in {self.seconds:.1f} s: {self.images} images ({self.figures} in the text), "
                f"{self.formulas} formulas on {self.math_pages} pages, {self.links} internal links "
                f"({self.anchors} to anchors), buttons: {buttons}, {self.requests} requests ({self.external} not local), "
                f"{len(self.screenshots)} screenshots; {len(self.problems)} problems")


def site_pages(html_dir: Path) -> list[Path]:
    return sorted(p for p in html_dir.rglob("*.html")
                  if not set(p.relative_to(html_dir).parts[:-1]) & set(SKIPPED_FOLDERS))


def chapter_pages(html_dir: Path) -> dict[str, Path]:
    """Screenshot name -> page, for every milestone and extra chapter in the site."""
    pages = {}
    for stone in registry.ALL_MILESTONES:
        page = html_dir / f"{stone.docname}.html"
        if page.exists():
            pages[Path(stone.docname).name] = page
    return pages


def _console_problems(events: list[dict], base: str) -> list[str]:
    """Console errors and uncaught exceptions. Not counted: the browser's own guess at
    ``/favicon.ico`` for a page that declares no icon (the book's pages declare one; the root
    redirect page does not), which no page asked for."""
    problems = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            problems.append(f"console error: {text[:200]}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            problems.append(f"uncaught exception: {text.splitlines()[0][:200] if text else '?'}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            if entry.get("url") == base + "favicon.ico" and entry.get("source") == "network":
                continue
            problems.append(f"console error: {entry.get('text', '')[:200]} {entry.get('url', '')}".strip())
    return problems


def check_site(html_dir: Path, repository: book.Repository | None, files: set[str],
               screenshots: Path | None = None, say=print) -> Report:
    """Load every page of a built book in Chromium and report what failed (see the module docstring)."""
    html_dir = html_dir.resolve()
    pages = site_pages(html_dir)
    if not pages:
        raise BrowserError(f"no HTML pages under {html_dir}: build the book first (make html)")
    shots = {page: name for name, page in chapter_pages(html_dir).items()} if screenshots else {}
    report, start = Report(), time.monotonic()
    ids: dict[Path, set[str]] = {}
    links: list[tuple[Path, str]] = []
    button_pages: dict[Path, set[str]] = {}
    with chromium(say) as browser, serve(html_dir) as base:
        for page in pages:
            relative = page.relative_to(html_dir).as_posix()
            where = f"{relative}:"
            browser.events.clear()
            navigation = browser.call("Page.navigate", url=base + relative)
            if navigation.get("errorText"):
                report.problems.append(f"{where} did not load ({navigation['errorText']})")
                continue
            if browser.wait_for("Page.loadEventFired") is None:
                report.problems.append(f"{where} did not finish loading in {PAGE_TIMEOUT_S} s")
                continue
            redirect = "http-equiv=\"refresh\"" in page.read_text(errors="replace")
            if redirect and browser.wait_for("Page.loadEventFired", timeout=10) is None:
                report.problems.append(f"{where} its redirect did not load")
                continue
            seen = browser.evaluate(SETTLE_AND_INSPECT)
            if redirect:  # the root page sends readers on: check where it went
                target = html_dir / unquote(urlsplit(seen["url"]).path).lstrip("/")
                if not target.is_file() or target == page:
                    report.problems.append(f"{where} redirects to {seen['url']}, which is not a page")
            report.pages += 1
            ids[page] = set(seen["ids"])
            for event in browser.events:
                if event["method"] == "Network.requestWillBeSent":
                    url = event["params"]["request"]["url"]
                    report.requests += 1
                    if not (url.startswith(base) or url.startswith(LOCAL_SCHEMES)):
                        report.external += 1
                        report.problems.append(f"{where} loads {url[:120]} from the network")
            report.problems += [f"{where} {p}" for p in _console_problems(browser.events, base)]
            for image in seen["images"]:
                report.images += 1
                report.figures += image["figure"]
                if image["width"] == 0:
                    report.problems.append(f"{where} image did not load: {image['src'][:120]}")
            report.formulas += seen["maths"]
            report.math_pages += bool(seen["maths"])
            report.problems += [f"{where} maths not typeset: {text!r}" for text in seen["untypeset"]]
            report.problems += [f"{where} MathJax error: {text}" for text in seen["mathErrors"]]
            links += [(page, url) for url in seen["links"] if url.startswith(base)]
            kinds = set()
            for url in seen["buttons"]:
                kind, problem = check_button(url, repository, files)
                if kind:
                    kinds.add(kind)
                    report.buttons[kind] = report.buttons.get(kind, 0) + 1
                if problem:
                    report.problems.append(f"{where} {problem}")
            button_pages[page] = kinds
            if page in shots:
                target = screenshots / f"{shots[page]}.png"
                report.problems += [f"{where} {problem}" for problem in browser.screenshot(target)]
                report.screenshots.append(target)
    report.problems += _link_problems(html_dir, base, links, ids, report)
    if repository is not None:
        for page in chapter_pages(html_dir).values():
            missing = {"Colab", "Binder", "repository"} - button_pages.get(page, set())
            if missing:
                report.problems.append(f"{page.relative_to(html_dir)}: no {', '.join(sorted(missing))} button")
    report.seconds = time.monotonic() - start
    return report


def _link_problems(html_dir: Path, base: str, links: list[tuple[Path, str]], ids: dict[Path, set[str]],
                   report: Report) -> list[str]:
    """Internal links must reach an existing file, and an existing element when they name an anchor."""
    problems = []
    for page, url in dict.fromkeys(links):
        parts = urlsplit(url)
        target = html_dir / unquote(parts.path[len(urlsplit(base).path):])
        if parts.path.endswith("/"):
            target = target / "index.html"
        report.links += 1
        where = f"{page.relative_to(html_dir).as_posix()}:"
        if not target.is_file():
            problems.append(f"{where} link to a missing page: {unquote(parts.path)}")
            continue
        if parts.fragment:
            report.anchors += 1
            if target.suffix == ".html" and unquote(parts.fragment) not in ids.get(target, set()):
                problems.append(f"{where} link to a missing anchor: {unquote(parts.path)}#{parts.fragment}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", default=str(ROOT / "_build" / "html"), help="the built site")
    parser.add_argument("--screenshots", default=None, help="folder for the chapters' screenshots "
                        "(default: screenshots/ beside the site)")
    args = parser.parse_args(argv)
    html = Path(args.html)
    repository, note = book.find_repository(ROOT, configured_repository_url(ROOT))
    print(f"Browser check of {html} ({note})", flush=True)
    try:
        report = check_site(html, repository, repository_files(ROOT),
                            Path(args.screenshots) if args.screenshots else html.parent / "screenshots")
    except BrowserError as exc:
        print(f"browser-test: {exc}", file=sys.stderr)
        return 1
    for problem in report.problems:
        print(f"  FAIL {problem}")
    print(report.summary())
    if report.screenshots:
        print(f"Screenshots: {report.screenshots[0].parent}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
