"""A small keep-alive HTTP/1.1 client for one origin, on asyncio protocols.

Why not httpx: its connection pool scans every connection on each request event, which at
256 calls in flight cost ~16 ms CPU per request (the dominant cost of a scale run), and even
split into small pools ~1 ms; this pool hands out idle connections in O(1) and sends each
request in one write (~0.07 ms per request on the same machine).

Scope is what an OpenAI-compatible endpoint needs: http and https, Content-Length or chunked
replies, no compression (we ask for identity), keep-alive, one request per connection at a
time. Behind an HTTP(S) proxy (environment variables) `open_pool` falls back to httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Any

from agents.errors import SymposiaError

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


class TransportFailure(SymposiaError):
    """The connection failed, closed early or spoke something that is not HTTP/1.1."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; parses the reply to the one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False  # served a reply before: a failure may be a stale keep-alive
        self._buf = bytearray()
        self._reply: asyncio.Future[Response] | None = None
        self._head: tuple[int, dict[str, str]] | None = None
        self._length: int | None = None  # body bytes expected; None = chunked or until close
        self._chunked = False
        self._chunks: list[bytes] = []
        self._pos = 0  # chunked: parse position in _buf

    # ---------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._reply is None or self._reply.done():
            if self._buf:  # bytes nobody asked for: the connection cannot be trusted any more
                self.close()
            return
        try:
            self._parse()
        except TransportFailure as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reply = self._reply
        if reply is None or reply.done():
            return
        if self._head is not None and self._length is None and not self._chunked:
            self._finish(bytes(self._buf))  # a body delimited by the end of the connection
            return
        got = "before replying" if self._head is None and not self._buf else "mid-reply"
        self._fail(TransportFailure(f"server closed the connection {got}" + (f": {exc}" if exc else "")))

    # ---------------------------------------------------------------- requests
    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._reply = asyncio.get_running_loop().create_future()
        self._head, self._length, self._chunked, self._chunks, self._pos = None, None, False, [], 0
        self.transport.write(data)
        return self._reply

    def nothing_received(self) -> bool:
        return self._head is None and not self._buf

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(exc)
        self.close()

    def _finish(self, body: bytes) -> None:
        assert self._head is not None and self._reply is not None
        status, headers = self._head
        self.used = True
        if headers.get("connection", "").lower() == "close":
            self.close()
        self._reply.set_result(Response(status, headers, body))

    def _parse(self) -> None:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise TransportFailure("reply headers too long")
                return
            lines = self._buf[:end].decode("latin-1").split("\r\n")
            del self._buf[: end + 4]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise TransportFailure(f"not an HTTP/1.1 reply: {lines[0][:80]!r}")
            status = int(parts[1])
            if 100 <= status < 200:  # 100 Continue / 103 Early Hints: the real reply follows
                self._parse()
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            self._head = (status, headers)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._chunked = True
            elif "content-length" in headers:
                try:
                    self._length = int(headers["content-length"])
                except ValueError:
                    raise TransportFailure(f"bad content-length {headers['content-length']!r}") from None
            elif status in (204, 304):
                self._length = 0
            if headers.get("content-encoding", "identity").lower() not in ("identity", ""):
                raise TransportFailure(f"unrequested content-encoding {headers['content-encoding']!r}")
        if self._chunked:
            self._parse_chunks()
        elif self._length is not None:
            if self._length > MAX_BODY:
                raise TransportFailure("reply body too large")
            if len(self._buf) >= self._length:
                body = bytes(self._buf[: self._length])
                extra = len(self._buf) > self._length
                del self._buf[: self._length]
                self._finish(body)
                if extra:
                    self.close()
        elif len(self._buf) > MAX_BODY:
            raise TransportFailure("reply body too large")

    def _parse_chunks(self) -> None:
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n", self._pos)
            if line_end < 0:
                return
            size_text = bytes(buf[self._pos : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise TransportFailure(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", line_end)  # no trailers: right at line_end
                if trailer_end < 0:
                    return
                del buf[: trailer_end + 4]
                self._finish(b"".join(self._chunks))
                if buf:
                    self.close()
                return
            if len(buf) < line_end + 2 + size + 2:
                return
            self._chunks.append(bytes(buf[line_end + 2 : line_end + 2 + size]))
            self._pos = line_end + 2 + size + 2
            if sum(map(len, self._chunks)) > MAX_BODY:
                raise TransportFailure("reply body too large")


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi  # the bundle httpx and the OpenAI SDK use

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class HttpPool:
    """Keep-alive connections to one origin: at most `max_connections` open, idle ones reused
    last-in first-out. `request` covers connect, send and reply within `timeout` seconds."""

    def __init__(self, base_url: str, *, max_connections: int, headers: dict[str, str]) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port][/path], got {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self._ssl = _ssl_context() if url.scheme == "https" else None
        default_port = self.port == (443 if url.scheme == "https" else 80)
        authority = url.hostname if default_port else f"{url.hostname}:{self.port}"
        if ":" in url.hostname:  # IPv6 literal
            authority = f"[{url.hostname}]" + ("" if default_port else f":{self.port}")
        fixed = {"host": authority, "accept-encoding": "identity", **headers}
        for name, value in fixed.items():
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise ValueError(f"header {name!r} contains a line break")
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self.max_connections = max_connections
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def request(self, method: str, path: str, body: bytes, *, timeout: float,
                      content_type: str = "application/json") -> Response:
        head = (f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._fixed}content-type: {content_type}\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode("latin-1")
        data = head + body
        async with asyncio.timeout(timeout):
            conn = await self._acquire()
            try:
                response = await conn.send(data)
            except TransportFailure:
                stale = conn.used and conn.nothing_received()
                self._discard(conn)
                if not stale:
                    raise
                # a kept-alive connection the server had just closed: retry once on a fresh one
                conn = await self._acquire(fresh=True)
                try:
                    response = await conn.send(data)
                except BaseException:
                    self._discard(conn)
                    raise
            except BaseException:
                self._discard(conn)  # a reply may still arrive for this request: never reuse
                raise
        self._release(conn)
        return response

    async def _acquire(self, *, fresh: bool = False) -> _Connection:
        while True:
            while self._idle and not fresh:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
                self._open -= 1
            if self._closed:
                raise TransportFailure("the HTTP pool is closed")
            if self._open < self.max_connections:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            if fresh and self._idle:  # make room: drop the oldest idle connection
                self._idle.pop(0).close()
                self._open -= 1
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the wake-up on
                raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, self.host, self.port, ssl=self._ssl,
                                                   server_hostname=self.host if self._ssl else None)
        except (OSError, ssl.SSLError) as exc:
            raise TransportFailure(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._release(conn)

    def _release(self, conn: _Connection) -> None:
        if conn.closed or self._closed:
            conn.close()
            self._open -= 1
        else:
            self._idle.append(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._open -= len(self._idle)
        self._idle.clear()


class HttpxPool:
    """The same interface over httpx, used when a proxy applies (httpx honours the proxy
    environment variables); slower at high concurrency, see the module docstring."""

    def __init__(self, base_url: str, *, max_connections: int, headers: dict[str, str]) -> None:
        import httpx

        self.prefix = base_url.rstrip("/")
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(limits=limits, headers=headers, trust_env=True)

    async def request(self, method: str, path: str, body: bytes, *, timeout: float,
                      content_type: str = "application/json") -> Response:
        reply = await self._client.request(method, self.prefix + path, content=body, timeout=timeout,
                                           headers={"content-type": content_type})
        return Response(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.content)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_pool(base_url: str, *, max_connections: int, headers: dict[str, str]) -> Any:
    """An HttpPool, or an HttpxPool when the environment routes this URL through a proxy."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    scheme = urllib.parse.urlsplit(base_url).scheme
    proxies = urllib.request.getproxies_environment()
    bypass = urllib.request.proxy_bypass_environment(host, proxies)  # type: ignore[attr-defined]
    if (proxies.get(scheme) or proxies.get("all")) and not bypass:
        return HttpxPool(base_url, max_connections=max_connections, headers=headers)
    return HttpPool(base_url, max_connections=max_connections, headers=headers)
