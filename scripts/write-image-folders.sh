#!/usr/bin/env bash
# Writes MNIST and Fashion-MNIST as image folders (one subdirectory per
# class), the real data for trying and measuring the own-images path:
#
#   DEST/mnist-png/{train,test}/<digit>/<index>.png       grayscale PNG
#   DEST/mnist-jpeg-rgb/{train,test}/<digit>/<index>.jpg  RGB JPEG (q 95)
#   DEST/fashion-png/{train,test}/<class>/<index>.png     grayscale PNG
#
#   scripts/write-image-folders.sh [DEST]   (default: <repo>/data/images)
#
# MNIST comes from scripts/fetch-mnist.sh; Fashion-MNIST from Debian's
# dataset-fashion-mnist package (installed here when missing and root).
# Uses build/cnnc-idx-to-images (built when missing). A folder that already
# exists is left as it is.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo/data/images}
build=${CNNC_BUILD_DIR:-$repo/build}
tool=$build/cnnc-idx-to-images
fashion=/usr/share/datasets/fashion-mnist/

if [[ ! -x $tool ]]; then
  [[ -f $build/build.ninja ]] || "$repo/scripts/build.sh" >/dev/null
  ninja -C "$build" cnnc-idx-to-images >/dev/null
fi
"$repo/scripts/fetch-mnist.sh" >/dev/null
if [[ ! -f $fashion/train-images-idx3-ubyte.gz && $(id -u) == 0 ]]; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null
fi

write() { # NAME PREFIX [flags...]
  local name=$1 prefix=$2
  shift 2
  if [[ -d $dest/$name ]]; then
    echo "$dest/$name exists; left as it is"
    return
  fi
  local tmp=$dest/.$name.tmp
  rm -rf "$tmp"
  "$tool" "$prefix" train "$tmp/train" "$@"
  "$tool" "$prefix" t10k "$tmp/test" "$@"
  mv "$tmp" "$dest/$name"
}

mkdir -p "$dest"
write mnist-png "$repo/data/mnist/"
write mnist-jpeg-rgb "$repo/data/mnist/" --format jpeg --rgb
if [[ -f $fashion/train-images-idx3-ubyte.gz ]]; then
  # Fashion-MNIST's class names, in label order.
  write fashion-png "$fashion" --class-names \
    T-shirt_top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle_boot
else
  echo "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); skipped"
fi
