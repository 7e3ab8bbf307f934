"""Rate pacing with a fake clock: exact, deterministic, no sleeping."""

from __future__ import annotations

import random

import pytest

from daemon.stream.pacer import Pacer, RateWindow, profile_multiplier


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(pacer: Pacer, clock: FakeClock, seconds: float, tick: float = 0.1) -> int:
    total = 0
    for _ in range(int(round(seconds / tick))):
        clock.now += tick
        total += pacer.due()[0]
    return total


@pytest.mark.parametrize("rate", [0.1, 1, 100, 1000, 5000])
def test_uniform_holds_the_target_exactly_over_a_minute(rate):
    clock = FakeClock()
    pacer = Pacer(rate, "uniform", random.Random(1), clock=clock)
    assert abs(run(pacer, clock, 60) - rate * 60) <= 1


@pytest.mark.parametrize("rate", [10, 1000])
def test_poisson_mean_is_the_target(rate):
    clock = FakeClock()
    pacer = Pacer(rate, "poisson", random.Random(2), clock=clock)
    n = run(pacer, clock, 600)
    expected = rate * 600
    assert abs(n - expected) < 4 * expected**0.5  # within four standard deviations


def test_poisson_gaps_are_irregular():
    clock = FakeClock()
    pacer = Pacer(10, "poisson", random.Random(3), clock=clock)
    per_tick = []
    for _ in range(1000):
        clock.now += 0.1
        per_tick.append(pacer.due()[0])
    assert len(set(per_tick)) >= 3  # 0, 1, 2, ... events per tick, not a fixed cadence


def test_bursts_multiply_the_rate_for_their_duration():
    clock = FakeClock()
    pacer = Pacer(10, "uniform", random.Random(4), burst=(5, 10, 60), clock=clock)
    first = run(pacer, clock, 10)  # inside the burst
    rest = run(pacer, clock, 50)
    assert abs(first - 500) <= 2 and abs(rest - 500) <= 2


def test_backlog_is_capped_and_counted():
    clock = FakeClock()
    pacer = Pacer(100, "uniform", random.Random(5), clock=clock)
    clock.now += 60  # a minute without ticks (e.g. a database outage)
    n, added = pacer.due()
    assert n == 500 and pacer.dropped == 5500 and added == pytest.approx(6000)


def test_clinic_profile_averages_one_and_is_busy_by_day():
    days = [profile_multiplier("clinic", 1_700_000_000 + h * 3600) for h in range(24)]
    assert sum(days) / 24 == pytest.approx(1.0)
    assert max(days) / min(days) > 10
    assert profile_multiplier("flat", 0) == 1.0


def test_rate_window_reports_target_and_achieved():
    clock = FakeClock()
    window = RateWindow(60, clock=clock)
    for _ in range(600):
        clock.now += 0.1
        window.add(10.0, 9)
    target, achieved, span = window.rates()
    assert (
        target == pytest.approx(100, rel=0.01) and achieved == pytest.approx(90, rel=0.01) and span == pytest.approx(60)
    )


def test_a_long_tick_in_progress_still_counts_as_target():
    clock = FakeClock()
    pacer = Pacer(100, "uniform", random.Random(6), clock=clock)
    window = RateWindow(60, clock=clock)
    for _ in range(50):  # 5 s of 0.1 s ticks, all done
        clock.now += 0.1
        n, added = pacer.due()
        window.add(added, n)
    clock.now += 5  # then a tick that has been running for 5 s
    target, achieved, _ = window.rates(pacer.pending())
    assert target == pytest.approx(100, rel=0.01)
    assert achieved == pytest.approx(50, rel=0.01)
