from __future__ import annotations

from daemon.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_alive_while_starting_then_needs_progress():
    clock = Clock()
    health = Health(stall_seconds=60, clock=clock)
    clock.now = 1000  # a long seed: still alive
    assert health.alive() == (True, "ok")
    assert health.ready() == (False, "starting: schema or seed not done")
    health.set_prepared()
    health.beat()
    assert health.ready() == (True, "ok")
    clock.now += 61
    ok, why = health.alive()
    assert not ok and "stalled" in why
    health.beat()
    assert health.alive()[0]


def test_ready_follows_the_database():
    health = Health(stall_seconds=60, clock=Clock())
    health.set_prepared()
    health.set_db_ok(False)
    assert health.ready() == (False, "database unreachable")
    health.set_db_ok(True)
    assert health.ready()[0]
