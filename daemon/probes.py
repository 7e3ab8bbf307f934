"""HTTP endpoints for Kubernetes and Prometheus: /healthz, /readyz, /metrics (stdlib server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
        path = request.path.split("?", 1)[0]
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
            self._send(request, 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        else:
            self._send(request, 404, "not found: try /healthz, /readyz or /metrics\n", "text/plain; charset=utf-8")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: str | bytes, content_type: str) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
