// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tc programs of the ebpf tunnel backend ([tunnel] backend = ebpf; issue 20).
 *
 * Each tunnel is the userspace backend's TUN device; these programs carry
 * its common packets in the kernel, and what they leave (TC_ACT_OK at the
 * device, TC_ACT_UNSPEC at the underlay) takes the userspace data plane,
 * which keeps every rule it has (Packet Too Big, the link-local filter, GRE
 * options, prepared tunnels).
 *
 * pmip_tun_encap, clsact egress of each TUN device (RFC 2473 section 3; RFC
 * 2784 / 2890 with RFC 5845 keys): an IPv6 packet with a global source that
 * fits the device's MTU gets the outer IPv6 header (source the tunnel's local
 * address, hop limit the tunnel's, Traffic Class the inner one with CE made
 * ECT(0) as RFC 3168 section 9.1.1 says, flow label 0) and the GRE header,
 * and goes out of the underlay interface the kernel's FIB names for the peer:
 * with the neighbour's MAC when the FIB knows it, else through the kernel's
 * neighbour resolution (bpf_redirect_neigh); with no link-layer header at
 * all on an L3 underlay. Only underlays in `underlays` (interfaces the
 * backend attached a decapsulation program to, Ethernet or L3).
 *
 * pmip_tun_decap (Ethernet) and pmip_l3_decap (an L3 device: the packet
 * starts at the IPv6 header), clsact ingress of each underlay: ip6ip6 or GRE (version 0,
 * no checksum, sequence or routing, protocol IPv6, with or without key) from
 * a tunnel's peer to its local address is stripped of the outer headers and
 * received on the tunnel's device (bpf_redirect with BPF_F_INGRESS), where
 * the stack (and the multicast forwarding program on that device) sees it as
 * if the device had received it; the outer ECN field is merged into the inner
 * one as RFC 6040 section 4.2 says (pmip_decapsulated_ecn, the rule the
 * userspace data plane applies too). Anything else goes on (TC_ACT_UNSPEC: the
 * next filter, then the stack and the userspace backend's raw sockets).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tunnel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef AF_INET6
#define AF_INET6 10
#endif

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct pmip_tun_encap);
} encap SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct pmip_tun_decap_key);
    __type(value, struct pmip_tun_decap);
} decap SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u32);
} underlays SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct pmip_tun_counters);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, PMIP_TUN_STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 index) {
    __u64* value = bpf_map_lookup_elem(&stats, &index);
    if (value)
        *value += 1;
}

/* One packet of `length` octets carried for the tunnel device `ifindex`. */
static __always_inline void carried(__u32 ifindex, int received, __u32 length) {
    struct pmip_tun_counters* c = bpf_map_lookup_elem(&counters, &ifindex);
    if (!c)
        return;
    if (received) {
        c->rx_packets += 1;
        c->rx_bytes += length;
    } else {
        c->tx_packets += 1;
        c->tx_bytes += length;
    }
}

/* An inner Not-ECT packet whose outer header says CE: dropped (RFC 6040
 * section 4.2), counted on its tunnel. */
static __always_inline void ecn_dropped(__u32 ifindex, __u32 packets) {
    struct pmip_tun_counters* c = bpf_map_lookup_elem(&counters, &ifindex);
    if (c)
        c->rx_dropped_ecn += packets;
}

#define GRE_KEY_BIT 0x2000

struct outer_headers {
    struct ipv6hdr ip6;
    __be16 gre_flags;
    __be16 gre_protocol;
    __be32 gre_key;
};

/* The inner length of each packet a GSO packet becomes (the headers, then
 * gso_size octets of payload), for TCP and UDP with no extension header;
 * 0 for anything else (the slow path, where the device segments it first).
 * A GSO packet that is itself a tunnel's (UDP tunnel, or one decapsulated
 * here, still marked encapsulated) is undercounted, but bpf_skb_adjust_room
 * refuses to encapsulate it again (-EALREADY): the slow path, too. */
static __always_inline __u32 gso_segment_length(struct __sk_buff* skb, const struct ipv6hdr* inner) {
    __u32 transport;
    if (inner->nexthdr == IPPROTO_TCP) {
        __u8 offset;
        if (bpf_skb_load_bytes(skb, sizeof(struct ipv6hdr) + 12, &offset, 1) != 0)
            return 0;
        transport = (__u32)(offset >> 4) * 4;
        if (transport < 20)
            return 0;
    } else if (inner->nexthdr == IPPROTO_UDP) {
        transport = 8;
    } else {
        return 0;
    }
    return sizeof(struct ipv6hdr) + transport + skb->gso_size;
}

