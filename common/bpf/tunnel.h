/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared between common/bpf/tunnel.bpf.c and the ebpf tunnel backend
 * (common/src/ebpf_tunnel_backend.cpp): map keys, values and statistics
 * indexes of the tc programs that encapsulate and decapsulate ip6ip6 and GRE
 * (RFC 2473, RFC 2784/2890, RFC 5845 keys) for the TUN devices of the
 * userspace backend, which stays the slow path for what they leave. */
#ifndef PMIP_TUNNEL_BPF_H
#define PMIP_TUNNEL_BPF_H

#include <linux/types.h>

#define PMIP_TUN_ENCAP_PROG_NAME "pmip_tun_encap"
#define PMIP_TUN_DECAP_PROG_NAME "pmip_tun_decap"
#define PMIP_TUN_DECAP_L3_PROG_NAME "pmip_l3_decap" /* the kernel keeps 15 characters */

/* underlays: key = an underlay's ifindex (__u32), value its kind. */
#define PMIP_UNDERLAY_ETHERNET 1 /* Ethernet header before the outer IPv6 header */
#define PMIP_UNDERLAY_L3 2       /* none: the packet starts at the IPv6 header (TUN,
                                    WireGuard, raw-IP modems, ip6tnl) */

/* encap: key = the TUN device's ifindex (__u32). */
struct pmip_tun_encap {
    __u8 local[16];   /* outer source */
    __u8 peer[16];    /* outer destination */
    __u32 output_key; /* GRE key we send with (network order), if has_output_key */
    __u32 mtu;        /* the device's MTU: bigger packets (GSO: segments) take the slow path */
    __u8 protocol;    /* 41 (ip6ip6) or 47 (GRE) */
    __u8 has_output_key;
    __u8 hop_limit;   /* RFC 2473 section 6.3 */
    __u8 pad[5];
};

/* decap: what arrives on an underlay interface. */
struct pmip_tun_decap_key {
    __u8 peer[16];   /* outer source */
    __u8 local[16];  /* outer destination */
    __u32 input_key; /* GRE key (network order), 0 when has_input_key is 0 */
    __u8 protocol;   /* 41 or 47 */
    __u8 has_input_key;
    __u8 pad[2];
};
struct pmip_tun_decap {
    __u32 ifindex; /* the TUN device the inner packet is received on */
    __u32 up;      /* 0: prepared (made ahead of its PBA): left to the slow path */
};

/* Per tunnel (key: the TUN device's ifindex), per CPU. */
struct pmip_tun_counters {
    __u64 tx_packets, tx_bytes, rx_packets, rx_bytes;
    __u64 rx_dropped_ecn; /* inner Not-ECT under an outer CE (pmip_decapsulated_ecn) */
};

/* ECN codepoints (RFC 3168 section 5), and "drop the packet". */
#define PMIP_ECN_NOT_ECT 0
#define PMIP_ECN_ECT1 1
#define PMIP_ECN_ECT0 2
#define PMIP_ECN_CE 3
#define PMIP_ECN_DROP 0xff

/* The inner packet's ECN field after decapsulation, from the arriving inner
 * and outer ones: RFC 6040 section 4.2, Figure 4 (which updates RFC 3168
 * section 9.1.1's full-functionality rule with the ECT(1) column and the drop):
 *
 *   inner \ outer   Not-ECT   ECT(0)    ECT(1)    CE
 *   Not-ECT         Not-ECT   Not-ECT   Not-ECT   drop
 *   ECT(0)          ECT(0)    ECT(0)    ECT(1)    CE
 *   ECT(1)          ECT(1)    ECT(1)    ECT(1)    CE
 *   CE              CE        CE        CE        CE
 *
 * Shared by the decapsulation program and the userspace data plane
 * (common/src/tunnel_packet.cpp), so that both backends apply one rule. */
static inline __u8 pmip_decapsulated_ecn(__u8 outer, __u8 inner) {
    if (inner == PMIP_ECN_NOT_ECT)
        return outer == PMIP_ECN_CE ? PMIP_ECN_DROP : PMIP_ECN_NOT_ECT;
    if (outer == PMIP_ECN_CE)
        return PMIP_ECN_CE;
    if (outer == PMIP_ECN_ECT1 && inner == PMIP_ECN_ECT0)
        return PMIP_ECN_ECT1;
    return inner;
}

/* Backend-wide statistics (per-CPU array). */
enum pmip_tun_stat {
    PMIP_TUN_STAT_TX_SLOW = 0,      /* left to the userspace data plane: link-local or
                                       unspecified source, bigger than the MTU, not IPv6 */
    PMIP_TUN_STAT_TX_NO_ROUTE,      /* no route to the peer, or not via an underlay the
                                       programs serve (left to the userspace data plane) */
    PMIP_TUN_STAT_TX_FRAG_NEEDED,   /* the outer packet needs fragmenting (RFC 2473 7.1):
                                       left to the userspace data plane */
    PMIP_TUN_STAT_TX_ENCAP_ERRORS,  /* a helper failed after the packet was changed: dropped */
    PMIP_TUN_STAT_TX_NEIGH,         /* sent through the kernel's neighbour resolution */
    PMIP_TUN_STAT_RX_SLOW,          /* a tunnel's packet left to the userspace data plane:
                                       GRE options, extension headers, trailing octets */
    PMIP_TUN_STAT_RX_DECAP_ERRORS,  /* a helper failed: dropped */
    PMIP_TUN_STAT_RX_NOT_UP,        /* a packet of a tunnel not up yet (prepared, or
                                       being made): dropped */
    PMIP_TUN_STAT_COUNT
};

#endif
