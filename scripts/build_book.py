"""Build the kit's book (make book): fresh execution, then Jupyter Book 1.0.x, offline.

    python scripts/build_book.py                 execute every notebook, record the run times
                                                 (docs/timings.json), build _build/html
    python scripts/build_book.py --no-execute    reuse the committed outputs (fast; also
                                                 KIT_BOOK_NO_EXECUTE=1); the run times come
                                                 from the kit's record of the last execution

Steps: every notebook and case study that exists (``notebooks.find_notebooks()``) is executed
with ``notebooks.execute`` and written, with its outputs, into ``_build/book_src`` - the
committed notebooks are never modified. In that copy, cells tagged ``solution`` get
``hide-cell`` (a "Show solution" toggle), cells tagged ``instructor`` get ``remove-cell`` and
the authors' claim checks are left out. The course map (docs/intro.md plus generated linked
boxes, a table, and the learner edition's zip and Binder link), a licence page, the glossary
and the instructor guide (generated from each notebook's ``metadata["kit"]`` and the timing
record) are added, a table of contents is generated in course order, and ``jupyter-book
build`` renders _build/html. The pages are then polished (figures' alt text, accessible
toggle and button names, the footer's links) and checked for anything that would be fetched
from the network.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html import escape
from pathlib import Path

import nbformat
import yaml

from helpers.regulations import cells_by_check_date

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learner_edition as le  # noqa: E402  (scripts/ is not a package)

import notebooks as nb  # noqa: E402

ROOT = nb.ROOT
DOCS = "docs"
#: Environment variable that makes the build reuse committed outputs instead of executing.
NO_EXECUTE_ENV = "KIT_BOOK_NO_EXECUTE"
COURSE_MAP_MARKER = "<!-- course-map -->"
#: Tag -> tag added in the book's copy of the notebook.
SOLUTION_TAG, INSTRUCTOR_TAG = "solution", "instructor"
#: An exercise check cell calls helpers.exercises.check_<...>(...).
CHECK_CALL = re.compile(r"(?:\bexercises\.|(?<![\w.]))check_\w+\(")
#: The instructor-facing pages; learner-facing pages are everything else.
INSTRUCTOR_PAGES = ("instructor_guide", "workshop_flower")
#: Where the kit's workshop plans start and how long a half and a full day last (minutes).
DAY_START_MINUTES = 9 * 60
HALF_DAY_MINUTES = 3 * 60 + 30
FULL_DAY_MINUTES = 6 * 60 + 30
BREAK_EVERY_MINUTES, BREAK_MINUTES, LUNCH_MINUTES = 90, 15, 45
MIN_MINUTES_BEFORE_BREAK = 60
#: The half-day track: the core notebooks (by number) and one case study.
HALF_DAY_NOTEBOOKS = ("00", "01", "02", "04")
HALF_DAY_CASESTUDIES = ("02",)

#: Prompts an instructor can open a discussion with, per notebook (by stem). Discussion
#: questions written in the notebooks themselves are collected too (see discussion_questions).
DISCUSSION_PROMPTS = {
    "00_welcome_and_data": [
        "Which of the synthetic columns would your own hospital consider identifying, and why?",
        "Who in your organisation decides whether a data set is 'anonymous'?",
    ],
    "01_reidentification": [
        "If removing names is not enough, what would convince you a release is safe?",
        "Who could plausibly hold a voter roll or similar auxiliary data about your patients?",
    ],
    "02_dp_foundations": [
        "How would you explain epsilon = 1 to a patient, a clinician and a regulator?",
        "Who should decide the privacy budget for a hospital's statistics, and how often?",
    ],
    "03_dp_machine_learning": [
        "Which loss of accuracy is clinically acceptable for a diagnostic model, and who says so?",
        "Does a DP guarantee on the model change what consent you need to train it?",
    ],
    "04_federated_learning": [
        "The data never leave the hospital: what does still leave it, and who sees it?",
        "How would unequal hospitals (size, case mix) affect trust in a shared model?",
    ],
    "05_homomorphic_encryption": [
        "Encryption hides the inputs; what does the decrypted result still reveal?",
        "Who should hold the private key in a multi-hospital study?",
    ],
    "06_secure_federated_pipeline": [
        "Which party in the pipeline must be trusted for each guarantee to hold?",
        "What would you put in a data-protection impact assessment for this pipeline?",
    ],
    "07_tradeoffs": [
        "Given the comparison table, which technique would you choose for your own project?",
        "Which costs (accuracy, time, complexity) are hardest to explain to decision makers?",
    ],
}

#: Problems workshops actually hit, and the fix. The preflight (python -m helpers.preflight)
#: detects the first group on a learner's machine and prints these fixes.
PITFALLS = [
    (
        "Python older than 3.11",
        "The preflight reports it; install Python 3.11+ and run "
        "`make lab PYTHON=python3.12` (or the newer interpreter).",
    ),
    (
        "A package missing or at another version than the pin",
        "The preflight names it; run `make lab` "
        "again (it reinstalls from requirements.txt) or `pip install -r requirements.txt`.",
    ),
    (
        "scikit-learn 1.8 or newer with diffprivlib 0.6.6",
        "diffprivlib fails to import (1.9: \"cannot import name 'DOUBLE'\") or its "
        "LogisticRegression raises (1.8: \"unexpected keyword argument 'multi_class'\"); "
        "the preflight says so. Fix: `pip install 'scikit-learn==1.7.2'`.",
    ),
    (
        "phe without gmpy2",
        "The encryption notebook runs about 8x slower; the preflight warns. Fix: "
        "`pip install gmpy2` (on macOS `brew install gmp` first if it fails to build).",
    ),
    (
        "Running as root (containers, CI)",
        "JupyterLab refuses to start as root without "
        "`--allow-root`; `make lab` adds it automatically.",
    ),
    ("Port 8888 already in use", '`make lab LAB_ARGS="--port=8899"`.'),
    (
        "An exercise check says 'not answered yet'",
        "Expected in the learner edition: replace the `...` "
        "in the answer cell, run it, then run the check cell again.",
    ),
    (
        "Cells run out of order",
        "Numbers in the prose are checked by `claim(...)` and can fail if cells "
        "ran out of order: use Kernel > Restart Kernel and Run All Cells.",
    ),
]


# --- notebooks in the build copy --------------------------------------------------------


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def prepare_for_book(notebook) -> nbformat.NotebookNode:
    """Tag the book's copy: solutions and check results behind toggles, instructor cells
    removed, and the author's claim checks left out (``notebooks.without_author_checks``)."""
    notebook.cells = nb.without_author_checks(notebook.cells)
    for cell in notebook.cells:
        cell_tags = tags(cell)
        if INSTRUCTOR_TAG in cell_tags and "remove-cell" not in cell_tags:
            cell_tags.append("remove-cell")
        if SOLUTION_TAG in cell_tags:
            if cell.cell_type == "code":
                if "hide-cell" not in cell_tags:
                    cell_tags.append("hide-cell")
                cell.metadata["mystnb"] = {
                    "code_prompt_show": "Show solution",
                    "code_prompt_hide": "Hide solution",
                }
            elif cell.cell_type == "markdown" and not cell.source.lstrip().startswith(
                ":::{admonition}"
            ):
                # Markdown cells have no hide tags in myst-nb: fold them into a dropdown.
                cell.source = f":::{{admonition}} Solution\n:class: dropdown\n\n{cell.source}\n:::"
        elif cell.cell_type == "code" and CHECK_CALL.search(cell.source) and cell.get("outputs"):
            # A passing check prints the answer ("Correct: ... 23.4 %"): fold it away too.
            if "hide-output" not in cell_tags:
                cell_tags.append("hide-output")
            cell.metadata["mystnb"] = {
                "code_prompt_show": "Show check result",
                "code_prompt_hide": "Hide check result",
            }
        if cell_tags:
            cell.metadata["tags"] = cell_tags
    return notebook


