# Versions of the tools that generate and test the Go and Python clients,
# sourced by the other scripts/ci-*.sh. The Python packages are pinned in
# clients/python/requirements.txt.
GRPCURL_VERSION=v1.9.3
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

# go_bin prints the folder `go install` writes to.
go_bin() {
  local gobin
  gobin="$(go env GOBIN)"
  echo "${gobin:-$(go env GOPATH)/bin}"
}
