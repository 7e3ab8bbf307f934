"""HTTP endpoints for Kubernetes and Prometheus: /healthz, /readyz, /metrics (stdlib server)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from loguru import logger
from prometheus_client.exposition import choose_encoder, gzip_accepted

from daemon.errors import SimulatorError
from daemon.health import Health
from daemon.metrics import Metrics


class ProbeServer:
    def __init__(
        self, host: str, port: int, health: Health, metrics: Metrics, on_scrape: Callable[[], None] | None = None
    ) -> None:
        self.health = health
        self.metrics = metrics
        self.on_scrape = on_scrape
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                server.respond(self)

            def log_message(self, *_args: object) -> None:  # probes every few seconds: keep logs quiet
                pass

        try:
            self._httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise SimulatorError(
                f"cannot serve probes on {host}:{port} (HTTP_HOST/HTTP_PORT): {exc.strerror}"
            ) from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="probes", daemon=True)

    def start(self) -> None:
        self._thread.start()
        logger.bind(event="http.started", port=self.port).info(
            "probes on :{port} (/healthz, /readyz, /metrics)", port=self.port
        )

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def respond(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one GET request (called by the handler thread)."""
        path, _, query = request.path.partition("?")
        if path == "/healthz":
            ok, why = self.health.alive()
            self._send(request, 200 if ok else 503, why + "\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            ok, why = self.health.ready()
            self.metrics.ready.set(1 if ok else 0)
            self._send(request, 200 if ok else 503, why + "\n", "text/plain; charset=utf-8")
        elif path == "/metrics":
            if self.on_scrape is not None:
                try:
                    self.on_scrape()
                except Exception as exc:  # noqa: BLE001 - a scrape must never kill the server
                    logger.bind(event="metrics.scrape_error").debug("scrape hook failed: {e!r}", e=exc)
            self.metrics.ready.set(1 if self.health.ready().ok else 0)
            self._send_metrics(request, query)
        else:
            self._send(request, 404, "not found: try /healthz, /readyz or /metrics\n", "text/plain; charset=utf-8")

    def _send_metrics(self, request: BaseHTTPRequestHandler, query: str) -> None:
        """prometheus_client's exposition, as its MetricsHandler does it: the format by ``Accept``
        (OpenMetrics or the text format), gzip by ``Accept-Encoding``, ``?name[]=`` to restrict."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        names = parse_qs(query).get("name[]")
        registry = self.metrics.registry.restricted_registry(names) if names else self.metrics.registry
        body = encoder(registry)
        encoding = None
        if gzip_accepted(request.headers.get("Accept-Encoding", "")):
            body, encoding = gzip.compress(body), "gzip"
        self._send(request, 200, body, content_type, encoding)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: str | bytes,
        content_type: str,
        content_encoding: str | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        if content_encoding is not None:
            request.send_header("Content-Encoding", content_encoding)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
