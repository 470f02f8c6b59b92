"""Start a conductor job and print its results as they arrive.

Run it as ``python -m conductor_examples.caller --kind digest --input
'{"path": "."}'``. It prints one JSON line per result. It follows the job
with Subscribe and subscribes again after the last sequence it received
when the stream breaks, so a network failure loses or repeats no result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import grpc
from google.protobuf import duration_pb2, json_format

from conductor.v1 import conductor_pb2, conductor_pb2_grpc, payload_pb2

#: Deadline of each unary call, in seconds.
CALL_TIMEOUT_S = 10.0
#: How long one Pull waits for a result while the job runs, in seconds.
PULL_WAIT_S = 5
#: How many times in a row follow() subscribes again without receiving a
#: result before it gives up.
MAX_RETRIES = 5

ResultHandler = Callable[[payload_pb2.Result], None]


def json_payload(value: object) -> payload_pb2.Payload:
    """Wrap a JSON-compatible Python value as a job input or result."""
    payload = payload_pb2.Payload()
    json_format.ParseDict(value, payload.json)
    return payload


def exec_job(
    stub: conductor_pb2_grpc.ConductorServiceStub, kind: str, value: object
) -> int:
    """Start a job of ``kind`` with JSON input ``value`` and return its ticket."""
    request = conductor_pb2.ExecRequest(kind=kind, input=json_payload(value))
    return stub.Exec(request, timeout=CALL_TIMEOUT_S).ticket


def follow(
    stub: conductor_pb2_grpc.ConductorServiceStub,
    ticket: int,
    handle: ResultHandler,
) -> None:
    """Pass the results of ``ticket`` to ``handle`` in order until the job ends.

    When the stream breaks with UNAVAILABLE, subscribe again after the last
    sequence received, up to MAX_RETRIES times in a row without a new
    result. Return when the job succeeded and every result was handled.
    Otherwise raise the grpc.RpcError that ended the stream: NOT_FOUND for
    an unknown or expired ticket, DATA_LOSS when the results to resume from
    are no longer retained, CANCELLED for a cancelled job, or the job's own
    code and message.

    Subscribe has no deadline because a job may run for any length of time.
    """
    request = conductor_pb2.SubscribeRequest(ticket=ticket)
    last = 0
    failures = 0
    delay_s = 0.05
    while True:
        received = False
        try:
            for reply in stub.Subscribe(request):
                for result in reply.results:
                    received = True
                    # A result at or below the last one was handled before
                    # the stream broke.
                    if result.sequence > last:
                        last = result.sequence
                        handle(result)
            return
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            if received:
                failures, delay_s = 0, 0.05
            failures += 1
            if failures > MAX_RETRIES:
                raise
        # From now on every Subscribe resumes, even after sequence 0: results
        # sent on the broken stream were delivered and are only replayed.
        request = conductor_pb2.SubscribeRequest(ticket=ticket, after_sequence=last)
        time.sleep(delay_s)
        delay_s = min(2 * delay_s, 2.0)


def pull_all(
    stub: conductor_pb2_grpc.ConductorServiceStub,
    ticket: int,
    handle: ResultHandler,
) -> None:
    """Take the results of ``ticket`` with Pull, 100 at a time, until the job ends.

    Pull is the polling alternative to follow(): each call has its own
    deadline, and a lost response loses the results it carried.
    OUT_OF_RANGE means the job succeeded and every result was taken, so the
    function returns; any other error, such as NOT_FOUND, CANCELLED or the
    job's own, is raised.
    """
    request = conductor_pb2.PullRequest(
        ticket=ticket,
        max_results=100,
        wait=duration_pb2.Duration(seconds=PULL_WAIT_S),
    )
    while True:
        try:
            reply = stub.Pull(request, timeout=PULL_WAIT_S + CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.OUT_OF_RANGE:
                return
            raise
        for result in reply.results:
            handle(result)


def print_result(result: payload_pb2.Result) -> None:
    """Write ``result`` to stdout as one line of protobuf JSON."""
    line = json_format.MessageToJson(result, indent=None)
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="server address")
    parser.add_argument("--kind", default="digest", help="job kind to run")
    parser.add_argument("--input", default="{}", help="job input as JSON")
    parser.add_argument(
        "--ticket", type=int, help="follow this existing ticket instead of starting a job"
    )
    parser.add_argument(
        "--detach", action="store_true", help="print the new ticket and exit without following"
    )
    args = parser.parse_args(argv)

    with grpc.insecure_channel(args.addr) as channel:
        stub = conductor_pb2_grpc.ConductorServiceStub(channel)
        try:
            ticket = args.ticket
            if ticket is None:
                ticket = exec_job(stub, args.kind, json.loads(args.input))
                if args.detach:
                    print(ticket, flush=True)
                    return 0
                print(f"ticket {ticket}", file=sys.stderr)
            follow(stub, ticket, print_result)
        except grpc.RpcError as error:
            print(f"caller: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