def kit_metadata(notebook) -> dict:
    kit = dict(notebook.metadata.get("kit", {}))
    kit.setdefault("title", _first_heading(notebook) or "Untitled")
    kit.setdefault("objectives", [])
    for key in ("teaching_minutes", "exercise_minutes", "budget_seconds"):
        kit.setdefault(key, 0)
    return kit


def _first_heading(notebook) -> str | None:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if match:
                return match.group(1).strip()
    return None


def instructor_notes(notebook) -> list[str]:
    """The markdown of every cell tagged ``instructor`` (removed from the learner pages)."""
    return [
        c.source.strip()
        for c in notebook.cells
        if c.cell_type == "markdown" and INSTRUCTOR_TAG in tags(c) and c.source.strip()
    ]


def discussion_questions(notebook) -> list[str]:
    """List items written under a heading that mentions discussion, in non-instructor cells."""
    questions, inside = [], False
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or INSTRUCTOR_TAG in tags(cell):
            continue
        for line in cell.source.splitlines():
            heading = re.match(r"^#+\s+(.*)$", line)
            if heading:
                inside = "discussion" in heading.group(1).lower()
                continue
            item = re.match(r"^\s*(?:[-*]|\d+[.)])\s+(.+)$", line)
            if inside and item:
                questions.append(item.group(1).strip())
    return questions


# --- generated pages --------------------------------------------------------------------


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _seconds_text(seconds) -> str:
    return "not measured yet" if seconds is None else f"{seconds:.0f} s"


