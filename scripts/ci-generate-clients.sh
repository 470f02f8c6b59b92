#!/usr/bin/env bash
# Generates the Go and Python stubs under clients/ from proto/ with
# buf.gen.clients.yaml, using the plugins that scripts/ci-install-tools.sh
# installs. With --check it then fails when the committed stubs differ from
# the generated ones.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci-tool-versions.sh

export PATH="$PWD/clients/python/.venv/bin:$(go_bin):$PATH"

# require_version TOOL VERSION fails unless `TOOL --version` names VERSION.
require_version() {
  local found
  found="$("$1" --version 2>/dev/null || true)"
  if [[ "$found" != *"${2#v}" ]]; then
    echo "$1 ${2} is required, found '${found:-nothing}': run scripts/ci-install-tools.sh" >&2
    exit 1
  fi
}
require_version protoc-gen-go "$PROTOC_GEN_GO_VERSION"
require_version protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
if ! python3 -c 'import grpc_tools' 2>/dev/null; then
  echo "grpcio-tools is missing from clients/python/.venv: run scripts/ci-install-tools.sh" >&2
  exit 1
fi

npx buf generate --template buf.gen.clients.yaml

if [[ "${1:-}" == "--check" ]]; then
  stale="$(git status --porcelain -- clients/go/gen clients/python/gen)"
  if [[ -n "$stale" ]]; then
    echo "the committed client stubs differ from proto/:" >&2
    echo "$stale" >&2
    echo "run scripts/ci-generate-clients.sh and commit the result" >&2
    exit 1
  fi
fi
