"""uvicorn around the app: the command's foreground server, and a background one for tests and measurements.

uvicorn's shutdown (SIGINT/SIGTERM, or ``should_exit``) is the graceful one the server needs: it stops
listening, lets open requests finish, then runs the app's lifespan shutdown, which drains the model queues.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Any

import uvicorn

log = logging.getLogger("serving")


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info",
                   graceful_timeout_s: float | None = 30.0) -> uvicorn.Config:
    # httptools + uvloop: the fast HTTP parser and event loop (the per-request cost the overhead target is about);
    # no access log (a log line per request would cost more than the rest of the server's work) and no proxy
    # header rewriting (a middleware call per request for a server that is not behind a proxy by default)
    return uvicorn.Config(app, host=host, port=port, http="httptools", loop="uvloop", lifespan="on",
                          access_log=False, proxy_headers=False, server_header=False, log_config=None,
                          log_level=log_level, timeout_graceful_shutdown=graceful_timeout_s)


class Server(uvicorn.Server):
    """uvicorn's server that reports where it listens once it does (``started_event``, ``url``)."""

    def __init__(self, config: uvicorn.Config, announce: bool = False) -> None:
        super().__init__(config)
        self.started_event = threading.Event()
        self.url = ""
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:  # lifespan startup failed or the port was taken; uvicorn exits
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        if self._announce:
            # a line that scripts wait for (with the port when they asked for any: 0), whatever the log level
            print(f"slimlab-serve: serving on {self.url}", file=sys.stderr, flush=True)
        else:
            log.info("serving on %s", self.url)
        self.started_event.set()


class ServerThread:
    """The server on a background thread of this process (tests, the overhead measurement)::

        with ServerThread(app) as srv:
            client = tritonclient.http.InferenceServerClient(srv.url.removeprefix("http://"))
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self.server = Server(uvicorn_config(app, host, port, **kwargs))
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 60.0) -> ServerThread:
        self._thread.start()
        # started_event, or the thread's end when startup failed
        while not self.server.started_event.wait(0.05):
            if not self._thread.is_alive():
                raise RuntimeError("the server did not start (see the log)")
            timeout -= 0.05
            if timeout <= 0:
                raise TimeoutError("the server did not start in time")
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful: waits for accepted requests and the lifespan shutdown."""
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
