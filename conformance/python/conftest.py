"""Fixtures shared by the Python client tests.

`conformance/run` starts one b24lite server over HTTPS and exports where it is (see `Portal`).
The `events` fixture is a plain-HTTP handler on a free loopback port that records every POST it
receives, decoded the way a PHP receiver decodes it, so tests can check delivered events.
"""

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from expect import php_form


@dataclass(frozen=True)
class Portal:
    """The server under test, as `conformance/run` announced it."""

    url: str  # https://127.0.0.1:PORT
    webhook_url: str  # https://127.0.0.1:PORT/rest/1/SECRET/
    cert: str
    bin: str
    data: str

    @property
    def domain(self) -> str:
        """`127.0.0.1:PORT`: what the SDKs call the portal domain."""
        return urlsplit(self.url).netloc

    @property
    def webhook_token(self) -> str:
        """`1/SECRET`: the webhook part of the URL, as b24pysdk wants it."""
        path = urlsplit(self.webhook_url).path
        return path.removeprefix("/rest/").strip("/")

    def cli(self, *args: str) -> str:
        """Runs a management command on the server's data folder; returns its stdout."""
        done = subprocess.run(
            [self.bin, *args, "--data", self.data],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"b24lite {' '.join(args)} failed: {done.stderr}"
        return done.stdout


@pytest.fixture(scope="session")
def portal() -> Portal:
    missing = [
        name
        for name in ("B24LITE_URL", "B24LITE_WEBHOOK_URL", "B24LITE_CERT")
        if not os.environ.get(name)
    ]
    if missing:
        pytest.exit(f"run these tests through conformance/run ({', '.join(missing)} unset)", 2)
    return Portal(
        url=os.environ["B24LITE_URL"],
        webhook_url=os.environ["B24LITE_WEBHOOK_URL"],
        cert=os.environ["B24LITE_CERT"],
        bin=os.environ.get("B24LITE_BIN", "b24lite"),
        data=os.environ.get("B24LITE_DATA", ""),
    )


class EventRecorder:
    """Every POST received, as `(path, headers, body bytes)` in arrival order; `received` decodes
    the forms, `requests` hands out the exact bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: list[tuple[str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with recorder._lock:
                    recorder._raw.append((self.path, headers, raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{path.lstrip('/')}"

    def received(self, path: str) -> list[dict]:
        wanted = "/" + path.lstrip("/")
        with self._lock:
            bodies = [body for (p, _, body) in self._raw if p == wanted]
        return [php_form(body.decode("utf-8")) for body in bodies]

    def requests(self, path: str, count: int, timeout: float = 15.0) -> list[tuple[dict, bytes]]:
        """Waits for `count` requests on `path`; returns each as `(headers, body bytes)`, header
        names in lower case."""
        wanted = "/" + path.lstrip("/")
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [(h, body) for (p, h, body) in self._raw if p == wanted]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"{len(found)} requests on {path}, expected {count}"
                return found
            time.sleep(0.05)

    def wait_for(self, path: str, done, timeout: float = 15.0) -> list[dict]:
        """Polls until `done(forms)` holds for the forms received on `path`; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            forms = self.received(path)
            if done(forms) or time.monotonic() > deadline:
                return forms
            time.sleep(0.05)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def events():
    recorder = EventRecorder()
    yield recorder
    recorder.close()


FIELD_EVENTS = [
    "onCrmContactUserFieldAdd",
    "onCrmContactUserFieldUpdate",
    "onCrmContactUserFieldDelete",
    "onCrmContactUserFieldSetEnumValues",
]


@pytest.fixture(scope="session")
def subscribe(portal: Portal, events: EventRecorder):
    """`subscribe(path)` registers an outgoing webhook (`b24lite outgoing add`) for the four field
    events that posts to `path` of the recorder, and returns its application_token; the webhooks
    are deleted at the end of the session."""

    added = []

    def add(path: str) -> str:
        flags = [arg for name in FIELD_EVENTS for arg in ("--event", name)]
        out = portal.cli("outgoing", "add", "--url", events.url(path), *flags)
        webhook_id, token = out.strip().split("\t")
        assert webhook_id.isdigit() and token, out
        added.append(webhook_id)
        return token

    yield add
    # The recorder closes after this: later events must not be sent to a closed port.
    for webhook_id in added:
        portal.cli("outgoing", "delete", webhook_id)
