#!/usr/bin/env bash
# Lints the protos and checks that they stay compatible, on the wire and in
# generated code (buf's FILE rules), with the first conductor.v1 API and
# with the previous commit.
set -euo pipefail
cd "$(dirname "$0")/.."

# The commit that introduced conductor.v1. A v1 package may grow but must
# not break its clients. A breaking change needs a v2 package, not a new
# baseline.
API_BASELINE=80940f71e8efb2e9db5e9dd1b059af9b957624df

if ! git cat-file -e "$API_BASELINE^{commit}" 2>/dev/null; then
  echo "commit $API_BASELINE is missing: buf breaking needs the full history (git fetch --unshallow)" >&2
  exit 1
fi

npx buf lint
npx buf breaking --against ".git#ref=$API_BASELINE"
if git rev-parse --quiet --verify HEAD~1 >/dev/null; then
  npx buf breaking --against ".git#ref=HEAD~1"
fi
echo "buf lint and buf breaking passed"
