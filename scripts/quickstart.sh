#!/usr/bin/env bash
# Installs what is missing, builds, fetches MNIST and trains the Keras
# tutorial CNN: cnnc models/mnist.dsl --train. Extra arguments go to cnnc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/scripts/fetch-mnist.sh"
cd "$root"
exec ./build/cnnc models/mnist.dsl --train "$@"
