# Sourced by the quick-start scripts: installs the Debian/Ubuntu packages that are missing.
# shellcheck shell=bash

# Packages a build and the test suite need: WebKitGTK (pulls GTK, soup, pkg-config deps),
# Xvfb for the real-window tests, xdotool (typing) and python3-xlib (closing) to act like a person,
# tinyproxy-bin (a real authenticating proxy for tests/it/proxy.rs; the executable alone, not
# the `tinyproxy` package, which also starts a system service on port 8888).
# MIT Kerberos (a KDC, kadmin.local, kinit) for tests/it/kerberos.rs; a window manager and X
# tools (openbox, wmctrl, xprop) for tests/it/placement.rs.
FINESSE_SSO_PACKAGES=(pkg-config libwebkit2gtk-4.1-dev xvfb xauth xdotool python3-xlib tinyproxy-bin
    krb5-kdc krb5-admin-server krb5-user
    openbox wmctrl x11-utils)
# Client certificates and smart cards (tests/it/client_cert.rs): a SoftHSM2 token registered with
# p11-kit, pkcs11-tool to write its certificate, GnuTLS's certtool for the PKCS#12 file.
FINESSE_SSO_PACKAGES+=(softhsm2 p11-kit opensc gnutls-bin)

# Node.js for the tests that run the Node.js client (they fail without it): Debian's, unless a
# `node` is already on PATH.
ensure_node() {
    command -v node >/dev/null 2>&1 || ensure_packages nodejs
}

ensure_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install Rust 1.89 or newer (https://rustup.rs), then re-run" >&2
        exit 2
    fi
}

# Installs a pinned cargo tool from crates.io when it is missing, with the tool's own release
# profile. (Measured: a shared target dir and one uniform profile for all tools saved nothing; the
# tools share too few identical dependency builds.)
ensure_cargo_tool() {
    local bin=$1 crate=$2 version=$3
    command -v "$bin" >/dev/null 2>&1 && return 0
    echo "== cargo install $crate $version" >&2
    local start=$SECONDS
    cargo install --locked --quiet "$crate" --version "$version"
    echo "== $crate $version installed in $((SECONDS - start)) s" >&2
}
