"""Prometheus metrics of ``emotionlayer serve``, in a registry of their own (one per app).

Every metric is named ``emotionlayer_...``; counters end in ``_total`` when exposed. :class:`ServerMetrics`
holds them; :meth:`ServerMetrics.render` gives the text a Prometheus server scrapes from ``GET /metrics``.

| metric | kind | labels | what it counts |
|---|---|---|---|
| ``emotionlayer_http_requests_total`` | counter | ``route``, ``status`` | HTTP answers |
| ``emotionlayer_http_request_seconds`` | histogram | ``route`` | time to answer an HTTP request |
| ``emotionlayer_turns_total`` | counter | ``source`` (api, page, live), ``system`` | turns answered |
| ``emotionlayer_turn_seconds`` | histogram | ``source`` | time a turn ran on the models |
| ``emotionlayer_queue_wait_seconds`` | histogram | | time a turn waited for the models |
| ``emotionlayer_stage_seconds`` | histogram | ``stage`` | each stage a turn reports (``timings``) |
| ``emotionlayer_live_latency_seconds`` | histogram | ``moment`` | live turns: end of speech to each moment |
| ``emotionlayer_rejections_total`` | counter | ``status``, ``reason`` | requests refused (4xx, 503, 504) |
| ``emotionlayer_errors_total`` | counter | ``where`` | unexpected errors (HTTP 500, a live socket) |
| ``emotionlayer_sessions_created_total`` | counter | | conversations started |
| ``emotionlayer_sessions_expired_total`` | counter | | conversations removed after their idle time |
| ``emotionlayer_queue_waiting`` | gauge | | turns waiting for the models now |
| ``emotionlayer_turns_running`` | gauge | | turns on the models now (0 or 1) |
| ``emotionlayer_sessions`` | gauge | | conversations held now |
| ``emotionlayer_live_sockets`` | gauge | | live WebSocket conversations open now |
| ``emotionlayer_reply_files`` | gauge | | spoken replies kept for ``/api/audio`` |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: Latency buckets (seconds): from a fast refusal to a slow turn on a busy CPU.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)

_STAGE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MAX_STAGES = 32  # a system reports a handful; more would be a bug, and must not grow the series without end


class ServerMetrics:
    """The server's counters, histograms and gauges, in their own ``CollectorRegistry``.

    Args:
        registry: Where to register them (default: a new registry, so several apps can live in one process).
    """

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r, b = self.registry, SECONDS_BUCKETS
        self.requests = Counter("emotionlayer_http_requests", "HTTP answers.", ["route", "status"], registry=r)
        self.request_seconds = Histogram(
            "emotionlayer_http_request_seconds", "Seconds to answer an HTTP request.", ["route"], buckets=b, registry=r
        )
        self.turns = Counter("emotionlayer_turns", "Turns answered.", ["source", "system"], registry=r)
        self.turn_seconds = Histogram(
            "emotionlayer_turn_seconds", "Seconds a turn ran on the models.", ["source"], buckets=b, registry=r
        )
        self.wait_seconds = Histogram(
            "emotionlayer_queue_wait_seconds", "Seconds a turn waited for the models.", buckets=b, registry=r
        )
        self.stage_seconds = Histogram(
            "emotionlayer_stage_seconds", "Seconds per stage a turn reports.", ["stage"], buckets=b, registry=r
        )
        self.live_latency = Histogram(
            "emotionlayer_live_latency_seconds",
            "Live turns: seconds from the end of the user's speech to each moment.",
            ["moment"],
            buckets=b,
            registry=r,
        )
        self.rejections = Counter(
            "emotionlayer_rejections", "Requests refused, by status and reason.", ["status", "reason"], registry=r
        )
        self.errors = Counter("emotionlayer_errors", "Unexpected errors.", ["where"], registry=r)
        self.sessions_created = Counter("emotionlayer_sessions_created", "Conversations started.", registry=r)
        self.sessions_expired = Counter(
            "emotionlayer_sessions_expired", "Conversations removed after their idle time.", registry=r
        )
        self._gauges = {
            name: Gauge(f"emotionlayer_{name}", text, registry=r)
            for name, text in (
                ("queue_waiting", "Turns waiting for the models now."),
                ("turns_running", "Turns on the models now."),
                ("sessions", "Conversations held now."),
                ("live_sockets", "Live WebSocket conversations open now."),
                ("reply_files", "Spoken replies kept for /api/audio now."),
            )
        }
        self._stages: set[str] = set()

    def bind(self, **readers: Callable[[], float]) -> None:
        """Read gauges at scrape time, e.g. ``bind(queue_waiting=lambda: admission.waiting)``."""
        for name, read in readers.items():
            self._gauges[name].set_function(read)

    def turn(self, source: str, system: str, seconds: float, timings: Mapping[str, float] | None = None) -> None:
        """Count an answered turn, its time on the models and the stages it reports."""
        self.turns.labels(source, system or "unknown").inc()
        self.turn_seconds.labels(source).observe(max(0.0, seconds))
        for stage, value in (timings or {}).items():
            if not _STAGE.fullmatch(stage) or value is None:
                continue
            if stage not in self._stages:
                if len(self._stages) >= _MAX_STAGES:
                    continue
                self._stages.add(stage)
            self.stage_seconds.labels(stage).observe(max(0.0, float(value)))

    def reject(self, status: int | str, reason: str) -> None:
        """Count a refused request."""
        self.rejections.labels(str(status), reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
