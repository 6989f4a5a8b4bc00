// What the LMA engine tests share (test_lma_engine.cpp,
// test_lma_revocation.cpp, test_scenario_mag_lma.cpp):
//
//   address / prefix   parse a literal that is known to be valid;
//   kLma, kMag1, kMag2 the test network: an LMA and two MAGs inside the
//                      authorized MAGs 2001:db8:100::/64; kStranger outside it;
//   RecordingSender    the MH socket: records every message the engine sends
//                      (sent, bris()) after requiring that it serializes and
//                      parses back with the strict codec, and with
//                      compare_parsed also checks that it parses back equal;
//   LmaFakes           an LmaEngine on fakes (simulated clock and timers,
//                      routes, tunnels, policies, RecordingSender) to derive
//                      a test's Fixture from: its constructor authorizes
//                      2001:db8:100::/64; the Fixture adds policies and config,
//                      then make(pools); advance(d) moves the clock and runs
//                      the timers due; now_ts() is the clock as a Timestamp.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

#include "pmip/lma/lma_engine.hpp"
#include "pmip/lma/ordering.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::lma_test {

inline Ipv6Address address(const char* text) { return *parse_address(text); }
inline Ipv6Prefix prefix(const char* text) { return *parse_prefix(text); }

inline const Ipv6Address kLma = address("2001:db8:100::1");
inline const Ipv6Address kMag1 = address("2001:db8:100::11");
inline const Ipv6Address kMag2 = address("2001:db8:100::12");
inline const Ipv6Address kStranger = address("2001:db8:666::1");

struct SentMessage {
    Ipv6Address source, destination;
    mh::Message message;
};

class RecordingSender final : public MhSender {
public:
    void send(const Ipv6Address& s, const Ipv6Address& d, const mh::Message& m) override {
        // Everything sent must serialize and parse back with the strict codec.
        const auto wire = mh::serialize(m);
        REQUIRE_FALSE(wire.empty());
        const auto parsed = mh::parse(wire);
        REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
        if (compare_parsed) CHECK(std::get<mh::Parsed>(parsed).message == m);
        sent.push_back({s, d, m});
    }
    std::vector<mh::BindingRevocationIndication> bris() const {
        std::vector<mh::BindingRevocationIndication> out;
        for (const auto& s : sent) {
            if (const auto* b = std::get_if<mh::BindingRevocationIndication>(&s.message))
                out.push_back(*b);
        }
        return out;
    }
    std::vector<SentMessage> sent;
    bool compare_parsed = false;  // also CHECK that the parsed message equals the sent one
};

struct LmaFakes {
    SimulatedClock clock;
    TimerQueue timers{clock};
    FakeRouteManager routes;
    FakeTunnelBackend* backend = nullptr;  // owned by tunnels
    std::unique_ptr<RefCountingTunnelManager> tunnels;
    RecordingSender sender;
    lma::MapPolicyStore policies;
    lma::LmaConfig config;
    std::unique_ptr<lma::LmaEngine> engine;

    LmaFakes() {
        auto b = std::make_unique<FakeTunnelBackend>();
        backend = b.get();
        tunnels = std::make_unique<RefCountingTunnelManager>(std::move(b), timers);
        config.authorized_mags = {prefix("2001:db8:100::/64")};
    }
    void make(std::vector<PrefixPool> pools) {
        engine = std::make_unique<lma::LmaEngine>(config, policies, std::move(pools), *tunnels,
                                                  routes, timers, sender);
    }
    void advance(Duration d) {
        clock.advance(d);
        timers.run_due();
    }
    std::uint64_t now_ts() const {
        return lma::timestamp_units(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock.since_epoch()));
    }
};

}  // namespace pmip::lma_test
