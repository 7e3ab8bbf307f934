"""Target-rate pacing: how many events are due at each tick, and how well we keep up.

The target is ``STREAM_RATE`` events/s times an optional burst multiplier and a time-of-day
profile. Arrivals are uniform (exactly rate x elapsed) or Poisson (exponential gaps, made
non-homogeneous by time rescaling). A backlog larger than a few seconds of target is dropped and
counted rather than replayed as a burst after an outage.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from daemon.data.rows import BRT

BACKLOG_SECONDS = 5.0  # at most this much target is carried over when we fall behind
# Hour of day (Brasília) -> load multiplier: clinic hours busy, nights quiet; averages 1.0 over a day.
CLINIC_PROFILE = (
    0.2,
    0.15,
    0.1,
    0.1,
    0.1,
    0.2,
    0.5,
    1.2,
    1.9,
    2.0,
    1.9,
    1.6,
    1.2,
    1.5,
    1.9,
    1.9,
    1.7,
    1.4,
    1.0,
    0.8,
    0.6,
    0.5,
    0.4,
    0.3,
)
_CLINIC_MEAN = sum(CLINIC_PROFILE) / 24


class Burst(NamedTuple):
    """STREAM_BURST: ``multiplier`` x the rate for ``seconds`` out of every ``every`` seconds."""

    multiplier: float = 1.0
    seconds: float = 0.0
    every: float = 0.0


class Due(NamedTuple):
    """What one ``Pacer.due()`` call found: whole events to run, and the target they come from."""

    events: int
    target_events: float  # target accrued over the span (fractional, before drops)


class Rates(NamedTuple):
    """Target vs achieved over a rate window."""

    target: float  # events/s wanted
    achieved: float  # events/s committed
    span: float  # seconds the window covers


def profile_multiplier(profile: str, wall: float) -> float:
    if profile != "clinic":
        return 1.0
    hour = datetime.fromtimestamp(wall, UTC).astimezone(BRT).hour
    return CLINIC_PROFILE[hour] / _CLINIC_MEAN


class Pacer:
    def __init__(
        self,
        rate: float,
        arrivals: str,
        rng: random.Random,
        burst: tuple[float, float, float] = Burst(),
        profile: str = "flat",
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.rate = rate
        self.poisson = arrivals == "poisson"
        self.rng = rng
        self.burst = Burst(*burst)
        self.profile = profile
        self._clock, self._wall = clock, wall
        self._start = self._last = clock()
        self._credit = 0.0  # uniform: fractional events carried over
        self._threshold = rng.expovariate(1.0)  # poisson: integrated rate until the next arrival
        self.dropped = 0

    def target(self, now: float | None = None) -> float:
        """Events/s wanted at ``now`` (monotonic)."""
        now = self._clock() if now is None else now
        rate = self.rate * profile_multiplier(self.profile, self._wall())
        burst = self.burst
        if burst.multiplier != 1 and burst.every > 0:
            if (now - self._start) % burst.every < burst.seconds:
                rate *= burst.multiplier
        return rate

    def pending(self) -> float:
        """Target events accrued since the last ``due()`` (the tick in progress), not yet credited."""
        now = self._clock()
        return self.target((now + self._last) / 2) * (now - self._last)

    def due(self) -> Due:
        """Events due since the last call, and the target events added in that span."""
        now = self._clock()
        added = self.target((now + self._last) / 2) * (now - self._last)
        self._last = now
        if self.poisson:
            self._credit += added
            n = 0
            while self._credit >= self._threshold:
                self._credit -= self._threshold
                self._threshold = self.rng.expovariate(1.0)
                n += 1
        else:
            self._credit += added
            n = int(self._credit)
            self._credit -= n
        cap = max(10, int(self.target(now) * BACKLOG_SECONDS))
        if n > cap:
            self.dropped += n - cap
            n = cap
        return Due(n, added)


class _Sample(NamedTuple):
    at: float  # monotonic time of the tick
    target_events: float
    done: int


class RateWindow:
    """Target vs achieved events over a sliding window (default a minute)."""

    def __init__(self, seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._samples: deque[_Sample] = deque()
        self._start = clock()

    def add(self, target_events: float, done: int) -> None:
        now = self._clock()
        self._samples.append(_Sample(now, target_events, done))
        while self._samples and self._samples[0].at < now - self.seconds:
            self._samples.popleft()

    def rates(self, pending_target: float = 0.0) -> Rates:
        """Target and achieved events/s over the window, and the span it covers.

        ``pending_target``: target accrued since the last sample (a long tick still running).
        """
        now = self._clock()
        span = min(self.seconds, now - self._start) or 1e-9
        target = sum(s.target_events for s in self._samples) + pending_target
        done = sum(s.done for s in self._samples)
        return Rates(target / span, done / span, span)
