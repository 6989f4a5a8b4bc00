/* Shared between the tc program (mcast_forward.bpf.c) and its loader
 * (multicast/src/ebpf_multicast_router.cpp): map value layouts, counter
 * indexes and report reasons. Plain C, fixed-size fields, no padding holes.
 */
#ifndef PMIP_MCAST_FORWARD_H
#define PMIP_MCAST_FORWARD_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint8_t pmip_u8;
typedef std::uint32_t pmip_u32;
typedef std::uint64_t pmip_u64;
#else
typedef __u8 pmip_u8;
typedef __u32 pmip_u32;
typedef __u64 pmip_u64;
#endif

/* The program's name, as bpf_prog_info reports it (16 octets with NUL):
 * a restart recognises the filters a crashed run left by it. */
#define PMIP_MCAST_PROG_NAME "pmip_mcast_fwd"

/* ifaces: ifindex -> one interface of the instance. */
struct pmip_mcast_iface {
    pmip_u32 mif;   /* the proxy's interface index (MIF), for reports */
    pmip_u32 mtu;   /* IPv6 packets longer than this are not sent here */
    pmip_u8 l2len;  /* 14: Ethernet; 0: no link-layer header (TUN, ip6tnl) */
    pmip_u8 mac[6]; /* source of frames sent on an Ethernet output */
    pmip_u8 pad;
};

/* fwd: (S,G) and (*,G) entries; (*,G) has the unspecified source, which is
 * never forwarded, so it cannot collide with an (S,G). */
struct pmip_mcast_key {
    pmip_u8 source[16];
    pmip_u8 group[16];
};
struct pmip_mcast_entry {
    pmip_u32 parent; /* ifindex packets must arrive on */
    pmip_u32 first;  /* outputs: out_pool[first .. first + count) (ifindexes) */
    pmip_u32 count;
    pmip_u32 pad;
};

/* entry_stats: per-CPU counters of one fwd entry (same key). */
struct pmip_mcast_entry_stats {
    pmip_u64 packets;
    pmip_u64 bytes;
    pmip_u64 wrong_if;
};

/* stats: per-CPU counters of the whole program, by index. */
enum pmip_mcast_stat {
    PMIP_MC_SEEN = 0,          /* multicast packets on an instance interface */
    PMIP_MC_FORWARDED,         /* packets sent on at least one output */
    PMIP_MC_COPIES,            /* copies sent (every output of every packet) */
    PMIP_MC_NO_ENTRY,          /* no (S,G) and no (*,G): to the stack */
    PMIP_MC_WRONG_PARENT,      /* an entry, but arrived elsewhere: to the stack */
    PMIP_MC_NO_OUTPUTS,        /* an entry without outputs */
    PMIP_MC_SCOPE,             /* scope 0-2 or 15: never forwarded */
    PMIP_MC_BAD_SOURCE,        /* link-local or unspecified source */
    PMIP_MC_CONTROL,           /* MLD, or anything with a Hop-by-Hop header */
    PMIP_MC_HOP_LIMIT,         /* hop limit <= 1 */
    PMIP_MC_TOO_BIG,           /* copy skipped: longer than the output's MTU */
    PMIP_MC_OUTPUT_UNKNOWN,    /* an output ifindex not in ifaces */
    PMIP_MC_REDIRECT_ERRORS,   /* bpf_clone_redirect / change_head / store failed */
    PMIP_MC_REPORTS,           /* reports written to the ring buffer */
    PMIP_MC_REPORTS_SUPPRESSED,/* the same (S,G, interface) reported < 200 ms ago, or over budget */
    PMIP_MC_REPORTS_LOST,      /* ring buffer full */
    PMIP_MC_TRUNCATED,         /* headers not readable */
    PMIP_MC_HELD,              /* packets without an entry copied to the daemon to hold */
    PMIP_MC_HELD_SUPPRESSED,   /* not copied: the (S,G, interface)'s hold_packets reached, or over budget */
    PMIP_MC_HELD_LOST,         /* not copied: ring buffer full, or the packet not readable */
    PMIP_MC_HELD_TOO_BIG,      /* not copied: longer than PMIP_MC_HOLD_MAX_LEN */
    PMIP_MC_STAT_COUNT
};

/* Ring buffer record: data of an (S,G) that no entry forwards arrived on
 * ifindex (the kernel backend's NOCACHE upcall). */
#define PMIP_MC_REPORT_NO_ENTRY 1
#define PMIP_MC_REPORT_WRONG_PARENT 2 /* only a (*,G) matched, another parent */
struct pmip_mcast_report {
    pmip_u32 ifindex;
    pmip_u32 reason;
    pmip_u8 source[16];
    pmip_u8 group[16];
};

/* Ring buffer record of a held packet: the first packets of an (S,G) that
 * no entry forwards yet, copied whole (IPv6 header on, `len` octets after
 * this header) so that the daemon can send them once an entry comes: the
 * kernel backend's unresolved queue (ip6mr keeps up to 4 packets per
 * unresolved (S,G) and sends them when the MFC entry is added). A handover
 * needs it: the stream reaches the new MAG's tunnel up to a few milliseconds
 * before the MN's forwarding entry is written. */
#define PMIP_MC_REPORT_HELD 3
struct pmip_mcast_held {
    pmip_u32 ifindex;
    pmip_u32 reason; /* PMIP_MC_REPORT_HELD */
    pmip_u32 len;    /* octets of the IPv6 packet that follow */
    pmip_u32 pad;
};
/* Longer packets are not held (counted held_too_big). */
#define PMIP_MC_HOLD_MAX_LEN 2048

/* config: one entry, written by the daemon after load. */
struct pmip_mcast_config {
    pmip_u32 hold_packets;   /* per (S,G, interface) and hold window; 0: nothing held */
    pmip_u32 pad;
    pmip_u64 hold_window_ns; /* the window (the daemon holds a packet this long) */
};

/* At most this many outputs per entry (bpf_loop bound). */
#define PMIP_MC_MAX_OUTPUTS 65535
/* Reports of one (S,G, interface) at most every 200 ms; at most
 * PMIP_MC_REPORT_BUDGET per CPU per 100 ms window. */
#define PMIP_MC_REPORT_INTERVAL_NS 200000000ULL
#define PMIP_MC_REPORT_WINDOW_NS 100000000ULL
#define PMIP_MC_REPORT_BUDGET 256
/* Held packets copied, at most per CPU per PMIP_MC_REPORT_WINDOW_NS. */
#define PMIP_MC_HOLD_BUDGET 128

#endif
