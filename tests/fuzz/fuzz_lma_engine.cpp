// libFuzzer target for lmad's packet path: MhReceiver::receive() (RFC 6275
// section 9.2 checks, strict and `oai` lenient parsing, OAI identity mapping,
// dispatch) into LmaEngine (RFC 5213 section 5.3 pipeline, section 5.4.1
// tables, the two delay timers, GRE keys, RFC 5846 revocation), with fake
// tunnels and routes, a recording transmitter and a simulated clock.
//
// The input is a program of operations, one selector octet each:
//   packet   raw MH octets (length-prefixed) from one of five sources (two
//            authorized MAGs, an `oai` MAG, an unauthorized node, the
//            unspecified address) to the LMA address or another address
//   pbu      a well-formed PBU built from a few octets (MN, HI, lifetime,
//            HNP choice, Timestamp offset, GRE, MN-LL-ID), serialized and
//            delivered as a packet, so that most programs reach deep states
//   oai-pbu  the same with OAI pmip6d's all-zero NAI (PROTOCOL.md Appendix I)
//   time     advance the clock (0-12.75 s) and run due timers
//   revoke   revoke an MN (per-MN trigger from input) or a MAG (maybe by realm)
//   bra      a BRA for an outstanding or random sequence, any status and source
//   faults   make tunnel creation or route programming fail, or stop failing
//   sq / sr  an RFC 7161 Subscription Query (as a serving MAG would ask) or
//            Subscription Response (to an outstanding or random sequence,
//            with or without options 57) from one of the sources; PBUs
//            set the S flag and carry options 57 from their input octets
// The second MAG (2001:db8:100::12) has [mags] auth required (HMAC-SHA256,
// SPI 1000; issue 16): its PBUs go signed with the right key, the wrong key
// or not at all, so the receiver's authentication check, PBA 146 and the
// signing transmitter are inside the fuzzed path.
// After every operation the invariants below are checked; a violation calls
// __builtin_trap():
//   - no home network prefix is bound to two entries; the prefix index agrees
//   - the routes in the kernel fake are exactly the bound prefixes (when no
//     route fault was injected since the last clean state)
//   - every tunnel serves at least one entry whose Proxy-CoA is its peer
//   - the cache never holds more entries than there are prefixes to bind
//   - an entry in state revoking belongs to an outstanding revocation; a
//     revocation never sent more than 1 + BRIMaxRetriesNumber BRIs
//   - pending timers stay bounded by the entries and revocations (two more
//     per entry for RFC 7161: its query and its PBA timer)
//   - everything sent serializes and parses back with the strict codec (the
//     lenient one for replies to the `oai` MAG)
//   - everything sent to the keyed MAG carries an authenticator it accepts
// At the end clear() must leave no entry, route, tunnel or engine timer.
// Build: tests/fuzz/CMakeLists.txt (PMIP_FUZZ=ON, clang). Run: run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "mh_receiver.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/lma/ordering.hpp"
#include "pmip/common/prefix_pool.hpp"
#include "pmip/mh/codec.hpp"

