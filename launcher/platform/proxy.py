"""The platform API, served to the agent by a process it cannot read.

``supervise --platform-proxy`` keeps the workspace token out of the agent:
the runtime talks to this proxy (``endpoint``: loopback, a per-launch
credential) and the proxy talks to the platform with the real token.

Why it is shaped so:

- **Where it runs.** A long-lived ``fork`` of the resident
  (``resident.ProxyProcess``), like the refresh helper and for the same
  reason: a fork inherits the resident's non-dumpable flag and empty
  ``environ``, so at no moment can a same-uid agent read its memory (the
  token) through ``/proc``; a fresh ``exec`` would start dumpable. It
  imports the launcher's full pipeline after the fork, is tied to the
  resident with ``PR_SET_PDEATHSIG``, and tells the resident it is ready
  before the first child starts. Its death is fatal to the launch (the
  resident stops the agent and exits 70, PLATFORM_PROXY_FAILED): a new
  proxy would need a new port and credential, which only a new child
  would know, and an orchestrator restarts a failed container anyway.
- **Threads.** One per connection (``ThreadingHTTPServer``): a long poll
  or an event stream holds its thread, nothing else waits for it. Upstream
  it speaks ``http.client`` over ``transport.PlatformConnection`` (the
  launch's connection class: every wait bounded, TLS and CA as the
  launch), idle keep-alive connections pooled, so a request costs no new
  connection to the platform.
- **What passes** (``Proxy.route``): this workspace's own paths on the
  configured platform and the registry calls the runtime makes for itself;
  a register or heartbeat body must name this workspace. Everything else
  is refused with a JSON body naming the rule, never forwarded.
  ``/workspaces/<id>/tokens`` is refused too: it mints and revokes bearer
  tokens, i.e. it would hand the agent what the proxy keeps from it.
- **Re-pulls of ``/secrets/values``** are answered by the launch's own
  pipeline (``pipeline.build_plan``: List for provenance, the same gate,
  the same refusal), reading the platform afresh each time: a rotation
  reaches the agent, a global LLM key in byok never does. The answer holds
  the platform's keys the gate kept, and nothing else.
- **register** answers are read whole (capped); an ``auth_token`` in them
  becomes the proxy's token (saved 0600 where the launcher's token file
  is, and in the token cell for refresh helpers) and is removed from what
  the agent sees.
- **Streaming.** Bodies are relayed a read at a time, both ways: a request
  body with its Content-Length (capped by ``--max-bundle-bytes``; chunked
  uploads are refused, 411), a response as it comes. A non-streamed
  response is capped and must finish inside ``--deadline``; an event
  stream (``text/event-stream``) has no total cap or deadline, only a
  bound on each silence (``--deadline`` again), so it can last as long as
  the agent wants it. Every response is scanned for the real token as it
  passes (a tail that could begin one is held back until the next read
  decides): a platform that echoed it would see the connection cut.
- **Secrecy.** Log lines and answers name rules, methods and paths,
  never a value; the token appears only as a fingerprint.
"""

from __future__ import annotations

import hmac
import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..config import Config, load_config
from ..errors import (
    BundleIncompleteError,
    BundleInvalidError,
    ConfigError,
    ForeignAgentCredentialError,
    LauncherError,
    MissingCredentialError,
    PlatformAuthError,
    PlatformUnavailableError,
    unexpected,
)
from ..files import write_private
from ..gate import winner
from ..log import Log
from ..values import fingerprint
from .endpoint import write_cell
from .transport import PlatformConnection, ssl_context

CHUNK = 64 * 1024
# RFC 9110 7.6.1, and what only this hop may decide.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_TARGET = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[\x21-\x7e]*)?")
_ENCODED = ("%2f", "%2e", "%5c", "%00", "%25")


class Kind:
    FORWARD = "forward"
    VALUES = "values"
    REGISTER = "register"
    IDENTIFIED = "identified"  # a registry POST whose body must name this workspace


class RefusalError(Exception):
    """An answer the proxy gives itself: status, stable code, why (no value)."""

    def __init__(self, status: int, code: str, why: str) -> None:
        super().__init__(why)
        self.status, self.code, self.why = status, code, why


class TokenEchoError(Exception):
    """The platform's answer carried the real token: the relay is cut."""


