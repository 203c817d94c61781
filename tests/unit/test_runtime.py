"""local.runtime runs the build context's own entry point, laid out as the image lays
it out. What that entry point does is tests/unit/test_template_contract.py's."""

import sys

import pytest

from deploy import context
from local import runtime


@pytest.fixture
def clean_modules(monkeypatch):
    """load_entry_point registers ``function`` and ``index`` as the image's interpreter has them."""
    for name in ("function", "function.handler", "function.helper", "index"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield
    for name in ("function", "function.handler", "function.helper", "index"):
        sys.modules.pop(name, None)


def test_the_local_runtime_runs_the_file_a_build_context_carries(tmp_path, clean_modules):
    (tmp_path / "handler.py").write_text("def handle(event, context):\n    return {'body': 'ok'}\n")
    index = runtime.load_entry_point(tmp_path)
    assert index.__file__ == str(context.TEMPLATES / "python3-http" / "index.py")
    assert index.app.test_client().get("/").text == "ok"


def test_a_handler_imports_its_own_modules_as_in_the_image(tmp_path, clean_modules):
    # In the image the handler folder is the package `function`: relative imports work.
    (tmp_path / "helper.py").write_text("ANSWER = 'from the helper'\n")
    (tmp_path / "handler.py").write_text(
        "from . import helper\n\ndef handle(event, context):\n    return {'body': helper.ANSWER}\n"
    )
    index = runtime.load_entry_point(tmp_path)
    assert index.app.test_client().get("/").text == "from the helper"
    assert sys.modules["function.handler"].__name__ == "function.handler"


def test_the_gateway_passes_no_waitress_option_the_template_does_not(monkeypatch, tmp_path):
    (tmp_path / "handler.py").write_text("def handle(event, context):\n    return None\n")
    served = {}
    import waitress

    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.update(kw))
    for name in ("function", "function.handler", "index"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    runtime.main(["--handler-dir", str(tmp_path), "--port", "5999"])
    assert served == {"host": "127.0.0.1", "port": 5999}  # the template's serve(app, host, port)
