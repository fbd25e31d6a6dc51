#!/usr/bin/env bash
# The whole raconn test suite, from a fresh machine: installs what it needs
# (Debian packages, the thumbv7em target, rust-src, Python cryptography,
# cargo-fuzz), then runs formatting, lints, unit/property/interop tests, the
# no-alloc build-std proof, the QEMU firmware run and short fuzz runs.
#
#   FUZZ_SECONDS=30   seconds per fuzz target (0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
JOBS="${JOBS:-2}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
SHARED="$(cd .. && pwd)/shared"   # the kit: docs, XSDs and their validate script

step() { printf '\n=== %s ===\n' "$*"; }

step "install prerequisites"
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
command -v xmllint >/dev/null || need_apt+=(libxml2-utils)
command -v size >/dev/null || need_apt+=(binutils)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
[ -f /usr/lib/softhsm/libsofthsm2.so ] || need_apt+=(softhsm2)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt+=(gcc-mingw-w64-x86-64)
command -v tinyproxy >/dev/null || need_apt+=(tinyproxy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf
rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
openssl version

step "cargo fmt --check"
cargo fmt --all --check
(cd host-embedded/firmware && cargo fmt --check)
(cd fuzz && cargo fmt --check)

step "cargo clippy -D warnings"
cargo clippy -j"$JOBS" --workspace --all-targets -- -D warnings

step "Windows store: raconn-host lib + bin for x86_64-pc-windows-gnu (compile check with clippy; cannot run here)"
cargo clippy -j"$JOBS" -p raconn-host --lib --bins --target x86_64-pc-windows-gnu -- -D warnings
echo "x86_64-pc-windows-gnu: raconn-host (LocalMachine\\My + CNG store) compiles"

step "no_std, no alloc: raconn-core and raconn-embedded with -Zbuild-std=core for thumbv7em-none-eabihf"
# Only `core` exists in this build: any crate that links `alloc` fails (E0463/E0152).
RUSTC_BOOTSTRAP=1 cargo build -j"$JOBS" --release --target thumbv7em-none-eabihf -Zbuild-std=core \
  -p raconn-core -p raconn-embedded --features raconn-core/p256,raconn-embedded/defmt
echo "build-std=core: raconn-core and raconn-embedded link with core only"

step "the firmware's feature set: raconn-core without \`texts\` (codes and details only), raconn-embedded without \`p384\` (RC-EMB-026)"
TEXTS_OUT=$(cargo test -j"$JOBS" -q -p raconn-core --no-default-features --features p256 --lib texts_feature -- --nocapture)
echo "$TEXTS_OUT"
grep -q "texts: false" <<<"$TEXTS_OUT"
P384_OUT=$(cargo test -j"$JOBS" -q -p raconn-embedded --no-default-features --features soft-hsm --test verifier_openssl p384 -- --nocapture 2>&1)
echo "$P384_OUT"
grep -q "p384 feature: false" <<<"$P384_OUT"

step "firmware: build (whole adapter, no global allocator, build-std=core) and run under QEMU mps2-an386"
# First the max-fragment-4096 build (TLS read buffer 4 352 B), kept aside for
# the QEMU run against a simulator sending records of at most 4 KiB; then the
# main build (only the firmware crate and the link are redone).
(cd host-embedded/firmware && RUSTC_BOOTSTRAP=1 cargo build -j"$JOBS" --release --features max-fragment-4096)
MFL_ELF=$(mktemp)
cp host-embedded/firmware/target/thumbv7em-none-eabihf/release/raconn-firmware "$MFL_ELF"
(cd host-embedded/firmware && RUSTC_BOOTSTRAP=1 cargo build -j"$JOBS" --release)
ELF=$PWD/host-embedded/firmware/target/thumbv7em-none-eabihf/release/raconn-firmware
size "$ELF"
python3 scripts/fw-size.py "$ELF"
FW_DIR=$(mktemp -d)
(cd "$FW_DIR" && timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -kernel "$ELF" > csr.pem 2> log.txt) || { cat "$FW_DIR/log.txt"; exit 1; }
cat "$FW_DIR/log.txt"
openssl req -in "$FW_DIR/csr.pem" -verify -noout -subject
# Each check below is a gate: a failure stops the run (no `a && echo`, whose
# left-hand failure `set -e` ignores).
cmp "$FW_DIR/csr.pem" tests/data/firmware-p256.csr.pem
echo "firmware CSR equals the golden vector"
# The offline half: the enrollment request built from the flash image with the HSM key.
"$SHARED/schemas/pkiws/validate" "$FW_DIR/enroll-request.xml"
if ! grep -q "online: RC-EMB-011" "$FW_DIR/log.txt"; then
  echo "the firmware did not run the online path up to the (absent) network"; exit 1
fi
echo "firmware ran the online path up to the (absent) network"
rm -rf "$FW_DIR"

step "PostgreSQL for the service tests (Debian's server, loopback, as the postgres user)"
PG_DIR=$(mktemp -d)
chmod 755 "$PG_DIR"   # the postgres user must reach its data directory inside
PG_URL=""
# A port below the ephemeral range, so no client socket can hold it.
for port in 15432 15433 15434 15435; do
  if PG_URL=$(scripts/pg-test-server.sh start "$PG_DIR/$port" "$port"); then PG_DIR="$PG_DIR/$port"; break; fi
done
[ -n "$PG_URL" ] || { echo "no PostgreSQL server could be started"; exit 1; }
trap 'scripts/pg-test-server.sh stop "$PG_DIR" || true' EXIT
echo "PostgreSQL: $PG_URL"
export RACONN_TEST_POSTGRES="$PG_URL" RACONN_REQUIRE_POSTGRES=1

step "cargo test (unit, property, interop with openssl and Python cryptography, the service on SQLite and PostgreSQL)"
TEST_LOG=$(mktemp)
cargo test -j"$JOBS" --workspace 2>&1 | tee "$TEST_LOG"

step "quickstart (README's first command), checked with openssl"
QS=$(mktemp -d)
cargo run -j"$JOBS" -q --release --example quickstart -- "$QS/quickstart"
openssl pkcs12 -in "$QS/quickstart/user.pfx" -passin "file:$QS/quickstart/user.pfx.password" -info -noout
openssl pkcs12 -in "$QS/quickstart/user.pfx" -passin "file:$QS/quickstart/user.pfx.password" -clcerts -nokeys -out "$QS/leaf.pem"
openssl pkcs12 -in "$QS/quickstart/user.pfx" -passin "file:$QS/quickstart/user.pfx.password" -cacerts -nokeys -out "$QS/chain.pem"
grep -q "BEGIN CERTIFICATE" "$QS/chain.pem" || { echo "the PFX carries no chain"; exit 1; }
openssl verify -CAfile "$QS/quickstart/root.pem" -untrusted "$QS/chain.pem" "$QS/leaf.pem"
# The PFX the quickstart fetched through raconn serve's API.
openssl pkcs12 -in "$QS/quickstart/device.pfx" -passin "file:$QS/quickstart/device.pfx.password" -clcerts -nokeys -out "$QS/device.pem"
openssl pkcs12 -in "$QS/quickstart/device.pfx" -passin "file:$QS/quickstart/device.pfx.password" -cacerts -nokeys -out "$QS/device-chain.pem"
openssl x509 -in "$QS/device.pem" -noout -subject | grep -q "Ola Nordmann" || { echo "device.pfx holds another subject"; exit 1; }
openssl verify -CAfile "$QS/quickstart/root.pem" -untrusted "$QS/device-chain.pem" "$QS/device.pem"
rm -rf "$QS"

step "packaging/raconn.service: systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  cargo build -j"$JOBS" -q --release --bin raconn
  UNIT_DIR=$(mktemp -d)
  sed "s#/usr/local/bin/raconn#$PWD/target/release/raconn#" packaging/raconn.service > "$UNIT_DIR/raconn.service"
  systemd-analyze verify "$UNIT_DIR/raconn.service"
  echo "raconn.service verifies"
  rm -rf "$UNIT_DIR"
else
  echo "systemd-analyze not on this machine: unit not verified"
fi

step "firmware online under QEMU: a real issuance over the UART relay (P-256 and RSA-2048 server), journal replay, power cuts"
# Times are emulation on this machine, not hardware.
STACKS=$(mktemp)
timeout 1200 cargo run -j"$JOBS" -q --release -p raconn-tests --example qemu_issuance -- "$ELF" "$STACKS" "$MFL_ELF"

step "firmware size report: host-embedded/firmware/SIZE.md regenerated and compared"
stack_args=()
while IFS= read -r l; do
  case "$l" in
    "buffers "*) stack_args+=(--buffers "${l#buffers }") ;;
    "variant "*) stack_args+=(--variant-stack "${l#variant }") ;;
    *) stack_args+=(--stack "$l") ;;
  esac
