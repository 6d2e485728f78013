"""Add a SuperLink connection to Flower's config.toml once: safe to run again and again.

    python workshop/flower/connect.py classroom 127.0.0.1:8000 --insecure
    python workshop/flower/connect.py classroom 127.0.0.1:8000 --ca /full/path/to/ca.crt

``flwr run . classroom`` looks the name up in ``$FLWR_HOME/config.toml`` (default
``~/.flwr/config.toml``). Appending the entry by hand twice makes the file invalid TOML
("Cannot declare ('superlink', 'classroom') twice") and then every ``flwr`` command fails.
This script writes the entry only if it is missing; if it is there already with the same
settings it says so and changes nothing; if it is there with other settings it stops and
says which (``--replace`` rewrites it). A file that already declares an entry twice is
reported with its line numbers, and ``--repair`` keeps the first declaration and removes
the later ones. The result is checked to be valid TOML before it is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from pathlib import Path


def config_path() -> Path:
    """Flower's config file: ``$FLWR_HOME/config.toml``, else ``~/.flwr/config.toml``."""
    home = os.environ.get("FLWR_HOME")
    return (Path(home) if home else Path.home() / ".flwr") / "config.toml"


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def _tables(lines: list[str]) -> list[tuple[str, int, int]]:
    """(table name, first line, end line) of each ``[table]`` block, in order (0-based)."""
    starts = [
        (i, m.group(1).replace(" ", ""))
        for i, line in enumerate(lines)
        if (m := _HEADER.match(line))
    ]
    ends = [i for i, _ in starts[1:]] + [len(lines)]
    return [(name, start, end) for (start, name), end in zip(starts, ends, strict=True)]


def _without(lines: list[str], drop: list[tuple[str, int, int]]) -> list[str]:
    skip = {i for _, start, end in drop for i in range(start, end)}
    return [line for i, line in enumerate(lines) if i not in skip]


def _entry(name: str, address: str, ca: str | None) -> str:
    security = f'root-certificates = "{ca}"' if ca else "insecure = true"
    return f'\n[superlink.{name}]\naddress = "{address}"\n{security}\n'


def connect(
    name: str, address: str, ca: str | None, replace: bool = False, repair: bool = False
) -> str:
    """Ensure ``[superlink.<name>]`` holds ``address`` (TLS with ``ca``, else insecure).

    Returns what was done (a sentence); raises SystemExit with a message if the file has
    the entry with other settings (without ``replace``) or declares a table twice (without
    ``repair``).
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise SystemExit(f"the connection name must be letters, digits, - or _; got {name!r}")
    if not re.fullmatch(r"[^\s:]+:[0-9]{1,5}", address):
        raise SystemExit(f"the address must be HOST:PORT, e.g. 127.0.0.1:8000; got {address!r}")
    if ca is not None:
        ca = str(Path(ca).expanduser().resolve())
        if not Path(ca).is_file():
            raise SystemExit(f"--ca {ca}: no such file (copy the instructor's ca.crt there first)")
    path = config_path()
    text = path.read_text() if path.exists() else "[superlink]\n"
    lines = text.splitlines(keepends=True)
    tables = _tables(lines)
    seen, repeated = set(), []
    for table in tables:
        if table[0] in seen:
            repeated.append(table)
        seen.add(table[0])
    if repeated:
        where = ", ".join(f"[{t}] again at line {start + 1}" for t, start, _ in repeated)
        if not repair:
            raise SystemExit(
                f"{path} declares a table twice ({where}), so every flwr command fails; "
                "delete the later copy, or run again with --repair to keep the first one"
            )
        lines = _without(lines, repeated)
        text = "".join(lines).rstrip("\n") + "\n"
        tables = _tables(lines)
    try:
        current = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SystemExit(f"{path} is not valid TOML ({error}); fix it by hand first") from None
    wanted = {"address": address, **({"root-certificates": ca} if ca else {"insecure": True})}
    existing = current.get("superlink", {}).get(name)
    done = "repaired and " if repeated else ""
    if existing == wanted:
        if repeated:
            path.write_text(text)
        return f"{done}the connection '{name}' is already in {path}: nothing to add"
    if existing is not None and not replace:
        raise SystemExit(
            f"{path} already has a connection '{name}' with other settings ({existing}); "
            "edit it, or run again with --replace"
        )
    verb = "added"
    if existing is not None:
        lines = _without(lines, [t for t in tables if t[0] == f"superlink.{name}"])
        text = "".join(lines)
        verb = "replaced"
    if "superlink" not in current:
        text += "\n[superlink]\n"
    new = text.rstrip("\n") + "\n" + _entry(name, address, ca)
    check = tomllib.loads(new)  # fail closed: never write a file flwr cannot read
    assert check["superlink"][name] == wanted
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
    return f"{done}{verb} the connection '{name}' ({address}) in {path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="connection name, e.g. classroom")
    parser.add_argument("address", help="the SuperLink as HOST:PORT, e.g. 127.0.0.1:8000")
    security = parser.add_mutually_exclusive_group(required=True)
    security.add_argument("--insecure", action="store_true", help="plain HTTP (one machine only)")
    security.add_argument("--ca", help="the CA certificate (ca.crt) that signed the SuperLink's")
    parser.add_argument(
        "--replace", action="store_true", help="rewrite an entry with other settings"
    )
    parser.add_argument(
        "--repair", action="store_true", help="drop later copies of a table declared twice"
    )
    args = parser.parse_args(argv)
    print(connect(args.name, args.address, args.ca, replace=args.replace, repair=args.repair))
    return 0


if __name__ == "__main__":
    sys.exit(main())
