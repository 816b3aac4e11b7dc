"""Load a report in headless Chromium with the network off: for the browser test and screenshots.

Drives Debian's /usr/bin/chromium over the Chrome DevTools Protocol with `websocket-client` (a dev
dependency, imported here only): no driver binary whose version must match the browser, and the
protocol's own events tell every request the page tried and every console error.
Dev tooling, so it lives in tests/ and not in the wheel (it was reprodiag/report/browser.py).
Usage, from the repository root: python -m tests.helpers.browser REPORT.html OUT.png
(scripts/screenshot-report runs it from anywhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

# Flags from the machine notes: without the background-networking ones Chromium dials Google at
# start. The proxy and resolver rules turn any request a page might try into a local failure.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-port=0",
)
INSTALL_HINT = "install it with `make browser` (apt-get install chromium)"


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or stopped answering."""


def find_chromium() -> str | None:
    for name in (
        os.environ.get("REPRODIAG_CHROMIUM", ""),
        "chromium",
        "chromium-browser",
        "google-chrome",
    ):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


@dataclass
class PageLoad:
    """What happened while one page loaded: its requests and its console errors."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Chromium:
    """One headless Chromium with a fresh profile, driven through one page target."""

    def __init__(self, width: int = 1100, height: int = 900, timeout: float = 30.0) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.mkdtemp(prefix="reprodiag-chromium-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: Any = None
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        binary = find_chromium()
        if binary is None:
            raise BrowserError(f"Chromium is not installed: {INSTALL_HINT}")
        self._proc = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._connect()
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.width,
                height=self.height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _connect(self) -> None:
        import websocket  # dev dependency: websocket-client

        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self._proc is not None and self._proc.poll() is not None:
                raise BrowserError(f"Chromium exited at start (code {self._proc.returncode})")
            if time.monotonic() > deadline:
                raise BrowserError("Chromium did not open its DevTools port in time")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        # Our own loopback call: no proxy from the environment may sit in between.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True
        )

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return dict(message.get("result", {}))
            self._events.append(message)

    def _wait_for(self, method: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == method for e in self._events):
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} within {self.timeout:.0f} s")
            self._events.append(json.loads(self._ws.recv()))

    def load(self, url: str) -> PageLoad:
        """Navigate, wait for the load event, and report what the page tried and logged."""
        self._events = []
        self.send("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")
        self.evaluate("new Promise(r => requestAnimationFrame(() => r(1)))")  # one paint
        return _page_load(self._events)

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def screenshot(self, out: str | os.PathLike[str]) -> Path:
        """The whole page (not only the viewport) as a PNG."""
        import base64

        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": self.width, "height": size["height"], "scale": 1},
        )
        path = Path(out)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _page_load(events: list[dict[str, Any]]) -> PageLoad:
    seen = PageLoad()
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            seen.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            seen.errors.append(str(params["exceptionDetails"].get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            seen.errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            seen.errors.append(str(params["entry"].get("text")))
    return seen


def screenshot_report(report: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Load a report.html with the network off and write the whole page as a PNG."""
    source = Path(report).resolve()
    if not source.is_file():
        raise BrowserError(f"no report at {source}: write one with `reprodiag demo --out DIR`")
    with Chromium() as browser:
        seen = browser.load(source.as_uri())
        if seen.errors:
            raise BrowserError("the report logged errors: " + "; ".join(seen.errors))
        return browser.screenshot(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: screenshot-report REPORT.html OUT.png", file=sys.stderr)
        return 2
    try:
        path = screenshot_report(argv[0], argv[1])
    except BrowserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
