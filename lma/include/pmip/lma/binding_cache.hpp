// The LMA's Binding Cache [RFC 5213 section 5.1] and the entry lookup of
// section 5.4.1 (tables A, B and C of ../shared/PROTOCOL.md section 2.9).
//
// Plain data: entries are records, indexed by session id, by home network
// prefix and by MN-Identifier; timers are referenced by id and live in the
// event loop (STYLE.md). lookup() is pure: it tells what RFC 5213 section
// 5.4.1 says a Proxy Binding Update means for this cache (new session, update
// of an entry, reject with a status, ignore, or wait for the previous MAG's
// de-registration) and names the table row that decided it.
//
// Threading: loop thread only. Memory: one entry plus three index slots per
// mobility session (the 1 KiB per binding target of DESIGN.md section 8).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/timers.hpp"

namespace pmip::lma {

using SessionId = std::uint64_t;

// The MN-Identifier option's subtype and identifier [RFC 4283, RFC 8371].
struct MobileNodeIdentifier {
    std::uint8_t subtype = 1;
    std::string identifier;  // octets, not necessarily text
    auto operator<=>(const MobileNodeIdentifier&) const = default;
};

struct MobileNodeIdentifierHash {
    std::size_t operator()(const MobileNodeIdentifier& id) const;
};

struct Ipv6PrefixHash {
    std::size_t operator()(const Ipv6Prefix& p) const {
        std::uint64_t hi = 0, lo = 0;
        for (int i = 0; i < 8; ++i) hi = hi << 8 | p.address[i];
        for (int i = 8; i < 16; ++i) lo = lo << 8 | p.address[i];
        return std::hash<std::uint64_t>{}(hi ^ (lo * 0x9e3779b97f4a7c15ull) ^ p.length);
    }
};

enum class BindingState : std::uint8_t {
    kActive,
    // Lifetime-0 PBU accepted; the entry is deleted when MinDelayBeforeBCEDelete
    // expires unless a valid registration arrives first [RFC 5213 section 5.3.5].
    kDeregistering,
    // A Binding Revocation Indication for this entry is outstanding; the entry
    // stays (routes and tunnel too) until the BRA or the last retransmission
    // [RFC 5846 section 8.1: "revocation in progress" flag].
    kRevoking,
};

// "active" | "deregistering" | "revoking"
std::string_view to_string(BindingState state);

// RFC 5213 section 5.1, with the RFC 5845 section 5.1 GRE fields.
struct BindingCacheEntry {
    SessionId id = 0;
    MobileNodeIdentifier mn_identifier;     // the identity policy and lookup use
    // The MN-Identifier option as the MAG sent it, when it differs from
    // mn_identifier (an identity mapped from the MN-LL-ID for an `oai` MAG,
    // PROTOCOL.md Appendix I); empty identifier = the same. A BRI carries
    // this form [RFC 5846 section 8.1: the NAI "used in the PBU"].
    MobileNodeIdentifier signalled_mn_identifier{0, {}};
    std::string mn_link_layer_identifier;  // empty = ALL_ZERO (option absent)
    std::vector<Ipv6Prefix> home_network_prefixes;
    Ipv6Address proxy_coa{};
    Ipv6Address mag_link_local{};
    std::uint8_t access_technology_type = 0;
    std::uint8_t handoff_indicator = 0;  // of the last accepted PBU
    std::uint16_t lifetime = 0;          // granted, in 4 s units
    TimePoint accepted_at{};             // LMA time of the last accepted PBU
    std::uint64_t timestamp = 0;         // last accepted Timestamp option (48.16), 0 = none
    std::uint16_t sequence = 0;          // last accepted sequence number
    bool gre = false;
    // RFC 7161 section 4.2.1.1: the serving MAG set S in its last
    // registration (it handles multicast signalling for this MN).
    bool multicast_signalling = false;
    // draft-asaeda PBU-M flag in the last accepted PBU (lmad [multicast]
    // pbu-m): the MAG takes the channels of our profile from our PBAs, and
    // an Update Notification makes it ask again (LmaEngine::profile_changed).
    bool multicast_request = false;
    // RFC 5845: the MAG's downlink key, present while the session uses keys;
    // the LMA's uplink key, the session's for its life once chosen (kept
    // while the session is unkeyed: keyed() says whether keys are in use).
    std::optional<std::uint32_t> downlink_key;  // chosen by the MAG
    std::optional<std::uint32_t> uplink_key;    // chosen by the LMA
    BindingState state = BindingState::kActive;
    TimerId lifetime_timer = 0;
    TimerId delete_timer = 0;
};

// GRE with keys in use for the session (RFC 5845): both keys exchanged.
inline bool keyed(const BindingCacheEntry& entry) {
    return entry.gre && entry.downlink_key && entry.uplink_key;
}

// The MN-Identifier index of the Binding Cache (section 5.4.1.3 looks every
// PBU's MN up in it; several sessions may share one MN). Open addressing with
// linear probing over 16-octet slots {hash, entry}, at most half full, so
// that looking up an MN costs one or two cache lines of one array: a node
// container costs three or four cache misses per lookup (bucket, the node
// before, the node), which was lmad's largest user-space cost with 200,000
// bindings (perf, issue 20). Entries are the cache's own map nodes, whose
// addresses do not move; the cache removes an entry here before it erases
// it. Deletion shifts the probe run back (no tombstones), so lookups never
// slow down with churn.
class MnIndex {
public:
    void insert(const BindingCacheEntry* entry);
    void erase(const BindingCacheEntry* entry);
    // Calls f(entry) for every indexed entry of `mn`, in no order.
    template <class F>
    void for_each(const MobileNodeIdentifier& mn, F&& f) const;
    void reserve(std::size_t entries);
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return slots_.size(); }

private:
    struct Slot {
        std::uint64_t hash = 0;
        const BindingCacheEntry* entry = nullptr;  // nullptr: empty
    };
    std::size_t home(std::uint64_t hash) const { return hash & (slots_.size() - 1); }
    void rehash(std::size_t capacity);

    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

template <class F>
void MnIndex::for_each(const MobileNodeIdentifier& mn, F&& f) const {
    if (size_ == 0) return;
    const std::uint64_t hash = MobileNodeIdentifierHash{}(mn);
    for (std::size_t i = home(hash);; i = (i + 1) & (slots_.size() - 1)) {
        const Slot& s = slots_[i];
        if (s.entry == nullptr) return;
        if (s.hash == hash && s.entry->mn_identifier == mn) f(*s.entry);
    }
}

// What RFC 5213 section 5.4.1 looks at in a PBU.
struct LookupRequest {
    MobileNodeIdentifier mn_identifier;
    std::vector<Ipv6Prefix> home_network_prefixes;  // as requested, ALL_ZERO included
    std::optional<std::string> mn_link_layer_identifier;
    std::uint8_t access_technology_type = 0;
    std::uint8_t handoff_indicator = 0;
    Ipv6Address proxy_coa{};  // IPv6 source, or the Alternate CoA when present
    std::uint16_t lifetime = 0;
};

enum class LookupOutcome : std::uint8_t {
    kNewSession,
    kUpdate,                  // session = the entry to update
    kReject,                  // status = 155 or 159
    kIgnore,                  // lifetime 0 and no session: silently ignored
    kWaitForDeregistration,   // HI = 4 and one session of this MN: wait (B3 / C2)
};

struct LookupResult {
    LookupOutcome outcome = LookupOutcome::kNewSession;
    SessionId session = 0;
    std::uint8_t status = 0;
    std::string_view rule;  // "A1" ... "C3", as in PROTOCOL.md section 2.9
};

std::string_view to_string(LookupOutcome outcome);

class BindingCache {
public:
    // RFC 5213 section 5.4.1: tables A (a NON_ZERO HNP), B (no NON_ZERO HNP,
    // MN-LL-ID present), C (neither), in that order.
    LookupResult lookup(const LookupRequest& request) const;

