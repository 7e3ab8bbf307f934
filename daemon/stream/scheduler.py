"""APScheduler 3.x wiring: one jittered interval job that runs stream ticks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

JOB_ID = "stream-tick"


class TickScheduler:
    """Fires ``tick`` every interval plus up to MAX_JITTER_MS; never two ticks at once."""

    def __init__(self, seconds: float, jitter_ms: int, tick: Callable[[], None], warn_skips: bool = True) -> None:
        """Every ``seconds`` plus up to ``jitter_ms``; ``warn_skips`` off in rate mode, where the
        pacer reports falling behind itself."""
        self.skipped = 0
        self.warn_skips = warn_skips
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(seconds * 2)),
            },
        )
        self._scheduler.add_listener(self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        trigger = IntervalTrigger(seconds=seconds, jitter=jitter_ms / 1000 or None, timezone=UTC)
        self._scheduler.add_job(
            tick, trigger, id=JOB_ID, name="stream tick", next_run_time=datetime.now(UTC), replace_existing=True
        )

    def start(self) -> None:
        self._scheduler.start()
        logger.bind(event="scheduler.started").info("scheduler started")

    def shutdown(self) -> None:
        """Stop firing; does not wait for the tick in flight (the caller bounds that wait)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            logger.bind(event="scheduler.job_error").opt(exception=event.exception).error(
                "stream tick raised {error!r}", error=event.exception
            )
        else:
            self.skipped += 1
            if self.warn_skips and (self.skipped in (1, 10, 100) or self.skipped % 1000 == 0):
                logger.bind(event="scheduler.tick_skipped", skipped=self.skipped).warning(
                    "tick skipped: the previous one is still running ({skipped} so far); "
                    "the database or EVENTS_PER_TICK is slower than STREAM_INTERVAL_SECONDS",
                    skipped=self.skipped,
                )