def _floor5(minutes: float) -> int:
    return int(minutes // 5 * 5)


def _minutes(entry: dict) -> int:
    return int(entry["teaching_minutes"]) + int(entry["exercise_minutes"])


def plan(
    core: list[dict],
    day_minutes: int,
    optional: list[dict] = (),
    lunch_after: int | None = None,
    shorten: bool = True,
) -> list[dict]:
    """A timed workshop schedule of at most ``day_minutes`` of sessions (breaks not counted).

    ``core`` items are taught in order, each with its full exercise time while it fits; one
    that does not fit whole is taken with half its exercise time (to 5 minutes; ``shorten``)
    if that fits. Once a core item does not fit, it and every later core item are cut: a
    course builds on its order. ``optional`` items (case studies) follow, whole, while
    they fit. Items hold title, link, teaching_minutes and exercise_minutes. Returns rows with
    start (clock), minutes, planned_exercise and kind ('session', 'break', 'lunch', 'end' or
    'cut'); the sessions never add up to more than ``day_minutes``.
    """
    chosen, cut, used = [], [], 0
    for entry in core:
        full, teach = int(entry["exercise_minutes"]), int(entry["teaching_minutes"])
        options = [full] + ([_floor5(full / 2)] if shorten and full >= 10 else [])
        planned = next((x for x in options if not cut and used + teach + x <= day_minutes), None)
        if planned is None:
            cut.append({**entry, "kind": "cut"})
            continue
        chosen.append({**entry, "planned_exercise": planned, "minutes": teach + planned})
        used += teach + planned
    for entry in optional:
        if used + _minutes(entry) <= day_minutes:
            chosen.append(
                {
                    **entry,
                    "planned_exercise": int(entry["exercise_minutes"]),
                    "minutes": _minutes(entry),
                }
            )
            used += _minutes(entry)
        else:
            cut.append({**entry, "kind": "cut"})

    rows, clock, since_break, elapsed = [], DAY_START_MINUTES, 0, 0
    lunch_done = lunch_after is None
    for entry in chosen:
        if not lunch_done and elapsed >= lunch_after:
            rows.append(
                {
                    "start": _clock(clock),
                    "title": "Lunch",
                    "minutes": LUNCH_MINUTES,
                    "kind": "lunch",
                }
            )
            clock, since_break, lunch_done = clock + LUNCH_MINUTES, 0, True
        elif (
            since_break >= MIN_MINUTES_BEFORE_BREAK
            and since_break + entry["minutes"] > BREAK_EVERY_MINUTES + BREAK_MINUTES
        ):
            # A break before a session that would run well past 90 minutes without one.
            rows.append(
                {
                    "start": _clock(clock),
                    "title": "Break",
                    "minutes": BREAK_MINUTES,
                    "kind": "break",
                }
            )
            clock, since_break = clock + BREAK_MINUTES, 0
        rows.append({**entry, "start": _clock(clock), "kind": "session"})
        clock, since_break, elapsed = (
            clock + entry["minutes"],
            since_break + entry["minutes"],
            elapsed + entry["minutes"],
        )
    rows.append({"start": _clock(clock), "title": "End", "minutes": 0, "kind": "end"})
    return rows + cut


def course_days(items: list[dict], day_minutes: int) -> list[list[dict]]:
    """The whole course in order, in as many days of ``day_minutes`` as it takes, every item
    with its full exercise time (one plan per day, see :func:`plan`)."""
    days, remaining = [], list(items)
    while remaining:
        rows = plan(remaining, day_minutes, lunch_after=day_minutes // 2, shorten=False)
        taught = [r for r in rows if r["kind"] == "session"]
        if not taught:  # one item longer than a day: give it a day of its own
            entry = remaining[0]
            rows = [
                {
                    **entry,
                    "start": _clock(DAY_START_MINUTES),
                    "kind": "session",
                    "planned_exercise": int(entry["exercise_minutes"]),
                    "minutes": _minutes(entry),
                }
            ]
            taught = rows
        days.append([r for r in rows if r["kind"] != "cut"])
        remaining = remaining[len(taught) :]
    return days


def _plan_table(rows: list[dict], day_minutes: int) -> str:
    lines = ["| start | session | teaching + exercises (min) | run time |", "|---|---|---|---|"]
    cut, shortened, used = [], False, 0
    for row in rows:
        if row["kind"] == "session":
            planned, full = row["planned_exercise"], int(row["exercise_minutes"])
            exercises = f"{planned}" if planned == full else f"{planned} of {full}*"
            shortened |= planned != full
            used += row["minutes"]
            lines.append(
                f"| {row['start']} | [{row['title']}]({row['link']}) | "
                f"{row['teaching_minutes']} + {exercises} | {_seconds_text(row.get('seconds'))} |"
            )
        elif row["kind"] in ("break", "lunch"):
            lines.append(f"| {row['start']} | *{row['title']}* | {row['minutes']} | |")
        elif row["kind"] == "end":
            lines.append(f"| {row['start']} | *End* | | |")
        else:
            cut.append(row)
    text = "\n".join(lines)
    text += f"\n\nSessions: {used} of the {day_minutes} minutes, breaks not counted."
    if shortened:
        text += (
            " \\* Exercise time halved so the day fits: start those exercises in the room and "
            "finish them as homework (the learner edition's checks tell learners when they are "
            "done)."
        )
    if cut:
        minutes = sum(_minutes(r) for r in cut)
        text += (
            f"\n\n**Cut from this plan** ({minutes} minutes of material, which do not fit): "
            + ", ".join(f"[{r['title']}]({r['link']})" for r in cut)
            + ". Teach them on another day (see the full course below) or set them as self-study."
        )
    return text


def _entries(items: list[dict], from_folder: str) -> list[dict]:
    return [{**item, "link": f"../{item['rel']}" if from_folder else item["rel"]} for item in items]


def _timing_note(timings: dict, count: int) -> str:
    """Where the run times come from: the kit's record of its last measured execution."""
    seconds = timings.get("seconds", {})
    if not seconds:
        return "No execution of the notebooks has been measured yet (`make notebooks` records one)."
    return (
        f"Run times are from the last measured execution ({timings.get('measured', 'date unknown')}, "
        f"{len(seconds)} of {count} notebooks, on a machine with {timings.get('cpu_count', '?')} "
        f"CPU cores{_load(timings)}; {sum(seconds.values()):.0f} s in all; one run on one "
        "machine: a learner's laptop may be slower or faster), kept with the kit in "
        "`docs/timings.json`."
    )


def _load(timings: dict) -> str:
    load = timings.get("load_average")
    return f" and a load average of {load} when it started" if load is not None else ""


def instructor_guide(items: list[dict], timings: dict, has_flower_guide: bool) -> str:
    """The instructor guide (markdown): plans, timings, objectives, prompts, pitfalls, notes.

    ``timings`` is the kit's record of its last measured execution (``notebooks.read_timings``);
    each item's ``seconds`` is taken from it.
    """
    seconds = timings.get("seconds", {})
    items = [{**item, "seconds": seconds.get(item["rel"])} for item in items]
    entries = _entries(items, DOCS)
    core = [
        e for e in entries if e["folder"] == "notebooks" and e["stem"][:2] in HALF_DAY_NOTEBOOKS
    ]
    half_cases = [
        e for e in entries if e["folder"] == "casestudies" and e["stem"][:2] in HALF_DAY_CASESTUDIES
    ]
    notebooks_only = [e for e in entries if e["folder"] == "notebooks"]
    cases = [e for e in entries if e["folder"] == "casestudies"]
    total_teach = sum(int(e["teaching_minutes"]) for e in entries)
    total_ex = sum(int(e["exercise_minutes"]) for e in entries)
    days = course_days(notebooks_only + cases, FULL_DAY_MINUTES)
    out = [
        "# Instructor guide",
        "",
        "This page is generated by `scripts/build_book.py` from each notebook's own metadata "
        '(`metadata["kit"]`: title, objectives, teaching and exercise minutes, time budget) and '
        "from the kit's record of its last measured execution, so it never disagrees with the "
        "notebooks. Edit the notebooks, not this page.",
        "",
        ":::{note}",
        f"The kit has {len(notebooks_only)} notebooks and {len(cases)} case studies: "
        f"{total_teach} minutes of teaching and {total_ex} minutes of exercises, "
        f"{total_teach + total_ex} minutes in all (about {(total_teach + total_ex) / 60:.0f} hours), "
        f"{'more' if total_teach + total_ex > FULL_DAY_MINUTES else 'no more'} than a "
        f"{FULL_DAY_MINUTES // 60} h {FULL_DAY_MINUTES % 60} min day. Each plan "
        "below fits its stated length and says what it cuts; the full course takes "
        f"{len(days)} days. " + _timing_note(timings, len(entries)),
        ":::",
        "",
        "## Half-day workshop",
        "",
        f"{HALF_DAY_MINUTES // 60} h {HALF_DAY_MINUTES % 60} min of sessions: the core track "
        "(welcome and data, re-identification, differential privacy, federated learning) as far "
        "as it fits, with a break every 90 minutes, and a case study for discussion if time "
        "allows.",
        "",
        _plan_table(plan(core, HALF_DAY_MINUTES, optional=half_cases), HALF_DAY_MINUTES),
        "",
        "## Full-day workshop",
        "",
        f"{FULL_DAY_MINUTES // 60} h {FULL_DAY_MINUTES % 60} min of sessions: the notebooks in "
        "order, as many as fit with their exercises, with breaks and a lunch, then the case "
        "studies that fit.",
        "",
        _plan_table(
            plan(
                notebooks_only, FULL_DAY_MINUTES, optional=cases, lunch_after=FULL_DAY_MINUTES // 2
            ),
            FULL_DAY_MINUTES,
        ),
        "",
        f"## The full course in {len(days)} days",
        "",
        "Every notebook and case study in order, each with its full exercise time, in days of "
        f"{FULL_DAY_MINUTES // 60} h {FULL_DAY_MINUTES % 60} min of sessions.",
        "",
    ]
    for number, day in enumerate(days, start=1):
        out += [f"### Day {number}", "", _plan_table(day, FULL_DAY_MINUTES), ""]
    out += [
        "## Timings per notebook",
        "",
        "Run time is the wall-clock time the notebook took to execute top to bottom in the last "
        "measured execution (one run on one machine); the budget is the limit each notebook is "
        "held to.",
        "",
        "| notebook | teaching (min) | exercises (min) | run time | budget |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        over = (
            e.get("seconds") is not None
            and e["budget_seconds"]
            and e["seconds"] > e["budget_seconds"]
        )
        out.append(
            f"| [{e['title']}]({e['link']}) | {e['teaching_minutes']} | {e['exercise_minutes']} | "
            f"{_seconds_text(e.get('seconds'))}{' (over budget)' if over else ''} | "
            f"{e['budget_seconds']} s |"
        )
    out += [
        "",
        "## Running the Flower workshop mode",
        "",
        (
            "Learners can train one federated model across their laptops with Flower: one machine "
            "runs the server, each table runs a hospital client. The step-by-step guide is "
            "[the Flower workshop guide](workshop_flower.md)."
            if has_flower_guide
            else "The step-by-step guide for training across laptops with Flower lives in "
            "`docs/workshop_flower.md` (not yet in this build)."
        ),
        "",
        "## Before the workshop: common pitfalls",
        "",
        "Ask every learner to run `python -m helpers.preflight` (or `make preflight`) the day "
        "before; it checks the Python version, every pinned package, the "
        "scikit-learn/diffprivlib pairing and gmpy2, and prints the fix for each problem.",
        "",
        "| problem | fix |",
        "|---|---|",
    ]
    out += [f"| {problem} | {fix} |" for problem, fix in PITFALLS]
    out += [
        "",
        "Learners get the **learner edition** (`make learner`: `_build/learner.zip`): the same "
        "notebooks with every solution replaced by a stub; its check cells say what is missing "
        "until the exercise is solved. Solutions are in the committed notebooks and behind the "
        "'Show solution' toggles of this book.",
        "",
    ]
    # The law moves: the jurisdiction table's cells, oldest check first (helpers.regulations).
    out += [
        "",
        "## Before a course: re-verify the law",
        "",
        "Each cell of the case studies' jurisdiction table (`helpers.regulations`) records the "
        "kind of source it rests on and the date it was checked. Re-check the oldest and the "
        "weakest first; a case study is teaching material, not legal advice.",
        "",
        "| checked | source kind | jurisdiction | column | sources |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {c.checked} | {c.kind} | {c.jurisdiction} | {c.column} | "
        + " ".join(f"[{i}]({url})" for i, url in enumerate(c.source.split(" ; "), 1))
        + " |"
        for c in cells_by_check_date().itertuples()
    ]
    out += [
        "",
        "## Per notebook: objectives, discussion prompts, instructor notes",
    ]
    for e in entries:
        out += [
            "",
            f"### {e['title']}",
            "",
            f"[Open the page]({e['link']}) · "
            f"{e['teaching_minutes']} min teaching, {e['exercise_minutes']} min exercises",
            "",
        ]
        if e["objectives"]:
            out += ["Learning objectives:", ""] + [f"- {o}" for o in e["objectives"]] + [""]
        prompts = DISCUSSION_PROMPTS.get(e["stem"], []) + [
            rebase_links(q, e["folder"]) for q in e["questions"]
        ]
        if prompts:
            out += ["Discussion prompts:", ""] + [f"- {p}" for p in prompts] + [""]
        if e["notes"]:
            out += ["Instructor notes (hidden from the learner pages):", ""]
            for note in e["notes"]:
                note = rebase_links(_demote(note), e["folder"])
                out += [":::{admonition} Instructor note", ":class: tip", "", note, ":::", ""]
    return "\n".join(out) + "\n"


_MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def rebase_links(markdown: str, folder: str, to: str = DOCS) -> str:
    """Rewrite relative links in markdown written in ``folder`` so they work from ``to``."""

    def fix(match):
        target = match.group(2)
        if re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|#|/)", target):
            return match.group(0)  # absolute URL, in-page anchor or absolute path
        path, hash_, anchor = target.partition("#")
        new = posixpath.relpath(posixpath.normpath(posixpath.join(folder, path)), to)
        return f"{match.group(1)}{new}{hash_}{anchor}{match.group(3)}"

    return _MD_LINK.sub(fix, markdown)


def _demote(markdown: str) -> str:
    """Headings inside notes become bold text so they do not break the guide's outline."""
    return re.sub(r"^#+\s+(.+)$", r"**\1**", markdown, flags=re.M)


def short_title(title: str) -> str:
    """A title without its number prefix, up to its first colon or comma (for the figure)."""
    title = re.sub(r"^(case study\s*)?\d+\s*[·:.\-]?\s*", "", title.strip(), flags=re.I)
    short = re.split(r"[:,;(]", title)[0].strip()
    return (short or title)[:1].upper() + (short or title)[1:]


def table_of_contents(items: list[dict], docs: list[str]) -> str:
    """The _toc.yml (jb-book format) in course order."""
    lines = ["format: jb-book", "root: docs/intro", "parts:"]
    for folder, caption in (("notebooks", "Notebooks"), ("casestudies", "Case studies")):
        chosen = [i for i in items if i["folder"] == folder]
        if chosen:
            lines += [f"  - caption: {caption}", "    chapters:"]
            lines += [f"      - file: {i['rel'][: -len('.ipynb')]}" for i in chosen]
    instructor = [d for d in INSTRUCTOR_PAGES if d in docs]
    if instructor:
        lines += ["  - caption: For instructors", "    chapters:"]
        lines += [f"      - file: docs/{d}" for d in instructor]
    others = [d for d in docs if d not in INSTRUCTOR_PAGES and d not in ("intro", "glossary")]
    lines += ["  - caption: Reference", "    chapters:"]
    lines += [f"      - file: docs/{d}" for d in others + ["glossary"]]
    return "\n".join(lines) + "\n"


# --- the build --------------------------------------------------------------------------


#: Where MathJax 2 sits inside the jupyter-server-mathjax package, and what the book loads of it.
MATHJAX_PACKAGE = "jupyter_server_mathjax"
MATHJAX_PARTS = (
    "MathJax.js",
    "config",
    "extensions",
    "jax/input/TeX",
    "jax/output/HTML-CSS",
    "jax/element",
    "fonts/HTML-CSS",
    "localization/en",
)
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"


def local_mathjax() -> Path | None:
    """The folder of a local MathJax 2 (from the jupyter-server-mathjax package), if installed."""
    spec = importlib.util.find_spec(
        MATHJAX_PACKAGE
    )  # locate without importing its server extension
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "MathJax.js").is_file() else None


def _copy_mathjax(source: Path, target: Path) -> None:
    """Copy the parts of MathJax 2 that its TeX configuration with HTML-CSS output loads."""
    for part in MATHJAX_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        elif src.is_file():
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)