SEC("tc")
int pmip_tun_encap(struct __sk_buff* skb) {
    __u32 ifindex = skb->ifindex;
    struct pmip_tun_encap* t = bpf_map_lookup_elem(&encap, &ifindex);
    if (!t)
        return TC_ACT_OK; /* not ours: the TUN queue */
    if (skb->protocol != bpf_htons(ETH_P_IPV6)) {
        count(PMIP_TUN_STAT_TX_SLOW);
        return TC_ACT_OK;
    }
    struct ipv6hdr inner;
    if (bpf_skb_load_bytes(skb, 0, &inner, sizeof inner) != 0 || inner.version != 6) {
        count(PMIP_TUN_STAT_TX_SLOW);
        return TC_ACT_OK;
    }
    /* What one packet on the wire carries: a GSO packet (local TCP, or what
     * a veth brought in one piece) leaves encapsulated whole, and the
     * underlay device or the stack cuts it into packets of its gso_size,
     * each with the outer headers (the flags below); each must fit. */
    __u32 packet = skb->len;
    if (skb->gso_size != 0) {
        packet = gso_segment_length(skb, &inner);
        if (packet == 0) {
            count(PMIP_TUN_STAT_TX_SLOW);
            return TC_ACT_OK;
        }
    }
    if (packet > t->mtu) {
        count(PMIP_TUN_STAT_TX_SLOW); /* the slow path answers Packet Too Big */
        return TC_ACT_OK;
    }
    /* The outer Payload Length must hold the whole (a BIG TCP packet, over
     * 64 KiB, is cut by the device first). */
    if (skb->len + 8 > 0xffff) {
        count(PMIP_TUN_STAT_TX_SLOW);
        return TC_ACT_OK;
    }
    const __u8* src = inner.saddr.in6_u.u6_addr8;
    if ((src[0] == 0xfe && (src[1] & 0xc0) == 0x80) ||
        (inner.saddr.in6_u.u6_addr32[0] == 0 && inner.saddr.in6_u.u6_addr32[1] == 0 &&
         inner.saddr.in6_u.u6_addr32[2] == 0 && inner.saddr.in6_u.u6_addr32[3] == 0)) {
        count(PMIP_TUN_STAT_TX_SLOW); /* the userspace filter decides (MLD / ND pass) */
        return TC_ACT_OK;
    }

    const int gre = t->protocol == IPPROTO_GRE;
    const __u32 gre_size = gre ? (t->has_output_key ? 8 : 4) : 0;
    const __u32 overhead = sizeof(struct ipv6hdr) + gre_size;
    const __u32 length = skb->len;

    struct outer_headers h = {};
    h.ip6.version = 6;
    /* Traffic Class: inner's, CE -> ECT(0) (RFC 3168 section 9.1.1). */
    __u8 tclass = (__u8)((inner.priority << 4) | (inner.flow_lbl[0] >> 4));
    if ((tclass & 3) == 3)
        tclass = (tclass & 0xfc) | 2;
    h.ip6.priority = tclass >> 4;
    h.ip6.flow_lbl[0] = (__u8)((tclass & 0x0f) << 4);
    h.ip6.payload_len = bpf_htons((__u16)(length + gre_size));
    h.ip6.nexthdr = t->protocol;
    h.ip6.hop_limit = t->hop_limit;
    __builtin_memcpy(h.ip6.saddr.in6_u.u6_addr8, t->local, 16);
    __builtin_memcpy(h.ip6.daddr.in6_u.u6_addr8, t->peer, 16);
    if (gre) {
        h.gre_flags = bpf_htons(t->has_output_key ? GRE_KEY_BIT : 0);
        h.gre_protocol = bpf_htons(ETH_P_IPV6);
        h.gre_key = t->output_key;
    }

    /* Where the outer packet goes, decided before the packet changes, so
     * that what the programs cannot send still reaches the slow path whole.
     * Asked as output, as a kernel tunnel routes what it sends: the policy
     * rules see a packet of this router (iif lo), so an operator's rules
     * apply to it, and magd's "iif TUNNEL lookup main" (meant for what
     * leaves the tunnel) does not. The tunnel device is the lookup's oif
     * (an ip6tnl device gives its link, usually none): a rule naming the
     * tunnel as oif applies to its outer packets. */
    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET6;
    fib.l4_protocol = t->protocol;
    fib.tot_len = (__u16)(packet + overhead);
    fib.ifindex = ifindex;
    __builtin_memcpy(fib.ipv6_src, t->local, 16);
    __builtin_memcpy(fib.ipv6_dst, t->peer, 16);
    const long found = bpf_fib_lookup(skb, &fib, sizeof fib, BPF_FIB_LOOKUP_OUTPUT);
    if (found == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
        count(PMIP_TUN_STAT_TX_FRAG_NEEDED);
        return TC_ACT_OK;
    }
    __u32 out = fib.ifindex;
    const __u32* kind = bpf_map_lookup_elem(&underlays, &out);
    if ((found != BPF_FIB_LKUP_RET_SUCCESS && found != BPF_FIB_LKUP_RET_NO_NEIGH) || !kind) {
        count(PMIP_TUN_STAT_TX_NO_ROUTE);
        return TC_ACT_OK;
    }
    const int ethernet = *kind == PMIP_UNDERLAY_ETHERNET;

    __u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
    if (gre)
        flags |= BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
    if (bpf_skb_adjust_room(skb, overhead, BPF_ADJ_ROOM_MAC, flags) != 0) {
        count(PMIP_TUN_STAT_TX_SLOW); /* unchanged: the slow path */
        return TC_ACT_OK;
    }
    if (bpf_skb_store_bytes(skb, 0, &h, overhead, 0) != 0) {
        count(PMIP_TUN_STAT_TX_ENCAP_ERRORS);
        return TC_ACT_SHOT;
    }
    /* An L3 underlay takes the packet as it is (no neighbour either: the
     * kernel sends on such a device without one). */
    if (!ethernet) {
        carried(ifindex, 0, length);
        return bpf_redirect(out, 0);
    }
    if (bpf_skb_change_head(skb, ETH_HLEN, 0) != 0) {
        count(PMIP_TUN_STAT_TX_ENCAP_ERRORS);
        return TC_ACT_SHOT;
    }
    /* An Ethernet header: the neighbour's when the FIB knows it; else a
     * unicast placeholder that bpf_redirect_neigh replaces. */
    struct ethhdr eth = {};
    eth.h_proto = bpf_htons(ETH_P_IPV6);
    if (found == BPF_FIB_LKUP_RET_SUCCESS) {
        __builtin_memcpy(eth.h_dest, fib.dmac, ETH_ALEN);
        __builtin_memcpy(eth.h_source, fib.smac, ETH_ALEN);
    }
    if (bpf_skb_store_bytes(skb, 0, &eth, sizeof eth, 0) != 0) {
        count(PMIP_TUN_STAT_TX_ENCAP_ERRORS);
        return TC_ACT_SHOT;
    }
    carried(ifindex, 0, length);
    if (found == BPF_FIB_LKUP_RET_SUCCESS)
        return bpf_redirect(out, 0);
    count(PMIP_TUN_STAT_TX_NEIGH);
    return bpf_redirect_neigh(out, 0, 0, 0);
}

