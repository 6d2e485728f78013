"""The rendered book: its generated pages, its offline promise, and a real browser on it.

The browser tests build the book once per test session (from the committed, executed
notebooks: `make book` is the command that re-executes them), serve it on 127.0.0.1 and drive
Debian's chromium (/usr/bin/chromium, headless) through the Chrome DevTools Protocol. Set
KIT_BOOK_HTML=<folder> to test an existing build (e.g. _build/html after `make book`)
instead. Screenshots go to each test's tmp_path. When CI=true and chromium is missing the
browser tests fail; elsewhere they skip with the install command.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import build_book
import nbformat
import pytest

import notebooks as nb

CHROMIUM = os.environ.get("KIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,1000",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]
#: The kit under test (KIT_ROOT points the tests at another checkout, for development).
ROOT = Path(os.environ.get("KIT_ROOT", nb.ROOT)).resolve()
NOTEBOOKS = nb.find_notebooks(ROOT)
GLOSSARY = ROOT / "docs" / "glossary.md"
ERROR_SELECTORS = (
    ".system-message, .output.traceback, .output.error, .output.stderr, .cell_output .traceback"
)


def _page(rel: str) -> str:
    return rel[: -len(".ipynb")] + ".html" if rel.endswith(".ipynb") else rel


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


# --- fast tests: the generated pages and the offline check, without building ------------


def test_solution_cells_are_hidden_and_instructor_cells_removed_in_the_build_copy():
    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell("answer = 1", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("Say this", metadata={"tags": ["instructor"]}),
        nbformat.v4.new_markdown_cell("It is 1", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("x = 2"),
        nbformat.v4.new_code_cell(
            "exercises.check_00_x(answer)",
            outputs=[
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "'Correct: 1'"}, execution_count=1
                )
            ],
        ),
    ]
    build_book.prepare_for_book(book)
    assert "hide-cell" in _tags(book.cells[0])
    assert book.cells[0].metadata["mystnb"]["code_prompt_show"] == "Show solution"
    assert "remove-cell" in _tags(book.cells[1])
    assert book.cells[2].source.startswith(":::{admonition} Solution\n:class: dropdown")
    assert _tags(book.cells[3]) == []
    assert "hide-output" in _tags(book.cells[4]), "a passing check shows the answer: folded away"
    claims = [
        nbformat.v4.new_code_cell("from helpers.claims import claim\nrate = 0.87"),
        nbformat.v4.new_code_cell('claim("rate", rate, 0.87)', metadata={"tags": ["author-check"]}),
        nbformat.v4.new_code_cell('print(rate)\nclaim("rate", rate, 0.87)'),
    ]
    book.cells = claims
    build_book.prepare_for_book(book)
    assert [c.source for c in book.cells] == ["rate = 0.87", "print(rate)"], "no author checks"
    other = nbformat.v4.new_code_cell(
        "dp.check_epsilon(1.0)",
        outputs=[nbformat.v4.new_output("stream", name="stdout", text="ok")],
    )
    book.cells = [other]
    build_book.prepare_for_book(book)
    assert _tags(other) == [], "only exercise checks are folded"


def _item(stem, folder="notebooks", teach=30, exercise=15, seconds=12.0):
    return {
        "title": f"Title {stem}",
        "objectives": [f"objective of {stem}"],
        "teaching_minutes": teach,
        "exercise_minutes": exercise,
        "budget_seconds": 60,
        "rel": f"{folder}/{stem}.ipynb",
        "folder": folder,
        "stem": stem,
        "seconds": seconds,
        "notes": [f"note for {stem}"],
        "questions": [f"question in {stem}"],
    }


def _sessions(rows):
    return [r for r in rows if r["kind"] == "session"]


def test_plan_fits_everything_when_there_is_time():
    items = [_item(f"0{i}_x", teach=30, exercise=15) for i in range(3)]
    rows = build_book.plan(items, build_book.HALF_DAY_MINUTES)
    assert [r["planned_exercise"] for r in _sessions(rows)] == [15, 15, 15]
    assert rows[0]["start"] == "09:00" and rows[1]["start"] == "09:45"
    assert any(r["kind"] == "break" for r in rows), "a break after 90 minutes"
    assert not [r for r in rows if r["kind"] == "homework"]


def test_plan_shortens_exercises_to_fit_and_keeps_all_teaching():
    items = [_item(f"0{i}_x", teach=40, exercise=30) for i in range(4)]  # 160 + 120 > 210
    rows = build_book.plan(items, build_book.HALF_DAY_MINUTES)
    sessions = _sessions(rows)
    assert len(sessions) == 4 and all(r["teaching_minutes"] == 40 for r in sessions)
    assert sum(r["minutes"] for r in sessions) <= build_book.HALF_DAY_MINUTES
    assert all(0 < r["planned_exercise"] < 30 and r["planned_exercise"] % 5 == 0 for r in sessions)
    assert "10 of 30*" in build_book._plan_table([{**r, "link": "x"} for r in rows])


def test_plan_sends_what_does_not_fit_home():
    core = [_item(f"0{i}_x", teach=80, exercise=20) for i in range(8)]  # teaching alone: 640 > 390
    case = _item("01_case", folder="casestudies", teach=60, exercise=30)  # 90 > the 70 left
    rows = build_book.plan(
        core,
        build_book.FULL_DAY_MINUTES,
        optional=[case],
        lunch_after=build_book.FULL_DAY_MINUTES // 2,
    )
    assert sum(r["minutes"] for r in _sessions(rows)) <= build_book.FULL_DAY_MINUTES
    assert len(_sessions(rows)) == build_book.FULL_DAY_MINUTES // 80
    homework = [r["stem"] for r in rows if r["kind"] == "homework"]
    assert "01_case" in homework and "07_x" in homework
    assert sum(r["kind"] == "lunch" for r in rows) == 1


def test_instructor_guide_is_generated_from_the_metadata():
    items = [
        _item("00_welcome_and_data"),
        _item("01_reidentification", seconds=99.0),
        _item("02_linkage_reidentification", folder="casestudies", seconds=None),
    ]
    guide = build_book.instructor_guide(items, measured=True, has_flower_guide=True)
    for heading in (
        "## Half-day workshop",
        "## Full-day workshop",
        "## Timings per notebook",
        "## Before the workshop: common pitfalls",
        "## Running the Flower workshop mode",
    ):
        assert heading in guide
    for item in items:
        assert item["title"] in guide and item["objectives"][0] in guide
        assert item["notes"][0] in guide and item["questions"][0] in guide
    assert "99 s (over budget)" in guide and "not measured" in guide
    assert "(workshop_flower.md)" in guide and "helpers.preflight" in guide
    assert "scikit-learn==1.7.2" in guide  # the preflight's fix for the diffprivlib pairing
    assert "workshop_flower.md)" not in build_book.instructor_guide(
        items, True, has_flower_guide=False
    )


def test_discussion_questions_are_collected_from_discussion_sections():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("## Method\n- not a question"),
        nbformat.v4.new_markdown_cell("## Discussion questions\n1. Who consents?\n- Who pays?"),
        nbformat.v4.new_markdown_cell("- A note", metadata={"tags": ["instructor"]}),
    ]
    assert build_book.discussion_questions(notebook) == ["Who consents?", "Who pays?"]
    assert build_book.instructor_notes(notebook) == ["- A note"]


def test_links_in_instructor_notes_are_rebased_for_the_guide():
    note = (
        "See [case 3](03_gdpr.ipynb#facts), [nb 1](../notebooks/01_x.ipynb), "
        "[web](https://x.org/a) and [here](#top)."
    )
    assert build_book.rebase_links(note, "casestudies") == (
        "See [case 3](../casestudies/03_gdpr.ipynb#facts), [nb 1](../notebooks/01_x.ipynb), "
        "[web](https://x.org/a) and [here](#top)."
    )


def test_short_titles_for_the_course_map_figure():
    assert build_book.short_title("00 · Welcome: the clinical question") == "Welcome"
    assert (
        build_book.short_title("Case study 02: linkage re-identification, from the governor")
        == "Linkage re-identification"
    )
    assert (
        build_book.short_title("Differential privacy foundations")
        == "Differential privacy foundations"
    )


def test_network_references_catches_a_page_that_would_fetch(tmp_path):
    (tmp_path / "ok.html").write_text(
        '<a href="https://doi.org/10.1/x">paper</a><img src="_images/a.png">'
    )
    assert build_book.network_references(tmp_path) == []
    (tmp_path / "bad.html").write_text('<script src="https://cdn.example.org/x.js"></script>')
    (tmp_path / "bad.css").write_text("body { background: url(https://cdn.example.org/a.png) }")
    (tmp_path / "inline.html").write_text('<script>const U = "https://unpkg.com/x.js";</script>')
    found = "\n".join(build_book.network_references(tmp_path))
    assert "bad.html" in found and "bad.css" in found and "inline.html" in found


def test_table_of_contents_is_in_course_order():
    items = [_item("00_a"), _item("01_b"), _item("01_c", folder="casestudies")]
    toc = build_book.table_of_contents(
        items, ["intro", "glossary", "instructor_guide", "workshop_flower"]
    )
    order = [
        toc.index(s)
        for s in (
            "notebooks/00_a",
            "notebooks/01_b",
            "casestudies/01_c",
            "docs/instructor_guide",
            "docs/workshop_flower",
            "docs/glossary",
        )
    ]
    assert order == sorted(order) and toc.startswith("format: jb-book\nroot: docs/intro")


def _anchor(heading: str) -> str:
    """GitHub's and MyST's heading slug: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", heading.strip().lower()))


