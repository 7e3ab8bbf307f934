"""The stream's steering factor follows each pool's size at once, though it is kept between moves."""

from __future__ import annotations

from daemon.stream.backlog import GROWING, MAX_FACTOR, Backlog


def a_backlog(name: str, start: int) -> Backlog:
    backlog = Backlog()
    backlog.start[name] = backlog.size[name] = start
    return backlog


def test_the_factor_follows_every_move_of_the_pool() -> None:
    backlog = a_backlog("agendadas", 100)
    assert backlog.factor("agendadas") == 1.0
    backlog.apply({"agendadas": -50})
    assert backlog.factor("agendadas") == 0.5  # not the 1.0 read before the move
    backlog.apply({"agendadas": 500})
    assert backlog.factor("agendadas") == MAX_FACTOR  # capped
    backlog.empty("agendadas")
    assert backlog.factor("agendadas") == 0.0
    backlog.apply({"pendentes": 1})  # another pool's move leaves this one's factor as it was
    assert backlog.factor("agendadas") == 0.0


def test_a_growing_pool_never_runs_its_drain_above_the_configured_weight() -> None:
    name = next(iter(GROWING))
    backlog = a_backlog(name, 10)
    backlog.apply({name: 1_000})
    assert backlog.factor(name) == 1.0
