"""The learner's own working copy of the learner edition (what `make lab` opens), kept in step
with the kit without ever overwriting the learner's work.

    python scripts/working_copy.py               create or update work/
    python scripts/working_copy.py --work DIR    another folder (tests, a second learner)

The first run writes every learner notebook (``learner_edition.learner_files``) into the
folder. Later runs, e.g. after a ``git pull`` that changed notebooks:

- a notebook that is not there yet is added;
- a notebook the learner has not edited since it was written (its cells' sources are as
  generated; running cells is not editing) is updated in place when the kit changed it;
- a notebook the learner has edited is never touched: when the kit has a newer version,
  that version is written beside it (``NN_name.updated-<version>.ipynb``) and the command
  says so. A notebook whose origin is unknown (no record of it) counts as edited.

What was generated is recorded in ``<folder>/.kit/manifest.json`` (a hash of each notebook's
cell sources). Reference files (the helpers' source, the glossary) are the kit's, not the
learner's: they are rewritten on every run and are read-only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learner_edition as le  # noqa: E402  (scripts/ is not a package)

ROOT = le.ROOT
DEFAULT_FOLDER = "work"
MANIFEST = ".kit/manifest.json"
README = (
    """# Your working copy

This folder is yours: `make lab` opens it, and never overwrites a notebook you have edited.
When the kit changes a notebook you edited, the new version is written beside yours as
`NN_name.updated-<version>.ipynb`, and `make lab` says so; notebooks you have not edited are
updated in place. The solved notebooks (for instructors) open with `make lab EDITION=instructor`.

"""
    + le.HOW_TO_WORK
).encode()


def source_hash(text: bytes | str) -> str:
    """A notebook's identity as the learner sees it: its cells' types and sources only, so
    running cells (outputs, counts) or JupyterLab's metadata updates are not edits."""
    notebook = nbformat.reads(text if isinstance(text, str) else text.decode(), as_version=4)
    cells = [[c.cell_type, c.source] for c in notebook.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def _write(path: Path, content: bytes, read_only: bool = False) -> None:
    """Write atomically (a temporary file renamed over the target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".kit-", suffix=path.suffix)
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    mode = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    os.chmod(temporary, mode if read_only else mode | stat.S_IWUSR)
    os.replace(temporary, path)


def beside(rel: str, new_hash: str) -> str:
    """Where the kit's newer version of an edited notebook goes."""
    stem = rel[: -len(".ipynb")]
    return f"{stem}.updated-{new_hash[:8]}.ipynb"


def sync(folder: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """Create or update the working copy in ``folder``; return what happened, by kind:
    ``added``, ``updated``, ``beside`` (edited; the new version written next to it, as
    "rel -> new rel"), ``kept`` (edited, no newer version) and ``unchanged``."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    report = {kind: [] for kind in ("added", "updated", "beside", "kept", "unchanged")}
    for rel, content in le.learner_files(root).items():
        target = folder / rel
        if not rel.endswith(".ipynb"):
            _write(target, content, read_only=True)
            continue
        new = source_hash(content)
        if not target.is_file():
            _write(target, content)
            manifest[rel] = new
            report["added"].append(rel)
            continue
        current = source_hash(target.read_bytes())
        if current == new:
            manifest[rel] = new
            report["unchanged"].append(rel)
        elif current == manifest.get(rel):  # as generated: not edited, safe to update
            _write(target, content)
            manifest[rel] = new
            report["updated"].append(rel)
        elif new == manifest.get(rel):  # edited, and the kit has not changed it since
            report["kept"].append(rel)
        else:  # edited, and the kit has a newer version: never overwrite the learner's
            other = beside(rel, new)
            if not (folder / other).is_file():
                _write(folder / other, content)
            report["beside"].append(f"{rel} -> {other}")
    _write(folder / "README.md", README, read_only=True)
    _write(manifest_path, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return report


def summary(folder: Path, report: dict[str, list[str]]) -> list[str]:
    """What to tell the learner, in a few lines."""
    total = sum(len(v) for v in report.values())
    counts = ", ".join(f"{len(report[k])} {k}" for k in ("added", "updated") if report[k])
    lines = [
        f"your working copy: {folder} ({total} notebooks" + (f"; {counts})" if counts else ")")
    ]
    for entry in report["beside"]:
        mine, new = entry.split(" -> ")
        lines.append(
            f"  you edited {mine} and the kit has a newer version: it is beside yours as {new}"
            " (yours is unchanged)"
        )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / DEFAULT_FOLDER, help="the folder")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = args.work.resolve()
    for line in summary(_shown(folder), sync(folder, args.root.resolve())):
        print(line)
    return 0


def _shown(folder: Path) -> Path:
    try:
        return folder.relative_to(Path.cwd())
    except ValueError:
        return folder


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
