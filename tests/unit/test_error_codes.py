"""The catalogue of error codes (shared/error_codes.py) is the one list: the code
names every code from it (an AST scan of shared/, functions/ and the local
gateway), each entry is used, ``openapi.yaml`` lists the same codes, and every
error is raised with a status its code lists."""

from __future__ import annotations

import ast
import importlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from authlib.oauth2 import OAuth2Error

from shared import error_codes as codes
from shared import errors

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_FILE = ROOT / "shared" / "error_codes.py"
SCANNED = sorted(
    [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").glob("*/*.py"), ROOT / "local" / "gateway.py"]
)
CONSTANTS = {name: value for name, value in vars(codes).items() if name.isupper() and isinstance(value, str)}

# Calls whose argument at this position is an error code (besides ``code=``): the
# draft page's refusals, FranceConnect's, the userinfo endpoint's, the gateway's.
CODE_ARGUMENT = {"Refused": 0, "FranceConnectError": 0, "BearerError": 1, "_json": 1}
# Codes Authlib's own flow answers with, where our code names neither the code nor
# its class (test_authlib_answers_an_unknown_grant_type_itself shows it).
ANSWERED_BY_AUTHLIB = {codes.UNSUPPORTED_GRANT_TYPE}


@dataclass
class Use:
    where: str
    code: str | None  # None: a literal or a name the catalogue does not have
    text: str
    status: int | None = None  # the HTTP status it is raised with, when the call says


def _callee(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _status_of(call: ast.Call) -> int | None:
    name = _callee(call)
    error_class = getattr(errors, name, None)
    if isinstance(error_class, type) and issubclass(error_class, errors.ApiError):
        return error_class.status
    if name == "Refused":
        return 302  # back to the draft page, the code in its query
    if name == "BearerError" and isinstance(call.args[0], ast.Constant):
        return call.args[0].value
    if name == "_json" and isinstance(call.args[0], ast.Constant):
        return int(call.args[0].value.split()[0])
    return None


class Scan(ast.NodeVisitor):
    """Where one module names an error code, and which catalogue names it refers to."""

    def __init__(self, path: Path):
        self.where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        self.uses: list[Use] = []
        self.referenced: set[str] = set()
        self.module_names: set[str] = set()  # what this module calls the catalogue
        self.authlib_codes: set[str] = set()
        self.visit(ast.parse(path.read_text()))

    def _code(self, node: ast.AST, line: int, status: int | None = None) -> None:
        where = f"{self.where}:{line}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.uses.append(Use(where, None, repr(node.value)))
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.module_names
            and node.attr in CONSTANTS
        ):
            self.uses.append(Use(where, CONSTANTS[node.attr], ast.unparse(node), status))
        # (a name the catalogue lacks is reported by visit_Attribute, wherever it is)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "error_codes":
                self.module_names.add(alias.asname or alias.name)
            elif (node.module or "").endswith("error_codes"):
                self.referenced.add(alias.name)
            elif (node.module or "").startswith("authlib"):
                imported = getattr(importlib.import_module(node.module), alias.name, None)
                if isinstance(imported, type) and issubclass(imported, OAuth2Error) and imported.error:
                    self.authlib_codes.add(imported.error)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.module_names and node.attr.isupper():
            self.referenced.add(node.attr)
            if node.attr not in CONSTANTS:
                self.uses.append(Use(f"{self.where}:{node.lineno}", None, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg == "code":
                self._code(keyword.value, node.lineno, _status_of(node))
        position = CODE_ARGUMENT.get(_callee(node))
        if position is not None and len(node.args) > position:
            self._code(node.args[position], node.lineno, _status_of(node))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "error":
                self._code(value, node.lineno)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for statement in node.body:  # an error class's own code (ApiError's, OAuth2Error's)
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and statement.targets[0].id in ("code", "error")
            ):
                self._code(statement.value, statement.lineno)
        self.generic_visit(node)


def _scans() -> list[Scan]:
    return [Scan(path) for path in SCANNED if path != CATALOGUE_FILE]


def test_every_error_code_is_named_from_the_catalogue_never_spelled():
    wrong = [
        f"{use.where}: {use.text}"
        + ("" if use.text.startswith("codes.") else f" (write codes.{use.text.strip(chr(39)).upper()})")
        for scan in _scans()
        for use in scan.uses
        if use.code is None
    ]
    assert wrong == [], "error codes spelled as strings or missing from shared/error_codes.py:\n" + "\n".join(wrong)


def test_the_scan_sees_the_usual_ways_of_naming_a_code(tmp_path):
    """What the scan reads, on a sample: a literal in each position is caught, and a
    name the catalogue lacks too; a name it has is a use, with the class's status."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from shared import error_codes as codes, errors\n"
        "errors.BadRequest('x', code='made_up')\n"
        "errors.Conflict('x', code=codes.NOT_IN_THE_CATALOGUE)\n"
        "json_response({'error': 'made_up'}, 400)\n"
        "Refused('made_up')\n"
        "class E(errors.ApiError):\n    code = 'made_up'\n"
        "errors.Forbidden('x', code=codes.INVALID_OTP)\n"
    )
    scan = Scan(sample)
    assert [(u.code, u.text) for u in scan.uses] == [
        (None, "'made_up'"),
        (None, "codes.NOT_IN_THE_CATALOGUE"),
        (None, "'made_up'"),
        (None, "'made_up'"),
        (None, "'made_up'"),
        (codes.INVALID_OTP, "codes.INVALID_OTP"),
    ]
    assert scan.uses[-1].status == 403 and scan.referenced == {"NOT_IN_THE_CATALOGUE", "INVALID_OTP"}


def test_every_entry_of_the_catalogue_is_used():
    scans = _scans()
    referenced = {CONSTANTS[name] for scan in scans for name in scan.referenced if name in CONSTANTS}
    by_authlib_classes = set().union(*(scan.authlib_codes for scan in scans))
    unused = set(codes.CATALOGUE) - referenced - by_authlib_classes - ANSWERED_BY_AUTHLIB
    assert unused == set(), f"dead codes in shared/error_codes.py: {sorted(unused)}"
    # And the protocol errors we raise through Authlib's classes are in the catalogue.
    assert by_authlib_classes - set(codes.CATALOGUE) == set()


def test_authlib_answers_an_unknown_grant_type_itself():
    from shared.oidc.server import FunctionRequest, server

    request = FunctionRequest("POST", "/oidc/token", {}, {}, {"grant_type": "password"})
    response = server().create_token_response(request)
    assert (response.status, response.body["error"]) == (400, codes.UNSUPPORTED_GRANT_TYPE)


def test_every_error_is_raised_with_a_status_its_code_lists():
    wrong = [
        f"{use.where}: {use.text} raised with {use.status}, the catalogue says {codes.CATALOGUE[use.code].statuses}"
        for scan in _scans()
        for use in scan.uses
        if use.code and use.status and use.status not in codes.CATALOGUE[use.code].statuses
    ]
    assert wrong == []


def test_each_error_class_has_its_codes_status_and_message():
    classes = [
        errors.ApiError,
        *{c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ApiError)},
    ]
    for error_class in classes:
        entry = codes.CATALOGUE[error_class.code]
        assert error_class.status in entry.statuses, error_class
        assert error_class.description == entry.message, error_class
    assert errors.Forbidden("x", code=codes.INVALID_OTP).body() == {"error": "invalid_otp", "error_description": "x"}


def test_each_entry_has_its_constant_a_status_and_a_message_and_areas_are_sorted():
    assert sorted(CONSTANTS.values()) == sorted(codes.CATALOGUE)
    for name, code in CONSTANTS.items():
        assert name == code.upper() and re.fullmatch(r"[a-z][a-z_]*", code), name  # also a JS identifier
    for entry in codes.CATALOGUE.values():
        assert entry.statuses and all(300 <= s < 600 for s in entry.statuses), entry
        assert list(entry.statuses) == sorted(set(entry.statuses)), entry
        assert entry.message[:1].isupper() and entry.message.endswith("."), entry
    areas = [area for area, _ in itertools.groupby(e.area for e in codes.CATALOGUE.values())]
    assert len(areas) == len(set(areas)), "an area's entries are together"
    for area in areas:
        entries = [e for e in codes.CATALOGUE.values() if e.area == area]
        key = lambda e: (min([s for s in e.statuses if s != 302] or [999]), e.code)  # noqa: E731
        assert [e.code for e in entries] == [e.code for e in sorted(entries, key=key)], area


def test_openapi_lists_the_catalogue_as_the_error_schemas_enum():
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    enum = spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
    expected = "\n".join(f"            - {code}" for code in codes.CATALOGUE)
    assert enum == list(codes.CATALOGUE), "openapi.yaml's Error.error enum, in the catalogue's order:\n" + expected