namespace {

using namespace pmip;
using namespace pmip::lma;

#define FUZZ_CHECK(condition)         \
    do {                              \
        if (!(condition))             \
            __builtin_trap();         \
    } while (0)

Ipv6Address address(const char* text) { return *parse_address(text); }

const Ipv6Address kLma = address("2001:db8:100::1");
const Ipv6Address kOther = address("2001:db8:100::2");
const Ipv6Address kSources[] = {address("2001:db8:100::11"), address("2001:db8:100::12"),
                                address("2001:db8:100::21"),  // oai profile
                                address("2001:db8:666::1"),   // not authorized
                                Ipv6Address{}};
constexpr std::size_t kOaiSource = 2;
constexpr std::size_t kKeyedSource = 1;

auth::PeerSecurity keyed(const Ipv6Address& peer, std::uint8_t key_fill) {
    auth::PeerSecurity p;
    p.peers = Ipv6Prefix{peer, 128};
    p.mode = auth::Mode::kRequired;
    p.associations = {{1000, mh::AuthAlgorithm::kHmacSha256, std::vector<std::uint8_t>(32, key_fill)}};
    return p;
}
const char* const kMobileNodes[] = {"mn0@example.org", "mn1@example.org", "mn2@example.org",
                                    "gre@example.org", "static@example.org", "off@example.org",
                                    "stranger@example.net"};
constexpr std::size_t kPoolPrefixes = 16;  // 2001:db8:8000::/60 in /64s
constexpr std::size_t kStaticPrefixes = 1;

// Reads the program; past the end everything reads as zero.
struct Input {
    std::span<const std::uint8_t> data;
    std::size_t at = 0;
    bool done() const { return at >= data.size(); }
    std::uint8_t byte() { return at < data.size() ? data[at++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(byte() << 8 | byte()); }
    std::span<const std::uint8_t> bytes(std::size_t n) {
        n = std::min(n, data.size() - std::min(at, data.size()));
        auto out = data.subspan(at, n);
        at += n;
        return out;
    }
};

class CheckingTransmitter final : public MhTransmitter {
  public:
    explicit CheckingTransmitter(auth::MessageAuthenticator& keyed_mag) : keyed_mag_(keyed_mag) {}
    void send(const Ipv6Address& source, const Ipv6Address& destination, const mh::Message& m) override {
        const auto wire = mh::serialize(m);
        FUZZ_CHECK(!wire.empty());
        if (destination == kSources[kKeyedSource]) {
            ReceivedPacket p;
            p.mh = wire;
            p.source = source;
            p.destination = destination;
            FUZZ_CHECK(keyed_mag_.verify(p, m) == auth::Verdict::kAuthenticated);
        }
        // Replies to the `oai` MAG echo its all-zero NAI, which only the
        // lenient parser accepts (PROTOCOL.md Appendix I).
        mh::ParseConfig config;
        config.lenient = destination == kSources[kOaiSource];
        const auto parsed = mh::parse(wire, config);
        FUZZ_CHECK(std::holds_alternative<mh::Parsed>(parsed));
        if (const auto* bri = std::get_if<mh::BindingRevocationIndication>(&m))
            last_bri_sequence = bri->sequence;
        ++sent;
    }
    void send_parameter_problem(const Ipv6Address&, const Ipv6Address&, std::uint32_t pointer,
                                std::span<const std::uint8_t> invoking) override {
        FUZZ_CHECK(invoking.size() <= MhReceiver::kMaxInvokingPacket);
        FUZZ_CHECK(pointer >= 40);
        ++sent;
    }
    std::size_t sent = 0;
    std::uint16_t last_bri_sequence = 0;

  private:
    auth::MessageAuthenticator& keyed_mag_;  // the keyed MAG's side: checks what it gets
};

struct World {
    SimulatedClock clock;
    TimerQueue timers{clock};
    FakeRouteManager routes;
    FakeTunnelBackend* backend = nullptr;
    std::unique_ptr<RefCountingTunnelManager> tunnels;
    // The keyed MAG's side of the association, a forger's, and lmad's.
    auth::MessageAuthenticator mag_side{{keyed(kLma, 7)}, clock};
    auth::MessageAuthenticator forger{{keyed(kLma, 8)}, clock};
    auth::MessageAuthenticator lma_side{{keyed(kSources[kKeyedSource], 7)}, clock};
    CheckingTransmitter out{mag_side};
    auth::AuthenticatingTransmitter signing{lma_side, out};
    MapPolicyStore policies;
    std::unique_ptr<LmaEngine> engine;
    std::unique_ptr<MhReceiver> receiver;
    std::uint64_t delivered = 0;
    bool route_faults_seen = false;
    RevocationConfig revocation;

