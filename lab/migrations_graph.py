"""Reading a release's migration files without starting Django: enough to spot a conflict
(two latest migrations in one app) and name the files, before anything runs."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from .errors import LabError
from .kinds import Kind


def leaves(src: Path) -> dict[str, list[str]]:
    """{app: [leaf migration names]} for every app folder with migrations under `src`."""
    names: dict[str, set[str]] = defaultdict(set)
    deps: dict[str, set[str]] = defaultdict(set)
    for f in src.glob("*/migrations/[0-9]*.py"):
        app = f.parent.parent.name
        names[app].add(f.stem)
        try:
            tree = ast.parse(f.read_text())
        except SyntaxError:
            continue  # reported by the syntax check, with its line number
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in ("dependencies", "replaces")
                                                    for t in node.targets):
                for elt in getattr(node.value, "elts", []):
                    if isinstance(elt, ast.Tuple) and len(elt.elts) == 2 and all(isinstance(e, ast.Constant) for e in elt.elts):
                        dep_app, dep_name = (e.value for e in elt.elts)
                        if dep_app == app:
                            deps[app].add(dep_name)
    return {app: sorted(n - deps[app]) for app, n in names.items()}


def check_no_conflicts(src: Path, shown_as: str = "") -> None:
    for app, leaf in leaves(src).items():
        if len(leaf) > 1:
            where = f"{shown_as or src}/{app}/migrations/"
            raise LabError(
                f"migration conflict in {where}: {' and '.join(leaf)} are both the latest migration of '{app}'",
                f"keep one (make the other depend on it), or merge them: `python manage.py makemigrations --merge`",
                kind=Kind.MIGRATION_CONFLICT)
