// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tc (clsact ingress) program of the ebpf multicast forwarding backend: one
 * object per proxy instance, attached to the instance's upstream and
 * downstream interfaces (DESIGN.md section 5; issue 13).
 *
 * For every IPv6 multicast packet arriving on an interface of `ifaces`:
 *   - not forwarded, left to the stack (TC_ACT_UNSPEC) and counted: scope
 *     0-2 or 15 (RFC 4291 2.7; RFC 4605 4.2 never forwards link scope), a
 *     link-local or unspecified source, MLD or anything carrying a
 *     Hop-by-Hop header (MLD always does, RFC 3810 5), hop limit <= 1;
 *   - looked up as (S,G), then (*,G); no entry: reported to the daemon
 *     through the ring buffer (rate limited), the first packets copied
 *     there too for the daemon to hold until an entry comes (the kernel
 *     backend's unresolved queue), and left to the stack;
 *   - an entry accepts only packets arriving on its parent interface
 *     (RFC 4605 4.2: upstream traffic only from the upstream; a proxy's
 *     downstream-sourced (S,G) has that downstream as parent);
 *   - hop limit decremented once, then one copy per output except the arrival
 *     interface (bpf_clone_redirect), the last output taking the original
 *     (bpf_redirect); Ethernet outputs get 33:33 + the group's low 32 bits as
 *     destination and their own MAC as source, with a header pushed when the
 *     packet came from an L3 device (TUN, ip6tnl); L3 outputs get the packet
 *     without link-layer header (the kernel strips it on redirect).
 * Outputs of an entry are a range of out_pool (ifindexes), written by the
 * daemon before the entry's value is overwritten (one map update; no
 * map-in-map swap).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mcast_forward.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sizes are set by the loader before load (bpf_map__set_max_entries). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, struct pmip_mcast_iface);
} ifaces SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct pmip_mcast_key);
    __type(value, struct pmip_mcast_entry);
} fwd SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct pmip_mcast_key);
    __type(value, struct pmip_mcast_entry_stats);
} entry_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1 << 20);
    __type(key, __u32);
    __type(value, __u64); /* an ifindex; 8 octets, the array's element stride */
} out_pool SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, PMIP_MC_STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} reports SEC(".maps");

struct report_key {
    struct pmip_mcast_key sg;
    __u32 ifindex;
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct report_key);
    __type(value, __u64);
} reported SEC(".maps");

struct report_budget {
    __u64 window_start;
    __u64 used;
    __u64 held;
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct report_budget);
} budget SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pmip_mcast_config);
} config SEC(".maps");

/* Packets held per (S,G, interface) in the current hold window. */
struct hold_state {
    __u64 window_start;
    __u64 count;
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct report_key);
    __type(value, struct hold_state);
} holding SEC(".maps");

/* A held packet is assembled here, then copied into the ring buffer. */
struct hold_record {
    struct pmip_mcast_held head;
    __u8 packet[PMIP_MC_HOLD_MAX_LEN];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct hold_record);
} hold_scratch SEC(".maps");

static __always_inline void count_n(__u32 index, __u64 n) {
    __u64* value = bpf_map_lookup_elem(&stats, &index);
    if (value)
        *value += n;
}

static __always_inline void count(__u32 index) {
    count_n(index, 1);
}

/* This CPU's report and hold budget, its window restarted when over. */
static __always_inline struct report_budget* current_budget(__u64 now) {
    __u32 zero = 0;
    struct report_budget* b = bpf_map_lookup_elem(&budget, &zero);
    if (b && now - b->window_start >= PMIP_MC_REPORT_WINDOW_NS) {
        b->window_start = now;
        b->used = 0;
        b->held = 0;
    }
    return b;
}

/* The (S,G, interface) that reports and holds are counted by. */
static __always_inline struct report_key flow_of(const struct pmip_mcast_key* sg, __u32 ifindex) {
    struct report_key rk = {};
    __builtin_memcpy(&rk.sg, sg, sizeof rk.sg);
    rk.ifindex = ifindex;
    return rk;
}

