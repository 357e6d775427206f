"""`--halt-poll`: the host setting is made for the bench's duration and always put back."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import host
from bench.report import lone_request
from tests.test_bench_rounds import run


@pytest.fixture
def knob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "guest_halt_poll_ns"
    path.write_text("0\n")
    monkeypatch.setattr(host, "HALT_POLL", path)
    return path


def test_the_setting_holds_inside_the_block_and_is_restored_after(knob: Path) -> None:
    with host.halt_polling(2_000_000) as refused:
        assert refused is None
        assert knob.read_text() == "2000000"
        assert host.describe()["guest_halt_poll_ns"] == 2_000_000
    assert knob.read_text() == "0"


def test_the_setting_is_restored_when_the_bench_is_interrupted(knob: Path) -> None:
    with pytest.raises(KeyboardInterrupt), host.halt_polling(500_000):
        raise KeyboardInterrupt
    assert knob.read_text() == "0"


def test_no_setting_leaves_the_host_alone(knob: Path) -> None:
    with host.halt_polling(None) as refused:
        assert refused is None
        assert knob.read_text() == "0\n"


def test_a_host_without_halt_polling_is_reported_not_failed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(host, "HALT_POLL", tmp_path / "missing")
    with host.halt_polling(1000) as refused:
        assert "does not exist" in refused
    assert host.describe()["guest_halt_poll_ns"] is None


def test_the_lone_request_lines_say_how_idle_cpus_wake() -> None:
    rows = [run("gateway", 2500.0)]
    rows[0].added_ms = 0.9
    halted = lone_request(rows, {"cpuidle_driver": "haltpoll", "guest_halt_poll_ns": 0})
    assert "VM exit" in halted[-1]
    polled = lone_request(rows, {"cpuidle_driver": "haltpoll", "guest_halt_poll_ns": 2_000_000})
    assert "2,000,000" in polled[-1] and "VM exit" not in polled[-1]
    assert len(lone_request(rows, {"cpuidle_driver": None, "guest_halt_poll_ns": None})) == 2
