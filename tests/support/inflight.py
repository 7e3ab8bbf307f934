"""Events in flight whose replies are lost with the connection (the writer's in-doubt path)."""

from __future__ import annotations

from daemon.cdc.ledger import Change
from daemon.stream.flights import Flight
from daemon.stream.writer import Writer


def settled_as_lost(writer: Writer, flight: Flight) -> list[Change] | None:
    """What the writer's rows say of ``flight`` (an event sent, its reply already read) when its
    reply is taken as lost with the connection: its changes if it committed, else None."""
    writer._flights.append(flight)
    writer._settle_lost(ConnectionError("server closed the connection unexpectedly"))
    return writer.receive().changes
