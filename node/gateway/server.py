"""Serving the gateway: uvicorn inside the node's event loop, as one task.

uvicorn's :class:`~uvicorn.Server` is made for owning a process: it installs
SIGINT/SIGTERM handlers and runs a lifespan protocol. Here the node owns the
process and its signals (``samizdat node run`` stops everything on SIGINT), so
:class:`EmbeddedServer` installs no signal handlers, the lifespan is off, and
uvicorn's access log is off (an access log is a list of what was read). The
listening socket is bound by us, so port 0 works and the real port is known
before ``task_status.started(port)``. Cancelling the task stops the server:
it closes the listener, asks open connections to finish, and gives them at
most :data:`SHUTDOWN_GRACE` seconds (a video stream never finishes by itself).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import anyio
import anyio.abc
import uvicorn

from node.gateway.app import Gateway

SHUTDOWN_GRACE = 1  # seconds for open responses when the node stops


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signals alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on sockets
    # that say so, and without it every response whose headers and body are two
    # writes waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_gateway(
    gateway: Gateway,
    *,
    host: str = "127.0.0.1",
    port: int = 8888,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``gateway`` on ``host:port`` (0: a free port) until cancelled.

    Reports the bound port through ``task_status``. The gateway must be entered
    (``async with gateway``) by the caller.
    """
    sock = _listen(host, port)
    bound = int(sock.getsockname()[1])
    gateway.set_port(bound)
    config = uvicorn.Config(
        gateway,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=False,
        ws="none",
        http="h11",
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        proxy_headers=False,
    )
    server = EmbeddedServer(config)
    finished = anyio.Event()
    serve_scope = anyio.CancelScope(shield=True)

    async def run() -> None:
        try:
            with serve_scope:
                await server.serve(sockets=[sock])
        finally:
            finished.set()
            sock.close()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while not server.started and not finished.is_set():
            await anyio.sleep(0.005)
        if finished.is_set():
            raise OSError(f"the gateway could not start on {host}:{bound}")
        task_status.started(bound)
        try:
            await anyio.sleep_forever()
        finally:
            server.should_exit = True
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(SHUTDOWN_GRACE + 2):
                    await finished.wait()
                serve_scope.cancel()
