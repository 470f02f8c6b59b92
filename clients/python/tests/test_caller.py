import hashlib
import json

import grpc
import pytest
from google.protobuf import json_format

from conductor.v1 import conductor_pb2_grpc
from conductor_examples import caller


def write_files(root, count):
    """Fill ``root`` with ``count`` small files and return the digest
    results the server must produce for them, in order."""
    expected = []
    for i in range(count):
        content = b"x" * i
        name = f"f{i:03d}.txt"
        (root / name).write_bytes(content)
        expected.append(
            {"path": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        )
    return expected


class Collector:
    """Gathers digest results."""

    def __init__(self):
        self.sequences = []
        self.files = []

    def __call__(self, result):
        self.sequences.append(result.sequence)
        value = json_format.MessageToDict(result.payload.json)
        value["size"] = int(value["size"])
        self.files.append(value)


def test_follow_receives_every_result(start_server, tmp_path):
    expected = write_files(tmp_path, 20)
    server = start_server(digest_root=tmp_path)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "digest", {"path": "."})
    got = Collector()
    caller.follow(stub, ticket, got)

    assert got.sequences == list(range(1, 21))
    assert got.files == expected


def test_follow_resumes_after_broken_stream(start_server, start_proxy, tmp_path):
    # Subscribe packs at most 256 results, about 30 kB here, into one
    # message, so a connection that breaks after 40 kB has carried at least
    # one whole message, and 700 results need at least two connections.
    expected = write_files(tmp_path, 700)
    server = start_server(digest_root=tmp_path)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)
    ticket = caller.exec_job(stub, "digest", {"path": "."})
    proxy = start_proxy(server.addr, break_after_bytes=40_000)

    got = Collector()
    with grpc.insecure_channel(proxy.addr) as channel:
        caller.follow(conductor_pb2_grpc.ConductorServiceStub(channel), ticket, got)

    assert got.sequences == list(range(1, 701))
    assert got.files == expected
    assert proxy.accepted >= 2


def test_follow_raises_not_found_for_unknown_ticket(start_server):
    server = start_server()
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    with pytest.raises(grpc.RpcError) as raised:
        caller.follow(stub, 12345, Collector())
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_follow_raises_job_error(start_server):
    server = start_server()
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "digest", {"path": "missing"})
    with pytest.raises(grpc.RpcError) as raised:
        caller.follow(stub, ticket, Collector())
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "does not exist" in raised.value.details()


def test_pull_all_ends_at_out_of_range(start_server, tmp_path):
    expected = write_files(tmp_path, 12)
    server = start_server(digest_root=tmp_path, max_data=4)
    stub = conductor_pb2_grpc.ConductorServiceStub(server.channel)

    ticket = caller.exec_job(stub, "digest", {"path": "."})
    got = Collector()
    caller.pull_all(stub, ticket, got)

    assert got.sequences == list(range(1, 13))
    assert got.files == expected


def test_main_prints_one_line_per_result(start_server, tmp_path, capsys):
    expected = write_files(tmp_path, 3)
    server = start_server(digest_root=tmp_path)

    code = caller.main(["--addr", server.addr, "--kind", "digest", "--input", '{"path": "."}'])

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["payload"]["json"]["sha256"] for line in lines] == [
        file["sha256"] for file in expected
    ]


def test_main_detach_prints_ticket_to_follow(start_server, tmp_path, capsys):
    expected = write_files(tmp_path, 2)
    server = start_server(digest_root=tmp_path)

    assert caller.main(["--addr", server.addr, "--input", "{}", "--detach"]) == 0
    ticket = capsys.readouterr().out.strip()
    assert ticket.isdigit()
    assert caller.main(["--addr", server.addr, "--ticket", ticket]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(expected)


def test_main_reports_rpc_error(start_server, capsys):
    server = start_server()

    code = caller.main(["--addr", server.addr, "--ticket", "12345"])

    assert code == 1
    assert "NOT_FOUND" in capsys.readouterr().err
