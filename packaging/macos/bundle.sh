#!/usr/bin/env bash
# Lays out finesse-sso.app from binaries built for macOS:
#   packaging/macos/bundle.sh BIN_DIR OUT_DIR VERSION
#   e.g. cargo build --release --target aarch64-apple-darwin --bins &&
#        packaging/macos/bundle.sh target/aarch64-apple-darwin/release dist 0.1.0
# BIN_DIR holds finesse-sso and finesse-sso-webview (for a universal app, `lipo -create` both
# architectures into one BIN_DIR first). Result:
#   OUT_DIR/finesse-sso.app/Contents/{Info.plist,PkgInfo}
#   OUT_DIR/finesse-sso.app/Contents/MacOS/{finesse-sso,finesse-sso-webview}   (side by side: the
#       window program is found beside finesse-sso)
#   OUT_DIR/finesse-sso.app/Contents/Resources/{LICENSE-MIT,LICENSE-APACHE,io.github.finesse-sso.agent.plist}
# With CODESIGN_IDENTITY set (on macOS), the app is signed with the hardened runtime; notarising is
# left to the integrator (xcrun notarytool). Without it, nothing is signed.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 BIN_DIR OUT_DIR VERSION" >&2
    exit 2
fi
bin_dir=$1 out_dir=$2 version=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bundle: VERSION must be x.y.z, got '$version'" >&2; exit 2; }
for b in finesse-sso finesse-sso-webview; do
    [ -x "$bin_dir/$b" ] || { echo "bundle: $bin_dir/$b is missing or not executable" >&2; exit 1; }
done

app=$out_dir/finesse-sso.app
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
sed "s|<string>0\.0\.0</string>|<string>$version</string>|" "$here/Info.plist" >"$app/Contents/Info.plist"
grep -q "<string>$version</string>" "$app/Contents/Info.plist" || { echo "bundle: version not set in Info.plist" >&2; exit 1; }
printf 'APPL????' >"$app/Contents/PkgInfo"
install -m 755 "$bin_dir/finesse-sso" "$bin_dir/finesse-sso-webview" "$app/Contents/MacOS/"
install -m 644 "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$here/io.github.finesse-sso.agent.plist" \
    "$app/Contents/Resources/"

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    # Inner executables first, then the bundle (which seals Info.plist and Resources).
    codesign --force --timestamp --options runtime --sign "$CODESIGN_IDENTITY" \
        "$app/Contents/MacOS/finesse-sso-webview" "$app/Contents/MacOS/finesse-sso"
    codesign --force --timestamp --options runtime --sign "$CODESIGN_IDENTITY" "$app"
    codesign --verify --strict --deep "$app"
fi
echo "$app"
