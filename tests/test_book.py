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
import fcntl
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
import zipfile
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
    assert not [r for r in rows if r["kind"] == "cut"]


def test_plan_halves_the_last_exercises_that_would_not_fit_and_cuts_the_rest_in_order():
    items = [_item(f"0{i}_x", teach=45, exercise=30) for i in range(4)]  # 4 x 75 > 210
    rows = build_book.plan(items, build_book.HALF_DAY_MINUTES)
    sessions = _sessions(rows)
    assert [r["planned_exercise"] for r in sessions] == [30, 30, 15]  # 75 + 75 + 60 = 210
    assert sum(r["minutes"] for r in sessions) <= build_book.HALF_DAY_MINUTES
    assert [r["stem"] for r in rows if r["kind"] == "cut"] == ["03_x"]
    table = build_book._plan_table([{**r, "link": "x"} for r in rows], 210)
    assert "15 of 30*" in table and "Sessions: 210 of the 210 minutes" in table
    assert "**Cut from this plan** (75 minutes of material" in table


@pytest.mark.parametrize("day", [build_book.HALF_DAY_MINUTES, build_book.FULL_DAY_MINUTES])
def test_no_plan_runs_over_its_day_and_every_item_is_taught_or_cut(day):
    core = [_item(f"0{i}_x", teach=20 + 10 * i, exercise=5 * i + 10) for i in range(8)]
    cases = [_item(f"0{i}_c", folder="casestudies", teach=40, exercise=30) for i in range(3)]
    rows = build_book.plan(core, day, optional=cases, lunch_after=day // 2)
    taught = [r["stem"] for r in _sessions(rows)]
    cut = [r["stem"] for r in rows if r["kind"] == "cut"]
    assert sum(r["minutes"] for r in _sessions(rows)) <= day
    assert sorted(taught + cut) == sorted(i["stem"] for i in core + cases)
    core_taught = [s for s in taught if s.endswith("_x")]
    assert core_taught == [i["stem"] for i in core[: len(core_taught)]], "in course order"


def test_the_full_course_is_planned_over_as_many_days_as_it_takes():
    items = [_item(f"0{i}_x", teach=80, exercise=40) for i in range(8)]  # 960 min
    days = build_book.course_days(items, build_book.FULL_DAY_MINUTES)
    assert len(days) == 3  # 3 of 120 min fit in 390
    taught = [r["stem"] for day in days for r in _sessions(day)]
    assert taught == [i["stem"] for i in items]
    assert all(r["planned_exercise"] == 40 for day in days for r in _sessions(day))
    assert all(sum(r["minutes"] for r in _sessions(d)) <= build_book.FULL_DAY_MINUTES for d in days)


def test_instructor_guide_is_generated_from_the_metadata():
    items = [
        _item("00_welcome_and_data"),
        _item("01_reidentification"),
        _item("02_linkage_reidentification", folder="casestudies"),
    ]
    timings = {
        "measured": "2026-11-30",
        "cpu_count": 2,
        "seconds": {
            "notebooks/00_welcome_and_data.ipynb": 12.0,
            "notebooks/01_reidentification.ipynb": 99.0,
        },
    }
    guide = build_book.instructor_guide(items, timings, has_flower_guide=True)
    for heading in (
        "## Half-day workshop",
        "## Full-day workshop",
        "## The full course in 1 days",
        "## Timings per notebook",
        "## Before the workshop: common pitfalls",
        "## Running the Flower workshop mode",
    ):
        assert heading in guide
    for item in items:
        assert item["title"] in guide and item["objectives"][0] in guide
        assert item["notes"][0] in guide and item["questions"][0] in guide
    assert "99 s (over budget)" in guide and "12 s" in guide
    assert "not measured yet" in guide  # the case study has no recorded run time
    assert "last measured execution (2026-11-30" in guide and "2 CPU cores" in guide
    assert "(workshop_flower.md)" in guide and "helpers.preflight" in guide
    assert "scikit-learn==1.7.2" in guide  # the preflight's fix for the diffprivlib pairing
    assert "workshop_flower.md)" not in build_book.instructor_guide(
        items, timings, has_flower_guide=False
    )


def test_the_guide_states_the_total_against_the_day_and_never_says_not_measured_after_a_build():
    items = [_item(f"0{i}_x", teach=60, exercise=30) for i in range(8)]  # 720 min
    seconds = {i["rel"]: 10.0 for i in items}
    guide = build_book.instructor_guide(items, {"seconds": seconds}, has_flower_guide=False)
    assert "720 minutes in all" in guide and "more than a 6 h 30 min day" in guide
    assert "the full course takes 2 days" in guide
    assert "not measured" not in guide
    assert guide.count("**Cut from this plan**") == 2  # the half and the full day say what they cut


def test_the_kits_timing_record_covers_every_notebook():
    """The committed record of the last measured execution (make notebooks writes it)."""
    record = nb.read_timings(ROOT)
    rels = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert rels <= set(record.get("seconds", {})), "run `python scripts/notebooks.py --measure`"
    assert record["measured"] and record["cpu_count"] >= 1
    assert all(0 < s < 3600 for s in record["seconds"].values())


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


def test_short_titles_for_the_course_map():
    assert build_book.short_title("00 · Welcome: the clinical question") == "Welcome"
    assert (
        build_book.short_title("Case study 02: linkage re-identification, from the governor")
        == "Linkage re-identification"
    )
    assert (
        build_book.short_title("Differential privacy foundations")
        == "Differential privacy foundations"
    )


def test_the_course_map_is_linked_text_in_course_order():
    items = [_item("00_a"), _item("01_b"), _item("01_c", folder="casestudies")]
    generated = build_book.course_map(items)
    assert '<nav class="kit-course-map" aria-label="Course map">' in generated
    links = re.findall(r'<a href="([^"]+)"', generated)
    assert links == ["../notebooks/00_a.html", "../notebooks/01_b.html", "../casestudies/01_c.html"]
    assert "| no. | title |" in generated, "no empty table header"


def test_the_binder_link_has_the_readmes_form():
    link = build_book.binder_link("https://github.com/health-kit/ppml.git", "main")
    assert link == (
        "https://mybinder.org/v2/gh/health-kit/ppml/main"
        "?urlpath=lab/tree/notebooks/00_welcome_and_data.ipynb"
    )
    assert build_book.binder_link("") is None and build_book.binder_link("https://x.org/a") is None
    assert link in build_book.get_started({"url": "https://github.com/health-kit/ppml"})
    offline = build_book.get_started({"url": ""})
    assert (
        "mybinder.org/v2/gh/OWNER/REPO/main" in offline
        and "{download}`learner-edition.zip" in offline
    )


def test_the_licence_page_names_both_licences():
    page = build_book.licence_page(ROOT)
    assert "CC BY 4.0" in page and "MIT License" in page and page.startswith("# Licence")


def test_polish_page_fixes_the_themes_accessibility_and_script_faults():
    thebe = '<script>const THEBE_JS_URL = "https://unpkg.com/thebe"; const x = 1</script>\n'
    page = (
        f"<head>{thebe}{thebe}</head>"
        '<summary aria-label="Toggle hidden content"><p>Show solution</p></summary>'
        '<button class="btn search-button-field search-button__button" title="Search" '
        'aria-label="Search">\n <i class="fa-solid fa-magnifying-glass"></i> Search</button>'
        '<button class="btn theme-switch-button" aria-label="Color mode" data-bs-title="x">'
        '\n  <i class="theme-switch fa-sun" data-mode="light" title="Light"></i></button>'
        '<a href="@ROOT@/docs/licence.html">licence</a>'
    )
    polished = build_book.polish_page(page, "..")
    assert polished.count("THEBE_JS_URL") == 1 and "unpkg" not in polished
    assert "<summary><p>Show solution</p></summary>" in polished
    assert 'aria-label="Search"' not in polished and 'title="Light"' not in polished
    assert polished.count('<i aria-hidden="true"') == 2
    assert 'href="../docs/licence.html"' in polished


def test_alt_text_goes_into_the_img_tag_by_image_hash(tmp_path):
    import base64
    import hashlib

    png = base64.b64encode(b"\x89PNG fake image bytes").decode()
    digest = hashlib.sha256(base64.b64decode(png)).hexdigest()
    notebook = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output("display_data", data={"image/png": png})
    output.metadata = {"image/png": {"alt": 'Share "unique" falling to 0.2.'}}
    notebook.cells = [nbformat.v4.new_code_cell("plot()", outputs=[output])]
    nbformat.write(notebook, tmp_path / "n.ipynb")
    alts = build_book.image_alt_texts([tmp_path / "n.ipynb"])
    assert alts == {digest: 'Share "unique" falling to 0.2.'}
    page = tmp_path / "page.html"
    page.write_text(
        f'<img alt="../_images/{digest}.png" src="../_images/{digest}.png" />'
        f'<img alt="../_images/{"0" * 64}.png" src="../_images/{"0" * 64}.png" />'
    )
    assert build_book.apply_alt_text(tmp_path, alts) == 1
    text = page.read_text()
    assert (
        f'<img alt="Share &quot;unique&quot; falling to 0.2." src="../_images/{digest}.png" />'
        in text
    )
    assert f'alt="../_images/{"0" * 64}.png"' in text  # no alt known: left for the test to flag


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
    assert "ExerciseNotSolved: Exercise 3 (sensitivity of a clipped sum): not answered yet" in text
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
    """The book's html folder: KIT_BOOK_HTML if set, else one build for the whole test run.

    Where `unshare -n` works, the build runs in a network namespace with no network at all,
    which proves it needs none (one build serves that check and every other test). Under
    pytest-xdist the workers share one build: the first to get the lock builds it.
    """
    given = os.environ.get("KIT_BOOK_HTML")
    if given:
        BUILT["how"] = "given"
        return Path(given).resolve()
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, common to every worker
    build_dir, how = shared / "book", shared / "book.how"
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not how.is_file():
            how.write_text(_build_the_book(build_dir))
    BUILT["how"] = how.read_text()
    return build_dir / "html"


def _build_the_book(build_dir: Path) -> str:
    if build_dir.exists():
        shutil.rmtree(build_dir)  # a build that failed half-way
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
        return "offline"
    build_book.build(ROOT, execute=False, log=lambda _: None, build_dir=build_dir)
    return "in-process"


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
        for domain in ("Page", "Network", "Runtime", "Log"):
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

    def wait_for(self, event: str, timeout: float = 60, count: int = 1):
        """Wait until ``event`` has arrived ``count`` times since the last ``open``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(e.get("method") == event for e in self.events) >= count:
                return
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(event)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        try:
            self._load_every_image()
        except RuntimeError as error:
            if "navigated or closed" not in str(error):
                raise
            # The page sent the browser on (the book's index.html redirects): measure there.
            self.wait_for("Page.loadEventFired", count=2)
            self._load_every_image()

    def _load_every_image(self) -> None:
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

    def problems(self) -> list[str]:
        """JavaScript errors and failed fetches (HTTP status >= 400) since the last open()."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(
                    "JS error: "
                    + details.get("exception", {}).get("description", details.get("text", ""))
                )
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                found.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        return found

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )

    def wait_for_math(self) -> None:
        """Until MathJax (if the page loads it) has typeset everything."""
        self.evaluate("""new Promise(done => {
            const wait = () => window.MathJax && MathJax.Hub ? MathJax.Hub.Queue(() => done(1))
                : (document.querySelector('script[src*="mathjax"]') ? setTimeout(wait, 100) : done(0));
            wait(); })""")

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
    browser.wait_for_math()
    time.sleep(0.3)  # fonts and late requests
    assert not browser.problems(), browser.problems()
    footer = browser.evaluate("""(() => { const f = document.querySelector('.kit-footer');
        return f ? [f.innerText, f.checkVisibility(), [...f.querySelectorAll('a')].map(a => a.href)]
                 : null; })()""")
    assert footer is not None and footer[1], "the footer disclaimer is not rendered"
    assert "not legal advice" in footer[0] and "CC BY 4.0" in footer[0] and "MIT" in footer[0]
    assert all(link.startswith(served) for link in footer[2]) and len(footer[2]) == 2
    return report


