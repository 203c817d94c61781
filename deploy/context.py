"""A function's build context, made the way faas-cli makes it (``faas-cli build``):

1. the template folder (``template/<lang>``) copied to ``build/<fn>``;
2. every entry of the handler folder, but ``build`` and ``template``, copied over
   ``build/<fn>/function``;
3. every ``configuration.copy`` path copied to ``build/<fn>/function/<path>``, after
   checking it lies inside the project and is not the project itself.

faas-cli takes the template from its git source; we take our stand-in
(``deploy/template/python3-http``, see its IMAGE.md), which behaves as the template
does. :func:`assemble` then lays a context out as the image's ``/home/app``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from local import stack

TEMPLATES = Path(__file__).resolve().parent / "template"
HANDLER_DIR = "function"  # faas-cli's template handler overlay
IMAGE_HOME = "/home/app"  # WORKDIR of the template's image
SKIPPED_HANDLER_ENTRIES = {"build", "template"}


class ContextError(ValueError):
    pass


def find_function(name: str, stack_path: Path | None = None) -> stack.Function:
    """By deployed name (``otp-verify``) or folder (``otp_verify``)."""
    functions = stack.functions(stack_path)
    for fn in functions.values():
        if name in (fn.name, fn.folder):
            return fn
    raise ContextError(f"no function {name!r} in stack.yml (known: {', '.join(sorted(functions))})")


def copy_paths(stack_path: Path | None = None) -> list[str]:
    return list((stack.load(stack_path).get("configuration") or {}).get("copy") or [])


def _in_scope(relative: str, project: Path) -> Path:
    """faas-cli's pathInScope: a copy path must be inside the project, not the project."""
    target = (project / relative).resolve()
    if target == project.resolve():
        raise ContextError(f"copy path {relative!r} is the whole project")
    if not target.is_relative_to(project.resolve()):
        raise ContextError(f"copy path {relative!r} is outside the project")
    return target


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def build_context(name: str, out: Path | None = None, stack_path: Path | None = None) -> Path:
    stack_file = (stack_path or stack.ROOT / "stack.yml").resolve()
    project = stack_file.parent
    fn = find_function(name, stack_file)
    template = TEMPLATES / fn.spec.get("lang", "")
    if not template.is_dir():
        raise ContextError(f"{fn.name}: no template {fn.spec.get('lang')!r} in {TEMPLATES}")
    handler = (project / fn.spec["handler"]).resolve()
    if not handler.is_dir():
        raise ContextError(f"{fn.name}: handler folder {fn.spec['handler']} does not exist")

    out = (out or project / "build" / fn.name).resolve()
    if out == project or project.is_relative_to(out):
        raise ContextError(f"refusing to replace {out}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(template, out)
    overlay = out / HANDLER_DIR
    overlay.mkdir(exist_ok=True)
    for entry in sorted(handler.iterdir()):
        if entry.name not in SKIPPED_HANDLER_ENTRIES:
            _copy(entry, overlay / entry.name)
    for extra in copy_paths(stack_file):
        _copy(_in_scope(extra, project), (overlay / extra).resolve())
    return out


def assemble(context: Path, home: Path) -> Path:
    """Lay a build context out as the image's ``/home/app`` (the Dockerfile's COPY
    steps): ``index.py`` and ``requirements.txt`` at the top, an empty
    ``function/__init__.py``, then the whole ``function/`` folder over it."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("index.py", "requirements.txt"):
        shutil.copy2(context / name, home / name)
    (home / HANDLER_DIR).mkdir(exist_ok=True)
    (home / HANDLER_DIR / "__init__.py").touch()
    shutil.copytree(context / HANDLER_DIR, home / HANDLER_DIR, dirs_exist_ok=True)
    return home


def image_environment(fn: stack.Function, home: Path) -> dict[str, str]:
    """The function's environment from stack.yml, with ``/home/app`` mapped to ``home``."""
    return {k: v.replace(IMAGE_HOME, str(home)) for k, v in fn.environment.items()}
