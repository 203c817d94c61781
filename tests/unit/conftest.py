import pytest


@pytest.fixture(autouse=True)
def _unit_defaults(clean_environment):
    """Every unit test runs with the default configuration (see tests/conftest.py)."""
    yield
