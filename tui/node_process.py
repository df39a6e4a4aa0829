"""Starting a node for the TUI when none answers: a ``samizdat node run`` child process.

The TUI never runs the node in its own process (it is a client over FCP): it
spawns ``python -m node.cli node run`` with the default data directory, waits
for the FCP port to answer, and stops the child (SIGTERM, then SIGKILL) when
the TUI exits. The child's output goes to ``node.log`` beside the TUI's cwd
only if asked; by default it is discarded so it cannot scribble on the screen.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

STOP_TIMEOUT = 10.0  # seconds a node gets to stop cleanly (it saves state) before SIGKILL
START_TIMEOUT = 30.0  # seconds to wait for the FCP port of a node we started


def fcp_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class NodeProcess:
    """A node child process started by the TUI (``start`` → ``stop``)."""

    def __init__(self, host: str, port: int, *, log: Path | None = None) -> None:
        self.host, self.port, self.log = host, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "node.cli", "node", "run", "--fcp-port", str(self.port)]

    def start(self) -> None:
        out = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the TUI must not reach the node
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """Block until the FCP port answers (True) or the child exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            if fcp_answers(self.host, self.port, timeout=0.5):
                return True
            time.sleep(0.2)
        return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
