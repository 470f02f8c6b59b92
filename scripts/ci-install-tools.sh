#!/usr/bin/env bash
# Installs the pinned tools that the Go and Python clients and the grpcurl
# tests need: grpcurl and the Go protoc plugins with `go install`, and a
# Python virtual environment in clients/python/.venv with the packages of
# clients/python/requirements.txt. Tools already at the pinned version are
# kept. It needs go and python3, and uses apt-get only when python3 lacks
# the venv module.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci-tool-versions.sh

bin="$(go_bin)"

# install_go_tool PACKAGE VERSION installs PACKAGE@VERSION unless the binary
# there already comes from that version.
install_go_tool() {
  local binary="$bin/${1##*/}"
  if [[ -x "$binary" ]] &&
    [[ "$(go version -m "$binary" | awk '$1 == "mod" { print $3 }')" == "$2" ]]; then
    return
  fi
  echo "installing $1@$2"
  go install "$1@$2"
}

install_go_tool github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
install_go_tool google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install_go_tool google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

venv=clients/python/.venv
if [[ ! -x "$venv/bin/python" ]]; then
  if ! python3 -m venv "$venv"; then
    # Debian's python3 ships venv as a separate package.
    rm -rf "$venv"
    apt-get update
    apt-get install -y python3-venv
    python3 -m venv "$venv"
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r clients/python/requirements.txt
