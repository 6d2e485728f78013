"""The case studies follow the case-study template of DESIGN.md.

Structural checks, read from the committed notebooks (execution itself is tested in
tests/test_notebooks.py): a summary box, the template's sections, discussion questions with
instructor notes, references with URLs, the "not legal advice" statement, a jurisdictions
table from helpers.regulations, and prose numbers backed by claim() calls.

Every one listed must exist: a missing case study fails. Figures carry alt text, and no
case study links a dead host or two addresses for the same HHS guidance.

What the learner sees is checked too (the learner edition strips every claim() call): each
claimed number is shown in an output of the cells that compute it, each jurisdiction table
shows every cell's source kind and check date, prose never points at instructor material or
at a "next cell" with nothing to see, and a DP table of counts releases every cell of its
declared domain, empty ones included.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import learner_edition
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CASE_STUDIES = [
    "01_hipaa_deidentification",
    "02_linkage_reidentification",
    "03_gdpr_pseudonymisation_and_research",
    "04_public_release_gone_wrong",
    "05_multinational_federated_study",
    "06_genomic_privacy_and_census_dp",
    "07_breach_notified",
    "08_medical_ai_eu",
]
#: The template's sections, as patterns matched against the notebook's markdown headings.
SECTIONS = {
    "facts": r"\bfacts?\b",
    "stakeholders": r"stakeholder",
    "reconstruction": r"reconstruct",
    "technique comparison": r"technique|would change|what changes|mitigat",
    "jurisdictions table": r"jurisdiction",
    "discussion questions": r"discussion",
    "references": r"\breferences?\b",
}
URL = re.compile(r"https?://[^\s)>\]]+")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)
#: A number a reader would check against an output: a percentage or a decimal fraction.
STATED_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\s?%|\b0\.\d{2,}\b")
BUDGET_SECONDS = 60
#: Hosts whose copies have gone offline; link the issuing body or an archived copy instead.
DEAD_HOSTS = ("docstoc.com",)
#: The HHS de-identification guidance has one address in the kit.
HHS_DEID = "https://www.hhs.gov/hipaa/for-professionals/special-topics/de-identification/index.html"
HHS_DEID_ANY = re.compile(
    r"https?://www\.hhs\.gov/hipaa/for-professionals/[\w/-]*de-identification[\w/.#-]*"
)
FINISH_CALL = re.compile(r"plotting\.finish\(")
#: The kit's fixed notebook names (links may point at one not written yet, never elsewhere).
KIT_NOTEBOOKS = {
    f"notebooks/{n}.ipynb"
    for n in (
        "00_welcome_and_data",
        "01_reidentification",
        "02_dp_foundations",
        "03_dp_machine_learning",
        "04_federated_learning",
        "05_homomorphic_encryption",
        "06_secure_federated_pipeline",
        "07_tradeoffs",
    )
} | {f"casestudies/{n}.ipynb" for n in CASE_STUDIES}
NOTEBOOK_LINK = re.compile(r"\]\(([^)\s]+\.ipynb)(?:#[^)]*)?\)")
PLACEHOLDER = re.compile(r"\{[A-Z][A-Z0-9_]*\}")


def _load(stem: str):
    path = ROOT / "casestudies" / f"{stem}.ipynb"
    assert path.exists(), f"casestudies/{stem}.ipynb is missing"
    return nbformat.read(path, as_version=4)


def _markdown(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def _headings(nb) -> list[tuple[int, str]]:
    """(level, text) of every markdown heading, in order."""
    return [
        (len(m.group(1)), m.group(2).strip()) for t in _markdown(nb) for m in HEADING.finditer(t)
    ]


def _section_text(nb, pattern: str) -> str:
    """The markdown from the first heading matching ``pattern`` to the next heading of the
    same or a higher level."""
    text = "\n".join(c.source if c.cell_type == "markdown" else "" for c in nb.cells)
    matches = list(HEADING.finditer(text))
    for i, m in enumerate(matches):
        if re.search(pattern, m.group(2), re.IGNORECASE):
            level = len(m.group(1))
            end = len(text)
            for later in matches[i + 1 :]:
                if len(later.group(1)) <= level:
                    end = later.start()
                    break
            return text[m.end() : end]
    return ""


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


# ----------------------------------------------------------------------------- checks


def missing_sections(nb) -> list[str]:
    headings = " | ".join(text for _, text in _headings(nb))
    return [name for name, pattern in SECTIONS.items() if not re.search(pattern, headings, re.I)]


def has_summary_box(nb) -> bool:
    """A blockquote or admonition among the first four cells, saying what/where/when/laws."""
    for cell in nb.cells[:4]:
        if cell.cell_type != "markdown":
            continue
        box = cell.source.lstrip().startswith(">") or re.search(
            r"^(:::|```\{(admonition|note|important))", cell.source, re.MULTILINE
        )
        if box and re.search(r"\blaws?\b|regulat|act\b", cell.source, re.IGNORECASE):
            return True
    return False


def unbacked_numbers(nb) -> list[str]:
    """Prose right after code that states a percentage or fraction with no claim() in that code.

    The kit's convention: a number stated in markdown is checked by a claim(...) in the code
    cell(s) that computed it, just before the prose. A markdown cell that opens a new section
    (starts with a heading) introduces facts with citations rather than reading outputs, so
    it is not checked here.
    """
    problems, run = [], []
    for cell in nb.cells:
        if cell.cell_type == "code":
            run.append(cell.source)
            continue
        reads_outputs = run and not cell.source.lstrip().startswith("#")
        if reads_outputs and STATED_NUMBER.search(cell.source) and "claim(" not in "\n".join(run):
            problems.append(cell.source[:80])
        run = []
    return problems


# ----------------------------------------------------------------------------- tests

IDS = CASE_STUDIES


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_metadata_and_budget(stem):
    kit = _load(stem).metadata.get("kit", {})
    for key in ("title", "objectives", "teaching_minutes", "exercise_minutes", "budget_seconds"):
        assert key in kit, f"metadata['kit'] lacks {key}"
    assert 0 < kit["budget_seconds"] <= BUDGET_SECONDS


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_follows_the_template_sections(stem):
    nb = _load(stem)
    assert has_summary_box(nb), "no summary box (blockquote or admonition naming the laws)"
    missing = missing_sections(nb)
    assert not missing, f"sections missing from the headings: {missing}"


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_discussion_questions_and_instructor_notes(stem):
    nb = _load(stem)
    questions = _section_text(nb, SECTIONS["discussion questions"]).count("?")
    assert questions >= 3, f"the discussion section asks {questions} questions; want >= 3"
    instructor = [c for c in nb.cells if "instructor" in c.metadata.get("tags", [])]
    assert instructor, "no cell tagged 'instructor'"
    assert all(c.cell_type == "markdown" for c in instructor), "instructor cells are markdown"


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_references_have_urls(stem):
    nb = _load(stem)
    urls = URL.findall(_section_text(nb, SECTIONS["references"]))
    assert len(urls) >= 3, f"the references section has {len(urls)} URLs; want >= 3"


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_says_it_is_not_legal_advice(stem):
    text = "\n".join(_markdown(_load(stem)))
    assert re.search(r"not legal advice", text, re.IGNORECASE)


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_runnable_parts_use_helpers_claims_and_the_regulations_table(stem):
    nb = _load(stem)
    code = _code(nb)
    assert re.search(r"^\s*from helpers", code, re.MULTILINE), "no helpers import"
    assert "claim(" in code, "no claim() call: prose numbers are not checked"
    assert "regulations" in code, "the jurisdictions table does not come from helpers.regulations"
    assert re.search(r"synthetic", "\n".join(_markdown(nb)), re.IGNORECASE), (
        "the case study does not say its records are synthetic"
    )


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_numbers_in_prose_are_backed_by_claims(stem):
    problems = unbacked_numbers(_load(stem))
    assert not problems, f"prose states numbers with no claim() in the code before it: {problems}"


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_links_and_placeholders(stem):
    text = "\n".join(_markdown(_load(stem)))
    assert not PLACEHOLDER.findall(text), f"unfilled placeholders: {PLACEHOLDER.findall(text)}"
    for link in NOTEBOOK_LINK.findall(text):
        resolved = posixpath.normpath(posixpath.join("casestudies", link))
        assert resolved in KIT_NOTEBOOKS, f"link to {link} is not one of the kit's notebooks"


def figures_without_alt_text(nb) -> int:
    """plotting.finish(...) calls that pass no alt= (each figure needs real alt text)."""
    missing = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for m in FINISH_CALL.finditer(cell.source):
            depth, end = 0, m.end() - 1
            for end in range(m.end() - 1, len(cell.source)):
                depth += {"(": 1, ")": -1}.get(cell.source[end], 0)
                if depth == 0:
                    break
            if "alt=" not in cell.source[m.start() : end]:
                missing += 1
    return missing


def _cell_text(cell) -> str:
    """A cell's source and, for code, the text of its outputs (tables show the sources)."""
    parts = [cell.source]
    for output in cell.get("outputs", []):
        parts.append(str(output.get("text", "")))
        parts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def stale_links(nb) -> list[str]:
    text = "\n".join(_cell_text(c) for c in nb.cells)
    bad = [host for host in DEAD_HOSTS if host in text]
    bad += [u for u in HHS_DEID_ANY.findall(text) if u.rstrip(".,;)") != HHS_DEID]
    return bad


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_figures_have_alt_text_and_links_are_live(stem):
    nb = _load(stem)
    assert figures_without_alt_text(nb) == 0, "a plotting.finish(...) call has no alt="
    assert not stale_links(nb), f"dead or duplicate links: {stale_links(nb)}"