@pytest.mark.slow
def test_course_map_renders_and_offers_the_learner_edition(browser, served, tmp_path):
    browser.open(f"{served}/docs/intro.html")
    browser.screenshot(tmp_path / "course_map.png")
    _assert_page_is_healthy(browser, served, expect_images=False)
    assert "course map" in browser.evaluate("document.body.innerText").lower()
    boxes = browser.evaluate("document.querySelectorAll('nav.kit-course-map a').length")
    assert boxes == len(NOTEBOOKS), "one linked box per notebook and case study"
    # The learner edition's zip: linked, served, and a real learner edition.
    href = browser.evaluate(
        "[...document.querySelectorAll('a')].map(a => a.href).find(h => h.endsWith('.zip'))"
    )
    assert href and href.endswith("learner-edition.zip")
    with urllib.request.urlopen(href, timeout=10) as response:
        archive = tmp_path / "learner.zip"
        archive.write_bytes(response.read())
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
    assert "learner/notebooks/00_welcome_and_data.ipynb" in names and "learner/Makefile" in names
    assert "mybinder.org" in browser.evaluate("document.body.innerText")
    # The home page redirects to the course map.
    browser.open(f"{served}/index.html")
    browser.wait_for("Page.frameNavigated")
    time.sleep(0.5)
    assert browser.evaluate("location.pathname").endswith("docs/intro.html")