done < "$STACKS"
python3 scripts/fw-size.py "$ELF" "${stack_args[@]}" \
  --variant "The \`max-fragment-4096\` build (TLS read buffer 4 352 B, the configuration offering max_fragment_length 4 096), under QEMU against raconn-sim sending records of at most 4 KiB as a CA that honours the extension does=$MFL_ELF" \
  --markdown host-embedded/firmware/SIZE.md
git --no-pager diff --no-color host-embedded/firmware/SIZE.md || true
# Flash and static RAM a real board pays must match the checked-in file
# within 512 B. They are not byte-reproducible across checkouts: cargo hashes
# the absolute path of a path dependency outside the firmware's workspace
# (core/, host-embedded/) into the crate's symbol hashes, and the function
# order, alignment padding and machine outliner follow them (three clones at
# three paths built 303,984, 304,036 and 304,040 B). A lever or a new feature
# moves kilobytes. The stack peaks (a measurement of an emulated run) and the
# per-crate split are shown in the diff above and never fail the run.
git --no-pager show HEAD:host-embedded/firmware/SIZE.md > "$STACKS.committed"
python3 scripts/fw-size.py --compare "$STACKS.committed" host-embedded/firmware/SIZE.md --tolerance 512
rm -f "$STACKS.committed"
rm -f "$STACKS" "$MFL_ELF"

if [ "$FUZZ_SECONDS" != 0 ]; then
  step "fuzz: each target for ${FUZZ_SECONDS}s"
  command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked
  # A failing `cargo fuzz list` must fail the run, not fuzz nothing.
  targets=$(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list)
  [ -n "$targets" ] || { echo "cargo fuzz list found no targets"; exit 1; }
  for t in $targets; do
    log=$(mktemp)
    seeds=()
    if [ "$t" = pkiws ] && [ -d ../shared/schemas/pkiws/examples ]; then
      mkdir -p "fuzz/corpus/$t"; seeds=("corpus/$t" ../../shared/schemas/pkiws/examples)
    elif [ -d "fuzz/seeds/$t" ]; then
      mkdir -p "fuzz/corpus/$t"; seeds=("corpus/$t" "seeds/$t")
    fi
    if (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "${seeds[@]}" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048) >"$log" 2>&1; then
      printf '%s: %s\n' "$t" "$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
      rm -f "$log"
    else
      tail -40 "$log"; echo "fuzz target $t failed"; exit 1
    fi
  done
fi

step "done"
echo "all checks passed"
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d ignored\n", p, f, i }' "$TEST_LOG"
rm -f "$TEST_LOG"