# ------------------------------------------------------------- the checks can fail


def _minimal_case_study():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# Case\n\nOne sentence."),
        md("> **Summary.** What happened, where, when; laws: HIPAA."),
        md("## The facts\n\nA fact (https://example.org/a)."),
        md("## Stakeholders and lawful basis"),
        md("## Reconstruction on synthetic data"),
        code(
            "from helpers.claims import claim\nx = 0.5\nclaim('x', x, 0.5)\n"
            "plotting.finish(ax, alt=f'A bar of height {x}.')"
        ),
        md("Half the records, 50 %, were unique."),
        md("## What a privacy technique would change"),
        md("## The same case under other jurisdictions"),
        code("from helpers import regulations\nregulations.jurisdictions()"),
        md("## Discussion questions\n\n1. Why?\n2. Who?\n3. What if?"),
        md("Instructor note: this is not legal advice."),
        md("## References\n\n* https://a.org\n* https://b.org\n* https://c.org"),
    ]
    nb.cells[11].metadata["tags"] = ["instructor"]
    nb.cells[12].source += "\n\n[next](02_linkage_reidentification.ipynb)"
    return nb


def test_checks_pass_a_minimal_case_study():
    nb = _minimal_case_study()
    assert has_summary_box(nb)
    assert figures_without_alt_text(nb) == 0 and stale_links(nb) == []
    assert missing_sections(nb) == []
    assert unbacked_numbers(nb) == []
    assert len(URL.findall(_section_text(nb, SECTIONS["references"]))) == 3
    assert _section_text(nb, SECTIONS["discussion questions"]).count("?") == 3
    assert [
        posixpath.normpath(posixpath.join("casestudies", link)) in KIT_NOTEBOOKS
        for link in NOTEBOOK_LINK.findall(nb.cells[12].source)
    ] == [True]