static __always_inline void report(const struct report_key* rk, __u64 now, __u32 reason) {
    __u64* last = bpf_map_lookup_elem(&reported, rk);
    if (last && now - *last < PMIP_MC_REPORT_INTERVAL_NS) {
        count(PMIP_MC_REPORTS_SUPPRESSED);
        return;
    }
    struct report_budget* b = current_budget(now);
    if (!b)
        return;
    if (b->used >= PMIP_MC_REPORT_BUDGET) {
        count(PMIP_MC_REPORTS_SUPPRESSED);
        return;
    }
    b->used += 1;
    bpf_map_update_elem(&reported, rk, &now, BPF_ANY);
    struct pmip_mcast_report* r = bpf_ringbuf_reserve(&reports, sizeof *r, 0);
    if (!r) {
        count(PMIP_MC_REPORTS_LOST);
        return;
    }
    r->ifindex = rk->ifindex;
    r->reason = reason;
    __builtin_memcpy(r->source, rk->sg.source, 16);
    __builtin_memcpy(r->group, rk->sg.group, 16);
    bpf_ringbuf_submit(r, 0);
    count(PMIP_MC_REPORTS);
}

/* Copies a packet no entry forwards to the daemon, which holds it until an
 * entry comes (PMIP_MC_REPORT_HELD in mcast_forward.h): at most
 * config.hold_packets per (S,G, interface) per hold window. */
static __always_inline void hold(struct __sk_buff* skb, const struct report_key* rk, __u64 now,
                                 __u32 l2, __u32 ip_len) {
    __u32 zero = 0;
    struct pmip_mcast_config* cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg || cfg->hold_packets == 0)
        return;
    struct hold_state* st = bpf_map_lookup_elem(&holding, rk);
    if (!st || now - st->window_start >= cfg->hold_window_ns) {
        struct hold_state fresh = {.window_start = now, .count = 0};
        bpf_map_update_elem(&holding, rk, &fresh, BPF_ANY);
        st = bpf_map_lookup_elem(&holding, rk);
        if (!st)
            return;
    }
    if (st->count >= cfg->hold_packets) {
        count(PMIP_MC_HELD_SUPPRESSED);
        return;
    }
    struct report_budget* b = current_budget(now);
    if (!b)
        return;
    if (b->held >= PMIP_MC_HOLD_BUDGET) {
        count(PMIP_MC_HELD_SUPPRESSED);
        return;
    }
    struct hold_record* r = bpf_map_lookup_elem(&hold_scratch, &zero);
    if (!r)
        return;
    /* Bounded in the register the helper gets (the verifier checks the
     * copy against the buffer; the compiler would otherwise test a copy). */
    __u64 len = ip_len;
    asm volatile("" : "+r"(len));
    if (len > PMIP_MC_HOLD_MAX_LEN) {
        count(PMIP_MC_HELD_TOO_BIG);
        return;
    }
    if (len < sizeof(struct ipv6hdr) || bpf_skb_load_bytes(skb, l2, r->packet, len) != 0) {
        count(PMIP_MC_HELD_LOST);
        return;
    }
    r->head.ifindex = rk->ifindex;
    r->head.reason = PMIP_MC_REPORT_HELD;
    r->head.len = len;
    r->head.pad = 0;
    if (bpf_ringbuf_output(&reports, r, sizeof(r->head) + len, 0) != 0) {
        count(PMIP_MC_HELD_LOST);
        return;
    }
    st->count += 1;
    b->held += 1;
    count(PMIP_MC_HELD);
}

struct output_walk {
    struct __sk_buff* skb;
    __u32 first;
    __u32 arrival;
    __u32 pending;     /* output chosen but not sent yet (0: none) */
    __u32 l2;          /* link-layer header now in front of the packet: 0 or 14 */
    __u32 ip_len;      /* IPv6 header + payload */
    __u32 copies;
    __u32 errors;
    __u8 group_low[4]; /* the group's last 4 octets (33:33:xx:xx:xx:xx) */
};

/* Makes the packet right for `out` (link-layer header and source MAC), an
 * output visit_output admitted; false when that failed. */