def _contrast(foreground: list[float], background: list[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255 channels)."""

    def luminance(rgb):
        channels = [c / 255 for c in rgb[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.slow
def test_the_course_map_is_legible_at_phone_width(browser, served, tmp_path):
    browser.viewport(390, 844, mobile=True)
    browser.open(f"{served}/docs/intro.html")
    browser.screenshot(tmp_path / "course_map_phone.png")
    boxes = browser.evaluate("""[...document.querySelectorAll('nav.kit-course-map a')].map(a => {
        const style = getComputedStyle(a), rect = a.getBoundingClientRect();
        const rgb = c => c.match(/[\\d.]+/g).map(Number);
        return {size: Math.min(...[a, ...a.querySelectorAll('*')].map(
                    e => parseFloat(getComputedStyle(e).fontSize))),
                fg: rgb(style.color), bg: rgb(style.backgroundColor),
                left: rect.left, right: rect.right, text: a.innerText};
    })""")
    width = browser.evaluate("document.documentElement.clientWidth")
    assert len(boxes) == len(NOTEBOOKS)
    for box in boxes:
        assert box["size"] >= 11, f"{box['text']!r}: text of {box['size']} px"
        assert _contrast(box["fg"], box["bg"]) >= 4.5, f"{box['text']!r}: contrast too low"
        assert 0 <= box["left"] and box["right"] <= width + 0.5, f"{box['text']!r} overflows"


def _axe_script() -> Path | None:
    version = re.search(r"^AXE_VERSION := (\S+)", (ROOT / "Makefile").read_text(), flags=re.M)
    path = ROOT / ".cache" / f"axe-core-{version.group(1)}" / "package" / "axe.min.js"
    return path if path.is_file() else None


#: The pages the accessibility audit covers: the course map, two notebooks, a case study, the
#: glossary and the instructor guide.
AXE_PAGES = (
    "docs/intro.html",
    "notebooks/02_dp_foundations.html",
    "notebooks/07_tradeoffs.html",
    "casestudies/04_public_release_gone_wrong.html",
    "docs/glossary.html",
    "docs/instructor_guide.html",
)


@pytest.mark.slow
def test_axe_finds_no_serious_or_critical_violations(browser, served):
    """axe-core (pinned in the Makefile; `make test` installs it with npm into .cache/)."""
    script = _axe_script()
    if script is None:
        message = "axe-core is not in .cache/ (make test installs it with npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    found = {}
    for page in AXE_PAGES:
        if not (ROOT / _source_of(page)).is_file():
            continue
        browser.open(f"{served}/{page}")
        browser.wait_for_math()
        browser.evaluate(script.read_text() + ";0")
        found[page] = browser.evaluate("""axe.run(document, {resultTypes: ['violations']})
            .then(r => r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3)
                 .map(n => n.target.join(' ')).join(', ')))""")
    assert len(found) >= 5
    assert not any(found.values()), "\n".join(f"{p}: {v}" for p, v in found.items() if v)


def _source_of(page: str) -> str:
    stem = page[: -len(".html")]
    return (
        stem + ".ipynb" if stem.startswith(("notebooks/", "casestudies/")) else "docs/_config.yml"
    )


@pytest.mark.slow
def test_wide_tables_keep_their_source_column_in_view(browser, served, tmp_path):
    """At 1280 px, on every case study: a table with a source column (the legal tables)
    wraps to the page, so its last column needs no sideways scrolling; any other table wider
    than the page scrolls inside its output instead of being cut off."""
    checked = 0
    for path in [p for p in NOTEBOOKS if p.parent.name == "casestudies"]:
        browser.open(f"{served}/{_page(path.relative_to(ROOT).as_posix())}")
        tables = browser.evaluate("""[...document.querySelectorAll('.cell_output table')].map(t => {
            const output = t.closest('.output, .cell_output');
            const box = output.getBoundingClientRect();
            const last = t.querySelector('tr:last-child > :last-child').getBoundingClientRect();
            return {overflow: last.right - box.right,
                    sourced: /source/i.test(t.rows[0].innerText),
                    scrolls: ['auto', 'scroll'].includes(getComputedStyle(output).overflowX)};
        })""")
        bad = [t for t in tables if t["overflow"] > 1 and (t["sourced"] or not t["scrolls"])]
        if bad:
            browser.screenshot(tmp_path / f"{path.stem}.png")
        assert not bad, f"{path.name}: tables cut off at the page's edge: {bad}"
        checked += sum(t["sourced"] for t in tables)
    assert checked >= 3, "the case studies' legal tables (with their source column) were checked"


@pytest.mark.slow
def test_every_page_renders_with_its_figures(browser, served, tmp_path):
    """Each notebook, case study and reference page: rendered, figures loaded and described
    (alt text, not a file name), no error banner, no JavaScript error, no 404, a footer."""
    pages = [_page(p.relative_to(ROOT).as_posix()) for p in NOTEBOOKS]
    pages += ["docs/glossary.html", "docs/instructor_guide.html", "docs/licence.html"]
    for page in pages:
        browser.open(f"{served}/{page}")
        try:
            _assert_page_is_healthy(browser, served, expect_images=False)
            alts = browser.evaluate("[...document.images].map(i => i.getAttribute('alt') || '')")
            unnamed = [a for a in alts if not nb.real_alt_text(a)]
            assert not unnamed, f"{page}: images without alt text: {unnamed[:3]}"
        except AssertionError:
            browser.screenshot(tmp_path / (page.replace("/", "_") + ".png"))
            raise