    World() {
        auto b = std::make_unique<FakeTunnelBackend>();
        backend = b.get();
        tunnels = std::make_unique<RefCountingTunnelManager>(std::move(b), timers);
        for (const char* mn : kMobileNodes) {
            if (std::string(mn).find("example.org") == std::string::npos) continue;
            policies.policies[{1, mn}] = MobileNodePolicy{};
        }
        policies.policies[{1, "gre@example.org"}].gre_keys = true;
        policies.policies[{1, "gre@example.org"}].tunnel_kind = TunnelKind::kGre;
        policies.policies[{1, "static@example.org"}].static_prefixes = {
            *parse_prefix("2001:db8:1::/64")};
        policies.policies[{1, "off@example.org"}].proxy_registration_enabled = false;
        policies.policies[{1, "mn2@example.org"}].prefix_count = 2;
        // Two OAI MNs named by MAC (subtype 5), as the Appendix I mapping yields.
        policies.policies[{5, std::string("\x00\x11\x22\x33\x44\x55", 6)}] = MobileNodePolicy{};
        policies.policies[{5, std::string("\x00\x11\x22\x33\x44\x66", 6)}] = MobileNodePolicy{};

        LmaConfig config;
        config.authorized_mags = {*parse_prefix("2001:db8:100::/64")};
        config.min_delay_before_bce_delete = std::chrono::milliseconds(1000);
        config.max_delay_before_new_bce_assign = std::chrono::milliseconds(1500);
        config.max_lifetime = 20;  // 80 s: expiry is reachable
        revocation.max_retries = 2;
        config.revocation = revocation;
        std::vector<PrefixPool> pools;
        pools.push_back(*PrefixPool::create(*parse_prefix("2001:db8:8000::/60"), 64));

        MhReceiverConfig rc;
        rc.local_addresses = {kLma};
        rc.profiles = {{Ipv6Prefix{kSources[kOaiSource], 128}, PeerProfile::kOai}};
        rc.auth = &lma_side;
        MhReceiverHandlers h;
        h.proxy_binding_update = [this](const Ipv6Address& s, const Ipv6Address& d,
                                        const mh::BindingUpdate& pbu,
                                        const MobileNodeIdentifier* identity) {
            engine->handle_proxy_binding_update(s, d, pbu, identity);
        };
        h.subscription_query = [this](const Ipv6Address& s, const Ipv6Address& d,
                                      const mh::SubscriptionQuery& q) {
            engine->handle_subscription_query(s, d, q);
        };
        h.subscription_response = [this](const Ipv6Address& s, const Ipv6Address& d,
                                         const mh::SubscriptionResponse& r) {
            engine->handle_subscription_response(s, d, r);
        };
        h.binding_revocation_acknowledgement =
            [this](const Ipv6Address& s, const Ipv6Address& d,
                   const mh::BindingRevocationAcknowledgement& bra) {
                engine->handle_binding_revocation_acknowledgement(s, d, bra);
            };
        receiver = std::make_unique<MhReceiver>(rc, signing, clock, h);
        engine = std::make_unique<LmaEngine>(config, policies, std::move(pools), *tunnels, routes,
                                             timers, receiver->reply_sender());
    }

    void deliver(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                 const Ipv6Address& destination) {
        ReceivedPacket p;
        p.mh = mh;
        p.source = source;
        p.destination = destination;
        receiver->receive(p);
        ++delivered;
    }

    std::uint64_t now_timestamp() const {
        return timestamp_units(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock.since_epoch()));
    }

    // A bound prefix of the cache, picked by `n`, or a zero / foreign one.
    Ipv6Prefix some_prefix(std::uint8_t n) const {
        const auto& entries = engine->cache().entries();
        if (n % 4 == 0 || entries.empty()) return Ipv6Prefix{{}, 0};
        if (n % 4 == 1) return *parse_prefix("2001:db8:1::/64");
        if (n % 4 == 2) return *parse_prefix("2001:db8:8000:f::/64");
        auto it = entries.begin();
        std::advance(it, n % entries.size());
        return it->second.home_network_prefixes.front();
    }