/* The decapsulation, after `link` octets of link-layer header (ETH_HLEN on
 * an Ethernet underlay, 0 on an L3 one). */
static __always_inline int decapsulate(struct __sk_buff* skb, const __u32 link) {
    if (skb->protocol != bpf_htons(ETH_P_IPV6))
        return TC_ACT_UNSPEC;
    /* The link-layer header, outer IPv6, up to 8 octets of GRE, the inner
     * header's first two octets (version, Traffic Class). */
    const __u32 needed = link + sizeof(struct ipv6hdr) + 8 + 2;
    if ((long)skb->data + needed > (long)skb->data_end && bpf_skb_pull_data(skb, needed) != 0)
        return TC_ACT_UNSPEC;
    void* data = (void*)(long)skb->data;
    void* data_end = (void*)(long)skb->data_end;
    struct ipv6hdr* ip6 = data + link;
    if ((void*)(ip6 + 1) > data_end)
        return TC_ACT_UNSPEC;
    if (link == ETH_HLEN && ((struct ethhdr*)data)->h_proto != bpf_htons(ETH_P_IPV6))
        return TC_ACT_UNSPEC;
    if (ip6->nexthdr != IPPROTO_IPV6 && ip6->nexthdr != IPPROTO_GRE)
        return TC_ACT_UNSPEC;

    struct pmip_tun_decap_key key = {};
    __builtin_memcpy(key.peer, ip6->saddr.in6_u.u6_addr8, 16);
    __builtin_memcpy(key.local, ip6->daddr.in6_u.u6_addr8, 16);
    key.protocol = ip6->nexthdr;
    __u32 overhead = sizeof(struct ipv6hdr);
    int usual = 1; /* what the slow path must see: GRE options (checked there) */
    if (key.protocol == IPPROTO_GRE) {
        const __be16* gre = (const __be16*)(ip6 + 1);
        if ((void*)(gre + 4) > data_end)
            return TC_ACT_UNSPEC;
        const __u16 flags = bpf_ntohs(gre[0]);
        if ((flags & ~GRE_KEY_BIT) != 0 || gre[1] != bpf_htons(ETH_P_IPV6)) {
            usual = 0;
        } else if (flags & GRE_KEY_BIT) {
            key.has_input_key = 1;
            __builtin_memcpy(&key.input_key, &gre[2], 4);
            overhead += 8;
        } else {
            overhead += 4;
        }
    }
    struct pmip_tun_decap* t = bpf_map_lookup_elem(&decap, &key);
    if (!t)
        return TC_ACT_UNSPEC; /* not a tunnel of ours (or its key): the stack */
    /* Not up (prepared ahead of its PBA, or being made): dropped here, as
     * the userspace data plane would drop it. Left to it, the packet could
     * wait in its socket until the tunnel is up and then reach the device
     * behind packets that came after it. A GRE packet with options was not
     * parsed for its key (the entry found may be another tunnel's): the
     * slow path judges it. */
    if (usual && !t->up) {
        count(PMIP_TUN_STAT_RX_NOT_UP);
        return TC_ACT_SHOT;
    }
    __u8* inner = (__u8*)ip6 + overhead;
    const __u32 outer_length = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
    /* Extension headers, the Ethernet padding: the slow path. */
    if (!usual || (void*)(inner + 2) > data_end || (inner[0] >> 4) != 6 ||
        outer_length + link != skb->len) {
        count(PMIP_TUN_STAT_RX_SLOW);
        return TC_ACT_UNSPEC;
    }
    const __u32 tunnel = t->ifindex;
    /* ECN (RFC 6040 section 4.2, which updates RFC 3168's decapsulation):
     * the second octet of an IPv6 header holds the ECN field in bits 5-4.
     * A merged (GSO) packet's segments all carried the same outer and inner
     * Traffic Class (GRO does not merge packets whose Traffic Class
     * differs), so what holds for its first header holds for each. */
    const __u8 outer_ecn = (ip6->flow_lbl[0] >> 4) & 3;
    const __u8 inner_ecn = (inner[1] >> 4) & 3;
    const __u8 ecn = pmip_decapsulated_ecn(outer_ecn, inner_ecn);
    if (ecn == PMIP_ECN_DROP) {
        /* Counted per packet the peer sent, as the userspace data plane counts. */
        ecn_dropped(tunnel, skb->gso_segs > 1 ? skb->gso_segs : 1);
        return TC_ACT_SHOT;
    }
    /* Written with the checksum a NIC gave (CHECKSUM_COMPLETE) kept true:
     * a direct write would leave it stale, and the stack would find every
     * CE-marked packet's checksum wrong ("hw csum failure"). */
    if (ecn != inner_ecn) {
        const __u8 octet = (inner[1] & ~0x30) | (ecn << 4);
        if (bpf_skb_store_bytes(skb, link + overhead + 1, &octet, 1, BPF_F_RECOMPUTE_CSUM) != 0) {
            count(PMIP_TUN_STAT_RX_DECAP_ERRORS);
            return TC_ACT_SHOT;
        }
    }
    const __u32 length = outer_length - overhead;
    /* A GSO packet (the underlay's GRO merged the tunnel's packets, or a
     * veth brought one whole) keeps its gso_size: the packets the stack cuts
     * it into again are the inner packets the peer sent, each within the
     * MSS and path MTU the sender chose, not the outer size. (The kernels
     * this runs on keep the tunnel's GSO type bits: software segmentation
     * cuts by the headers as they now are, checked with offloads off in
     * tests/netns/test_tunnels.sh.) */
    if (bpf_skb_adjust_room(skb, -(__s32)overhead, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO) != 0) {
        count(PMIP_TUN_STAT_RX_DECAP_ERRORS);
        return TC_ACT_SHOT;
    }
    carried(tunnel, 1, length);
    return bpf_redirect(tunnel, BPF_F_INGRESS);
}

SEC("tc")
int pmip_tun_decap(struct __sk_buff* skb) {
    return decapsulate(skb, ETH_HLEN);
}

SEC("tc")
int pmip_l3_decap(struct __sk_buff* skb) {
    return decapsulate(skb, 0);
}
