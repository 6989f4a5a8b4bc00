#!/usr/bin/env bash
# Builds the interop peers, OAI-PMIPv6-FM and UMIP pmipv6 (pmip6d), from
# ../shared/peers (tarballs and the build patches described in its README),
# for the tests in tests/interop only: they are GPL-2.0 and never part of the
# product.
#
#   build_peers.sh PEERS_DIR OUT_DIR [oai|umip]...
#
# Prints the path of each mip6d built (one line per peer, in the order asked;
# both when none is named). Each peer is built once per OUT_DIR and kept: a
# stamp file holds the SHA-256 of its tarball, its patch and this script, and
# the build is redone only when one of those changes. Concurrent callers
# serialise on OUT_DIR/lock. Build log: OUT_DIR/<peer>.log (its last lines are
# shown when the build fails).
#
# Exit status: 0 built; 77 with "SKIPPED: reason" when PEERS_DIR has no
# peers or a build tool is missing (tools/setup.sh installs them); 1 when a
# build fails.
set -euo pipefail
PEERS=${1:?usage: build_peers.sh PEERS_DIR OUT_DIR [oai|umip]...}
OUT=${2:?usage: build_peers.sh PEERS_DIR OUT_DIR [oai|umip]...}
shift 2
(($# > 0)) || set -- oai umip

declare -A TARBALL=([oai]=oai-pmipv6-fm-881ccb2.tar.gz [umip]=umip-pmipv6-aeeda87.tar.gz)
declare -A PATCH=([oai]=oai-fm-measurement.patch [umip]=umip-pmipv6-measurement.patch)
declare -A TOP=([oai]=oai-fm.orig [umip]=umip.orig)

for peer in "$@"; do
    [[ -n ${TARBALL[$peer]:-} ]] || { echo "build_peers.sh: unknown peer '$peer' (oai|umip)" >&2; exit 2; }
    for f in "${TARBALL[$peer]}" "${PATCH[$peer]}"; do
        [[ -f $PEERS/$f ]] || { echo "SKIPPED: $PEERS/$f absent (the interop peers are not here)"; exit 77; }
    done
done
for tool in autoreconf automake libtoolize flex bison indent patch make gcc; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool not installed (bash tools/setup.sh)"; exit 77; }
done

mkdir -p "$OUT"
exec 9>"$OUT/lock"
flock 9

self=$(realpath "${BASH_SOURCE[0]}")
for peer in "$@"; do
    stamp=$(cat "$PEERS/${TARBALL[$peer]}" "$PEERS/${PATCH[$peer]}" "$self" | sha256sum | cut -d' ' -f1)
    dir=$OUT/$peer
    binary=$dir/src/mip6d
    if [[ -x $binary && -f $dir.stamp && $(<"$dir.stamp") == "$stamp" ]]; then
        echo "$binary"
        continue
    fi
    rm -rf "$dir" "$dir.stamp"
    log=$OUT/$peer.log
    echo "build_peers.sh: building $peer from ${TARBALL[$peer]} (log $log)" >&2
    if ! (
        set -e
        tmp=$(mktemp -d "$OUT/.unpack.XXXXXX")
        tar -xzf "$PEERS/${TARBALL[$peer]}" -C "$tmp"
        mv "$tmp/${TOP[$peer]}" "$dir"
        rmdir "$tmp"
        cd "$dir"
        patch -p1 <"$PEERS/${PATCH[$peer]}"
        autoreconf -fi
        # OpenSSL 3 has no struct HMAC_CTX: the peers' own crypto
        ./configure --with-builtin-crypto
        make -j"$(nproc)"
    ) >"$log" 2>&1; then
        echo "build_peers.sh: building $peer failed; the end of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    echo "$stamp" >"$dir.stamp"
    echo "$binary"
done