    void pbu(Input& in, bool oai) {
        const std::uint8_t who = in.byte(), flags = in.byte(), hi = in.byte(), life = in.byte(),
                           hnp = in.byte(), ts = in.byte();
        const std::size_t source = oai ? kOaiSource : (who >> 4) % 4;
        mh::BindingUpdate bu;
        bu.sequence = in.u16();
        bu.flags = mh::bu_flag::kA | (flags & 0x80 ? 0 : mh::bu_flag::kP);
        bu.lifetime = life < 64 ? 0 : static_cast<std::uint16_t>(life);
        if (oai) {
            bu.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(63, 0)});
        } else if (!(flags & 0x01)) {
            const char* mn = kMobileNodes[who % std::size(kMobileNodes)];
            bu.options.push_back(mh::MobileNodeIdentifier{
                1, std::vector<std::uint8_t>(mn, mn + std::strlen(mn))});
        }
        if (!(flags & 0x02)) {
            const Ipv6Prefix p = some_prefix(hnp);
            bu.options.push_back(mh::HomeNetworkPrefix{oai ? std::uint8_t{128} : p.length,
                                                       p.address});
        }
        if (!(flags & 0x04)) bu.options.push_back(mh::HandoffIndicator{static_cast<std::uint8_t>(hi % 7)});
        if (!(flags & 0x08)) bu.options.push_back(mh::AccessTechnologyType{static_cast<std::uint8_t>(hi >> 4)});
        if (oai || (flags & 0x10)) {
            std::vector<std::uint8_t> ll = {0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44,
                                            static_cast<std::uint8_t>(who & 1 ? 0x55 : 0x66)};
            if (who & 0x02) ll = {static_cast<std::uint8_t>(who), 1, 2, 3, 4, 5};
            bu.options.push_back(mh::MobileNodeLinkLayerIdentifier{ll});
        }
        if (!(flags & 0x20)) {
            // Mostly fresh, sometimes stale or in the future (156/157).
            const std::int64_t offset = ts < 200 ? 0 : (static_cast<std::int64_t>(ts) - 228) << 12;
            bu.options.push_back(
                mh::Timestamp{static_cast<std::uint64_t>(static_cast<std::int64_t>(now_timestamp()) + offset)});
        }
        if (flags & 0x40) bu.options.push_back(mh::GreKey{who & 0x08 ? std::nullopt : std::optional<std::uint32_t>(life)});
        // RFC 7161: S and up to two Active Multicast Subscription options.
        if (ts & 0x01) bu.flags |= mh::bu_flag::kS;
        for (int i = 0; i < ((ts >> 1) & 3) && i < 2; ++i) bu.options.push_back(subscription(hnp + i));
        // The keyed MAG's PBUs: signed (right key), forged (wrong key) or bare.
        mh::Message message = bu;
        if (source == kKeyedSource && (hnp & 0x30) != 0)
            message = ((hnp & 0x10) ? mag_side : forger).sign(kSources[source], kLma, std::move(message));
        const auto wire = mh::serialize(message);
        FUZZ_CHECK(!wire.empty());
        deliver(wire, kSources[source], kLma);
    }

    static mh::ActiveMulticastSubscriptionIpv6 subscription(std::uint8_t x) {
        mh::ActiveMulticastSubscriptionIpv6 s;
        s.mld_type = (x & 0x40) ? 131 : 143;
        s.record.record_type = static_cast<std::uint8_t>(1 + x % 2);
        s.record.multicast_address = *parse_address("ff3e::4242:0");
        s.record.multicast_address[15] = x;
        if (s.mld_type == 143 && (x & 0x20)) s.record.sources.push_back(kSources[0]);
        return s;
    }

    void subscription_query(Input& in) {
        const std::uint8_t pick = in.byte(), seq = in.byte();
        mh::SubscriptionQuery q;
        q.sequence = seq;
        Ipv6Address source = kSources[pick % std::size(kSources)];
        const auto& entries = engine->cache().entries();
        if (!entries.empty() && (pick & 0x80)) {  // as the serving MAG of a binding would ask
            auto it = entries.begin();
            std::advance(it, seq % entries.size());
            source = it->second.proxy_coa;
            const auto& id = it->second.mn_identifier.identifier;
            q.options.push_back(mh::MobileNodeIdentifier{it->second.mn_identifier.subtype,
                                                         std::vector<std::uint8_t>(id.begin(), id.end())});
        } else if (pick & 0x40) {
            const char* mn = kMobileNodes[seq % std::size(kMobileNodes)];
            q.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(mn, mn + std::strlen(mn))});
        }
        deliver(mh::serialize(q), source, kLma);
    }

    void subscription_response(Input& in) {
        const std::uint8_t pick = in.byte(), seq = in.byte(), count = in.byte();
        mh::SubscriptionResponse r;
        r.sequence = seq;
        r.options.push_back(mh::MobileNodeIdentifier{1, {'m', 'n'}});
        for (int i = 0; i < (count & 3); ++i) r.options.push_back(subscription(static_cast<std::uint8_t>(count + i)));
        if (count & 0x80) r.flags = mh::subscription_response_flag::kI;
        deliver(mh::serialize(r), kSources[pick % std::size(kSources)], kLma);
    }

    void revoke(Input& in) {
        const std::uint8_t what = in.byte(), arg = in.byte();
        if (what & 1) {
            std::optional<std::string> realm;
            if (what & 2) realm = (what & 4) ? "example.org" : "example.net";
            (void)engine->revoke_mag(kSources[(arg >> 1) % 3], realm);
            return;
        }
        const auto& entries = engine->cache().entries();
        if (entries.empty()) return;
        auto it = entries.begin();
        std::advance(it, arg % entries.size());
        std::optional<Ipv6Prefix> prefix;
        if (what & 2) prefix = it->second.home_network_prefixes.front();
        (void)engine->revoke_mobile_node(it->second.mn_identifier, static_cast<std::uint8_t>(what >> 2 | (what & 0x80)), prefix);
    }

    void bra(Input& in) {
        const std::uint8_t pick = in.byte(), status = in.byte();
        std::uint16_t sequence = in.u16();
        Ipv6Address source = kSources[pick % std::size(kSources)];
        const auto& revocations = engine->revocations();
        if (!revocations.empty() && (pick & 0x80)) {
            auto it = revocations.begin();
            std::advance(it, sequence % revocations.size());
            sequence = it->first;
            if (pick & 0x40) source = it->second.mag;
        }
        mh::BindingRevocationAcknowledgement a;
        a.status = status;
        a.sequence = sequence;
        a.flags = pick & 0x20 ? mh::revocation_flag::kP : mh::revocation_flag::kP | mh::revocation_flag::kG;
        deliver(mh::serialize(a), source, kLma);
    }

    void check() const {
        const BindingCache& cache = engine->cache();
        std::set<Ipv6Prefix> bound;
        std::size_t prefixes = 0;
        std::set<Ipv6Address> mags;
        for (const auto& [id, e] : cache.entries()) {
            FUZZ_CHECK(e.id == id);
            FUZZ_CHECK(!e.home_network_prefixes.empty());
            for (const auto& p : e.home_network_prefixes) {
                bound.insert(p);
                ++prefixes;
                const BindingCacheEntry* owner = cache.find_by_prefix(p);
                FUZZ_CHECK(owner != nullptr && owner->id == id);
            }
            mags.insert(e.proxy_coa);
            if (e.state == BindingState::kRevoking) {
                bool found = false;
                for (const auto& [seq, r] : engine->revocations()) {
                    for (SessionId s : r.sessions) found = found || s == id;
                }
                FUZZ_CHECK(found);
            }
        }
        if (bound.size() != prefixes && std::getenv("FUZZ_LMA_DEBUG")) {
            for (const auto& [id, e] : cache.entries()) {
                std::fprintf(stderr, "entry %llu:", static_cast<unsigned long long>(id));
                for (const auto& p : e.home_network_prefixes)
                    std::fprintf(stderr, " %s", pmip::to_string(p).c_str());
                std::fprintf(stderr, "\n");
            }
        }
        FUZZ_CHECK(bound.size() == prefixes);  // no prefix bound twice
        FUZZ_CHECK(cache.size() <= kPoolPrefixes + kStaticPrefixes);
        if (!route_faults_seen) {
            std::set<Ipv6Prefix> routed;
            for (const auto& r : routes.routes) routed.insert(r.destination);
            FUZZ_CHECK(routed == bound);
            FUZZ_CHECK(routes.routes.size() == bound.size());
        }
        for (const auto& t : tunnels->tunnels()) FUZZ_CHECK(mags.count(t.key.peer) == 1);
        for (const auto& [seq, r] : engine->revocations()) {
            FUZZ_CHECK(r.sequence == seq);
            FUZZ_CHECK(r.transmissions >= 1 && r.transmissions <= 1 + revocation.max_retries);
        }
        // Lifetime, delete and wait timers per entry, one per revocation, one
        // per pending tunnel deletion.
        FUZZ_CHECK(timers.pending() <= 5 * cache.size() + engine->revocations().size() + 8);
        FUZZ_CHECK(receiver->counter("received") == delivered);
    }
};

}  // namespace

