"""What a function imports, read from its source: the handler folder and every
``shared`` module it reaches, followed import by import (module level and inside
functions alike, since any of them may run).

Used to check each function's ``requirements.txt``: every third-party package the
code imports must be listed or come with a listed one, and nothing listed may go
unused (images carry only what their function needs).
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from local import stack

SHARED = "shared"
# Packages of the repository a function may import, followed like shared: `local`'s
# FranceConnect stand-in and demo site, which the training sandbox copies into its
# build contexts (deploy/sandbox.yml).
FOLLOWED = (SHARED, "local")


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    else:
        parts = parts[:-1]
    return ".".join(parts)


def third_party_imports(handler_dir: Path, root: Path | None = None) -> set[str]:
    """Top-level names of the non-stdlib, non-``shared`` modules the function imports."""
    root = root or stack.ROOT
    todo = sorted(handler_dir.glob("*.py"))
    seen: set[Path] = set()
    found: set[str] = set()
    local_names = {p.stem for p in handler_dir.glob("*.py")} | {p.name for p in handler_dir.iterdir() if p.is_dir()}

    def visit_shared(dotted: str) -> None:
        path = _module_file(root, dotted)
        if path is not None and path not in seen:
            todo.append(path)

    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        in_shared = any(path.is_relative_to(root / name) for name in FOLLOWED)
        package = _package_of(root, path) if in_shared else ""
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [(alias.name, []) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if not in_shared:
                        continue  # the handler folder's own modules
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    dotted = ".".join(base + ([node.module] if node.module else []))
                else:
                    dotted = node.module or ""
                targets = [(dotted, [alias.name for alias in node.names])]
            else:
                continue
            for dotted, names in targets:
                top = dotted.split(".")[0]
                if top in FOLLOWED:
                    visit_shared(dotted)
                    for name in names:  # `from shared import store` imports a module
                        visit_shared(f"{dotted}.{name}")
                elif top and top not in sys.stdlib_module_names and top not in local_names and top != "__future__":
                    found.add(top)
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# What the python3-http template's index.py imports. The template's own requirements.txt
# names them without a version (deploy/template/python3-http/requirements.txt, as
# pinned): the image would get whatever PyPI has that day. Listed in every function's
# file (deploy/requirements.py), they are installed by `pip install --user` after the
# template's, and the user site comes first on sys.path: the image runs the versions
# the tests ran.
TEMPLATE_RUNTIME = ("flask", "waitress")


def requirement_names(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_normalize(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]))
    return names


def _dependencies(dist: str, seen: set[str] | None = None) -> set[str]:
    """``dist`` and everything it installs (markers with extras left out)."""
    seen = set() if seen is None else seen
    dist = _normalize(dist)
    if dist in seen:
        return seen
    seen.add(dist)
    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return seen
    for requirement in requires:
        if "extra ==" in requirement:
            continue
        _dependencies(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0], seen)
    return seen


def check(fn: stack.Function, root: Path | None = None) -> list[str]:
    """Problems with ``fn``'s requirements.txt, as sentences (empty when right)."""
    root = root or stack.ROOT
    handler_dir = root / fn.spec["handler"]
    listed = requirement_names(handler_dir / "requirements.txt")
    installed = set().union(*(_dependencies(name) for name in listed)) if listed else set()
    distributions = metadata.packages_distributions()
    problems = []
    imported_dists: set[str] = set()
    for module in sorted(third_party_imports(handler_dir, root)):
        dists = {_normalize(d) for d in distributions.get(module, [])}
        if not dists:
            problems.append(f"{fn.name}: imports {module}, which no installed distribution provides")
            continue
        imported_dists |= dists
        if not dists & installed:
            problems.append(
                f"{fn.name}: imports {module} ({', '.join(sorted(dists))}) but its requirements.txt does not bring it"
            )
    needed = set().union(*(_dependencies(d) for d in imported_dists | set(TEMPLATE_RUNTIME)))
    for name in sorted(listed - needed):
        problems.append(f"{fn.name}: requirements.txt lists {name}, which its code never imports")
    return problems