GLOSSARY_ANCHORS = {
    _anchor(h) for h in re.findall(r"^##\s+(.+)$", GLOSSARY.read_text(), flags=re.M)
}


@pytest.mark.parametrize(
    "term",
    [
        "epsilon",
        "delta",
        "sensitivity",
        "quasi-identifier",
        "pseudonymisation",
        "anonymisation",
        "k-anonymity",
        "l-diversity",
        "differential-privacy",
        "privacy-budget",
        "composition",
        "randomized-response",
        "federated-learning",
        "secure-aggregation",
        "homomorphic-encryption",
        "membership-inference",
        "linkage-attack",
        "gradient-inversion",
        "dp-sgd",
        "non-iid",
    ],
)
def test_glossary_defines_the_term(term):
    assert term in GLOSSARY_ANCHORS


def test_every_glossary_link_in_the_kit_has_its_term():
    missing = []
    for path in NOTEBOOKS + sorted((ROOT / "docs").glob("*.md")):
        if path.suffix == ".ipynb":
            text = "\n".join(
                c.source
                for c in nbformat.read(path, as_version=4).cells
                if c.cell_type == "markdown"
            )
        else:
            text = path.read_text()
        links = re.findall(r"\]\([^)\s]*glossary\.md#([\w\-]+)\)", text)
        if path == GLOSSARY:
            links += re.findall(r"\]\(#([\w\-]+)\)", text)  # the glossary's own cross-references
        for anchor in links:
            if anchor not in GLOSSARY_ANCHORS:
                missing.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert not missing, "links to glossary terms that are not defined:\n" + "\n".join(missing)


