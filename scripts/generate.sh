#!/usr/bin/env bash
# Regenerates, from proto/ (never edit generated code by hand):
# - gen/, the server's code (buf.gen.yaml);
# - clients/{ts,go,python}/gen/, the clients' code (buf.gen.clients.yaml),
#   with the pinned Go plugins and Python tools installed first (.tools/).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
tsx scripts/install-client-tools.ts
buf lint
buf generate
buf generate --template buf.gen.clients.yaml
# The descriptor set served by gRPC server reflection (grpcurl list/describe).
buf build -o gen/descriptors.binpb