static __always_inline int prepare(struct output_walk* w, __u32 out) {
    struct pmip_mcast_iface* o = bpf_map_lookup_elem(&ifaces, &out);
    if (!o)
        return 0;
    if (o->l2len != ETH_HLEN)
        return 1; /* L3 device: the redirect strips any link-layer header */
    struct __sk_buff* skb = w->skb;
    if (w->l2 == 0) {
        if (bpf_skb_change_head(skb, ETH_HLEN, 0) != 0) {
            w->errors += 1;
            return 0;
        }
        w->l2 = ETH_HLEN;
        struct ethhdr eth = {};
        eth.h_dest[0] = 0x33;
        eth.h_dest[1] = 0x33;
        __builtin_memcpy(&eth.h_dest[2], w->group_low, 4);
        eth.h_proto = bpf_htons(ETH_P_IPV6);
        if (bpf_skb_store_bytes(skb, 0, &eth, sizeof eth, 0) != 0) {
            w->errors += 1;
            return 0;
        }
    }
    __u8 mac[6];
    __builtin_memcpy(mac, o->mac, 6);
    if (bpf_skb_store_bytes(skb, 6, mac, 6, 0) != 0) {
        w->errors += 1;
        return 0;
    }
    return 1;
}

static long visit_output(__u32 i, void* ctx) {
    struct output_walk* w = ctx;
    __u32 slot = w->first + i;
    __u64* out = bpf_map_lookup_elem(&out_pool, &slot);
    if (!out)
        return 1;
    const __u32 ifindex = (__u32)*out;
    if (ifindex == 0 || ifindex == w->arrival)
        return 0; /* never back to the arrival interface */
    struct pmip_mcast_iface* o = bpf_map_lookup_elem(&ifaces, &ifindex);
    if (!o) {
        count(PMIP_MC_OUTPUT_UNKNOWN);
        return 0;
    }
    if (w->ip_len > o->mtu) {
        count(PMIP_MC_TOO_BIG);
        return 0;
    }
    if (w->pending != 0) {
        if (prepare(w, w->pending)) {
            if (bpf_clone_redirect(w->skb, w->pending, 0) == 0)
                w->copies += 1;
            else
                w->errors += 1;
        }
    }
    w->pending = ifindex;
    return 0;
}