def test_checks_catch_a_broken_case_study():
    nb = _minimal_case_study()
    nb.cells[1].source = "Plain text, no box."
    nb.cells[4].source = "## Replaying it"  # the reconstruction heading is gone
    nb.cells[5].source = "x = 0.5"  # the number in the prose after it is no longer claimed
    assert not has_summary_box(nb)
    assert missing_sections(nb) == ["reconstruction"]
    assert unbacked_numbers(nb) == ["Half the records, 50 %, were unique."]
    nb.cells[12].source += " {REF} [bad](../notebooks/99_missing.ipynb)"
    text = nb.cells[12].source
    assert PLACEHOLDER.findall(text) == ["{REF}"]
    known = [
        posixpath.normpath(posixpath.join("casestudies", link)) in KIT_NOTEBOOKS
        for link in NOTEBOOK_LINK.findall(text)
    ]
    assert known == [True, False]
    nb.cells[5].source = "plotting.finish(ax, legend=False)"
    assert figures_without_alt_text(nb) == 1
    nb.cells[
        2
    ].source += " (http://www.docstoc.com/docs/1) and https://www.hhs.gov/hipaa/for-professionals/privacy/special-topics/de-identification/index.html"
    assert len(stale_links(nb)) == 2


# ------------------------------------------------------- what the learner can see


