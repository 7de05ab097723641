#!/usr/bin/env bash
# The before/after pictures of docs/transformations.md (`make docs-images`):
# one fixture photo through `kiln process`, once per example, into docs/images/.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-target/debug/kiln}
PHOTO=tests/fixtures/libwebp/bythewater-800.jpg
OUT=docs/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$PHOTO" "$work/photo.jpg"
mkdir -p "$OUT"
while read -r name ops; do
  [ -n "$name" ] || continue
  "$KILN" process "$work/photo.jpg" --ops "$ops" --out "$work/$name" > /dev/null
  mv "$work/$name"/photo.* "$OUT/$name.${ops##*format=}"
done <<'LIST'
original    w=320&format=webp
w-h-cover   w=320&h=320&fit=cover&format=webp
contain     w=320&h=320&fit=contain&bg=1a2a6c&format=webp
fill        w=320&h=160&fit=fill&format=webp
gravity     w=160&h=320&fit=cover&g=east&format=webp
focal       w=160&h=320&fit=cover&fp=0.2,0.5&format=webp
attention   w=160&h=320&fit=cover&g=attention&format=webp
crop        crop=200,150,400,250&w=320&format=webp
rotate      w=200&r=90&format=webp
flip        w=320&f=h&format=webp
blur        w=320&blur=4&format=webp
sharpen     w=320&sharpen=2&format=webp
pad         w=280&pad=20&bg=c2410c&format=webp
grayscale   w=320&filter=grayscale&format=webp
sepia       w=320&filter=sepia&format=webp
bw          w=320&filter=bw&format=webp
quality-10  w=320&q=10&format=jpeg
dpr-2       w=160&dpr=2&format=webp
LIST
ls "$OUT"
