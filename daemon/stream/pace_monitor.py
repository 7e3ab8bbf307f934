"""Rate mode: how well the stream keeps up with its target, and saying so when it does not.

Keeps the target-vs-achieved window, exports both rates and the dropped backlog as metrics, and
logs ``stream.behind`` (at most every BEHIND_WARN_EVERY_SECONDS) when events were dropped or the
achieved rate stays below the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger

from daemon.metrics import Metrics
from daemon.stream.pacer import Pacer, Rates, RateWindow

log = logger.bind(channel="stream")
BEHIND_WARN_EVERY_SECONDS = 30.0
BEHIND_TOLERANCE = 0.98  # achieved below 98 % of target over the window = falling behind
BEHIND_MIN_SPAN_SECONDS = 10  # a shorter window says too little about the achieved rate


class PaceMonitor:
    def __init__(self, pacer: Pacer, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.pacer = pacer
        self.metrics = metrics
        self.window = RateWindow(clock=clock)
        self._clock = clock
        self._dropped_seen = 0
        self._last_warning = float("-inf")  # the first time is always said

    def add(self, target_events: float, done: int) -> None:
        """One tick's target and committed events."""
        self.window.add(target_events, done)

    def rates(self) -> Rates:
        """Over the window, counting the target accrued by a tick still running."""
        return self.window.rates(self.pacer.pending())

    def check(self) -> None:
        """Update the rate metrics and the dropped counter; warn when falling behind."""
        target, achieved, span = self.rates()
        self.metrics.achieved_rate.set(achieved)
        self.metrics.target_rate.set(target)
        dropped = self.pacer.dropped
        newly_dropped, self._dropped_seen = dropped - self._dropped_seen, dropped
        if newly_dropped:
            self.metrics.dropped.inc(newly_dropped)
        now = self._clock()
        behind = newly_dropped > 0 or (span >= BEHIND_MIN_SPAN_SECONDS and achieved < BEHIND_TOLERANCE * target)
        if behind and now - self._last_warning > BEHIND_WARN_EVERY_SECONDS:
            self._last_warning = now
            log.bind(
                event="stream.behind", target=round(target, 2), achieved=round(achieved, 2), dropped=dropped
            ).warning(
                "falling behind: {achieved:.1f} events/s achieved vs {target:.1f} target over {span:.0f}s "
                "({dropped} dropped); the database or STREAM_WRITERS is the limit",
                achieved=achieved,
                target=target,
                span=span,
                dropped=dropped,
            )