def book_config(text: str, mathjax: bool) -> str:
    """The book's _config.yml: docs/_config.yml, pointed at the local MathJax when there is one."""
    config = yaml.safe_load(text) or {}
    if mathjax:
        sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
        sphinx["mathjax_path"] = f"mathjax/MathJax.js?config={MATHJAX_CONFIG}"
        # MathJax 2 reads mathjax2_config; the web font ships with it, so nothing is fetched.
        sphinx["mathjax2_config"] = {
            "tex2jax": {
                "inlineMath": [["\\(", "\\)"]],
                "displayMath": [["\\[", "\\]"]],
                "processEscapes": True,
            },
            "HTML-CSS": {
                "availableFonts": [],
                "preferredFont": None,
                "webFont": "STIX-Web",
                "imageFont": None,
            },
            "showMathMenu": False,
        }
        sphinx["mathjax3_config"] = None
        sphinx["myst_update_mathjax"] = False
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def stage(root: Path, build: Path, execute: bool, log=print) -> dict:
    """Write the book's sources into build/book_src; return {notebook rel path: seconds}.

    An executing build records the measured seconds in the kit's timing record
    (``notebooks.record_timings``); every build's instructor guide reads that record.
    """
    src = build / "book_src"
    if src.exists():
        shutil.rmtree(src)
    (src / DOCS).mkdir(parents=True)
    (src / "_static").mkdir()

    items, measured = [], {}
    for path in nb.find_notebooks(root):
        rel = path.relative_to(root).as_posix()
        if execute:
            try:
                notebook, seconds = nb.execute(path)
            except Exception as error:  # nbclient raises CellExecutionError with the traceback
                raise RuntimeError(f"{rel} failed to execute for the book:\n{error}") from error
            log(f"{seconds:7.1f} s  executed {rel}")
            measured[rel] = seconds
        else:
            notebook = nbformat.read(path, as_version=4)
        kit = kit_metadata(notebook)
        keys = ("title", "objectives", "teaching_minutes", "exercise_minutes", "budget_seconds")
        items.append(
            {
                **{k: kit[k] for k in keys},
                "rel": rel,
                "folder": path.parent.name,
                "stem": path.stem,
                "notes": instructor_notes(notebook),
                "questions": discussion_questions(notebook),
            }
        )
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(prepare_for_book(notebook), target)
        for asset in path.parent.glob("*"):
            if (
                asset.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg", ".gif")
                and asset.is_file()
            ):
                shutil.copy2(asset, target.parent / asset.name)
    timings = nb.record_timings(measured, root) if measured else nb.read_timings(root)

    # Notebooks link to the helpers' source ([dp.py](../helpers/dp.py)); with the files
    # beside the notebooks, MyST turns those links into downloads instead of dead links.
    for source in sorted((root / "helpers").glob("*.py")):
        (src / "helpers").mkdir(exist_ok=True)
        shutil.copy2(source, src / "helpers" / source.name)

    docs_dir = root / DOCS
    docs = []
    for page in sorted(docs_dir.glob("*.md")) if docs_dir.is_dir() else []:
        if page.stem in ("instructor_guide", "licence"):
            continue  # generated below
        shutil.copy2(page, src / DOCS / page.name)
        docs.append(page.stem)
    for asset in docs_dir.glob("*") if docs_dir.is_dir() else []:
        if asset.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg") and asset.is_file():
            shutil.copy2(asset, src / DOCS / asset.name)
    if "intro" not in docs:
        (src / DOCS / "intro.md").write_text(f"# Course map\n\n{COURSE_MAP_MARKER}\n")
        docs.append("intro")
    if "glossary" not in docs:
        (src / DOCS / "glossary.md").write_text("# Glossary\n")
        docs.append("glossary")

    # The learner edition, offered for download from the course map.
    with tempfile.TemporaryDirectory() as folder:
        archive = le.write_edition(root, Path(folder))
        shutil.copy2(archive, src / DOCS / LEARNER_ZIP)
    config_text = (
        (docs_dir / "_config.yml").read_text() if (docs_dir / "_config.yml").is_file() else ""
    )
    repository = (yaml.safe_load(config_text) or {}).get("repository", {}) or {}
    intro = (src / DOCS / "intro.md").read_text()
    generated = course_map(items) + "\n" + get_started(repository)
    intro = (
        intro.replace(COURSE_MAP_MARKER, generated)
        if COURSE_MAP_MARKER in intro
        else intro + "\n" + generated
    )
    (src / DOCS / "intro.md").write_text(intro)
    (src / DOCS / "licence.md").write_text(licence_page(root))
    docs.append("licence")
    (src / DOCS / "instructor_guide.md").write_text(
        instructor_guide(items, timings, has_flower_guide="workshop_flower" in docs)
    )
    docs.append("instructor_guide")
    (src / "_toc.yml").write_text(table_of_contents(items, docs))

    # Jupyter Book loads every .js file in _static on every page, so MathJax is copied into
    # the built html after the build (see build()), not staged here.
    mathjax = local_mathjax()
    (src / "_config.yml").write_text(book_config(config_text, mathjax is not None))
    if mathjax is None:
        (src / "_static" / "kit-no-mathjax.js").write_text(
            "// No local MathJax was found at build time (pip install jupyter-server-mathjax);\n"
            "// formulas are shown as TeX source rather than fetched from a CDN.\n"
        )
    (src / "_static" / "kit.css").write_text(BOOK_CSS)
    (src / "_static" / "favicon.svg").write_text(FAVICON)
    return timings.get("seconds", {})


