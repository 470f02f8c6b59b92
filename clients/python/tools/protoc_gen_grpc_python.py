"""Protoc plugin that writes gRPC Python stubs with grpcio-tools.

grpcio-tools ships the gRPC Python generator only inside its bundled protoc
(``python -m grpc_tools.protoc --grpc_python_out``), not as a
``protoc-gen-*`` program, so buf cannot call it directly. This plugin reads
buf's CodeGeneratorRequest, runs the bundled protoc on the request's
descriptors and returns the files it wrote. It needs no network.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Run grpc_tools.protoc on the request's files and collect its output."""
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as work:
        descriptors = Path(work, "descriptors.binpb")
        descriptors.write_bytes(
            descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString()
        )
        out = Path(work, "out")
        out.mkdir()
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptors}",
            f"--grpc_python_out={out}",
        ]
        if request.parameter:
            command.append(f"--grpc_python_opt={request.parameter}")
        command.extend(request.file_to_generate)
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            response.error = f"grpc_tools.protoc failed: {completed.stderr.strip()}"
            return response
        for path in sorted(out.rglob("*")):
            if path.is_file():
                response.file.add(
                    name=path.relative_to(out).as_posix(), content=path.read_text()
                )
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