class Scrubber:
    """Finds any of ``secrets`` in a stream cut into arbitrary chunks. It
    holds back only the tail that could begin one (a token has no
    whitespace, so an event's closing blank line is never held), so an
    event stream is not delayed."""

    def __init__(self, secrets: Iterable[bytes]) -> None:
        self.secrets = [s for s in secrets if s]
        self.tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self.tail + chunk if self.tail else chunk
        for secret in self.secrets:
            if secret in data:
                raise TokenEchoError
        hold = 0
        for secret in self.secrets:
            start = data.find(secret[:1], max(0, len(data) - len(secret) + 1))
            while start != -1:
                if secret.startswith(data[start:]):
                    hold = max(hold, len(data) - start)
                    break
                start = data.find(secret[:1], start + 1)
        self.tail = data[len(data) - hold :] if hold else b""
        return data[: len(data) - hold] if hold else data

    def end(self) -> bytes:
        tail, self.tail = self.tail, b""
        return tail


class Upstream(NamedTuple):
    connection: PlatformConnection
    response: http.client.HTTPResponse


def _status_of(exc: LauncherError) -> int:
    """The HTTP status a re-pull's failure is answered with."""
    if isinstance(exc, MissingCredentialError | ForeignAgentCredentialError):
        return 403  # the launch would have refused: nothing usable is left
    if isinstance(exc, PlatformUnavailableError):
        return 503
    if isinstance(exc, PlatformAuthError | BundleInvalidError | BundleIncompleteError | ConfigError):
        return 502
    return 500