#: The learner edition's zip, as the book offers it.
LEARNER_ZIP = "learner-edition.zip"
#: The first notebook, where the README, `make lab` and the Binder link open the course.
FIRST_NOTEBOOK = "notebooks/00_welcome_and_data.ipynb"
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#0072B2"/>'
    '<path d="M16 5l9 3.5v6.5c0 5.6-3.8 10.4-9 12-5.2-1.6-9-6.4-9-12V8.5z" fill="#fff"/>'
    "</svg>\n"
)
#: The book's own style: wide and long-text tables readable, the course map legible at
#: phone width, toggles that say what they hide.
BOOK_CSS = """/* The kit's book. */
details.hide summary { font-weight: 600; }
/* Tables in outputs: long text wraps (URLs break anywhere), the table scrolls sideways only
   when even wrapped it is wider than the page, so every column (the source!) stays in reach. */
.cell_output .output.text_html { overflow-x: auto; max-width: 100%; }
.cell_output table.dataframe { table-layout: auto; width: 100%; font-size: 0.85rem; }
.cell_output table.dataframe td, .cell_output table.dataframe th {
  white-space: normal; overflow-wrap: anywhere; vertical-align: top; min-width: 4rem;
}
/* Tables shown with plotting.full_table carry their own inline styles (column widths,
   alignment), so they read the same in JupyterLab as here. */
/* The course map: one linked box per notebook, wrapping on narrow screens. */
nav.kit-course-map ol { list-style: none; display: flex; flex-wrap: wrap; gap: 0.5rem;
  padding: 0; margin: 0.5rem 0 1rem; }
nav.kit-course-map li { flex: 1 1 8.5rem; max-width: 12rem; }
nav.kit-course-map a { display: block; height: 100%; padding: 0.5rem 0.6rem;
  border-radius: 0.4rem; font-size: 0.95rem; line-height: 1.3; text-decoration: none; }
nav.kit-course-map a strong { display: block; font-size: 1.05rem; }
nav.kit-course-map .kit-notebooks a { background: #0072B2; color: #ffffff; }
nav.kit-course-map .kit-casestudies a { background: #E69F00; color: #000000; }
nav.kit-course-map a:focus, nav.kit-course-map a:hover { outline: 3px solid #000000;
  outline-offset: 2px; }
nav.kit-course-map h3 { font-size: 1rem; margin: 0.75rem 0 0.25rem; }
/* The hidden MathML that screen readers read: no web font to fetch for it. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: serif !important; }
.kit-footer { font-size: 0.85rem; }
"""