# --- the built book ---------------------------------------------------------------------


@pytest.mark.slow
def test_figure_alt_text_and_exercise_hints_reach_the_book(tmp_path):
    """A one-notebook kit, executed in a real kernel, built into a book: the figure's alt
    text is the <img alt>, and an unsolved check shows its hint, not the check's source."""
    from nbclient import NotebookClient

    alt = "Share of unique patients falling from 0.9 to 0.2 as ZIP digits are removed."
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kit"] = {"title": "Tiny", "objectives": ["see"], "teaching_minutes": 5}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Tiny\n\nA figure and an unsolved exercise."),
        nbformat.v4.new_code_cell(
            "from helpers import exercises, plotting\nplotting.use_kit_style()\n"
            'fig, ax = plotting.new_figure("Uniqueness", "ZIP digits kept", "share unique")\n'
            f"ax.plot([5, 3, 0], [0.9, 0.5, 0.2])\nplotting.finish(ax, alt={alt!r});"
        ),
        nbformat.v4.new_code_cell("exercises.check_02_sum_sensitivity(..., 12, 70)"),
    ]
    root = tmp_path / "kit"
    (root / "notebooks").mkdir(parents=True)
    NotebookClient(notebook, kernel_name="python3", allow_errors=True).execute()
    assert notebook.cells[2].outputs[0].output_type == "error"
    nbformat.write(notebook, root / "notebooks" / "00_tiny.ipynb")
    html = build_book.build(root, execute=False, log=lambda _: None, build_dir=tmp_path / "b")
    page = (html / "notebooks" / "00_tiny.html").read_text()
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == 1 and f'alt="{alt}"' in images[0], images
    text = re.sub(r"<[^>]+>", "", page)
    assert "ExerciseNotSolved: Exercise 2 (sensitivity of a clipped sum): not answered yet" in text
    for leak in ("Traceback", "exercises.py", "max(abs(lower)", "expected ="):
        assert leak not in text, leak


