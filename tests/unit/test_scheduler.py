"""The local cron-connector (local/scheduler.py): stack.yml's schedules, read by
cronsim, and the LOCAL_CRON_SECONDS override the integration tests use."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from local import scheduler, stack
from local.scheduler import Cron


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_every_schedule_in_stack_yml_is_one_the_connector_reads():
    annotated = {
        name: fn.spec["annotations"]["schedule"]
        for name, fn in stack.functions().items()
        if (fn.spec.get("annotations") or {}).get("topic") == "cron-function"
    }
    assert annotated, "stack.yml schedules notify and journal-seal"
    schedules = scheduler.scheduled_functions()
    assert set(schedules) == set(annotated)
    for name, expression in annotated.items():
        assert schedules[name] == Cron.parse(expression)


def test_the_next_run_is_the_next_matching_minute_strictly_after():
    every_five = Cron.parse("*/5 * * * *")
    assert every_five.next_after(utc(2026, 11, 24, 10, 2, 30)) == utc(2026, 11, 24, 10, 5)
    assert every_five.next_after(utc(2026, 11, 24, 10, 5)) == utc(2026, 11, 24, 10, 10)
    assert every_five.next_after(utc(2026, 11, 24, 10, 5, 0, 500)) == utc(2026, 11, 24, 10, 10)
    assert every_five.next_after(utc(2026, 12, 31, 23, 58)) == utc(2027, 1, 1, 0, 0)
    quarterly = Cron.parse("*/15 * * * *")
    assert quarterly.next_after(utc(2026, 11, 24, 10, 46)) == utc(2026, 11, 24, 11, 0)


def test_day_fields_ranges_steps_lists_and_names():
    tuesday = utc(2026, 11, 24, 8, 30)
    assert Cron.parse("30 8 * * *").matches(tuesday)
    assert Cron.parse("0-30/15 8-9 * * 1-5").matches(tuesday)
    assert not Cron.parse("30 8 * * 0,6").matches(tuesday)
    assert Cron.parse("30 8 1 * 2").matches(tuesday)  # either day field, as cron does
    assert not Cron.parse("30 8 1 * 3").matches(tuesday)
    assert Cron.parse("30 8 24 nov *").matches(tuesday) and Cron.parse("30 8 * * TUE").matches(tuesday)
    assert Cron.parse("0 0 * * 7").matches(utc(2026, 11, 29))  # Sunday, as 0
    assert Cron.parse("0 0 * * 0").next_after(tuesday) == utc(2026, 11, 29)
    assert Cron.parse("0 3 29 2 *").next_after(tuesday) == utc(2028, 2, 29, 3, 0)


@pytest.mark.parametrize(
    "bad",
    [
        "* * * *",
        "0 * * * * *",  # the connector's five fields, no seconds field
        "61 * * * *",
        "*/0 * * * *",
        "mon * * * *",
        "5-1 * * * *",
        "0 0 31 2 *",
        "@hourly",
        "0 0 L * *",
        "0 0 LW * *",
        "0 0 * * 5L",
        "0 0 * * MON#2",  # not the connector's cron
    ],
)
def test_a_schedule_the_connector_would_refuse_is_refused(bad):
    with pytest.raises(ValueError):
        Cron.parse(bad)


class Recording(scheduler.Scheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []
        self.called = threading.Event()

    def invoke(self, name: str) -> None:
        self.calls.append(name)
        if set(self.calls) >= set(self.schedules):
            self.called.set()


def test_local_cron_seconds_runs_every_schedule_that_often(monkeypatch):
    monkeypatch.setenv("LOCAL_CRON_SECONDS", "0.05")
    monkeypatch.setattr(scheduler, "Scheduler", Recording)
    running = scheduler.start("http://127.0.0.1:1/")
    try:
        assert running.called.wait(5)
    finally:
        running.stop()
    assert set(running.calls) == set(scheduler.scheduled_functions())


def test_local_cron_seconds_zero_turns_the_schedule_off(monkeypatch):
    monkeypatch.setenv("LOCAL_CRON_SECONDS", "0")
    monkeypatch.setattr(scheduler, "Scheduler", Recording)
    running = scheduler.start("http://127.0.0.1:1")
    assert running.every_seconds == 0 and not running._thread.is_alive() and running.calls == []


def test_without_the_override_each_function_runs_on_its_schedule(monkeypatch):
    """The real schedule, with the clock moved: a function runs once its minute comes."""
    clock = [utc(2026, 11, 24, 10, 4, 59)]

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock[0]

    monkeypatch.delenv("LOCAL_CRON_SECONDS", raising=False)
    monkeypatch.setattr(scheduler, "datetime", Clock)
    running = Recording("http://127.0.0.1:1")
    running.schedules = {"notify": Cron.parse("*/5 * * * *")}
    waits = []

    def wait(seconds):
        waits.append(seconds)
        clock[0] = clock[0].replace(minute=5, second=len(waits))  # one second per tick
        return len(waits) >= 3

    monkeypatch.setattr(running._stop, "wait", wait)
    running._run()
    assert running.calls == ["notify"]  # at 10:05, once: the next run is 10:10
