#!/usr/bin/env bash
# Regenerates everything in gen/ from proto/ (never edit gen/ by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
buf lint
buf generate
# The descriptor set served by gRPC server reflection (grpcurl list/describe).
buf build -o gen/descriptors.binpb