def _can_cut_the_network() -> bool:
    """True where `unshare -n` works (root on Linux): a namespace with no network at all."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


#: How the session's book was built: "given" (KIT_BOOK_HTML), "offline" or "in-process".
BUILT = {}


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> Path:
    """The book's html folder: KIT_BOOK_HTML if set, else one build for the whole session.

    Where `unshare -n` works, the build runs in a network namespace with no network at all,
    which proves it needs none (one build serves that check and every other test).
    """
    given = os.environ.get("KIT_BOOK_HTML")
    if given:
        BUILT["how"] = "given"
        return Path(given).resolve()
    build_dir = tmp_path_factory.mktemp("book")
    if _can_cut_the_network():
        script = ROOT / "scripts" / "build_book.py"
        command = [
            "unshare",
            "-n",
            sys.executable,
            str(script),
            "--no-execute",
            "--root",
            str(ROOT),
        ]
        done = subprocess.run(
            [*command, "--build-dir", str(build_dir)], capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        BUILT["how"] = "offline"
        return build_dir / "html"
    BUILT["how"] = "in-process"
    return build_book.build(ROOT, execute=False, log=lambda _: None, build_dir=build_dir)


@pytest.mark.slow
def test_book_builds_with_no_network_at_all(book):
    if BUILT["how"] == "in-process":
        pytest.skip("needs `unshare -n` (root on Linux) to cut the network during the build")
    assert BUILT["how"] in ("offline", "given")
    assert (book / "docs" / "intro.html").is_file()


@pytest.mark.slow
def test_book_holds_every_page_in_course_order(book):
    assert (book / "index.html").is_file()
    for page in ("docs/intro.html", "docs/glossary.html", "docs/instructor_guide.html"):
        assert (book / page).is_file(), page
    for path in NOTEBOOKS:
        assert (book / _page(path.relative_to(ROOT).as_posix())).is_file(), path.name
    intro = (book / "docs/intro.html").read_text()
    links = [intro.find(f'{_page(p.relative_to(ROOT).as_posix())}"') for p in NOTEBOOKS]
    assert all(i >= 0 for i in links) and links == sorted(links), (
        "the course map lists every notebook in order"
    )


@pytest.mark.slow
def test_book_fetches_nothing_from_the_network(book):
    assert build_book.network_references(book) == []


@pytest.mark.slow
def test_instructor_cells_are_not_in_the_learner_pages(book):
    checked = 0
    for path in NOTEBOOKS:
        notes = [
            c.source for c in nbformat.read(path, as_version=4).cells if "instructor" in _tags(c)
        ]
        html = (book / _page(path.relative_to(ROOT).as_posix())).read_text()
        for note in notes:
            words = [w for w in re.findall(r"[A-Za-z]{4,}", note)][:6]
            if len(words) >= 3:
                assert " ".join(words) not in " ".join(re.findall(r"[A-Za-z]{4,}", html)), path.name
                checked += 1
    guide = (book / "docs/instructor_guide.html").read_text()
    assert "Instructor guide" in guide


# --- a real browser ---------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if found is None:
        message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + ": CI must run the browser test")
        pytest.skip(message)
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="session")
def served(book):
    """The book served by http.server on 127.0.0.1, a free port, in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Browser:
    """Headless chromium driven through the Chrome DevTools Protocol (one page)."""

    def __init__(self, executable: str, profile: Path):
        import websocket  # websocket-client, a dependency of jupyter_server

        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {self.process.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        self.socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id, self.events = 0, []
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == event for e in self.events):
                return
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(event)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        # Lazy images below the fold load only when asked: load every image, then measure.
        self.evaluate("""Promise.all([...document.images].map(img => {
            img.loading = 'eager';
            return img.complete ? null : new Promise(done => { img.onload = img.onerror = done; });
        }))""")

    def evaluate(self, expression: str):
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, max_height: int = 8000) -> None:
        """The whole page (up to max_height pixels), as a PNG."""
        metrics = self.send("Page.getLayoutMetrics")
        size, viewport = metrics["cssContentSize"], metrics["cssLayoutViewport"]
        self.evaluate("window.scrollTo(0, 0)")
        clip = {
            "x": 0,
            "y": 0,
            "width": min(size["width"], viewport["clientWidth"]),
            "height": min(size["height"], max_height),
            "scale": 1,
        }
        shot = self.send(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def requested(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # the browser may already be gone
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def browser(tmp_path):
    executable = _chromium()
    profile = tmp_path / "chromium-profile"  # a fresh profile per test, removed afterwards
    session = Browser(executable, profile)
    yield session
    session.close()
    shutil.rmtree(profile, ignore_errors=True)


def _assert_page_is_healthy(browser: Browser, served: str, expect_images: bool) -> dict:
    report = browser.evaluate(f"""(() => {{
        const images = [...document.images];
        return {{
            title: document.title,
            heading: (document.querySelector('main h1, article h1, h1') || {{}}).textContent || '',
            images: images.length,
            broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
            errors: [...document.querySelectorAll('{ERROR_SELECTORS}')]
                .map(e => e.textContent.slice(0, 200)),
            traceback: document.body.innerText.includes('Traceback (most recent call last)'),
        }};
    }})()""")
    assert report["heading"].strip(), "the page has no heading: it did not render"
    assert "404" not in report["title"] and "Page not found" not in report["title"]
    assert not report["broken"], f"figures that did not load: {report['broken']}"
    if expect_images:
        assert report["images"] > 0, "the page should show at least one figure"
    assert not report["errors"], f"error banners on the page: {report['errors']}"
    assert not report["traceback"], "a traceback is shown on the page"
    outside = [
        u for u in browser.requested() if not u.startswith((served, "data:", "blob:", "about:"))
    ]
    assert not outside, f"the page fetched from the network: {outside}"
    return report


@pytest.mark.slow
def test_course_map_renders_with_its_figure(browser, served, tmp_path):
    browser.open(f"{served}/docs/intro.html")
    browser.screenshot(tmp_path / "course_map.png")
    report = _assert_page_is_healthy(browser, served, expect_images=True)
    assert "course map" in browser.evaluate("document.body.innerText").lower()
    assert report["images"] >= 1
    # The home page redirects to the course map.
    browser.open(f"{served}/index.html")
    browser.wait_for("Page.frameNavigated")
    time.sleep(0.5)
    assert browser.evaluate("location.pathname").endswith("docs/intro.html")


def _first_notebook_with_solutions() -> Path | None:
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        if any(c.cell_type == "code" and "solution" in _tags(c) for c in cells):
            return path
    return None


@pytest.mark.slow
def test_notebook_page_renders_and_hides_solutions_until_toggled(book, browser, served, tmp_path):
    path = _first_notebook_with_solutions()
    assert path is not None, "no notebook has a code cell tagged 'solution' yet"
    cells = nbformat.read(path, as_version=4).cells
    has_figures = any(
        "image/png" in o.get("data", {})
        for c in cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    browser.open(f"{served}/{_page(path.relative_to(ROOT).as_posix())}")
    browser.screenshot(tmp_path / "notebook_before_toggle.png")
    _assert_page_is_healthy(browser, served, expect_images=has_figures)

    # checkVisibility() is false inside a closed <details> (its content is not rendered).
    if (book / "_static" / "mathjax" / "MathJax.js").is_file() and browser.evaluate(
        "document.querySelectorAll('span.math, div.math').length"
    ) > 0:
        # With the local MathJax in the build, formulas are typeset, not left as TeX source.
        typeset = browser.evaluate("""new Promise(done => {
            const wait = () => window.MathJax && MathJax.Hub ? MathJax.Hub.Queue(() => done(
                document.querySelectorAll('.MathJax, .MathJax_Display').length))
                : setTimeout(wait, 100);
            wait(); })""")
        assert typeset > 0, "MathJax did not typeset the page's formulas"
        browser.screenshot(tmp_path / "notebook_math.png")
        assert not [
            u for u in browser.requested() if not u.startswith((served, "data:", "blob:", "about:"))
        ]

    visible = """[...document.querySelectorAll('.cell.tag_solution .cell_input')]
                 .map(e => e.checkVisibility({visibilityProperty: true, opacityProperty: true})
                           && e.closest('details').open && e.getBoundingClientRect().height > 0)"""
    before = browser.evaluate(visible)
    expected = sum(c.cell_type == "code" and "solution" in _tags(c) for c in cells)
    assert len(before) == expected, "every solution cell is on the page, behind a toggle"
    assert not any(before), "solutions are visible before the toggle is clicked"
    assert (
        browser.evaluate("document.querySelector('.cell.tag_solution summary').innerText").strip()
        == "Show solution"
    )

    browser.evaluate("document.querySelector('.cell.tag_solution summary').scrollIntoView()")
    browser.evaluate("document.querySelector('.cell.tag_solution summary').click()")
    time.sleep(0.3)
    after = browser.evaluate(visible)
    browser.screenshot(tmp_path / "notebook_after_toggle.png")
    assert after[0], "the first solution shows after its toggle is clicked"
    assert not any(after[1:]), "other solutions stay hidden"
    assert (tmp_path / "notebook_after_toggle.png").stat().st_size > 1000


@pytest.mark.slow
def test_every_page_renders_with_its_figures(browser, served, tmp_path):
    """Each notebook, case study and reference page: rendered, figures loaded, no errors."""
    pages = [_page(p.relative_to(ROOT).as_posix()) for p in NOTEBOOKS]
    pages += ["docs/glossary.html", "docs/instructor_guide.html"]
    for page in pages:
        browser.open(f"{served}/{page}")
        try:
            _assert_page_is_healthy(browser, served, expect_images=False)
        except AssertionError:
            browser.screenshot(tmp_path / (page.replace("/", "_") + ".png"))
            raise
