// Loading the project's tc/eBPF programs, shared by the ebpf multicast
// forwarding backend (multicast/bpf) and the ebpf tunnel backend
// (common/bpf): objects are compiled with clang -target bpf and embedded in
// the libraries at build time (common/bpf/embed.cmake), opened from memory
// with libbpf, their maps sized before load; libbpf's messages are kept for
// the error a failed load returns (the verifier's last lines), never printed.
// Also the clsact qdisc every tc program hangs on.
//
// Threading: any thread (the message capture is per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pmip/common/result.hpp"

struct bpf_object;

namespace pmip::bpf {

struct ObjectCloser {
    void operator()(bpf_object* object) const;
};
using Object = std::unique_ptr<bpf_object, ObjectCloser>;

// Opens the embedded ELF object (`name` names it in the kernel) and loads it;
// `before_load`, when given, runs between open and load (map sizes). Errors
// carry libbpf's last lines.
Expected<Object> load_embedded(const unsigned char* bytes, std::size_t size, const char* name,
                               const std::function<Status(bpf_object*)>& before_load = {});

// Sets a map's size before load; an error names the map.
Status set_map_size(bpf_object* object, const char* map, std::uint32_t entries);

// libbpf prints to stderr by default, also for failures its callers expect
// (bpf_tc_query on a link without clsact: "Parent Qdisc doesn't exists");
// after this call its messages are kept only while a load captures them.
void route_libbpf_messages();

// The clsact qdisc of a link, made ahead of the filters. Creating or deleting
// a clsact (or ingress) qdisc deactivates the whole device for an RCU grace
// period (net/sched/sch_api.c, qdisc_graft: dev_deactivate), and whatever
// it transmits meanwhile is dropped: on an MN's access link, at the moment
// its downlink starts after a PBA, that was the first Neighbor Solicitation
// for the MN, and its downlink waited a RetransTimer (1 s) for the next.
// magd makes the qdisc once per access link, so that the per-attach filter
// changes never create or delete one. Returns whether this call created it
// (false: it was there).
Expected<bool> ensure_clsact(int ifindex);
// Deletes the clsact qdisc of a link (with any filter left on it); a link or
// qdisc already gone is not an error.
Status remove_clsact(int ifindex);

// Detaches, on every interface of this network namespace, the tc filter at
// `handle` / `priority` of the ingress hook whose program is named `program`
// (what a killed process left; a filter of someone else with the same place
// stays, and so does the clsact qdisc: it may hold other filters). Returns
// how many; one netlink query per link.
std::size_t remove_leftover_ingress_filters(std::uint32_t handle, std::uint32_t priority,
                                            const char* program);

}  // namespace pmip::bpf
