"""Serve the ``wordcount`` job kind to a conductor server.

Run it as ``python -m conductor_examples.runner --addr 127.0.0.1:50051``.
A wordcount job takes JSON input ``{"text": "a b a"}`` and pushes one JSON
result ``{"word": "a", "count": 2}`` per distinct word, sorted by word.
Words are separated by white space and compared exactly.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.protobuf import json_format

from conductor.v1 import (
    conductor_pb2,
    conductor_pb2_grpc,
    payload_pb2,
    runner_pb2,
    runner_pb2_grpc,
)

#: Deadline of Finish and of registration, in seconds.
CALL_TIMEOUT_S = 10.0
#: Deadline of one Push, in seconds. Push waits while the ticket's buffer is
#: full, so a consumer that reads nothing for this long makes the job fail.
PUSH_TIMEOUT_S = 60.0
#: Bounds of the wait before serve() connects again, in seconds.
MIN_RECONNECT_DELAY_S = 0.1
MAX_RECONNECT_DELAY_S = 10.0

log = logging.getLogger(__name__)

Push = Callable[..., None]
Work = Callable[[payload_pb2.Payload, Push, threading.Event], None]
"""Does one job: reads the input and stores results with ``push(*payloads)``.

The event is set when the job is revoked or the runner stops. Raising
JobError ends the job with that code and message, and any other exception
ends it with UNKNOWN.
"""


class JobError(Exception):
    """Failure of a job, sent to its consumers as a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def count_words(
    job_input: payload_pb2.Payload, push: Push, stopped: threading.Event
) -> None:
    """Work of the wordcount kind."""
    value = json_format.MessageToDict(job_input.json) if job_input.HasField("json") else None
    text = value.get("text") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise JobError(
            grpc.StatusCode.INVALID_ARGUMENT, 'input must be JSON such as {"text": "a b a"}'
        )
    counts = Counter(text.split())
    for word in sorted(counts):
        if stopped.is_set():
            return
        result = payload_pb2.Payload()
        json_format.ParseDict({"word": word, "count": counts[word]}, result.json)
        push(result)


class Runner:
    """Connects to a conductor server and does the jobs of one kind."""

    def __init__(
        self,
        channel: grpc.Channel,
        kind: str,
        work: Work,
        name: str = "",
        concurrency: int = 4,
    ):
        self.conductor = conductor_pb2_grpc.ConductorServiceStub(channel)
        self.runners = runner_pb2_grpc.RunnerServiceStub(channel)
        self.kind = kind
        self.work = work
        self.name = name or socket.gethostname()
        self.concurrency = max(concurrency, 1)

    def serve(self, stop: threading.Event) -> None:
        """Run the runner until ``stop`` is set, connecting again with backoff
        whenever the stream breaks.

        Return after a drain. Raise the grpc.RpcError of a registration that
        the server rejected (INVALID_ARGUMENT) or of a server without
        RunnerService (UNIMPLEMENTED).
        """
        delay_s = MIN_RECONNECT_DELAY_S
        while not stop.is_set():
            session = _Session(self, stop)
            try:
                session.run()
                return
            except grpc.RpcError as error:
                if error.code() in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.UNIMPLEMENTED,
                ):
                    raise
                if session.registered:
                    delay_s = MIN_RECONNECT_DELAY_S
                log.warning(
                    "runner stream broke (%s); connecting again in %.1f s",
                    error.code().name,
                    delay_s,
                )
            stop.wait(delay_s)
            delay_s = min(2 * delay_s, MAX_RECONNECT_DELAY_S)

    def run(self, stop: threading.Event) -> None:
        """Register the runner and do the jobs assigned to it.

        When ``stop`` is set, send Drain, let the running jobs finish, close
        the stream and return. Raise grpc.RpcError when the stream breaks,
        and the server then fails or retries the jobs the runner held.
        """
        _Session(self, stop).run()


