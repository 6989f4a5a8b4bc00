// The querier keys of a daemon's [multicast] configuration section, read the
// same way with the same messages by lmad (queriers on the MAG tunnels) and
// magd (queriers on the MN links): robustness, query-interval-s,
// query-response-interval-ms, last-listener-query-interval-ms and, where the
// daemon offers it, fast-leave [RFC 3810 section 9, RFC 6224 section 4.7].
// Each daemon keeps its own defaults: they are the values of the
// QuerierConfig the keys are read over.
//
// Threading: none (start-up only). Counters: none.
#pragma once

#include <optional>

#include <cstdint>
#include <string>
#include <vector>

#include "pmip/common/config_file.hpp"
#include "pmip/common/result.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/mcast/ebpf_multicast_router.hpp"
#include "pmip/mcast/proxy.hpp"
#include "pmip/mcast/querier.hpp"
#include "pmip/mh/types.hpp"

namespace pmip::mcast {

// Whether a daemon's [multicast] section has the fast-leave key.
enum class FastLeaveKey : std::uint8_t { kAbsent, kPresent };

// Reads the keys over `querier`. A combination validate() (querier.hpp)
// refuses is reported at multicast.query-response-interval-ms and leaves
// `querier` unchanged.
void read_querier_keys(config::Validator& v, QuerierConfig& querier, FastLeaveKey fast_leave_key);

// The draft-asaeda PBU-M keys (PROTOCOL.md 9.1), both daemons:
//   multicast.pbu-m = false          PBU-M on (magd sends it, lmad honours it)
//   multicast.pbu-m-flag = 0x0008    its Binding Update flag: one bit, not
//                                    one the daemons use (A, H, L, K, M, R,
//                                    P, S); a warning for the IANA bits F,
//                                    T, B, D (a standard peer reads them)
//   multicast.pbu-m-option = 200     its option type: not one the codec
//                                    knows (RFC 6275 / PMIPv6 options)
// `enabled` gets multicast.pbu-m; the code points go to `code_points`
// (whether on or not: the receivers parse with them).
void read_pbu_m_keys(config::Validator& v, bool& enabled, mh::ExtensionCodePoints& code_points);
// The --help text of the three keys; `what` says what "on" does for the daemon.
std::string pbu_m_keys_help(const std::string& what);

// draft-asaeda's M-Tunnel keys (common/tunnel.hpp), both daemons:
//   multicast.m-tunnel = off         off | dynamic | static
//   multicast.m-tunnel-key = 0xffffffff   its GRE key, both directions
// Needs multicast on (`multicast_enabled`: an error otherwise).
void read_m_tunnel_keys(config::Validator& v, MulticastTunnelConfig& m_tunnel, bool multicast_enabled);
// The --help text of the two keys; `peers` says what the daemon's tunnels
// go to and what static means for it.
std::string m_tunnel_keys_help(const std::string& peers);

// A channel rule of several upstreams (upstream_rules.hpp) from the words
// "GROUP-PREFIX [SOURCE-PREFIX]" of `value` (key `key`; words from
// `first` on): no source prefix is any source (::/0). Null, with the problem
// located, when they are not a multicast prefix and a unicast one.
std::optional<SourceGroupRule> read_channel_rule(config::Validator& v, const config::Value& value,
                                                 const std::string& key,
                                                 const std::vector<std::string>& words);

// The instance's filter tables (mcast::Policy), both daemons:
//   multicast.allowed-group = GROUP-PREFIX               white list (none: all)
//   multicast.denied-group = GROUP-PREFIX                black list, after it
//   multicast.allowed-source = GROUP-PREFIX SOURCE-PREFIX  groups there take
//                                                        only listed sources
//   multicast.denied-source = GROUP-PREFIX SOURCE-ADDRESS  a host refused
// all repeatable, applied to the downstreams' reports, to what goes upstream
// and to forwarding; each problem located.
void read_filter_keys(config::Validator& v, Policy& policy);
// Per-interface filter tables (proxy.hpp InterfaceFilter), both daemons:
//   multicast.interface-filter = IFNAME-PATTERN allow|deny GROUP-PREFIX [SOURCE]
// repeatable; the lines of one pattern form that interface's table (allow
// without a source: white list of groups; deny without: black list; allow
// with a SOURCE-PREFIX: the group takes only those sources; deny with a
// SOURCE-ADDRESS: that host refused); each problem located.
void read_interface_filter_keys(config::Validator& v, std::vector<InterfaceFilter>& filters);
// The help text of both (filter tables and interface-filter).
std::string filter_keys_help();
// multicast.forwarding = auto | ebpf | kernel, over `forwarding`.
void read_forwarding_key(config::Validator& v, Forwarding& forwarding);
// multicast.hold-packets (0..64) and multicast.hold-ms (1..10000), over
// limits.hold_packets / hold_ms: the ebpf backend's unresolved queue.
void read_hold_keys(config::Validator& v, EbpfRouterLimits& limits);
// Their help text (both daemons).
std::string hold_keys_help();

// The --check line naming the forwarding backend this machine would use for
// `forwarding`: "multicast forwarding: ebpf (auto: the tc/eBPF programs
// load)"; an error when it has none. Without root nothing is probed (the
// line says so).
Expected<std::string> forwarding_check_note(Forwarding forwarding);
// A daemon's --check lines for its [multicast] section: "multicast:
// disabled", or the forwarding line above.
Expected<std::vector<std::string>> multicast_check_notes(bool enabled, Forwarding forwarding);

// The forwarding backend at a daemon's start: chosen once (one log line
// saying which and why), then the pmip tc filters a killed run of this
// daemon left (handle `filter_handle`) removed. An error names what is
// missing.
Expected<Forwarding> start_forwarding(Forwarding wanted, std::uint32_t filter_handle,
                                      const char* log_context);

}  // namespace pmip::mcast