AUTHOR_TAG = "author-check"
#: A number as outputs print it: 25,612 / 0.4493 / 1.9e-11 / -3.
SHOWN_NUMBER = re.compile(
    r"(?<![\w.])[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
)
CLAIM_WHAT = re.compile(r"""claim\(\s*f?(["'])(.*?)\1""", re.S)
#: How a displayed jurisdiction table marks a cell (helpers.regulations.source_mark).
SOURCE_MARK = re.compile(
    r"\[(primary text|regulator's guidance|secondary source|not verified), checked \d{4}-\d{2}-\d{2}\]"
)


def _visible_output_text(cells) -> str:
    """The text of the outputs a learner sees: every code cell but the author's checks."""
    parts = []
    for cell in cells:
        if cell.cell_type != "code" or AUTHOR_TAG in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def _shown_numbers(text: str) -> list[float]:
    return [float(m.group(0).replace(",", "")) for m in SHOWN_NUMBER.finditer(text)]


def _is_shown(stated: str, shown: list[float]) -> bool | None:
    """Whether a stated number appears among the shown ones, to its own precision (or as a
    percentage of it); None for a stated value that is not a number (True, a list)."""
    try:
        value = float(stated)
    except ValueError:
        return None
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    tolerance = 0.5 * 10**-decimals + 1e-12
    return any(abs(x - value) <= tolerance or abs(x / 100 - value) <= tolerance for x in shown)


def _code_runs(nb) -> list[list]:
    """The notebook's runs of consecutive code cells (a claim sits next to what it checks)."""
    runs, current = [], []
    for cell in nb.cells:
        if cell.cell_type == "code":
            current.append(cell)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


def hidden_claims(nb) -> list[str]:
    """Claims whose stated number no learner-visible output of their run of cells shows."""
    stated = {c["what"]: c["stated"] for c in nb.metadata.get("kit", {}).get("claims", [])}
    hidden = []
    for run in _code_runs(nb):
        shown = _shown_numbers(_visible_output_text(run))
        for cell in run:
            for match in CLAIM_WHAT.finditer(cell.source):
                pattern = "^" + re.sub(r"\\\{.*?\\\}", ".*", re.escape(match.group(2))) + "$"
                for what, value in stated.items():
                    if re.match(pattern, what) and _is_shown(value, shown) is False:
                        hidden.append(f"{what} = {value}")
    return hidden


