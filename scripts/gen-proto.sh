#!/usr/bin/env bash
# Regenerates the committed Swift code in Shared/SVXProto from proto/ with swift-protobuf's own
# generator, built from the package (never the SwiftProtobufPlugin build plugin: ~10 min a build).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product protoc-gen-swift >/dev/null
plugin="$(swift build --show-bin-path)/protoc-gen-swift"
out=Shared/SVXProto
find "$out" -name '*.pb.swift' -delete
mapfile -t protos < <(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  -I proto --swift_out="$out" "${protos[@]}"
echo "generated $(find "$out" -name '*.pb.swift' | wc -l) files in $out"
