#!/usr/bin/env bash
# The main job on the bundled example hypervisor, end to end:
#   build a hot patch for the XSA-125-shaped leak (xsplice-build), sign it
#   (xsplice-sign), show it (xsplice-inspect), and prove it in the simulated
#   hypervisor (runtime-sim verify): the probe leaks stack bytes before apply, behaves
#   exactly as the fully built patched hypervisor after apply, and leaks again after
#   revert. Outputs go to out/. Usage: ./demo.sh [PATCH]   (default: xsa125-fix;
#   others: xsa132-fix, new-helper — see examples/patches/)
set -euo pipefail
cd "$(dirname "$0")"
patch=${1:-xsa125-fix}

missing=()
for tool in cargo gcc make ld openssl cmake git; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "demo.sh: missing ${missing[*]}; on Debian: apt-get install gcc make binutils openssl cmake libclang1-14 libclang-common-14-dev git" >&2
    exit 1
fi

echo "== building the tools"
cargo build --release -q -p xsplice-build -p xsplice-sign -p xsplice-inspect -p runtime-sim
# Where cargo put them (honours CARGO_TARGET_DIR and .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin=${target_dir:-target}/release

echo "== building the example hypervisor and the patched source trees"
make -s -C examples >/dev/null
make -s -C examples patched >/dev/null
hv=examples/hypervisor/hv-syms
tree=examples/build/$patch
# The fully built patched hypervisor: the behaviour the payload must reproduce.
make -s -C "$tree" >/dev/null

mkdir -p out
if [ ! -f out/demo-signing.key ]; then
    echo "== making a throw-away signing key (out/demo-signing.{key,pem})"
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 \
        -subj "/O=xsplice demo/CN=xsplice demo signing key" \
        -addext subjectKeyIdentifier=hash \
        -keyout out/demo-signing.key -out out/demo-signing.pem 2>/dev/null
fi

echo "== xsplice-build: $patch"
$bin/xsplice-build --orig examples/hypervisor --patched "$tree" --target "$hv" \
    -o "out/$patch.xsplice" --report "out/$patch.json"

echo "== xsplice-sign"
$bin/xsplice-sign --key out/demo-signing.key --cert out/demo-signing.pem "out/$patch.xsplice"

echo "== xsplice-inspect (first 40 lines; all of it in out/$patch.txt)"
$bin/xsplice-inspect --cert out/demo-signing.pem "out/$patch.xsplice" >"out/$patch.txt"
head -n 40 "out/$patch.txt"

case $patch in
    xsa132-fix) probe='probe_domctl_leak()' ;;
    *) probe='probe_version_leak()' ;;
esac
echo "== runtime-sim verify: $probe"
$bin/runtime-sim verify --hypervisor "$hv" --trust out/demo-signing.pem \
    "out/$patch.xsplice" --probe "$probe" --expect-from "$tree/hv-syms"
