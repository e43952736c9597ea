# Sourced by the Wine scripts (.ci/wine-test, .ci/wine-e2e, .ci/wine-msi): Debian's Wine 8.0, a
# fresh throw-away prefix per use, and the test-only ProcessPrng shim (.ci/wine/, never shipped).
#   . .ci/wine-env.sh; wine_setup; wine_prefix "$dir"; wine "$exe" --version; wine_prefix_remove "$dir"
# shellcheck shell=bash

# `wine` is the launcher (/usr/bin/wine, msiexec, wineboot, wineserver); `wine64` the 64-bit loader
# it runs when wine32 (i386 multiarch) is absent, pulling libwine. With --no-install-recommends
# nothing else is needed for console programs and msiexec (measured on Debian 12: wine 8.0~repack-4).
# The mingw compiler builds the shim.
WINE_PACKAGES=(wine wine64 gcc-mingw-w64-x86-64)

# No debug chatter (and no "wine32 is missing" hint); no Mono/Gecko download prompts in a prefix.
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

wine_fail() { echo "wine: FAIL: $*" >&2; exit 1; }

# Installs what is missing and builds the shim once (into $CARGO_TARGET_DIR/wine/).
wine_setup() {
    ensure_packages "${WINE_PACKAGES[@]}"
    command -v wine >/dev/null || wine_fail "no wine on PATH after installing ${WINE_PACKAGES[*]}"
    local target_dir
    target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
    WINE_SHIM=$target_dir/wine/bcryptprimitives.dll
    local src
    src=$(dirname "${BASH_SOURCE[0]}")/wine/bcryptprimitives.c
    if [ ! -f "$WINE_SHIM" ] || [ "$src" -nt "$WINE_SHIM" ]; then
        mkdir -p "$(dirname "$WINE_SHIM")"
        x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Wextra -Werror -o "$WINE_SHIM" "$src" -ladvapi32
    fi
    export WINE_SHIM
}

# A fresh 64-bit prefix in $1 (which must not exist yet), booted and settled, with the shim where
# Wine lacks ProcessPrng. Exports WINEPREFIX.
wine_prefix() {
    export WINEPREFIX=$1
    [ ! -e "$WINEPREFIX" ] || wine_fail "prefix $WINEPREFIX exists; a fresh one is wanted"
    mkdir -p "$(dirname "$WINEPREFIX")"
    WINEARCH=win64 wine wineboot -i >/dev/null 2>&1 || wine_fail "wineboot -i in $WINEPREFIX"
    # wineboot returns before the prefix is written; wineserver -w waits for it to settle.
    wineserver -w
    local sys32=$WINEPREFIX/drive_c/windows/system32
    [ -f "$sys32/kernel32.dll" ] || wine_fail "no system32 in $WINEPREFIX after wineboot"
    # Rust's std imports ProcessPrng from bcryptprimitives.dll; Wine 8.0 has neither the DLL nor
    # the export (a newer Wine's own DLL is kept: checked, not assumed).
    if [ -f "$sys32/bcryptprimitives.dll" ] &&
        x86_64-w64-mingw32-objdump -p "$sys32/bcryptprimitives.dll" | grep -qw ProcessPrng; then
        echo "wine: this Wine has ProcessPrng; no shim" >&2
    else
        cp "$WINE_SHIM" "$sys32/bcryptprimitives.dll"
    fi
}

# Ends the prefix's wineserver (and every process in it), then deletes the prefix.
wine_prefix_remove() {
    local p=${1:-$WINEPREFIX}
    [ -n "$p" ] && [ -d "$p" ] || return 0
    WINEPREFIX=$p wineserver -k 2>/dev/null || true
    WINEPREFIX=$p wineserver -w 2>/dev/null || true
    rm -rf "$p"
}
