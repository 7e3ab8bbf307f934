"""A writer's floors: where the next pick of a state searches the state's smallest id from."""

from __future__ import annotations

from daemon.stream.kinds.base import FLOOR_RENEW, Floors


def test_a_pick_searches_from_the_floor_the_last_one_saw():
    floors = Floors()
    assert floors.get("agendadas") == "0"  # never picked: from the index's start
    assert floors.get("assinados", "-infinity") == "-infinity"  # an oldest-first pick's start
    floors.learn("agendadas", "120")
    floors.learn("pendentes", "7")
    floors.learn("assinados", "2026-12-05 16:00:00.123456+00")
    assert (floors.get("agendadas"), floors.get("pendentes")) == ("120", "7")
    assert floors.get("assinados", "-infinity") == "2026-12-05 16:00:00.123456+00"  # as the server wrote it
    floors.learn("agendadas", "150")
    assert floors.get("agendadas") == "150"


def test_a_pick_that_found_nothing_sends_the_next_one_to_the_start():
    floors = Floors()
    floors.learn("a_assinar", "900")
    floors.learn("a_assinar", None)
    assert floors.get("a_assinar") == "0"
    floors.learn("a_assinar", "950")
    assert floors.get("a_assinar") == "950"


def test_every_so_many_picks_one_searches_from_the_start():
    """A row may enter a state with an id below the floor (an old exam whose result came): it
    waits FLOOR_RENEW picks of that state at most."""
    floors = Floors()
    starts = {"a_assinar": 0, "agendadas": 0}
    for pick in range(1, 3 * FLOOR_RENEW + 1):
        floors.learn("a_assinar", str(1000 + pick))
        starts["a_assinar"] += floors.get("a_assinar") == "0"
        if pick % 2:  # another state, picked half as often, keeps its own count
            floors.learn("agendadas", "5")
            starts["agendadas"] += floors.get("agendadas") == "0"
    assert starts == {"a_assinar": 3, "agendadas": 1}