def jurisdiction_table_problems(nb) -> list[str]:
    """A jurisdiction table shown without plotting.full_table, or with no source marks."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "regulations.compare(" not in cell.source:
            continue
        if "plotting.full_table(" not in cell.source:
            problems.append(f"code cell {index}: the table is not shown with plotting.full_table")
        elif not SOURCE_MARK.search(_visible_output_text([cell])):
            problems.append(f"code cell {index}: no cell shows its source kind and check date")
    if "display(regulations." in _code(nb):
        problems.append("a jurisdiction table is shown with display(), not plotting.full_table")
    return problems


def learner_prose_problems(nb) -> list[str]:
    """Learner-visible prose that points at instructor material, or at a next cell that is
    stripped (an author's check) or shows nothing."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or "instructor" in cell.metadata.get("tags", []):
            continue
        if re.search(r"instructor (guide|notes?)", cell.source, re.IGNORECASE):
            problems.append(f"markdown cell {index} points at instructor material")
        if re.search(r"\bnext cell\b", cell.source, re.IGNORECASE):
            following = next((c for c in nb.cells[index + 1 :] if c.cell_type == "code"), None)
            if (
                following is None
                or AUTHOR_TAG in following.metadata.get("tags", [])
                or not (_visible_output_text([following]).strip())
            ):
                problems.append(f"markdown cell {index}: its 'next cell' shows the learner nothing")
    return problems


def dp_tables_without_full_domain(nb) -> list[str]:
    """Cells that add DP noise to counts with no table reindexed onto its declared domain
    (``.reindex(..., fill_value=0)``) in that cell or before it: releasing only non-empty
    cells reveals, without noise, which cells hold anyone."""
    problems, reindexed = [], False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        reindexed = reindexed or bool(re.search(r"\.reindex\([^)]*fill_value=0", cell.source))
        if "geometric_mechanism(" in cell.source and not reindexed:
            problems.append(f"code cell {index}")
    return problems


def learner_leftovers(nb) -> list[str]:
    """Code cells of the learner edition that show nothing and bind only names no later
    cell uses: what is left of a cell once its claim() lines are stripped (tag such a cell
    ``author-check`` instead), or an empty one."""
    cells = learner_edition.learner_version(nb).cells
    found = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or cell.get("outputs"):
            continue
        names = learner_edition.assigned_names(cell.source)
        later = "\n".join(c.source for c in cells[index + 1 :] if c.cell_type == "code")
        unused = [n for n in names if not re.search(rf"\b{re.escape(n)}\b", later)]
        if not cell.source.strip() or (names and unused == names):
            found.append(f"learner code cell {index}: {cell.source.strip()[:60]!r}")
    return found


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_every_claimed_number_is_shown_to_the_learner(stem):
    hidden = hidden_claims(_load(stem))
    assert not hidden, f"numbers stated in prose but shown in no output next to them: {hidden}"


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_jurisdiction_tables_show_each_cells_source_kind(stem):
    problems = jurisdiction_table_problems(_load(stem))
    assert not problems, problems


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_learner_prose_points_only_at_what_the_learner_has(stem):
    problems = learner_prose_problems(_load(stem))
    assert not problems, problems


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_the_learner_edition_has_no_leftover_cells(stem):
    problems = learner_leftovers(_load(stem))
    assert not problems, (
        f"cells that show and feed nothing once the claims are stripped: {problems}"
    )


@pytest.mark.parametrize("stem", CASE_STUDIES, ids=IDS)
def test_dp_count_tables_release_their_whole_domain(stem):
    problems = dp_tables_without_full_domain(_load(stem))
    assert not problems, f"DP noise on a table of only its non-empty cells: {problems}"


def test_the_learner_view_checks_catch_what_they_should():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    shown = code("share = 0.4493\nclaim('share', round(share, 3), 0.449)")
    shown.outputs = [nbformat.v4.new_output("stream", name="stdout", text="share: 44.9%\n")]
    hidden = code("n = 11507\nclaim('patients', n, 11507)")
    nb.cells = [shown, md("Prose."), hidden]
    nb.metadata["kit"] = {
        "claims": [{"what": "share", "stated": "0.449"}, {"what": "patients", "stated": "11507"}]
    }
    assert hidden_claims(nb) == ["patients = 11507"]
    assert _is_shown("25612", _shown_numbers("25,612 synthetic patients")) is True
    assert _is_shown("0.0088", _shown_numbers("0.0091")) is False
    assert _is_shown("True", [1.0]) is None

    table = code('plotting.full_table(regulations.compare({"breach": True}))')
    table.outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "Art. 33 [primary text, checked 2026-12-01]"}
        )
    ]
    nb.cells = [table]
    assert jurisdiction_table_problems(nb) == []
    table.outputs[0]["data"]["text/plain"] = "Art. 33"
    assert jurisdiction_table_problems(nb) == [
        "code cell 0: no cell shows its source kind and check date"
    ]
    nb.cells = [code('display(regulations.compare({"breach": True}))')]
    assert len(jurisdiction_table_problems(nb)) == 2

    check = code("claim('x', 1, 1)")
    check.metadata["tags"] = [AUTHOR_TAG]
    nb.cells = [md("See the instructor guide. The next cell checks it."), check]
    assert len(learner_prose_problems(nb)) == 2

    leftover = code("acc = table['accuracy']\nclaim('accuracy', acc.iloc[0], 0.9)")
    used = code("rows = [1, 2]")
    nb.cells = [used, leftover, code("len(rows)")]
    assert learner_leftovers(nb) == ["learner code cell 1: \"acc = table['accuracy']\""]
    leftover.metadata["tags"] = [AUTHOR_TAG]
    assert learner_leftovers(nb) == []

    nb.cells = [code("noisy = dp.geometric_mechanism(table.groupby(['a']).size().to_numpy(), 1.0)")]
    assert dp_tables_without_full_domain(nb) == ["code cell 0"]
    nb.cells.insert(0, code("table = counts.reindex(domain, fill_value=0)"))
    assert dp_tables_without_full_domain(nb) == []