def _html_page(rel: str) -> str:
    return rel[: -len(".ipynb")] + ".html"


def course_map(items: list[dict]) -> str:
    """The generated part of the course map: linked boxes (real text, legible on a phone)
    and a table of every notebook with its objectives and minutes."""
    entries = _entries(items, DOCS)
    out = ['<nav class="kit-course-map" aria-label="Course map">']
    for folder, caption in (("notebooks", "Notebooks"), ("casestudies", "Case studies")):
        rows = [e for e in entries if e["folder"] == folder]
        if rows:
            out.append(f'<h3>{caption}</h3>\n<ol class="kit-{folder}">')
            for e in rows:
                out.append(
                    f'<li><a href="../{_html_page(e["rel"])}"><strong>{e["stem"][:2]}</strong>'
                    f"{escape(short_title(e['title']))}</a></li>"
                )
            out.append("</ol>")
    out += ["</nav>", ""]
    for folder, caption in (("notebooks", "Notebooks"), ("casestudies", "Case studies")):
        rows = [e for e in entries if e["folder"] == folder]
        if not rows:
            continue
        out += [
            f"### {caption}",
            "",
            "| no. | title | you will be able to | minutes |",
            "|---|---|---|---|",
        ]
        for e in rows:
            objectives = "; ".join(e["objectives"][:2])
            out.append(
                f"| {e['stem'][:2]} | [{e['title']}]({e['link']}) | {objectives} | {_minutes(e)} |"
            )
        out.append("")
    if not entries:
        out.append("*No notebooks yet.*")
    return "\n".join(out)


