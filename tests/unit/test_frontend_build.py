"""The front-end build (frontend/build.py): every page it renders is a whole DSFR page
that runs under the strict CSP, and the folder it writes is what the pages reference."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from frontend import build

DSFR = build.ROOT / "node_modules" / "@gouvfr" / "dsfr" / "dist"
SKIP_TARGETS = {"#contenu", "#menu-principal", "#pied-de-page"}


class Page(HTMLParser):
    """What the checks need of a page: its elements, with attributes and text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in {"meta", "link", "img", "input", "br", "hr"}:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def all(self, tag: str) -> list[dict]:
        return [e for e in self.elements if e["tag"] == tag]

    def ids(self) -> set[str]:
        return {e["attrs"]["id"] for e in self.elements if e["attrs"].get("id")}


class Built(type(Path())):
    """The output folder of one build; ``sandbox``: the training sandbox's variant."""

    sandbox = False


@pytest.fixture(scope="module", params=[False, True], ids=["production", "sandbox"])
def built(tmp_path_factory, request) -> Path:
    out = Built(tmp_path_factory.mktemp("frontend-sandbox" if request.param else "frontend"))
    out.sandbox = request.param
    build.build(out, sandbox=request.param)
    return out


def pages(out: Path) -> dict[str, Page]:
    return {name: Page((out / name).read_text()) for name in build.page_names(getattr(out, "sandbox", False))}


SANDBOX_TITLE = " (bac à sable de formation, données fictives)"
TRAINING = "Environnement de formation – données fictives"


def test_every_page_template_becomes_a_page_at_its_path(built):
    names = build.page_names(built.sandbox)
    assert "index.html" in names and "404.html" in names and "mandats/detail/index.html" in names
    assert ("bac-a-sable/index.html" in names) == built.sandbox
    for name in names:
        assert (built / name).is_file(), name


def test_every_page_of_the_sandbox_says_it_is_a_training_environment_and_no_production_page_does(built):
    """Visibly (the notice at the top) and to screen readers (a named region, and the
    title a screen reader reads first); production's build has neither, nor the
    sandbox's pages and scripts."""
    for name, page in pages(built).items():
        (title,) = page.all("title")
        regions = [e for e in page.all("section") if e["attrs"].get("aria-label") == "Environnement de formation"]
        if built.sandbox:
            assert title["text"].endswith(SANDBOX_TITLE), name
            assert len(regions) == 1 and TRAINING in regions[0]["text"], name
            assert page.elements.index(regions[0]) < page.elements.index(page.all("header")[0]), name
        else:
            assert "bac à sable" not in title["text"] and not regions, name
            assert TRAINING not in (built / name).read_text(), name
    if not built.sandbox:
        assert not (built / "bac-a-sable").exists()
        assert not [p for p in (built / "js").rglob("*.js") if "bac-a-sable" in p.name]


def test_every_page_is_a_whole_french_page_with_one_h1_and_a_title(built):
    for name, page in pages(built).items():
        (html,) = page.all("html")
        assert html["attrs"].get("lang") == "fr", name
        (title,) = page.all("title")
        suffix = re.escape(SANDBOX_TITLE) if built.sandbox else ""
        assert re.fullmatch(r"\S.* - Aidants Connect" + suffix, title["text"]), name
        assert len(page.all("h1")) == 1, name
        assert len(page.all("main")) == 1 and page.all("main")[0]["attrs"].get("id") == "contenu", name
        assert len(page.all("header")) == 1 and len(page.all("footer")) == 1, name


def test_every_page_has_skip_links_to_targets_it_holds(built):
    for name, page in pages(built).items():
        skip = [
            e["attrs"]["href"]
            for e in page.elements
            if e["tag"] == "a"
            and e["attrs"].get("href", "").startswith("#")
            and e["text"].strip() in {"Contenu", "Menu", "Pied de page"}
        ]
        assert set(skip) == SKIP_TARGETS, name
        assert {target[1:] for target in SKIP_TARGETS} <= page.ids(), name


