#!/usr/bin/env bash
# Builds out/gpu-bench/easel-gpu-bench.tar.xz (at most 60 MiB): this Node binary, easel's pipeline
# and bench/gpu/bench.ts in one ES module, onnxruntime-node's linux-x64 binaries (with the WebGPU
# provider), sharp's, the assets the fixtures and the tokenizer read, and run.sh. Unpack it on a
# Linux x86-64 machine with a GPU and run ./easel-gpu-bench/run.sh (see README "AMD and Intel GPUs").
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "build the bundle on Linux x86-64" >&2; exit 1; }
out=out/gpu-bench
bundle=$out/easel-gpu-bench
rm -rf "$bundle" "$out/easel-gpu-bench.tar.xz"
mkdir -p "$bundle/node_modules/@img"
# esbuild comes with tsx (a dev dependency); native packages stay outside the bundle.
npx --no-install esbuild bench/gpu/bench.ts --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --external:sharp --log-level=warning \
  --banner:js="import { createRequire as easelRequire } from 'node:module'; const require = easelRequire(import.meta.url);" \
  --outfile="$bundle/bench.mjs"
# A package.json named easel: the assets are found beside it, as in the repository.
printf '{ "name": "easel", "private": true, "type": "module" }\n' >"$bundle/package.json"
cp -r assets "$bundle/assets"
cp "$(command -v node)" "$bundle/node"
ort=node_modules/onnxruntime-node
mkdir -p "$bundle/$ort/bin/napi-v6/linux"
cp -r "$ort/package.json" "$ort/dist" "$bundle/$ort/"
cp -r "$ort/bin/napi-v6/linux/x64" "$bundle/$ort/bin/napi-v6/linux/x64"
# Only the WebGPU/CPU build: the CUDA provider libraries (when installed) are not needed here.
rm -f "$bundle/$ort/bin/napi-v6/linux/x64/"libonnxruntime_providers_{cuda,tensorrt}.so
for package in onnxruntime-common sharp detect-libc semver @img/colour @img/sharp-linux-x64 @img/sharp-libvips-linux-x64; do
  cp -r "node_modules/$package" "$bundle/node_modules/$package"
done
install -m 755 bench/gpu/run.sh "$bundle/run.sh"
tar -C "$out" -cf - easel-gpu-bench | xz -T0 -6 >"$out/easel-gpu-bench.tar.xz"
bytes=$(stat -c %s "$out/easel-gpu-bench.tar.xz")
echo "$out/easel-gpu-bench.tar.xz: $((bytes / 1024 / 1024)) MiB"
if [ "$bytes" -gt $((60 * 1024 * 1024)) ]; then
  echo "the bundle is over 60 MiB" >&2
  exit 1
fi
