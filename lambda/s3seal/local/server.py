"""The local mode's moto server, behind a guard: this run's credentials only, no browsers.

On its own, moto's server answers CORS preflights for any origin and takes unsigned requests, so
any web page open in the user's browser could read the root key from its Secrets Manager (a page
may send requests to 127.0.0.1). A WSGI guard in front of moto's app refuses, with 403:

- every request with an ``Origin`` header, and every ``OPTIONS`` (a CORS preflight): browsers
  send ``Origin`` on cross-origin requests; the AWS CLI and SDKs never do;
- a ``Host`` other than the loopback address and port served (a DNS-rebinding page sends its own
  host name, and would otherwise be same-origin);
- a request not signed with this run's access key id (in its ``Authorization`` header or a
  presigned URL's query): a random id made per run, printed with the
  paste-able commands, which a web page cannot know. moto checks no signature, so the id is the
  token; the secret access key is not checked by anyone.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

LOOPBACK = "127.0.0.1"
ACCESS_KEY_PREFIX = "S3SEAL"
UNCHECKED_SECRET_ACCESS_KEY = "local"  # noqa: S105 (moto checks no signature; see above)

_CREDENTIAL = re.compile(r"\bCredential=([^/,\s]+)/")
_SIGV2 = re.compile(r"AWS ([^:\s]+):")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def new_access_key_id() -> str:
    """A per-run access key id (80 random bits, within AWS's 16 to 128 characters)."""
    return ACCESS_KEY_PREFIX + secrets.token_hex(10).upper()


class Guard:
    """WSGI middleware: refuses what a browser or another local program could send (see above)."""

    def __init__(self, app: WsgiApp, *, access_key_id: str, port: int) -> None:
        self._app = app
        self._access_key_id = access_key_id.encode()
        self._hosts = (f"{LOOPBACK}:{port}", f"localhost:{port}")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        reason = self.refusal(environ)
        if reason is None:
            return self._app(environ, start_response)
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
            f"<Message>s3seal local: {reason}</Message></Error>"
        ).encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Why the request is refused, or None to pass it to moto."""
        if "HTTP_ORIGIN" in environ or environ.get("REQUEST_METHOD") == "OPTIONS":
            return "requests from web pages (Origin, CORS preflight) are refused"
        host = str(environ.get("HTTP_HOST", "")).lower()
        if not any(host == ok or host.endswith("." + ok) for ok in self._hosts):
            return f"host {host!r} is not this server's loopback address"
        key_id = _access_key_id(environ)
        if key_id is None or not hmac.compare_digest(key_id.encode(), self._access_key_id):
            return "not signed with this run's access key id (see the exports printed at start)"
        return None


def _access_key_id(environ: dict[str, Any]) -> str | None:
    """The access key id a request is signed with: SigV4 or SigV2 header, or a presigned URL's
    query (boto3 presigns S3 URLs with SigV2 by default)."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    found = _CREDENTIAL.search(authorization) or _SIGV2.match(authorization)
    if found:
        return found.group(1)
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    key_id, slash, _ = query.get("X-Amz-Credential", [""])[0].partition("/")
    if slash and key_id:
        return key_id
    return query.get("AWSAccessKeyId", [""])[0] or None


class GuardedMotoServer:
    """moto's server app behind ``Guard`` on ``LOOPBACK``, served from a thread (as moto's own
    ``ThreadedMotoServer``, which has no place for middleware)."""

    def __init__(self, port: int, access_key_id: str) -> None:
        self.port = port
        self.access_key_id = access_key_id
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Only the local mode needs moto and werkzeug; the Lambda asset carries neither.
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
            DomainDispatcherApplication,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        app = Guard(
            DomainDispatcherApplication(create_backend_app),
            access_key_id=self.access_key_id,
            port=self.port,
        )
        # Never any address but loopback: the server is for this machine only.
        self._server = make_server(LOOPBACK, self.port, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3seal-moto", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