class Proxy:
    """The proxy's state: configuration, the token it keeps, the upstream pool."""

    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str],
        credential: str,
        token_path: Path,
        cell: int | None,
        log: Log,
    ) -> None:
        assert config.platform_url and config.workspace_id
        self.config = config
        self.environ = dict(environ)
        self._credential = credential
        self._expected = f"Bearer {credential}".encode()
        self.token = config.token
        self._known: set[str] = {config.token} if config.token else set()
        self.token_path = token_path
        self.cell = cell
        self.log = log
        self.lock = threading.Lock()
        parts = urlsplit(config.platform_url)
        self.origin = config.platform_url
        self.base_path = parts.path.rstrip("/")
        self.host = parts.netloc
        self.context = ssl_context(config)
        self.workspace = config.workspace_id
        self._idle: list[PlatformConnection] = []

    def __repr__(self) -> str:  # the token and the credential: never
        return f"Proxy({self.origin!r}, workspace={self.workspace!r})"

    # -- who may ask, and for what ----------------------------------------------------

    def authorised(self, values: list[str]) -> bool:
        """Exactly one Authorization header, exactly this launch's credential."""
        if len(values) != 1:
            return False
        return hmac.compare_digest(values[0].strip().encode("latin-1", "replace"), self._expected)

    def route(self, method: str, target: str) -> str:
        if not _TARGET.fullmatch(target):
            raise RefusalError(
                400, "PROXY_BAD_REQUEST", "the request target must be a path on the platform (origin-form)"
            )
        if self._credential in target:
            raise RefusalError(400, "PROXY_BAD_REQUEST", "the proxy credential must not appear in the request target")
        path = target.partition("?")[0]
        lowered = path.lower()
        if "//" in path or any(s in (".", "..") for s in path.split("/")) or any(e in lowered for e in _ENCODED):
            raise RefusalError(
                400, "PROXY_BAD_REQUEST", "the path must be normalised (no //, . or .., no encoded / . \\ %)"
            )
        own = f"/workspaces/{self.workspace}"
        if path == own or path.startswith(own + "/"):
            rest = path[len(own) :]
            if rest == "/tokens" or rest.startswith("/tokens/"):
                raise RefusalError(
                    403, "PROXY_FORBIDDEN_PATH", "workspace tokens are the launcher's: minting, listing or revoking "
                    "them through the proxy is refused"
                )  # fmt: skip
            if rest == "/secrets/values":
                if method not in ("GET", "HEAD"):
                    raise RefusalError(405, "PROXY_METHOD_NOT_ALLOWED", "secrets/values is read with GET only")
                return Kind.VALUES
            return Kind.FORWARD
        if path == "/registry/register":
            return self._post_only(method, Kind.REGISTER)
        if path in ("/registry/heartbeat", "/registry/update-card"):
            return self._post_only(method, Kind.IDENTIFIED)
        if path in (f"/registry/{self.workspace}/peers", f"/registry/discover/{self.workspace}"):
            return Kind.FORWARD
        if path.startswith(("/workspaces/", "/registry/")):
            raise RefusalError(403, "PROXY_FORBIDDEN_PATH", "only this workspace's own paths are forwarded")
        raise RefusalError(
            403, "PROXY_FORBIDDEN_PATH", "not a workspace path of the platform; the proxy forwards only those"
        )

    @staticmethod
    def _post_only(method: str, kind: str) -> str:
        if method != "POST":
            raise RefusalError(405, "PROXY_METHOD_NOT_ALLOWED", "the registry is called with POST")
        return kind

    def check_identity(self, body: bytes) -> None:
        """A registry call must be about this workspace: its ``id`` /
        ``workspace_id`` (whichever the call carries) names it."""
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise RefusalError(400, "PROXY_BAD_REQUEST", "a registry call's body must be a JSON object")
        named = [document[k] for k in ("id", "workspace_id") if k in document]
        if not named or any(n != self.workspace for n in named):
            raise RefusalError(
                403, "PROXY_FOREIGN_WORKSPACE", "a registry call must name this workspace (id/workspace_id)"
            )

    # -- the token ----------------------------------------------------------------------

    def current_token(self) -> str | None:
        with self.lock:
            return self.token

    def known_tokens(self) -> list[bytes]:
        with self.lock:
            return [t.encode() for t in self._known]

    def keep_token(self, token: str) -> None:
        """A register's ``auth_token``: the token from now on, saved 0600 by
        the launcher's user where its token file is, and in the cell."""
        with self.lock:
            self.token = token
            self._known.add(token)
            if self.cell is not None:
                write_cell(self.cell, token)
        try:
            save_token(self.token_path, token)
            where = f"saved to {self.token_path} (0600)"
        except OSError as exc:
            where = f"kept in memory only: cannot write {self.token_path} ({exc.strerror})"
        self.log.info(
            f"register issued a workspace token [{fingerprint(token)}]: the launcher keeps it, {where}; "
            "the child's answer does not carry it"
        )

    def kept_register(self, status: int, body: bytes) -> bytes:
        if not 200 <= status < 300:
            return body
        try:
            document = json.loads(body)
        except ValueError:
            return body  # not JSON: relayed as is, through the scrubber
        if not isinstance(document, dict) or "auth_token" not in document:
            return body
        token = document.pop("auth_token")
        if isinstance(token, str) and token.strip():
            text = token.strip()
            if text.isascii() and not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
                self.keep_token(text)
            else:
                self.log.warning("register answered an auth_token that cannot be a bearer token; not kept")
        return json.dumps(document).encode()

    # -- re-pulls ---------------------------------------------------------------------

    def gated_values(self) -> tuple[int, dict[str, object]]:
        """What the launch would give of the platform's bundle now."""
        from ..pipeline import build_plan

        config = self.config._replace(token=self.current_token())
        try:
            plan = build_plan(config, self.environ, self.log)
        except LauncherError as exc:
            self.log.warning(f"a re-pull of secrets/values failed: {exc.message}", code=exc.code)
            return _status_of(exc), {"error": exc.message, "code": exc.code}
        if plan.refusal is not None:
            self.log.warning(f"a re-pull of secrets/values refused: {plan.refusal.message}", code=plan.refusal.code)
            return _status_of(plan.refusal), {"error": plan.refusal.message, "code": plan.refusal.code}
        platform = next((s for s in plan.strip.layers if s.name == "platform"), None)
        kept: dict[str, object] = {}
        for key in platform.values if platform is not None else ():
            if winner(plan.strip.layers, key) is not platform:
                continue  # an --env-file (or the launcher) overrides it: not the platform's to answer
            if key in plan.env:
                kept[key] = plan.env[key]
            elif key in plan.files.moved:
                kept[key] = plan.files.moved[key]
        total = len(platform.values) if platform is not None else 0
        self.log.info(f"a re-pull of secrets/values: {len(kept)} of {total} platform keys pass the gate")
        return 200, kept

    # -- upstream ------------------------------------------------------------------------

    def upstream_target(self, target: str) -> str:
        return self.base_path + target

    def upstream_headers(self, incoming: Message, length: int) -> list[tuple[str, str]]:
        named = {t.strip().lower() for v in incoming.get_all("Connection", []) for t in v.split(",")}
        out = [("Host", self.host)]
        for name, value in incoming.items():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower in named or lower in ("host", "authorization", "content-length"):
                continue
            if self._credential in value:
                continue  # the credential is this hop's, never the platform's
            out.append((name, value))
        token = self.current_token()
        if token:
            out.append(("Authorization", f"Bearer {token}"))
        if length:
            out.append(("Content-Length", str(length)))
        return out

    def exchange(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        send_body: Callable[[PlatformConnection], None],
        replayable: bool,
        deadline: float,
    ) -> Upstream:
        """Send the request and read the response head. A pooled connection
        the platform has closed meanwhile is retried once on a new one, when
        the body can be sent again."""
        for attempt in (0, 1):
            conn, reused = self._take(replayable and attempt == 0)
            conn.rearm(deadline, self.config.deadline)
            try:
                if conn.sock is None:
                    conn.connect()
                conn.sock.settimeout(conn.left())
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders()
                send_body(conn)
                return Upstream(conn, conn.getresponse())
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("not reached")

    def _take(self, reuse: bool) -> tuple[PlatformConnection, bool]:
        if reuse:
            with self.lock:
                if self._idle:
                    return self._idle.pop(), True
        return PlatformConnection(self.origin, self.context, self.config.deadline, time.monotonic()), False

    def give_back(self, conn: PlatformConnection) -> None:
        with self.lock:
            if len(self._idle) < 16:
                self._idle.append(conn)
                return
        conn.close()


