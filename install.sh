#!/bin/sh
# Installs the five tools with their man pages and shell completions:
#   ./install.sh [PREFIX]        (default: $HOME/.local)
# Binaries go to PREFIX/bin, man pages to PREFIX/share/man/man1, completions to
# PREFIX/share/{bash-completion/completions,zsh/site-functions,fish/vendor_completions.d}.
# Each tool writes its own with the hidden `--generate bash|zsh|fish|man`.
set -eu
cd "$(dirname "$0")"
PREFIX=${1:-${PREFIX:-$HOME/.local}}
TARGET=${CARGO_TARGET_DIR:-target}
TOOLS="xsplice-build xsplice-sign xsplice-inspect runtime-sim xen-xsplice"

cargo build --release --locked -p xsplice-build -p xsplice-sign -p xsplice-inspect -p runtime-sim -p xen-xsplice
mkdir -p "$PREFIX/bin" "$PREFIX/share/man/man1" \
    "$PREFIX/share/bash-completion/completions" \
    "$PREFIX/share/zsh/site-functions" \
    "$PREFIX/share/fish/vendor_completions.d"
for t in $TOOLS; do
    install -m 0755 "$TARGET/release/$t" "$PREFIX/bin/$t"
    "$PREFIX/bin/$t" --generate man >"$PREFIX/share/man/man1/$t.1"
    "$PREFIX/bin/$t" --generate bash >"$PREFIX/share/bash-completion/completions/$t"
    "$PREFIX/bin/$t" --generate zsh >"$PREFIX/share/zsh/site-functions/_$t"
    "$PREFIX/bin/$t" --generate fish >"$PREFIX/share/fish/vendor_completions.d/$t.fish"
done
echo "installed $TOOLS under $PREFIX (man pages: man -M $PREFIX/share/man xsplice-build)"
