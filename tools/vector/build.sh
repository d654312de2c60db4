#!/usr/bin/env bash
# Builds Vector 0.58 from ../shared/vector with our `sigma` transform compiled in
# (issue 18), and prints the path of the built `vector` binary as the last line of
# standard output. Everything else (cargo's progress) goes to standard error.
#
#   tools/vector/build.sh            # build (incremental after the first time)
#   tools/vector/build.sh test       # run Vector's tests of the module (transforms::sigma:
#                                    # generate_config, assert_transform_compliance)
#   VECTOR_BUILD_DIR=/path tools/vector/build.sh
#
# The build directory (default /var/tmp/sigma-transform-vector) lies outside the clone
# and persists between runs on a machine, so later builds are incremental: a clean build
# is about 22 minutes on 2 cores, a change to the transform module about 8. It holds:
#   src/, deps/       Vector's source, unpacked once per tarball (a stamp holds its hash)
#   sigma-transform/  a copy of our crate at a fixed path (library only: Cargo.toml's
#                     [package], [lib] and [dependencies]); rsync --checksum without -t
#                     leaves unchanged files untouched (a fresh clone's new file times do
#                     not reach the copy), so an unchanged crate is not rebuilt
#   target/           cargo's target directory (CARGO_TARGET_DIR overrides it)
# Vector's tree gets three edits, each made once: src/transforms/sigma.rs (a copy of
# plugin/adapter/vector/sigma.rs), its `mod` line in src/transforms/mod.rs, and in
# Cargo.toml the optional dependency on our crate and the `transforms-sigma` feature.
# Needs protobuf-compiler, cmake, pkg-config, libssl-dev and rsync (Debian packages).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="${SIGMA_SHARED:-$root/../shared}"
build="${VECTOR_BUILD_DIR:-/var/tmp/sigma-transform-vector}"
tarball="$shared/vector/vector-0.58.0-src.tar.gz"
[ -f "$tarball" ] || { echo "build.sh: $tarball is missing (../shared/vector)" >&2; exit 2; }
mkdir -p "$build"

# 1. Vector's source, unpacked once per tarball.
sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$(cat "$build/.unpacked" 2>/dev/null || true)" != "$sum" ]; then
    echo "build.sh: unpacking Vector's source into $build" >&2
    rm -rf "$build/src" "$build/deps"
    tar -xzf "$tarball" -C "$build"
    echo "$sum" > "$build/.unpacked"
fi

# 2. Our crate at a fixed path.
crate="$build/sigma-transform"
mkdir -p "$crate"
rsync -r -l --checksum --delete "$root/plugin/" "$crate/plugin/"
rsync -r -l --checksum --delete "$root/rules/" "$crate/rules/"
python3 - "$root/Cargo.toml" "$crate/Cargo.toml" <<'PY'
import sys, re
text = open(sys.argv[1]).read()
keep, out = False, []
for line in text.splitlines():
    m = re.match(r'^\[(\[)?([^\]]+)\]', line)
    if m:
        keep = m.group(1) is None and m.group(2) in ("package", "lib", "dependencies")
    if keep:
        out.append(line)
new = "\n".join(out) + "\n"
try:
    old = open(sys.argv[2]).read()
except FileNotFoundError:
    old = None
if old != new:
    open(sys.argv[2], "w").write(new)
PY

# 3. The module and the lines that declare it.
src="$build/src"
if ! cmp -s "$root/plugin/adapter/vector/sigma.rs" "$src/src/transforms/sigma.rs"; then
    cp "$root/plugin/adapter/vector/sigma.rs" "$src/src/transforms/sigma.rs"
fi
if ! grep -q 'feature = "transforms-sigma"' "$src/src/transforms/mod.rs"; then
    sed -i '0,/^#\[cfg(feature = "transforms-filter")\]/s//#[cfg(feature = "transforms-sigma")]\npub mod sigma;\n#[cfg(feature = "transforms-filter")]/' "$src/src/transforms/mod.rs"
fi
if ! grep -q '^transforms-sigma' "$src/Cargo.toml"; then
    sed -i 's/^transforms-filter = \[\]$/transforms-filter = []\ntransforms-sigma = ["dep:sigma-transform"]/' "$src/Cargo.toml"
    sed -i '0,/^\[dependencies\]$/s//[dependencies]\nsigma-transform = { path = "..\/sigma-transform", optional = true }/' "$src/Cargo.toml"
fi

# 4. Build: the components a Windows-events pipeline needs, and ours.
features="sources-file,sources-stdin,sources-http_server,sources-socket,sources-fluent,sources-demo_logs"
features="$features,transforms-remap,transforms-filter,transforms-route,transforms-sigma"
features="$features,sinks-console,sinks-file,sinks-http,sinks-socket,sinks-blackhole"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$build/target}"
export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-1.95.0}"
export OPENSSL_NO_VENDOR=1
export RUSTFLAGS="-C link-args=-rdynamic"
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cd "$src"
if [ "${1:-build}" = test ]; then
    cargo test --release --no-default-features --features "$features" --lib -- transforms::sigma >&2
    exit 0
fi
cargo build --release --no-default-features --features "$features" --bin vector >&2
echo "$CARGO_TARGET_DIR/release/vector"
