#!/usr/bin/env bash
# Installs the Debian packages that building and testing magd/lmad need.
# Idempotent: when every package is already installed it changes nothing and
# does not touch the network. Used by README's test command, .ci/run and the demo.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libnl-3-dev libnl-route-3-dev libmnl-dev libssl-dev
  libboost-program-options-dev catch2 libpcap-dev nlohmann-json3-dev
  libbpf-dev  # the ebpf multicast forwarding backend (built with clang -target bpf)
  # tests: independent decoders and builders, namespaces
  tshark python3-scapy iproute2 smcroute ndisc6 iputils-ping procps
  nftables  # holds a mobile node's MLD reports back (tests/netns/test_pmip_sial.sh)
  ethtool   # turns a veth's segmentation offloads off (tests/netns/test_tunnels.sh)
  wireguard-tools  # a WireGuard link as an L3 underlay (tests/netns/test_tunnels.sh, in the VM)
  # the stock-kernel VM (tools/vm/pmip-vm, tests labelled vm): Debian's kernel
  # with ip6tnl/ip6gre/ip6mr, booted under QEMU; busybox for its initramfs
  qemu-system-x86 linux-image-amd64 busybox-static
  # the interop peers (tests/interop: OAI / UMIP pmip6d built from ../shared/peers)
  flex bison autoconf automake libtool patch indent
  # IPsec for the Mobility Header (RFC 5213 section 4) on kernels with ESP:
  # strongSwan's IKEv2 daemon and swanctl (tests/netns/test_pmip_ipsec.sh)
  strongswan-charon strongswan-swanctl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages (${missing[*]}); run as root or install them yourself" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