    // Adds an entry (its id is assigned here) and indexes its prefixes.
    BindingCacheEntry& insert(BindingCacheEntry entry);
    void erase(SessionId id);
    // Replaces the prefix set of an entry, keeping the prefix index right.
    void set_prefixes(SessionId id, std::vector<Ipv6Prefix> prefixes);

    BindingCacheEntry* find(SessionId id);
    const BindingCacheEntry* find(SessionId id) const;
    const BindingCacheEntry* find_by_prefix(const Ipv6Prefix& prefix) const;
    std::vector<SessionId> sessions_of(const MobileNodeIdentifier& mn) const;
    bool prefix_bound(const Ipv6Prefix& prefix) const { return find_by_prefix(prefix) != nullptr; }

    // Sizes the hash indexes for `sessions` entries up front, so that growing
    // to that many never rehashes them while a PBU waits.
    void reserve(std::size_t sessions);

    std::size_t size() const { return entries_.size(); }
    const std::map<SessionId, BindingCacheEntry>& entries() const { return entries_; }

private:
    LookupResult lookup_by_prefix(const LookupRequest& request) const;
    LookupResult lookup_by_link_layer_identifier(const LookupRequest& request) const;
    LookupResult lookup_by_mn_identifier(const LookupRequest& request) const;
    LookupResult new_session(const LookupRequest& request, std::string_view rule) const;

    std::map<SessionId, BindingCacheEntry> entries_;
    std::unordered_map<Ipv6Prefix, SessionId, Ipv6PrefixHash> by_prefix_;
    MnIndex by_mn_;
    SessionId next_id_ = 1;
};

}  // namespace pmip::lma
