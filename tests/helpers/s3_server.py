"""`python -m tests.helpers.s3_server PORT LOG`: moto S3 on 127.0.0.1:PORT (tests/helpers/s3.py).

Prints "ready" once it listens; logs each request's method, path and If-None-Match header to LOG
as a JSON line; serves until terminated.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any


def main(port: int, log_path: str) -> None:
    """Serve until SIGTERM."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request else
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open while serving

    # Any: WSGI's environ and start_response are untyped by nature.
    def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        entry = {
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "if_none_match": environ.get("HTTP_IF_NONE_MATCH"),
        }
        with lock:
            log.write(json.dumps(entry) + "\n")
            log.flush()
        return app(environ, start_response)

    server = make_server(
        "127.0.0.1", port, recording, threaded=True, request_handler=MotoRequestHandler
    )
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