// pmip_common is linked uninstrumented (only the LMA and codec sources are
// compiled with coverage and ASan here): its vector operations do not
// annotate container bounds, so ASan's container-overflow check would report
// false positives across that boundary.
extern "C" const char* __asan_default_options() { return "detect_container_overflow=0"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // FUZZ_LMA_DEBUG=1 replays a reproducer with lmad's debug log.
    static const bool debug = std::getenv("FUZZ_LMA_DEBUG") != nullptr;
    pmip::log::set_minimum_level(debug ? pmip::log::Level::kDebug : pmip::log::Level::kError);
    if (debug) {
        for (const auto category : {pmip::log::Category::kBce, pmip::log::Category::kMh})
            pmip::log::enable_debug(category, true);
    }
    World w;
    Input in{std::span<const std::uint8_t>(data, size)};
    for (int steps = 0; !in.done() && steps < 256; ++steps) {
        const std::uint8_t op = in.byte();
        switch (op % 12) {
            case 0: {  // raw packet
                const std::uint8_t where = in.byte();
                const std::size_t length = in.byte() + ((where & 0x80) ? 256u : 0u);
                const auto octets = in.bytes(length);
                const std::vector<std::uint8_t> copy(octets.begin(), octets.end());
                w.deliver(copy, kSources[where % std::size(kSources)],
                          (where & 0x40) ? kOther : kLma);
                break;
            }
            case 1: case 2: case 3:
                w.pbu(in, false);
                break;
            case 4:
                w.pbu(in, true);
                break;
            case 5: case 6: {  // time
                w.clock.advance(std::chrono::milliseconds(50) * in.byte());
                w.timers.run_due();
                break;
            }
            case 7:
                w.revoke(in);
                break;
            case 8:
                w.bra(in);
                break;
            case 10:
                w.subscription_query(in);
                break;
            case 11:
                w.subscription_response(in);
                break;
            case 9: {  // faults
                const std::uint8_t f = in.byte();
                w.backend->fail_create =
                    (f & 1) ? std::optional(pmip::Error{ENOBUFS, "fuzz: no tunnel"}) : std::nullopt;
                if (f & 2) {
                    w.routes.fail_with = pmip::Error{ENOBUFS, "fuzz: no route"};
                    w.route_faults_seen = true;
                } else {
                    w.routes.fail_with.reset();
                }
                break;
            }
        }
        w.check();
    }
    w.engine->clear();
    FUZZ_CHECK(w.engine->cache().size() == 0);
    FUZZ_CHECK(w.engine->revocations().empty());
    if (!w.route_faults_seen) FUZZ_CHECK(w.routes.routes.empty());
    FUZZ_CHECK(w.tunnels->tunnels().empty());
    FUZZ_CHECK(w.timers.pending() == 0);
    return 0;
}