def binder_link(repository_url: str, branch: str = "main") -> str | None:
    """The Binder launch link of the README, for a GitHub repository URL (else None)."""
    match = re.match(
        r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", repository_url or ""
    )
    if not match:
        return None
    owner, repo = match.groups()
    return (
        f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch or 'main'}"
        f"?urlpath=lab/tree/{FIRST_NOTEBOOK}"
    )


def get_started(repository: dict) -> str:
    """The course map's "work through it yourself" section: the zip, make lab, Binder."""
    link = binder_link(repository.get("url", ""), repository.get("branch", "main"))
    binder = (
        f"- **Run it online**: [launch the course on Binder]({link}) (the first start takes a "
        "few minutes while Binder installs the packages; it opens the solved notebooks)."
        if link
        else "- **Run it online** on [Binder](https://mybinder.org): give it the kit's GitHub "
        "URL; the launch link has the form `https://mybinder.org/v2/gh/OWNER/REPO/main?urlpath="
        f"lab/tree/{FIRST_NOTEBOOK}` (set `repository.url` in `docs/_config.yml` and this "
        "book shows the link itself)."
    )
    return "\n".join(
        [
            "## Work through it yourself",
            "",
            f"- **Download the learner edition**: {{download}}`{LEARNER_ZIP} <{LEARNER_ZIP}>`: "
            "every notebook and case study with its exercises to solve and no solutions; unzip "
            "it and run `make lab` inside (Linux or macOS, Python 3.11+).",
            "- **Or clone the kit** and run `make lab`: it opens your own working copy of the "
            "learner edition (`work/`), and never overwrites your edits.",
            binder,
            "",
        ]
    )


def licence_page(root: Path) -> str:
    """The book's licence page: CC BY 4.0 for the text, MIT for the code (the kit's files)."""
    content = root / "LICENSE-CONTENT.md"
    code = root / "LICENSE"
    out = ["# Licence", ""]
    if content.is_file():
        out += [re.sub(r"^# .*\n", "", content.read_text(), count=1).strip(), ""]
    if code.is_file():
        out += ["## The code: MIT licence", "", "```text", code.read_text().strip(), "```", ""]
    if len(out) == 2:
        out.append("No licence files were found in this build.")
    return "\n".join(out) + "\n"


#: Attributes through which a page would load something (not plain links a reader clicks).
_LOADED = re.compile(
    r"<(?:script|img|iframe|link|source|video|audio)\b[^>]*?\b(?:src|href)=[\"'](https?:)?//", re.I
)
_CSS_URL = re.compile(r"url\(\s*[\"']?(https?:)?//", re.I)
_IMPORT = re.compile(r"@import\s+[\"']?(?:url\()?\s*[\"']?https?://", re.I)
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.I | re.S)
#: sphinx-thebe (always loaded by Jupyter Book) names its CDN script in every page; the
#: kit has no Thebe button, so the URL is blanked rather than left for a stray click.
_THEBE_URL = re.compile(r'const THEBE_JS_URL = "[^"]*";')


_THEBE_SCRIPT = re.compile(r"<script>const THEBE_JS_URL = .*?</script>\n?", re.S)
#: Buttons whose aria-label hides their visible text from screen readers (axe's serious
#: "label-content-name-mismatch"): the toggles say "Toggle hidden content", not "Show solution".
_TOGGLE_LABEL = re.compile(r'<summary aria-label="Toggle hidden content">')
_SEARCH_LABEL = re.compile(
    r'(<button class="btn search-button-field[^"]*"[^>]*?) aria-label="Search"'
)
#: The colour-mode icons' titles become SVG <title>s (Font Awesome), i.e. text the button's
#: aria-label "Color mode" does not contain.
_THEME_ICON_TITLE = re.compile(r'(<i class="theme-switch [^"]*"[^>]*?) title="[^"]*"')
_ICON_IN_BUTTON = re.compile(r'(<button\b[^>]*>\s*(?:<span[^>]*>\s*)?)<i class="([^"]*)"')


def polish_page(text: str, root: str) -> str:
    """One built page, fixed where the theme falls short: sphinx-thebe's inline script once
    (twice is a JS error) and with its CDN URL blanked (the kit has no Thebe button); toggles and
    buttons named by their visible text; icons hidden from screen readers; the footer's
    ``@ROOT@`` links made relative to the page (``root`` is "." or "..")."""
    seen = []

    def once(match):
        seen.append(match)
        return _THEBE_URL.sub('const THEBE_JS_URL = "";', match.group(0)) if len(seen) == 1 else ""

    text = _THEBE_SCRIPT.sub(once, text)
    text = _TOGGLE_LABEL.sub("<summary>", text)
    text = _SEARCH_LABEL.sub(r"\1", text)
    text = _THEME_ICON_TITLE.sub(r"\1", text)
    text = _ICON_IN_BUTTON.sub(r'\1<i aria-hidden="true" class="\2"', text)
    return text.replace("@ROOT@", root)


