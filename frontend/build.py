"""Render the front-end into a folder of static files: ``python -m frontend.build``.

Sources, all in ``frontend/``:

* ``templates/``: the layout every page extends (``<head>``, skip links, header,
  footer), the header's menus, and macros for the DSFR blocks pages repeat;
* ``pages/``: one Jinja2 template per page, at the path it is served from
  (``pages/mandats/detail/index.html`` is ``/mandats/detail/``);
* ``css/``, ``img/``, ``js/``: copied as they are. A page's module is
  ``js/pages/<its path, "/" as "-">.js`` (``accueil.js`` for ``/``); the layout loads
  it when it exists.

Output: ``build/frontend/`` (git-ignored), what the local gateway serves and what
production copies to its static host (docs/deploy.md). ``--sandbox`` renders the
training sandbox's variant into ``build/frontend-sandbox/``: every page says it is a
training environment with fictitious data (the layout's notice and title), and
the sandbox's own pages (``pages/bac-a-sable/``) are there, which production's
build leaves out. Templates see ``sandbox`` (true or false). A file is rewritten only when
its content changed, by a rename (a gateway serving the folder meanwhile reads the
old file or the new one, never half of one), and files whose source is gone are
removed: several stacks of one checkout may build at the same time.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

from shared.config import CGU_VERSION

SOURCE = Path(__file__).resolve().parent
ROOT = SOURCE.parent
PAGES = SOURCE / "pages"
TEMPLATES = SOURCE / "templates"
ASSETS = ("css", "img", "js")
OUT = ROOT / "build" / "frontend"
SANDBOX_OUT = ROOT / "build" / "frontend-sandbox"
SANDBOX_PAGES = "bac-a-sable/"  # pages only the sandbox's build has, and their scripts
SANDBOX_ASSETS = ("js/pages/bac-a-sable", "js/bac-a-sable")


class BuildError(ValueError):
    pass


@dataclass
class Result:
    out: Path
    pages: int
    assets: int
    written: int
    removed: int

    def __str__(self) -> str:
        return (f"{self.out}: {self.pages} pages, {self.assets} assets "
                f"({self.written} written, {self.removed} removed)")


def page_names(sandbox: bool = False) -> list[str]:
    """The page templates, as paths under ``pages/`` (``connexion/index.html``); the
    sandbox's own pages only in its build."""
    return sorted(name for name in (p.relative_to(PAGES).as_posix() for p in PAGES.rglob("*.html"))
                  if sandbox or not name.startswith(SANDBOX_PAGES))


def module_of(page: str) -> str:
    """``mandats/detail/index.html`` → ``/js/pages/mandats-detail.js``."""
    folder = page[:-len("/index.html")] if page.endswith("/index.html") else page.removesuffix(".html")
    if page == "index.html":
        folder = "accueil"
    return "/js/pages/" + folder.replace("/", "-") + ".js"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(TEMPLATES), str(PAGES)]),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    # The terms of use in force (``templates/cgu/<version>.html``): the version the
    # API asks aidants to accept, so that the page shows the very text they accept.
    env.globals["cgu_version"] = CGU_VERSION
    return env


def render(sandbox: bool = False) -> dict[str, bytes]:
    """Every file of the output, by its path in the folder."""
    env = environment()
    shadowed = set(page_names(True)) & {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")}
    if shadowed:
        raise BuildError(f"pages named like a template (the template would win): {sorted(shadowed)}")
    files: dict[str, bytes] = {}
    for page in page_names(sandbox):
        module = module_of(page)
        has_module = (SOURCE / module.lstrip("/")).is_file()
        html = env.get_template(page).render(module=module if has_module else None, sandbox=sandbox)
        files[page] = html.encode()
    for folder in ASSETS:
        for path in sorted((SOURCE / folder).rglob("*")):
            relative = path.relative_to(SOURCE).as_posix()
            if path.is_file() and (sandbox or not relative.startswith(SANDBOX_ASSETS)):
                files[relative] = path.read_bytes()
    return files


def _write(target: Path, content: bytes) -> bool:
    try:
        if target.read_bytes() == content:
            return False
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, target)
    return True


def build(out: Path | None = None, sandbox: bool = False) -> Result:
    out = out or (SANDBOX_OUT if sandbox else OUT)
    files = render(sandbox)
    out.mkdir(parents=True, exist_ok=True)
    written = sum(_write(out / name, content) for name, content in files.items())
    removed = 0
    for path in sorted(out.rglob("*"), reverse=True):  # files before their folders
        name = path.relative_to(out).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif name not in files and not path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
            removed += 1
    pages = sum(1 for name in files if name.endswith(".html"))
    return Result(out, pages, len(files) - pages, written, removed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontend.build", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help=f"the folder to write (default {OUT.relative_to(ROOT)}, "
                                                 f"or {SANDBOX_OUT.relative_to(ROOT)} with --sandbox)")
    parser.add_argument("--sandbox", action="store_true", help="the training sandbox's variant")
    args = parser.parse_args(argv)
    print(build(args.out.resolve() if args.out else None, sandbox=args.sandbox))
    return 0


if __name__ == "__main__":
    sys.exit(main())