class _Session:
    """One Connect stream and the jobs assigned on it."""

    def __init__(self, runner: Runner, stop: threading.Event):
        self._runner = runner
        self._stop = stop
        self._requests: queue.Queue[runner_pb2.ConnectRequest | None] = queue.Queue()
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._idle = threading.Condition(self._lock)
        self._closed = threading.Event()
        self.registered = False

    def run(self) -> None:
        runner = self._runner
        register = runner_pb2.Register(
            kinds=[runner.kind], concurrency=runner.concurrency, name=runner.name
        )
        self._requests.put(runner_pb2.ConnectRequest(register=register))
        call = runner.runners.Connect(self._outgoing())
        with ThreadPoolExecutor(max_workers=runner.concurrency) as pool:
            try:
                self._receive(call, pool)
            except grpc.RpcError as error:
                # A drain that waited too long for the server cancels the call.
                if not (self._stop.is_set() and error.code() == grpc.StatusCode.CANCELLED):
                    raise
            finally:
                self._closed.set()
                self._requests.put(None)
                with self._lock:
                    for job in self._jobs.values():
                        job.stopped.set()
        if not self._stop.is_set():
            raise _StreamEnded()

    def _outgoing(self) -> Iterator[runner_pb2.ConnectRequest]:
        while (request := self._requests.get()) is not None:
            yield request

    def _receive(self, call, pool: ThreadPoolExecutor) -> None:
        for reply in call:
            message = reply.WhichOneof("message")
            if message == "registered":
                self.registered = True
                log.info("runner registered: %s", reply.registered.runner_id)
                interval = reply.registered.heartbeat_interval.ToTimedelta().total_seconds()
                self._start_thread(self._heartbeat, interval)
                self._start_thread(self._drain_on_stop, call)
            elif message == "assignment":
                self._start(pool, reply.assignment)
            elif message == "revocation":
                self._revoke(reply.revocation)

    @staticmethod
    def _start_thread(target, *args) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    def _heartbeat(self, interval_s: float) -> None:
        """Send a Heartbeat every interval, because the server drops a runner
        that stays silent for three intervals."""
        if interval_s <= 0:
            return
        while not self._closed.wait(interval_s):
            self._requests.put(runner_pb2.ConnectRequest(heartbeat=runner_pb2.Heartbeat()))

    def _drain_on_stop(self, call) -> None:
        """Once ``stop`` is set, ask for no more jobs, wait for the running
        ones and close the stream."""
        while not self._stop.wait(0.1):
            if self._closed.is_set():
                return
        self._requests.put(runner_pb2.ConnectRequest(drain=runner_pb2.Drain()))
        with self._idle:
            self._idle.wait_for(lambda: not self._jobs)
        self._requests.put(None)
        # The server ends the stream once it receives the half-close.
        if not self._closed.wait(CALL_TIMEOUT_S):
            call.cancel()

    def _start(self, pool: ThreadPoolExecutor, assignment: runner_pb2.Assignment) -> None:
        job = _Job(assignment)
        with self._lock:
            self._jobs[assignment.ticket] = job
        pool.submit(self._run_job, job)

    def _revoke(self, revocation: runner_pb2.Revocation) -> None:
        with self._lock:
            job = self._jobs.get(revocation.ticket)
            if job is not None and job.assignment.lease == revocation.lease:
                job.revoked = True
                job.stopped.set()

    def _run_job(self, job: _Job) -> None:
        try:
            self._do(job)
        except Exception:
            log.exception("job %d failed to finish", job.assignment.ticket)
        finally:
            with self._idle:
                del self._jobs[job.assignment.ticket]
                self._idle.notify_all()

    def _do(self, job: _Job) -> None:
        """Run one job and finish it. A revoked job is finished too, once its
        work stopped: the server rejects that Finish, as the job is closed,
        but it frees the job's slot there."""
        runner = self._runner
        ticket, lease = job.assignment.ticket, job.assignment.lease

        def push(*results: payload_pb2.Payload) -> None:
            request = conductor_pb2.PushRequest(ticket=ticket, lease=lease, results=results)
            runner.conductor.Push(request, timeout=PUSH_TIMEOUT_S)

        error = None
        try:
            runner.work(job.assignment.input, push, job.stopped)
        except JobError as failure:
            error = payload_pb2.JobError(code=failure.code.value[0], message=failure.message)
        except Exception as failure:
            error = payload_pb2.JobError(
                code=grpc.StatusCode.UNKNOWN.value[0], message=str(failure) or "job failed"
            )
        if job.revoked:
            log.info("job %d revoked", ticket)
            error = None
        request = runner_pb2.FinishRequest(ticket=ticket, lease=lease, error=error)
        try:
            runner.runners.Finish(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as failure:
            # A revoked job, or one cancelled before its Revocation arrived,
            # is closed already: its Finish is rejected but frees its slot.
            if not job.revoked and failure.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            log.info("job %d closed before it finished: %s", ticket, failure.details())


class _StreamEnded(grpc.RpcError):
    """The server ended the Connect stream without an error status."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "the server ended the stream"


class _Job:
    """An assigned job and the event that stops it."""

    def __init__(self, assignment: runner_pb2.Assignment):
        self.assignment = assignment
        self.stopped = threading.Event()
        self.revoked = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="server address")
    parser.add_argument("--kind", default="wordcount", help="job kind to serve")
    parser.add_argument("--name", default="", help="runner name shown in ListRunners")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs run at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    # SIGINT or SIGTERM drains the runner: running jobs finish first.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with grpc.insecure_channel(args.addr) as channel:
        runner = Runner(channel, args.kind, count_words, args.name, args.concurrency)
        try:
            runner.serve(stop)
        except grpc.RpcError as error:
            log.error("runner stopped: %s: %s", error.code().name, error.details())
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