def polish_pages(html: Path) -> None:
    """Apply :func:`polish_page` to every page of the built book."""
    for path in html.rglob("*.html"):
        depth = len(path.relative_to(html).parts) - 1
        root = "/".join([".."] * depth) or "."
        text = path.read_text(errors="replace")
        polished = polish_page(text, root)
        if polished != text:
            path.write_text(polished)


#: myst-nb writes each output image to _images/<sha256 of its bytes>.<ext>.
_OUTPUT_IMAGE = re.compile(r'<img\b[^>]*?\bsrc="[^"]*?_images/([0-9a-f]{64})\.\w+"[^>]*>')
_ALT_ATTRIBUTE = re.compile(r'\salt="[^"]*"')


def image_alt_texts(paths) -> dict[str, str]:
    """{sha256 of an output image's bytes: its alt text} over the notebooks at ``paths``.

    The alt text is what ``plotting.finish(ax, alt=...)`` stored in the output's metadata
    (``metadata["image/png"]["alt"]``); myst-nb names the image file by the same hash.
    """
    alts = {}
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                for mime, content in output.get("data", {}).items():
                    alt = output.get("metadata", {}).get(mime, {}).get("alt")
                    if mime.startswith("image/") and mime != "image/svg+xml" and alt:
                        data = base64.b64decode("".join(content))
                        alts[hashlib.sha256(data).hexdigest()] = str(alt)
    return alts


def apply_alt_text(html: Path, alts: dict[str, str]) -> int:
    """Give each output image in the built pages its figure's alt text; return how many.

    myst-nb takes an image's alt only from cell-level options and otherwise leaves the file
    path as the alt (``alt="../_images/<hash>.png"``), which a screen reader reads out.
    """
    changed = 0
    for path in html.rglob("*.html"):
        text = path.read_text(errors="replace")

        def fix(match):
            nonlocal changed
            alt = alts.get(match.group(1))
            if alt is None:
                return match.group(0)
            changed += 1
            tag = _ALT_ATTRIBUTE.sub("", match.group(0))
            return tag.replace("<img", f'<img alt="{escape(alt, quote=True)}"', 1)

        new = _OUTPUT_IMAGE.sub(fix, text)
        if new != text:
            path.write_text(new)
    return changed


def network_references(html: Path) -> list[str]:
    """Files of the built book that would make a browser fetch from the network."""
    found = []
    for path in sorted(html.rglob("*")):
        if path.suffix == ".html":
            text = path.read_text(errors="replace")
            for match in _LOADED.finditer(text):
                tag = text[match.start() : text.find(">", match.start()) + 1]
                if 'rel="canonical"' in tag or 'rel="alternate"' in tag:
                    continue
                found.append(f"{path.relative_to(html)}: {tag[:160]}")
            for match in _INLINE_SCRIPT.finditer(text):
                url = re.search(r"https?://[^\s\"'<>]+", match.group(1))
                if url:
                    found.append(f"{path.relative_to(html)}: inline script names {url.group(0)}")
        elif path.suffix == ".css":
            text = path.read_text(errors="replace")
            for pattern in (_CSS_URL, _IMPORT):
                for match in pattern.finditer(text):
                    found.append(
                        f"{path.relative_to(html)}: {text[match.start() : match.start() + 120]}"
                    )
    return found


def build(
    root: Path = ROOT, execute: bool = True, log=print, build_dir: Path | None = None
) -> Path:
    """Stage the sources, run jupyter-book, check for network fetches; return the html folder.

    ``build_dir`` defaults to ``root/_build``; the book lands in ``build_dir/html``.
    """
    build_dir = build_dir or root / "_build"
    start = time.perf_counter()
    stage(root, build_dir, execute, log=log)
    src = build_dir / "book_src"
    html = build_dir / "html"
    if html.exists():
        shutil.rmtree(html)
    command = [
        sys.executable,
        "-c",
        "from jupyter_book.cli.main import main; main()",
        "build",
        str(src),
        "--path-output",
        str(src),
        "--builder",
        "html",
        "--keep-going",
    ]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "NO_COLOR": "1"}
    done = subprocess.run(command, cwd=src, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # Sphinx colours its warnings
    warnings = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    built = src / "_build" / "html"
    if done.returncode != 0 or not (built / "index.html").is_file():
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}):\n{output[-4000:]}")
    shutil.move(str(built), str(html))
    polish_pages(html)
    apply_alt_text(html, image_alt_texts(sorted(src.rglob("*.ipynb"))))
    mathjax = local_mathjax()
    if mathjax:
        _copy_mathjax(mathjax, html / "_static" / "mathjax")
    fetches = network_references(html)
    if fetches:
        raise RuntimeError("the book would fetch from the network:\n" + "\n".join(fetches[:20]))
    for line in warnings:
        log("  " + line.replace(str(src) + "/", ""))
    log(
        f"book: {_shown(html, root)}/index.html ({time.perf_counter() - start:.0f} s, "
        f"{len(warnings)} warning(s))"
    )
    return html


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help=f"reuse committed outputs instead of executing (or {NO_EXECUTE_ENV}=1)",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=None,
        help="where to build (default: _build; html in html/)",
    )
    args = parser.parse_args(argv)
    no_execute = args.no_execute or os.environ.get(NO_EXECUTE_ENV, "") not in ("", "0")
    try:
        build_dir = args.build_dir.resolve() if args.build_dir else None
        build(args.root.resolve(), execute=not no_execute, build_dir=build_dir)
    except RuntimeError as error:
        print(f"make book: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