def test_no_page_has_inline_script_or_event_handler(built):
    """The CSP has no 'unsafe-inline' for scripts: an inline one would not run."""
    for name, page in pages(built).items():
        for script in page.all("script"):
            assert script["attrs"].get("src"), f"{name}: a <script> without src"
            assert not script["text"].strip(), f"{name}: a <script> with a body"
        for element in page.elements:
            handlers = [a for a in element["attrs"] if a.startswith("on")]
            assert not handlers, f"{name}: <{element['tag']} {handlers}>"
            for attribute in ("href", "src", "action"):
                assert not (element["attrs"].get(attribute) or "").lower().startswith("javascript:"), name


def test_a_page_loads_its_own_module_and_every_module_has_its_page(built):
    modules = {p.relative_to(build.SOURCE).as_posix() for p in (build.SOURCE / "js" / "pages").glob("*.js")}
    if not built.sandbox:
        modules = {m for m in modules if not m.startswith(build.SANDBOX_ASSETS)}
    used = set()
    for name, page in pages(built).items():
        own = build.module_of(name)
        scripts = [s["attrs"]["src"] for s in page.all("script") if s["attrs"].get("type") == "module"]
        page_scripts = [src for src in scripts if src.startswith("/js/")]
        if own.lstrip("/") in modules:
            assert page_scripts == [own], name
            used.add(own.lstrip("/"))
            # Without JavaScript nothing works on such a page: it says so.
            assert "JavaScript" in " ".join(e["text"] for e in page.all("noscript")), name
        else:
            assert page_scripts == [], name
    assert modules == used, f"modules no page loads: {sorted(modules - used)}"


def _resolves(out: Path, url: str) -> bool:
    path = url.split("#")[0].split("?")[0]
    if path.startswith("/dsfr/"):
        return (DSFR / path[len("/dsfr/") :]).is_file()
    target = out / path.lstrip("/")
    return (target / "index.html").is_file() if path.endswith("/") else target.is_file()


def test_every_link_and_resource_of_a_page_is_in_the_build(built):
    for name, page in pages(built).items():
        for element in page.elements:
            for attribute in ("href", "src"):
                url = element["attrs"].get(attribute) or ""
                # /api/: the functions; /demo/: the sandbox's demo site (a function too).
                if url.startswith("/") and not url.startswith(("//", "/api/", "/demo/")):
                    assert _resolves(built, url), f"{name}: {url}"


def test_every_module_import_resolves_in_the_build(built):
    for module in (built / "js").rglob("*.js"):
        for target in re.findall(r'^import [^;]*? from "([^"]+)";', module.read_text(), re.M | re.S):
            assert target.startswith(("./", "../")), f"{module}: {target}"
            assert (module.parent / target).resolve().is_file(), f"{module}: {target}"


def test_only_js_api_calls_fetch():
    """One door to the API: the session round trip, the JSON declaration the CSRF
    defence needs and the French errors are in one place."""
    callers = [
        p.relative_to(build.SOURCE).as_posix()
        for p in (build.SOURCE / "js").rglob("*.js")
        if re.search(r"\bfetch\(", p.read_text())
    ]
    assert callers == ["js/api.js"]


def test_a_second_build_writes_nothing_and_a_gone_source_leaves_no_file(tmp_path):
    first = build.build(tmp_path)
    assert first.written == first.pages + first.assets and first.pages == len(build.page_names())
    stale = tmp_path / "ancienne-page" / "index.html"
    stale.parent.mkdir()
    stale.write_text("<!doctype html>")
    (tmp_path / "index.html").write_text("changed by hand")
    second = build.build(tmp_path)
    assert (second.written, second.removed) == (1, 1)
    assert not stale.parent.exists()
    assert "<h1>" in (tmp_path / "index.html").read_text()
    assert build.build(tmp_path).written == 0


def test_a_page_named_like_a_template_is_refused(tmp_path, monkeypatch):
    pages_dir = tmp_path / "pages"
    pages_dir.mkdir()
    (pages_dir / "layout.html").write_text("{% extends 'layout.html' %}")
    monkeypatch.setattr(build, "PAGES", pages_dir)
    with pytest.raises(build.BuildError, match="layout.html"):
        build.render()


def test_the_terms_page_shows_the_text_of_the_version_the_api_asks_to_accept(built):
    from shared import config

    page = Page((built / "cgu" / "index.html").read_text())
    (version,) = [e for e in page.elements if e["attrs"].get("id") == "version-cgu"]
    assert version["attrs"]["data-version"] == config.CGU_VERSION
    assert (build.TEMPLATES / "cgu" / f"{config.CGU_VERSION}.html").is_file()
    assert "Engagements de l'aidant" in " ".join(e["text"] for e in page.all("h2"))


