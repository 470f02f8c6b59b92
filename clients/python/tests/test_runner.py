import threading

import grpc
import pytest
from google.protobuf import json_format

from conductor.v1 import conductor_pb2, conductor_pb2_grpc, payload_pb2
from conductor_examples import caller
from conductor_examples.runner import Runner, count_words
from conftest import wait_for_runner

#: Bounds each wait of a test, in seconds, so a hang fails the test.
TEST_TIMEOUT_S = 60


@pytest.fixture
def start_runner():
    """Return a function that runs a Runner in a thread until the test ends."""
    started = []

    def start(channel, server, kind, work, serve=False):
        stop = threading.Event()
        runner = Runner(channel, kind, work, name=kind, concurrency=2)
        outcome = {}

        def target():
            try:
                (runner.serve if serve else runner.run)(stop)
            except Exception as error:
                outcome["error"] = error

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        started.append((stop, thread))
        wait_for_runner(server, lambda info: kind in info.kinds)
        return stop, thread, outcome

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(TEST_TIMEOUT_S)


def read_all(stub, ticket):
    """Subscribe to ``ticket`` and return the JSON results with the error
    that ended the stream, or None."""
    results = []
    try:
        for reply in stub.Subscribe(conductor_pb2.SubscribeRequest(ticket=ticket)):
            results.extend(json_format.MessageToDict(r.payload.json) for r in reply.results)
    except grpc.RpcError as error:
        return results, error
    return results, None


def test_runner_counts_words(start_server, start_runner):
    server = start_server()
    start_runner(server.channel, server, "wordcount", count_words)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "wordcount", {"text": "to be or not to be"})
    results, error = read_all(stub, ticket)

    assert error is None
    assert results == [
        {"word": "be", "count": 2},
        {"word": "not", "count": 1},
        {"word": "or", "count": 1},
        {"word": "to", "count": 2},
    ]


def test_runner_fails_job_with_job_error(start_server, start_runner):
    server = start_server()
    start_runner(server.channel, server, "wordcount", count_words)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "wordcount", {"words": 3})
    results, error = read_all(stub, ticket)

    assert results == []
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input must be JSON" in error.details()


def test_runner_stops_revoked_job(start_server, start_runner):
    server = start_server()
    started = threading.Event()
    stopped = threading.Event()

    def wait_for_stop(job_input, push, stop):
        started.set()
        if stop.wait(TEST_TIMEOUT_S):
            stopped.set()

    start_runner(server.channel, server, "wait", wait_for_stop)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "wait", {})
    assert started.wait(TEST_TIMEOUT_S)
    stub.Cancel(conductor_pb2.CancelRequest(ticket=ticket), timeout=10)

    assert stopped.wait(TEST_TIMEOUT_S)
    _, error = read_all(stub, ticket)
    assert error.code() == grpc.StatusCode.CANCELLED


def test_runner_drain_finishes_running_job(start_server, start_runner):
    server = start_server()
    started = threading.Event()
    release = threading.Event()

    def gated(job_input, push, stop):
        started.set()
        release.wait(TEST_TIMEOUT_S)
        push(payload_pb2.Payload(text="done"))

    stop, thread, outcome = start_runner(server.channel, server, "gated", gated)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "gated", {})
    assert started.wait(TEST_TIMEOUT_S)
    stop.set()
    wait_for_runner(server, lambda info: info.draining)
    assert thread.is_alive()
    release.set()
    thread.join(TEST_TIMEOUT_S)

    assert not thread.is_alive()
    assert outcome == {}
    reply = next(iter(stub.Subscribe(conductor_pb2.SubscribeRequest(ticket=ticket))))
    assert reply.results[0].payload.text == "done"


def test_serve_reconnects_after_broken_stream(start_server, start_proxy, start_runner):
    server = start_server()
    proxy = start_proxy(server.addr)
    with grpc.insecure_channel(proxy.addr) as channel:
        stop, thread, outcome = start_runner(
            channel, server, "wordcount", count_words, serve=True
        )
        first = wait_for_runner(server, lambda info: "wordcount" in info.kinds)

        proxy.break_connections()
        wait_for_runner(server, lambda info: info.runner_id != first.runner_id)
        stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)
        ticket = caller.exec_job(stub, "wordcount", {"text": "again"})
        results, error = read_all(stub, ticket)
        stop.set()
        thread.join(TEST_TIMEOUT_S)

    assert error is None
    assert results == [{"word": "again", "count": 1}]
    assert not thread.is_alive()
    assert outcome == {}
