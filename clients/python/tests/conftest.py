"""Fixtures that start a real conductor server for the tests.

The server is the file named by CONDUCTOR_SERVER_MAIN or else the
repository's own build, dist/cli/main.js, which the first test that needs
it refreshes with ``npm run build``.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
#: Bounds the build, the start and the stop of a server, in seconds.
START_TIMEOUT_S = 180.0
#: HealthCheckResponse{status: SERVING} in protobuf wire format, so that the
#: tests need no stubs of grpc.health.v1.
SERVING = b"\x08\x01"


@dataclass
class Server:
    """A running conductor server and a channel to it."""

    addr: str
    channel: grpc.Channel


@pytest.fixture(scope="session")
def server_main() -> str:
    main = os.environ.get("CONDUCTOR_SERVER_MAIN")
    if main:
        return main
    lock_path = Path(tempfile.gettempdir(), "conductor-build.lock")
    with open(lock_path, "w") as lock:
        # Test runs of other languages may build at the same time.
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(
            ["npm", "run", "build"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
    return str(REPO_ROOT / "dist" / "cli" / "main.js")


@pytest.fixture
def start_server(
    server_main: str, tmp_path: Path
) -> Iterator[Callable[..., Server]]:
    """Return a function that starts a server on a free loopback port.

    Every server it started is stopped when the test ends, whether it
    passed or not.
    """
    started: list[tuple[subprocess.Popen, grpc.Channel]] = []

    def start(digest_root: Path | None = None, max_data: int | None = None) -> Server:
        addr = f"127.0.0.1:{free_port()}"
        root = digest_root or tmp_path
        args = ["node", server_main, "serve", "--listen", addr, "--digest-root", str(root)]
        if max_data is not None:
            args += ["--max-data", str(max_data)]
        process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        channel = grpc.insecure_channel(addr)
        started.append((process, channel))
        wait_serving(channel, process)
        return Server(addr, channel)

    yield start
    for process, channel in started:
        channel.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_serving(channel: grpc.Channel, process: subprocess.Popen) -> None:
    """Poll the health service until it reports SERVING."""
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    deadline = time.monotonic() + START_TIMEOUT_S
    delay_s = 0.01
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"conductor server exited: {process.stderr.read()}")
        try:
            if check(b"", timeout=5) == SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(delay_s)
        delay_s = min(2 * delay_s, 1.0)
    raise TimeoutError(f"conductor server did not start in {START_TIMEOUT_S} s")


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Proxy:
    """Forwards loopback TCP connections to a target and breaks them as a
    network failure would: each one after it has passed
    ``break_after_bytes`` bytes from the server (never when None), or all at
    once on break_connections(). It keeps accepting new connections."""

    def __init__(self, target: str, break_after_bytes: int | None = None):
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._break_after_bytes = break_after_bytes
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self.accepted = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._serve, daemon=True).start()

    def break_connections(self) -> None:
        """Close every open connection in both directions."""
        with self._lock:
            for conn in self._open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._open.clear()

    def close(self) -> None:
        self._listener.close()
        self.break_connections()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            with self._lock:
                self.accepted += 1
                self._open.update((client, server))
            upstream = (client, server, None)
            downstream = (server, client, self._break_after_bytes)
            for args in (upstream, downstream):
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        """Copy ``source`` to ``target``, at most ``limit`` bytes when set,
        then close both."""
        sent = 0
        try:
            while data := source.recv(4096):
                if limit is not None:
                    data = data[: limit - sent]
                target.sendall(data)
                sent += len(data)
                if limit is not None and sent >= limit:
                    break
        except OSError:
            pass
        with self._lock:
            for conn in (source, target):
                if conn in self._open:
                    self._open.discard(conn)
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    conn.close()


@pytest.fixture
def start_proxy() -> Iterator[Callable[..., Proxy]]:
    """Return a function that starts a Proxy, closed when the test ends."""
    proxies: list[Proxy] = []

    def start(target: str, break_after_bytes: int | None = None) -> Proxy:
        proxy = Proxy(target, break_after_bytes)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


def wait_for_runner(server: Server, match: Callable[[object], bool]):
    """Wait until ListRunners shows a runner for which ``match`` is true and
    return its RunnerInfo."""
    from conductor.v1 import runner_pb2, runner_pb2_grpc

    stub = runner_pb2_grpc.RunnerServiceStub(server.channel)
    deadline = time.monotonic() + START_TIMEOUT_S
    delay_s = 0.01
    while time.monotonic() < deadline:
        reply = stub.ListRunners(runner_pb2.ListRunnersRequest(), timeout=10)
        for runner in reply.runners:
            if match(runner):
                return runner
        time.sleep(delay_s)
        delay_s = min(2 * delay_s, 0.5)
    raise TimeoutError(f"no matching runner in {list(reply.runners)}")