def test_every_page_of_a_session_has_the_bar_of_the_structure_acted_for(built):
    """Mandates belong to a structure: an aidant always sees which one they act for."""
    with_header = 0
    for name, page in pages(built).items():
        module = build.SOURCE / build.module_of(name).lstrip("/")
        if module.is_file() and "wireHeader(" in module.read_text():
            assert "structure-courante" in page.ids(), name
            with_header += 1
    assert with_header >= 13


# -- error codes: js/error-codes.js, written from shared/error_codes.py ------------------


def test_the_build_writes_the_catalogue_of_error_codes_as_a_module(built):
    import json

    from shared import error_codes

    module = (built / build.ERROR_CODES_MODULE).read_text()
    constants = dict(re.findall(r'^export const ([A-Z_]+) = ("[a-z_]+");$', module, re.M))
    assert {name: json.loads(value) for name, value in constants.items()} == {
        code.upper(): code for code in error_codes.CATALOGUE
    }
    messages = dict(re.findall(r'^  ([a-z_]+): (".*"),$', module, re.M))
    assert {code: json.loads(text) for code, text in messages.items()} == {
        code: entry.message for code, entry in error_codes.CATALOGUE.items()
    }
    assert "export function defaultMessage(code)" in module
    assert not (build.SOURCE / build.ERROR_CODES_MODULE).exists(), "generated: no source file of that name"


_TESTED = r"(?:[\w.]*\.code|\bcode|\breason|\berror)"  # what holds an error code in the modules
_COMPARED = re.compile(rf'{_TESTED}\s*[!=]==?\s*"([^"]*)"|"([^"]*)"\s*[!=]==?\s*{_TESTED}\b')
_LOOKED_UP = re.compile(rf"(\[[^\]]*\]|\b\w+)\.(?:indexOf|includes)\(\s*{_TESTED}\s*\)")


def literal_codes(text: str) -> list[str]:
    """The string literals a module compares an error code with: ``err.code ===
    "x"`` (either side, ``!==`` too), and the strings of an array searched for it,
    written in place or as a ``const``."""
    found = [a or b for a, b in _COMPARED.findall(text)]
    for array in _LOOKED_UP.findall(text):
        if not array.startswith("["):
            declared = re.search(rf"\bconst {array} = (\[[^\]]*\])", text)
            array = declared.group(1) if declared else ""
        found += re.findall(r'"([^"]*)"', array)
    return found


def test_literal_codes_finds_the_usual_ways_of_comparing_a_code():
    sample = (
        'if (err.code === "made_up") {}\nif ("other" !== e.code) {}\nconst FINAL = ["a_b", X];\n'
        'FINAL.indexOf(err.code);\n["c_d"].includes(code);\nif (reason === "e_f") {}\n'
        "if (err.code === MADE_UP || err.status === 410) {}\n"
    )
    assert literal_codes(sample) == ["made_up", "other", "e_f", "a_b", "c_d"]


def test_modules_compare_error_codes_with_the_generated_constants_never_a_literal():
    """A code spelled in a module would silently never match once the API renames
    it; a constant of error-codes.js cannot name a code the catalogue lacks (the
    import fails, and this test says which)."""
    from shared import error_codes

    exported = {code.upper() for code in error_codes.CATALOGUE} | {"MESSAGES", "defaultMessage"}
    checked = 0
    for path in sorted((build.SOURCE / "js").rglob("*.js")):
        text = path.read_text()
        name = path.relative_to(build.SOURCE).as_posix()
        literals = literal_codes(text)
        assert literals == [], (
            f"{name} compares error codes with literals {literals} "
            f"(not in the catalogue: {[c for c in literals if c not in error_codes.CATALOGUE]}): "
            "import their constants from error-codes.js"
        )
        for names in re.findall(r'import \{([^}]*)\} from "\.\.?/error-codes\.js";', text):
            imported = {n.strip() for n in names.split(",") if n.strip()}
            assert imported <= exported, f"{name}: {sorted(imported - exported)} not in shared/error_codes.py"
            checked += len(imported)
    assert checked >= 20
