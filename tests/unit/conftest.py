import pytest


@pytest.fixture(autouse=True)
def _unit_defaults(clean_environment):
    """Every unit test runs with the default configuration (see tests/conftest.py),
    and leaves no request budget behind: ``run_scheduled`` and the budget tests start
    one on the test thread, and a later test that writes after it ran out would be
    refused (BudgetExhausted) for no fault of its own."""
    from shared import budget

    budget.clear_budget()
    yield
    budget.clear_budget()