SEC("tc")
int pmip_mcast_fwd(struct __sk_buff* skb) {
    if (skb->protocol != bpf_htons(ETH_P_IPV6))
        return TC_ACT_UNSPEC;
    const __u32 arrival = skb->ifindex;
    struct pmip_mcast_iface* in = bpf_map_lookup_elem(&ifaces, &arrival);
    if (!in)
        return TC_ACT_UNSPEC;
    const __u32 l2 = in->l2len == ETH_HLEN ? ETH_HLEN : 0;
    /* IPv6 header plus 8 octets (a Hop-by-Hop header or ICMPv6 type) in the
     * linear part; pulled only when they are not (rare: unicast pays nothing). */
    const __u32 needed = l2 + sizeof(struct ipv6hdr) + 8;
    if ((long)skb->data + needed > (long)skb->data_end &&
        bpf_skb_pull_data(skb, needed) != 0) {
        count(PMIP_MC_TRUNCATED);
        return TC_ACT_UNSPEC;
    }
    void* data = (void*)(long)skb->data;
    void* data_end = (void*)(long)skb->data_end;
    struct ipv6hdr* ip6 = l2 ? data + ETH_HLEN : data;
    if ((void*)(ip6 + 1) > data_end) {
        count(PMIP_MC_TRUNCATED);
        return TC_ACT_UNSPEC;
    }
    const __u8* dst = ip6->daddr.in6_u.u6_addr8;
    const __u8* src = ip6->saddr.in6_u.u6_addr8;
    if (dst[0] != 0xff)
        return TC_ACT_UNSPEC; /* unicast: the fast path */
    count(PMIP_MC_SEEN);
    const __u8 scope = dst[1] & 0x0f;
    if (scope <= 2 || scope == 15) {
        count(PMIP_MC_SCOPE);
        return TC_ACT_UNSPEC;
    }
    if ((src[0] == 0xfe && (src[1] & 0xc0) == 0x80) ||
        (ip6->saddr.in6_u.u6_addr32[0] == 0 && ip6->saddr.in6_u.u6_addr32[1] == 0 &&
         ip6->saddr.in6_u.u6_addr32[2] == 0 && ip6->saddr.in6_u.u6_addr32[3] == 0)) {
        count(PMIP_MC_BAD_SOURCE);
        return TC_ACT_UNSPEC;
    }
    if (ip6->nexthdr == 0 /* Hop-by-Hop: MLD, router alert */) {
        count(PMIP_MC_CONTROL);
        return TC_ACT_UNSPEC;
    }
    if (ip6->nexthdr == 58 /* ICMPv6 */) {
        const __u8* icmp = (const __u8*)(ip6 + 1);
        if ((void*)(icmp + 1) > data_end)
            return TC_ACT_UNSPEC;
        if (icmp[0] == 130 || icmp[0] == 131 || icmp[0] == 132 || icmp[0] == 143) {
            count(PMIP_MC_CONTROL);
            return TC_ACT_UNSPEC;
        }
    }
    if (ip6->hop_limit <= 1) {
        count(PMIP_MC_HOP_LIMIT);
        return TC_ACT_UNSPEC;
    }

    struct pmip_mcast_key key;
    __builtin_memcpy(key.source, src, 16);
    __builtin_memcpy(key.group, dst, 16);
    const __u8 hop_limit = ip6->hop_limit;
    const __u32 ip_len = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
    struct output_walk walk = {};
    __builtin_memcpy(walk.group_low, &dst[12], 4);

    int star = 0;
    struct pmip_mcast_entry* e = bpf_map_lookup_elem(&fwd, &key);
    if (!e) {
        struct pmip_mcast_key any = {};
        __builtin_memcpy(any.group, key.group, 16);
        e = bpf_map_lookup_elem(&fwd, &any);
        star = 1;
    }
    if (!e) {
        count(PMIP_MC_NO_ENTRY);
        /* Held first: a report can make the daemon write the entry, which
         * then sends what it holds. */
        const struct report_key flow = flow_of(&key, arrival);
        const __u64 now = bpf_ktime_get_ns();
        hold(skb, &flow, now, l2, ip_len);
        report(&flow, now, PMIP_MC_REPORT_NO_ENTRY);
        return TC_ACT_UNSPEC;
    }
    if (e->parent != arrival) {
        count(PMIP_MC_WRONG_PARENT);
        if (star) {
            const struct report_key flow = flow_of(&key, arrival);
            report(&flow, bpf_ktime_get_ns(), PMIP_MC_REPORT_WRONG_PARENT);
        } else {
            struct pmip_mcast_entry_stats* s = bpf_map_lookup_elem(&entry_stats, &key);
            if (s)
                s->wrong_if += 1;
        }
        return TC_ACT_UNSPEC;
    }
    const __u32 first = e->first;
    __u32 n = e->count;
    if (!star) {
        struct pmip_mcast_entry_stats* s = bpf_map_lookup_elem(&entry_stats, &key);
        if (s) {
            s->packets += 1;
            s->bytes += ip_len;
        }
    }
    if (n == 0) {
        count(PMIP_MC_NO_OUTPUTS);
        return TC_ACT_UNSPEC;
    }
    if (n > PMIP_MC_MAX_OUTPUTS)
        n = PMIP_MC_MAX_OUTPUTS;

    /* Hop limit decremented once for every copy (RFC 8200 3). */
    const __u8 decremented = hop_limit - 1;
    if (bpf_skb_store_bytes(skb, l2 + 7, &decremented, 1, 0) != 0) {
        count(PMIP_MC_REDIRECT_ERRORS);
        return TC_ACT_UNSPEC;
    }
    walk.skb = skb;
    walk.first = first;
    walk.arrival = arrival;
    walk.l2 = l2;
    walk.ip_len = ip_len;
    bpf_loop(n, visit_output, &walk, 0);

    __u32 verdict = TC_ACT_UNSPEC;
    if (walk.pending != 0 && prepare(&walk, walk.pending)) {
        verdict = bpf_redirect(walk.pending, 0);
        if (verdict == TC_ACT_REDIRECT)
            walk.copies += 1;
    }
    if (walk.errors)
        count_n(PMIP_MC_REDIRECT_ERRORS, walk.errors);
    if (walk.copies) {
        count(PMIP_MC_FORWARDED);
        count_n(PMIP_MC_COPIES, walk.copies);
    }
    if (verdict != TC_ACT_REDIRECT) {
        /* Every output failed or was skipped: the packet (hop limit already
         * decremented) is not for this host either. */
        return walk.copies ? TC_ACT_SHOT : TC_ACT_UNSPEC;
    }
    return TC_ACT_REDIRECT;
}
