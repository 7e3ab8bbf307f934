"""A writer's floors: where the next pick of a state searches the state's smallest key from."""

from __future__ import annotations

from daemon.stream.kinds.base import FLOOR_RENEW, Floors

SIGNED = "2026-12-05T16:00:00.123456Z 4711"  # an oldest-first pick's floor: its time (ISO 8601, UTC) and id


def test_a_pick_searches_from_the_floor_the_last_one_saw():
    floors = Floors()
    assert floors.get("agendadas") == "0"  # never picked: from the index's start
    assert floors.get("assinados", "-infinity 0") == "-infinity 0"  # an oldest-first pick's start
    floors.learn("agendadas", "120", floors.epoch("agendadas"))
    floors.learn("pendentes", "7", floors.epoch("pendentes"))
    floors.learn("assinados", SIGNED, floors.epoch("assinados"))
    assert (floors.get("agendadas"), floors.get("pendentes")) == ("120", "7")
    assert floors.get("assinados", "-infinity 0") == SIGNED  # as the pick's reply wrote it
    floors.learn("agendadas", "150", floors.epoch("agendadas"))
    assert floors.get("agendadas") == "150"


def test_a_pick_that_found_nothing_sends_the_next_one_to_the_start():
    floors = Floors()
    floors.learn("a_assinar", "900", floors.epoch("a_assinar"))
    floors.learn("a_assinar", None, floors.epoch("a_assinar"))
    assert floors.get("a_assinar") == "0"
    floors.learn("a_assinar", "950", floors.epoch("a_assinar"))
    assert floors.get("a_assinar") == "950"


def test_an_oldest_first_pick_that_found_nothing_keeps_its_floor():
    """Rows enter those states at now, above the floor: nothing old enough yet says nothing against it."""
    floors = Floors()
    floors.learn("assinados", SIGNED, floors.epoch("assinados"))
    floors.learn("assinados", None, floors.epoch("assinados"), keep=True)
    assert floors.get("assinados", "-infinity 0") == SIGNED


def test_every_so_many_picks_one_searches_from_the_start():
    """A row may enter a state with an id below the floor (an old exam whose result came): it
    waits FLOOR_RENEW picks of that state at most."""
    floors = Floors()
    starts = {"a_assinar": 0, "agendadas": 0}
    for pick in range(1, 3 * FLOOR_RENEW + 1):
        floors.learn("a_assinar", str(1000 + pick), floors.epoch("a_assinar"))
        starts["a_assinar"] += floors.get("a_assinar") == "0"
        if pick % 2:  # another state, picked half as often, keeps its own count
            floors.learn("agendadas", "5", floors.epoch("agendadas"))
            starts["agendadas"] += floors.get("agendadas") == "0"
    assert starts == {"a_assinar": 3, "agendadas": 1}


def test_picks_in_flight_when_the_floor_is_dropped_do_not_put_it_back():
    """Three picks in flight, sent with the floor 500; the first reply is the one that drops it
    (the 256th pick): the two after it searched from 500 and are not learned; the next pick,
    sent from the index's start, finds the row that entered below and sets the floor."""
    floors = Floors()
    for _ in range(FLOOR_RENEW - 1):
        floors.learn("a_assinar", "500", floors.epoch("a_assinar"))
    sent = [floors.epoch("a_assinar")] * 3  # in flight, each searching from get() == "500"
    floors.learn("a_assinar", "500", sent[0])  # the 256th: dropped
    assert floors.get("a_assinar") == "0"
    floors.learn("a_assinar", "510", sent[1])
    floors.learn("a_assinar", None, sent[2])  # found nothing from the old floor: not a reason to drop again
    assert floors.get("a_assinar") == "0"
    again = floors.epoch("a_assinar")
    assert again == sent[0] + 1
    floors.learn("a_assinar", "42", again)  # from the start: the row below the old floor
    assert floors.get("a_assinar") == "42"