def save_token(path: Path, token: str) -> None:
    """Atomically, 0600, owned by this process's user: a fresh file beside
    the old one (O_EXCL, no link followed), renamed over it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, token)


def _head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    reason = http.client.responses.get(status, "")
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Handler(BaseHTTPRequestHandler):
    """One connection from the agent; every request on it in turn."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "agent-launcher-proxy"
    proxy: Proxy

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the proxy logs what it decided, not request lines

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # noqa: N815 - http.server's names

    # -- the request --------------------------------------------------------------------

    def _serve(self) -> None:
        proxy = self.proxy
        started = time.monotonic()
        self._sent_head = False
        self._unread = 0
        status = 0
        try:
            if not proxy.authorised(self.headers.get_all("Authorization", [])):
                raise RefusalError(
                    401, "PROXY_UNAUTHORIZED", "a missing or wrong credential: send the MOLECULE_WORKSPACE_TOKEN "
                    "this launch gave the agent"
                )  # fmt: skip
            kind = proxy.route(self.command, self.path)
            length = self._request_length()
            if kind == Kind.VALUES:
                self._drain(length)
                status = self._values()
            elif kind in (Kind.REGISTER, Kind.IDENTIFIED):
                body = self._read_body(length)
                proxy.check_identity(body)
                status = self._forward(length, body, register=kind == Kind.REGISTER)
            else:
                status = self._forward(length, None, register=False)
        except RefusalError as refusal:
            status = refusal.status
            self._refuse(refusal)
        except Exception as exc:  # a bug or a broken upstream: by type and place only
            status = 502
            proxy.log.warning(f"platform proxy: {self.command} failed: {unexpected(exc)}", code="PROXY_UPSTREAM_FAILED")
            if self._sent_head:
                self.close_connection = True
            else:
                self._refuse(
                    RefusalError(502, "PROXY_UPSTREAM_FAILED", "the platform could not be reached or answered badly")
                )
        finally:
            took = (time.monotonic() - started) * 1000
            proxy.log.debug(
                f"platform proxy: {self.command} {self.path.partition('?')[0]} -> {status} in {took:.1f} ms"
            )

    def _request_length(self) -> int:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RefusalError(
                411, "PROXY_LENGTH_REQUIRED", "request bodies must have a Content-Length (no chunked uploads)"
            )
        declared = self.headers.get_all("Content-Length", [])
        if not declared:
            return 0
        if len(declared) != 1 or not declared[0].strip().isdigit():
            self.close_connection = True
            raise RefusalError(400, "PROXY_BAD_REQUEST", "a bad Content-Length")
        length = int(declared[0])
        self._unread = length
        if length > self.proxy.config.max_bundle_bytes:
            self.close_connection = True  # the body is not read: the connection cannot carry another request
            raise RefusalError(
                413, "PROXY_BODY_TOO_LARGE",
                f"a request body of {length} bytes exceeds the {self.proxy.config.max_bundle_bytes}-byte cap "
                "(--max-bundle-bytes)",
            )  # fmt: skip
        return length

    def _read_body(self, length: int) -> bytes:
        self.connection.settimeout(self.proxy.config.deadline)
        body = self.rfile.read(length) if length else b""
        self._unread = 0
        if len(body) != length:
            self.close_connection = True
            raise RefusalError(400, "PROXY_BAD_REQUEST", "the request body ended early")
        return body

    def _drain(self, length: int) -> None:
        if length:
            self._read_body(length)

    # -- answers ------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self._sent_head = True

    def _send_json(self, status: int, document: object, extra: Iterable[tuple[str, str]] = ()) -> None:
        body = json.dumps(document).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra]
        if self._unread:
            self.close_connection = True  # an unread body would be taken for the next request
        if self.close_connection:
            headers.append(("Connection", "close"))
        self._write(_head(status, headers) + (b"" if self.command == "HEAD" else body))

    def _refuse(self, refusal: RefusalError) -> None:
        extra = [("WWW-Authenticate", 'Bearer realm="agent-launcher"')] if refusal.status == 401 else []
        self.proxy.log.debug(f"platform proxy refused {self.command}: {refusal.code}")
        self._send_json(refusal.status, {"error": refusal.why, "code": refusal.code}, extra)

    def _values(self) -> int:
        status, document = self.proxy.gated_values()
        self._send_json(status, document)
        return status

    # -- forwarding ---------------------------------------------------------------------

    def _forward(self, length: int, body: bytes | None, *, register: bool) -> int:
        proxy = self.proxy
        deadline = time.monotonic() + proxy.config.deadline
        headers = proxy.upstream_headers(self.headers, length)
        self.connection.settimeout(proxy.config.deadline)

        def send_body(conn: PlatformConnection) -> None:
            if body is not None:
                if body:
                    conn.send(body)
                return
            left = length
            while left:
                chunk = self.rfile.read1(min(CHUNK, left))
                if not chunk:
                    self.close_connection = True
                    raise RefusalError(400, "PROXY_BAD_REQUEST", "the request body ended early")
                conn.sock.settimeout(conn.left())
                conn.send(chunk)
                left -= len(chunk)
            self._unread = 0

        streamed = body is None and length > 0
        try:
            conn, response = proxy.exchange(
                self.command, proxy.upstream_target(self.path), headers, send_body, not streamed, deadline
            )
        except TimeoutError:
            raise RefusalError(504, "PROXY_UPSTREAM_TIMEOUT", "the platform did not answer within --deadline") from None
        except (OSError, http.client.HTTPException):
            raise RefusalError(
                502, "PROXY_UPSTREAM_FAILED", "the platform could not be reached or answered badly"
            ) from None
        if register:
            return self._relay_whole(conn, response)
        return self._relay(conn, response)

    def _response_headers(self, response: http.client.HTTPResponse) -> list[tuple[str, str]]:
        tokens = self.proxy.known_tokens()
        named = {t.strip().lower() for v in response.headers.get_all("Connection", []) for t in v.split(",")}
        out = []
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower in named or lower == "content-length":
                continue
            raw = value.encode("latin-1", "replace")
            if any(t in raw for t in tokens):
                self.proxy.log.warning(f"the platform's {name} header held the workspace token: dropped")
                continue
            out.append((name, value))
        if self.close_connection:
            out.append(("Connection", "close"))
        return out

    def _relay_whole(self, conn: PlatformConnection, response: http.client.HTTPResponse) -> int:
        """register: read whole (capped), the token taken out, then answered."""
        cap = self.proxy.config.max_bundle_bytes
        try:
            data = bytearray()
            while chunk := response.read1(CHUNK):
                data += chunk
                if len(data) > cap:
                    raise RefusalError(
                        502, "PROXY_RESPONSE_TOO_LARGE", f"the platform's answer exceeds the {cap}-byte cap"
                    )
        except TimeoutError:
            conn.close()
            raise RefusalError(504, "PROXY_UPSTREAM_TIMEOUT", "the platform did not answer within --deadline") from None
        except BaseException:
            conn.close()
            raise
        self._done(conn, response, complete=True)
        body = self.proxy.kept_register(response.status, bytes(data))
        try:
            body = Scrubber(self.proxy.known_tokens()).feed(body)
        except TokenEchoError:
            raise RefusalError(502, "PROXY_TOKEN_ECHO", "the platform's answer held the workspace token") from None
        headers = [*self._response_headers(response), ("Content-Length", str(len(body)))]
        self._write(_head(response.status, headers) + body)
        return response.status

    def _relay(self, conn: PlatformConnection, response: http.client.HTTPResponse) -> int:
        proxy, status = self.proxy, response.status
        cap = proxy.config.max_bundle_bytes
        event_stream = (response.headers.get("Content-Type") or "").lower().startswith("text/event-stream")
        bodiless = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        length = response.length
        if not bodiless and not event_stream and length is not None and length > cap:
            conn.close()
            raise RefusalError(502, "PROXY_RESPONSE_TOO_LARGE", f"the platform's answer exceeds the {cap}-byte cap")
        headers = self._response_headers(response)
        if bodiless:
            declared = response.headers.get("Content-Length")
            if declared is not None and self.command == "HEAD":
                headers.append(("Content-Length", declared))
            self._write(_head(status, headers))
            self._done(conn, response, complete=True)
            return status
        chunked = length is None
        headers.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(length)))
        if event_stream:
            conn.rearm(float("inf"), proxy.config.deadline)  # no end in sight: only each silence is bounded
        head = _head(status, headers)
        scrubber = Scrubber(proxy.known_tokens())
        total = 0
        try:
            while True:
                chunk = response.read1(CHUNK)
                total += len(chunk)
                if total > cap and not event_stream:
                    raise RefusalError(
                        502, "PROXY_RESPONSE_TOO_LARGE", f"the platform's answer exceeds the {cap}-byte cap"
                    )
                data = scrubber.feed(chunk) if chunk else scrubber.end()
                if data or head:
                    self._write(head + (b"%x\r\n%s\r\n" % (len(data), data) if chunked and data else data))
                    head = b""
                if not chunk:
                    break
            if response.length:
                raise http.client.IncompleteRead(b"", response.length)
            if chunked:
                self._write(b"0\r\n\r\n")
        except TokenEchoError:
            proxy.log.error("PROXY_TOKEN_ECHO", "the platform's answer held the workspace token: relay cut")
            return self._abort(conn, status)
        except RefusalError:
            if head:  # nothing sent yet: the refusal is the answer
                conn.close()
                raise
            proxy.log.warning(
                "platform proxy: an answer outgrew the cap mid-stream; relay cut", code="PROXY_RESPONSE_TOO_LARGE"
            )
            return self._abort(conn, status)
        except (OSError, http.client.HTTPException) as exc:
            if head and isinstance(exc, TimeoutError):
                conn.close()
                raise RefusalError(
                    504, "PROXY_UPSTREAM_TIMEOUT", "the platform did not answer within --deadline"
                ) from None
            return self._abort(conn, status)
        self._done(conn, response, complete=True)
        return status

    def _abort(self, conn: PlatformConnection, status: int) -> int:
        conn.close()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return status

    def _done(self, conn: PlatformConnection, response: http.client.HTTPResponse, *, complete: bool) -> None:
        response.close()
        if complete and not response.will_close and conn.sock is not None:
            self.proxy.give_back(conn)
        else:
            conn.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def serve(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    log: Log,
    *,
    listener: int,
    url: str,
    credential: str,
    token_path: Path,
    cell: int | None,
    ready: int,
) -> int:
    """The proxy's life, in its fork of the resident: load the launch's
    configuration again (flags and environment, as the refresh helper
    does), say ready on ``ready``, serve ``listener`` until killed."""
    try:
        config = load_config(flags, environ)
        proxy = Proxy(config, environ, credential, token_path, cell, log)
    except LauncherError as exc:
        log.error(exc.code, f"the platform proxy cannot start: {exc.message}")
        return exc.exit_code
    sock = socket.socket(fileno=listener)
    server = Server(sock.getsockname(), type("Handler", (Handler,), {"proxy": proxy}), bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    os.write(ready, b"R")
    os.close(ready)
    log.info(f"platform proxy for workspace {config.workspace_id} on {url}")
    server.serve_forever(poll_interval=3600)
    return 0
