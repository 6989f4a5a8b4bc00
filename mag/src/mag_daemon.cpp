// magd wiring: adapters around the MAG engine. See mag_daemon.hpp.
#include "mag_daemon.hpp"
#include "pmip/mcast/subscription_options.hpp"

#include "pmip/mcast/querier_config_keys.hpp"

#include <fnmatch.h>
#include <net/if.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <set>
#include <utility>

#include "pmip/common/auth_config_keys.hpp"
#include "pmip/common/log.hpp"

namespace pmip::mag {

namespace {
const char* mode_name(McastConfig::Mode mode) {
    switch (mode) {
        case McastConfig::Mode::kProxyDirect: return "proxy-direct";
        case McastConfig::Mode::kListener: return "listener";
        case McastConfig::Mode::kProxy: break;
    }
    return "proxy";
}
}  // namespace

using pmip::to_string;
using json = nlohmann::json;

namespace {

const char* const kContext = "[mag]";

std::string link_context(const std::string& name) {
    return "[mag if=" + name + "]";
}

Status ensure_directory_of(const std::string& path, mode_t mode) {
    const auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec))
        return {};
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
        return Error::from_errno("creating directory " + dir.string());
    return {};
}

const Ipv6Address kAllNodes = *parse_address("ff02::1");
// How long after an early General Query MN MLD messages are captured for the
// proxy (covers PBU retransmissions; PROTOCOL.md 6.2 step 3).
constexpr Duration kEarlyCaptureWindow = std::chrono::seconds(5);

// [binding] uplink-routing (MagConfig::UplinkRouting): source routes when
// the kernel takes a source-specific route (a probe, unreachable and only for
// the source ::1, added to the uplink table and removed at once), else rules.
// One log line says which and why.
Expected<MagConfig::UplinkRouting> choose_uplink_routing(RouteManager& routes, const MagdConfig& c) {
    using Choice = MagConfig::UplinkRouting;
    if (c.uplink_routing == Choice::kRules) {
        PMIP_INFO(kRoute, kContext, "uplink forwarding: rules (configured): one rule per home network prefix");
        return Choice::kRules;
    }
    const Route probe{Ipv6Prefix{Ipv6Address{}, 0}, 0, c.engine.lma_table_base, c.engine.route_metric,
                      std::nullopt, RouteType::kUnreachable, Ipv6Prefix{*parse_address("::1"), 128}};
    const Status st = routes.add(probe);
    if (st.ok()) {
        (void)routes.remove(probe);
        PMIP_INFO(kRoute, kContext, std::string("uplink forwarding: source routes (") +
                                        (c.uplink_routing ? "configured" : "auto") + "): one route per home "
                                        "network prefix in table " + std::to_string(c.engine.lma_table_base) + ", one rule");
        return Choice::kSourceRoutes;
    }
    if (c.uplink_routing)
        return Error{st.error().code, "[binding] uplink-routing = source-routes: the kernel refuses "
                                      "source-specific routes (IPv6 subtrees): " + st.error().what +
                                      "; set uplink-routing = rules"};
    PMIP_WARNING(kRoute, kContext, "uplink forwarding: rules (auto: source routes unavailable: " +
                                       st.error().what + "): an MN's packets pass one rule per MN before theirs");
    return Choice::kRules;
}

json prefixes_json(const std::vector<Ipv6Prefix>& prefixes) {
    json out = json::array();
    for (const auto& p : prefixes) out.push_back(to_string(p));
    return out;
}

}  // namespace

MagDaemon::MagDaemon(MagdConfig config, EventLoop& loop) : config_(std::move(config)), loop_(loop) {}

Expected<std::unique_ptr<MagDaemon>> MagDaemon::start(MagdConfig config, EventLoop& loop) {
    std::unique_ptr<MagDaemon> d(new MagDaemon(std::move(config), loop));
    if (Status st = d->open(); !st.ok()) {
        d->shutdown();
        return st.error();
    }
    return d;
}

Status MagDaemon::open() {
    const MagdConfig& c = config_;
    // RFC 5847 section 5.2: a value that changes at every start. magd keeps
    // no bindings across restarts, so the start time serves (no state file).
    restart_counter_ = static_cast<std::uint32_t>(std::time(nullptr));

    // Policy store first: a broken file must stop the start, not half of it.
    policies_ = std::make_unique<FilePolicyStore>();
    {
        PolicyLoad load = load_policy_file(c.policy_file);
        if (!load.ok()) {
            std::string text;
            for (const auto& p : load.problems) text += (text.empty() ? "" : "; ") + p.to_string();
            return Error{0, "policy store has problems: " + text};
        }
        (void)policies_->replace(std::move(load.contents));
    }

    auto routes = make_netlink_route_manager();
    if (!routes)
        return routes.error();
    routes_ = std::move(*routes);
    if (auto flushed = routes_->flush_owned(); !flushed) {
        PMIP_WARNING(kRoute, kContext, "removing routes of a previous run failed: " + flushed.error().what);
    } else if (*flushed > 0) {
        PMIP_INFO(kRoute, kContext, "removed " + std::to_string(*flushed) + " routes and rules left by a previous run");
    }
    auto uplink = choose_uplink_routing(*routes_, c);
    if (!uplink)
        return uplink.error();
    link_config_ = make_kernel_link_configurator();
    // RFC 5213 section 6.10: the MAG forwards between access links and tunnels.
    if (Status st = link_config_->set_ipv6_sysctl("all", "forwarding", "1"); !st.ok())
        return Error{st.error().code, "enabling IPv6 forwarding: " + st.error().what};

    auto backend = make_tunnel_backend(c.tunnel_backend);
    if (!backend)
        return backend.error();
    if (auto stale = (*backend)->remove_stale(c.tunnel.name_prefix); !stale) {
        PMIP_WARNING(kTunnel, kContext, "removing stale tunnel devices failed: " + stale.error().what);
    } else if (*stale > 0) {
        PMIP_INFO(kTunnel, kContext, "removed " + std::to_string(*stale) + " tunnel devices left by a previous run");
    }
    const std::string backend_name((*backend)->name());
    tunnels_ = std::make_unique<RefCountingTunnelManager>(std::move(*backend), loop_, c.tunnel);
    // Each tunnel's "iif TUNNEL lookup main" rule, whichever engine holds it.
    tunnel_rules_ = std::make_unique<TunnelRules>(*routes_, c.engine.rule_priority - 1);
    tunnels_->set_use_listener(tunnel_rules_.get());

    auto socket = MhSocket::open(loop_);
    if (!socket)
        return socket.error();
    socket_ = std::move(*socket);
    socket_->set_code_points(c.multicast.code_points);
    auth_ = std::make_unique<auth::MessageAuthenticator>(c.auth, loop_.clock());
    auth_->set_code_points(c.multicast.code_points);
    transmitter_ = std::make_unique<auth::AuthenticatingTransmitter>(*auth_, *socket_);
    PMIP_INFO(kMh, kContext, "signalling authentication: " + auth::describe(c.auth));
    MagReceiverHandlers handlers;
    handlers.pba = [this](const Ipv6Address& lma, const mh::BindingAcknowledgement& pba) {
        if (maar_ && (pba.flags & mh::ba_flag::kD) != 0)
            maar_->handle_proxy_binding_acknowledgement(lma, pba);
        else
            engine_->handle_proxy_binding_acknowledgement(lma, pba);
    };
    if (c.maar) {
        handlers.proxy_binding_update = [this](const Ipv6Address& cmd, const Ipv6Address& destination,
                                               const mh::BindingUpdate& pbu) {
            maar_->handle_proxy_binding_update(cmd, destination, pbu);
        };
    }
    handlers.bri = [this](const Ipv6Address& lma, const mh::BindingRevocationIndication& bri) {
        engine_->handle_binding_revocation_indication(lma, bri);
    };
    handlers.update_notification = [this](const Ipv6Address& lma, const mh::UpdateNotification& upn) {
        engine_->handle_update_notification(lma, upn);
    };
    handlers.heartbeat_response = [this](const Ipv6Address& peer, std::uint32_t seq,
                                         std::optional<std::uint32_t> counter, bool unsolicited) {
        if (heartbeat_)
            heartbeat_->response_received(peer, seq, counter, unsolicited);
    };
    handlers.binding_error_unrecognized_type = [this](const Ipv6Address& peer) {
        if (heartbeat_)
            heartbeat_->binding_error_received(peer);
    };
    if (c.engine.multicast_context_transfer) {
        handlers.subscription_query = [this](const Ipv6Address& lma, const mh::SubscriptionQuery& q) {
            engine_->handle_subscription_query(lma, q);
        };
        handlers.subscription_response = [this](const Ipv6Address& lma, const mh::SubscriptionResponse& r) {
            engine_->handle_subscription_response(lma, r);
        };
    }
    // Engine -> OAI adaptation (receiver_->sender()) -> signing -> socket.
    receiver_ = std::make_unique<MagReceiver>(c.engine.proxy_coa, c.profiles, restart_counter_,
                                              *transmitter_, std::move(handlers));
    receiver_->set_authenticator(auth_.get());
    receiver_->set_code_points(c.multicast.code_points);

    if (c.heartbeat_enabled) {
        HeartbeatMonitor::Callbacks cb;
        cb.send_request = [this](const Ipv6Address& lma, std::uint32_t seq) {
            send_heartbeat_request(lma, seq);
        };
        cb.unreachable = [this](const Ipv6Address& lma) {
            ++counters_["lma_unreachable"];
            PMIP_WARNING(kBul, "[mag lma=" + to_string(lma) + "]",
                         "LMA does not answer heartbeats; bindings kept until their lifetime ends");
        };
        cb.reachable = [this](const Ipv6Address&) { ++counters_["lma_reachable_again"]; };
        cb.restarted = [this](const Ipv6Address& lma, std::uint32_t, std::uint32_t) {
            ++counters_["lma_restarts"];
            PMIP_WARNING(kBul, "[mag lma=" + to_string(lma) + "]",
                         "LMA restarted (Restart Counter changed): registering its mobile nodes again");
            engine_->reregister_all(lma);
        };
        heartbeat_ = std::make_unique<HeartbeatMonitor>(loop_, c.heartbeat, std::move(cb));
    }

    auto ra = RaSocket::open();
    if (!ra)
        return ra.error();
    ra_socket_ = std::move(*ra);
    ra_scheduler_ = std::make_unique<RaScheduler>(loop_, c.ra.timing,
                                                  [this](int ifindex) { send_ra(ifindex, false); });

    MagConfig engine_config = c.engine;
    engine_config.uplink_routing = *uplink;
    engine_ = std::make_unique<MagEngine>(engine_config, *policies_, *tunnels_, *routes_, loop_,
                                          receiver_->sender(),
                                          [this](int ifindex) { return is_attached(ifindex); });
    engine_->set_observer(this);
    if (c.maar) {
        MaarConfig m = *c.maar;
        m.initial_bindack_timeout = c.engine.initial_bindack_timeout;
        m.max_bindack_timeout = c.engine.max_bindack_timeout;
        m.route_metric = c.engine.route_metric;
        m.rule_priority = c.engine.rule_priority;
        // The MAAR's tables from lma-table-base up (MagEngine's, unused on a
        // MAAR), above the access table (lma-table-base - 1): never the same.
        m.table_base = c.engine.lma_table_base;
        m.access_table = access_table();
        m.uplink_routing = *uplink;
        maar_ = std::make_unique<MaarEngine>(m, *policies_, *tunnels_, *routes_, loop_, receiver_->sender());
        maar_->set_observer(this);
        PMIP_INFO(kBul, kContext, "RFC 8885 MAAR: prefixes from " + to_string(m.pool) + " (/" +
                                      std::to_string(m.pool_length) + " per MN), CMD " + to_string(m.cmd));
    }
    if (c.engine.multicast_context_transfer || c.engine.pbu_m) {
        engine_->set_multicast_context(this);
    }

    if (Status st = ensure_directory_of(c.control_socket, 0755); !st.ok())
        return st;
    auto control = ControlServer::create(loop_, c.control_socket, c.control_mode);
    if (!control)
        return control.error();
    control_ = std::move(*control);
    register_commands();

    socket_->set_handler([this](const ReceivedPacket& p) { receiver_->receive(p); });

    // Thousands of access links coming up at once must not overflow the
    // event socket (ENOBUFS makes the monitor dump everything again).
    auto monitor = make_netlink_link_monitor(loop_, 64 << 20);
    if (!monitor)
        return monitor.error();
    links_ = std::move(*monitor);
    links_->set_handler([this](const LinkEvent& e) { on_link_event(e); });
    auto solicitations = SolicitationSocket::open(
        loop_,
        [this](int ifindex, const std::string& mac, SolicitationKind kind) {
            on_solicitation(ifindex, mac, kind);
        },
        {});
    if (!solicitations)
        return solicitations.error();
    solicitations_ = std::move(*solicitations);
    if (const std::string& direct = c.multicast.direct_upstream; c.multicast.enabled && !direct.empty()) {
        if (::if_nametoindex(direct.c_str()) == 0)
            return Error{ENODEV, "multicast.direct-upstream " + direct + ": no such interface"};
        for (const auto& pattern : c.access.patterns) {
            if (::fnmatch(pattern.c_str(), direct.c_str(), 0) == 0)
                return Error{EINVAL, "multicast.direct-upstream " + direct + " matches access.interface " +
                                         pattern + ": an MN link cannot be an upstream"};
        }
    }
    for (const auto& peering : c.multicast.peerings) {
        if (!c.multicast.enabled)
            break;
        if (::if_nametoindex(peering.name.c_str()) == 0)
            return Error{ENODEV, "multicast.peering " + peering.name + ": no such interface"};
        for (const auto& pattern : c.access.patterns) {
            if (::fnmatch(pattern.c_str(), peering.name.c_str(), 0) == 0)
                return Error{EINVAL, "multicast.peering " + peering.name + " matches access.interface " +
                                         pattern + ": an MN link cannot be a peering"};
        }
    }
    if (c.multicast.enabled) {
        auto forwarding = mcast::start_forwarding(c.multicast.forwarding, c.multicast.table_base,
                                                  "[mag mcast]");
        if (!forwarding)
            return Error{forwarding.error().code, "multicast: " + forwarding.error().what};
        forwarding_ = *forwarding;
        refill_spare_program();
    }
    // listener (every LMA's): no MLD on the MN links, so no early query and
    // no capture.
    if (c.multicast.enabled && c.multicast.any_mld_on_links()) {
        auto capture = SolicitationSocket::open(
            loop_, {},
            [this](int ifindex, std::span<const std::uint8_t> packet,
                   std::optional<std::chrono::system_clock::time_point> at) {
                on_captured_mld(ifindex, packet, at);
            });
        if (!capture)
            return capture.error();
        mld_capture_ = std::move(*capture);
        auto sender = MldQuerySender::open();
        if (!sender)
            return sender.error();
        mld_query_sender_ = std::move(*sender);
        mcast::SerializeError error{};
        early_query_icmp_ = mcast::serialize(mcast::general_query(c.multicast.querier), &error);
        if (early_query_icmp_.empty())
            return Error{EINVAL, "the early General Query does not serialize: " +
                                     std::string(mcast::to_string(error))};
    }

    if (c.multicast.enabled && c.multicast.m_tunnel.mode == MulticastTunnelMode::kStatic) {
        std::set<Ipv6Address> lmas;
        for (const auto& [mac, entry] : policies_->contents().by_mac) {
            if (entry.policy.multicast)
                lmas.insert(entry.policy.lma);
        }
        if (const auto& d = policies_->contents().default_policy; d && d->multicast && d->lma != Ipv6Address{})
            lmas.insert(d->lma);
        // A failure is logged and counted; the first MN tries again.
        for (const Ipv6Address& lma : lmas) {
            if (take_m_tunnel(lma))
                static_m_tunnels_.insert(lma);
        }
    }
    for (const auto& link : links_->links()) {
        if (is_access_name(link.name))
            track(link);
    }
    std::string patterns;
    for (const auto& p : c.access.patterns) patterns += (patterns.empty() ? "" : " ") + p;
    PMIP_INFO(kBul, kContext,
              "magd started: Proxy-CoA " + to_string(c.engine.proxy_coa) + ", access interfaces \"" +
                  patterns + "\" (" + std::to_string(access_.size()) + " present), tunnel backend " +
                  backend_name + ", " + std::to_string(policies_->size()) +
                  " mobile nodes in the policy store, control " + c.control_socket);
    return {};
}

MagDaemon::~MagDaemon() {
    shutdown();
}

void MagDaemon::shutdown() {
    if (shut_down_)
        return;
    shut_down_ = true;
    if (spare_refill_timer_)
        loop_.cancel_timer(std::exchange(spare_refill_timer_, 0));
    if (spare_loader_.joinable())
        spare_loader_.join();  // its posted result is dropped with the loop
    if (socket_)
        socket_->set_handler({});
    solicitations_.reset();
    mld_capture_.reset();
    if (links_)
        links_->set_handler({});
    if (maar_)
        maar_->clear();
    if (engine_) {
        const std::size_t n = engine_->entries().size();
        engine_->clear();  // observer: last RAs with zero lifetimes
        if (n > 0)
            PMIP_INFO(kBul, kContext, "shutdown: removed " + std::to_string(n) + " bindings");
    }
    multicast_.clear();  // before the tunnels they use
    if (tunnels_)
        tunnels_->destroy_all();
    if (routes_) {
        if (auto flushed = routes_->flush_owned(); !flushed)
            PMIP_WARNING(kRoute, kContext, "shutdown: removing routes failed: " + flushed.error().what);
    }
    for (auto& [ifindex, link] : access_) restore(link);
    access_.clear();
    control_.reset();
}

// --- access links ------------------------------------------------------------

bool MagDaemon::is_access_name(const std::string& name) const {
    for (const auto& pattern : config_.access.patterns) {
        if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0)
            return true;
    }
    return false;
}

void MagDaemon::track(const Link& l) {
    auto [it, inserted] = access_.try_emplace(l.ifindex);
    AccessLink& link = it->second;
    if (inserted) {
        link.ifindex = l.ifindex;
        link.original_mac = l.mac;
        PMIP_INFO(kBul, link_context(l.name), "access link found");
    }
    link.name = l.name;
    link.mtu = l.mtu ? l.mtu : 1500;
    link.ethernet = l.mac.size() == 6;  // TUN / ARPHRD_NONE links have no L2 address
    prepare(link);
    if (link.ethernet && !link.mld_listening && mld_capture_) {
        if (Status st = mld_capture_->listen_mld(link.ifindex); !st.ok()) {
            ++counters_["mld_listen_errors"];
            PMIP_WARNING(kMld, link_context(link.name), st.error().what);
        } else {
            link.mld_listening = true;
        }
    }
    const bool was_running = link.running;
    link.running = l.running;
    if (l.running && !was_running)
        link_up(link);
}

// RFC 6543: the same link-local and MAC on every access link of every MAG;
// RFC 5213 section 6.8: the MAG is the MN's router, it takes no RAs there.
void MagDaemon::prepare(AccessLink& link) {
    if (link.prepared)
        return;
    const AccessConfig& a = config_.access;
    bool ok = true;
    if (a.set_router_mac && link.original_mac.size() == 6 &&
        !std::equal(link.original_mac.begin(), link.original_mac.end(), a.router_mac.begin())) {
        if (Status st = link_config_->set_mac(link.ifindex, a.router_mac); !st.ok()) {
            ok = false;
            PMIP_ERROR(kBul, link_context(link.name), "setting the router MAC failed: " + st.error().what);
        } else {
            link.mac_changed = true;
        }
    }
    if (Status st = link_config_->set_ipv6_sysctl(link.name, "accept_ra", "0"); !st.ok()) {
        ok = false;
        PMIP_ERROR(kBul, link_context(link.name), "accept_ra=0 failed: " + st.error().what);
    }
    if (Status st = link_config_->add_address(link.ifindex, Ipv6Prefix{a.router_link_local, 64}, true);
        !st.ok()) {
        ok = false;
        PMIP_ERROR(kBul, link_context(link.name),
                   "adding " + to_string(a.router_link_local) + " failed: " + st.error().what);
    } else {
        link.address_added = true;
    }
    // RFC 5213 section 6.10 / PROTOCOL.md 2.17: packets from an MN need an
    // established binding. Its HNP-sourced packets match the binding's rule
    // (rule-priority) first; anything else arriving on the access link ends
    // in the access table's unreachable default instead of the main table.
    if (!access_table_ready_) {
        Route unreachable{Ipv6Prefix{Ipv6Address{}, 0}, 0, access_table(), config_.engine.route_metric,
                          std::nullopt, RouteType::kUnreachable};
        if (Status st = routes_->add(unreachable); !st.ok()) {
            ok = false;
            PMIP_ERROR(kRoute, kContext, "access table unreachable route: " + st.error().what);
        } else {
            access_table_ready_ = true;
        }
    }
    if (!link.rule_added) {
        Rule rule{Ipv6Prefix{Ipv6Address{}, 0}, access_table(), config_.engine.rule_priority + 1, link.name};
        if (Status st = routes_->add(rule); !st.ok()) {
            ok = false;
            PMIP_ERROR(kRoute, link_context(link.name), "access rule: " + st.error().what);
        } else {
            link.rule_added = true;
        }
    }
    // ebpf forwarding: the link's clsact qdisc now, not when an MN's link
    // becomes a downstream (making one then dropped what the link sent
    // meanwhile: mcast::ensure_clsact). Not fatal: the router makes it later.
    if (config_.multicast.enabled && forwarding_ == mcast::Forwarding::kEbpf && !link.clsact_created) {
        if (auto made = mcast::ensure_clsact(link.ifindex); !made) {
            ++counters_["multicast_errors"];
            PMIP_ERROR(kMld, link_context(link.name),
                       made.error().what + ": the forwarding program will make it when an MN's link becomes "
                       "a downstream, which deactivates the link for a moment (its first downlink packets and "
                       "Neighbor Solicitation can be lost: a 1 s interruption)");
        } else {
            link.clsact_created = *made;
        }
    }
    link.prepared = ok;
    ++counters_[ok ? "access_links_prepared" : "prepare_errors"];
}

void MagDaemon::remove_access_rule(AccessLink& link) {
    if (!link.rule_added)
        return;
    Rule rule{Ipv6Prefix{Ipv6Address{}, 0}, access_table(), config_.engine.rule_priority + 1, link.name};
    if (Status st = routes_->remove(rule); !st.ok())
        PMIP_WARNING(kRoute, link_context(link.name), "removing the access rule failed: " + st.error().what);
    link.rule_added = false;
}

void MagDaemon::restore(AccessLink& link) {
    remove_access_rule(link);
    // Ours (made at prepare); a clsact that was there before magd stays, and
    // one left by a killed magd is taken as not ours.
    if (link.clsact_created) {
        if (Status st = mcast::remove_clsact(link.ifindex); !st.ok())
            PMIP_WARNING(kMld, link_context(link.name), st.error().what);
        link.clsact_created = false;
    }
    if (link.address_added) {
        if (Status st = link_config_->remove_address(
                link.ifindex, Ipv6Prefix{config_.access.router_link_local, 64});
            !st.ok()) {
            PMIP_WARNING(kBul, link_context(link.name), "removing the router link-local failed: " + st.error().what);
        }
    }
    if (link.mac_changed && link.original_mac.size() == 6) {
        MacAddress mac{};
        std::copy(link.original_mac.begin(), link.original_mac.end(), mac.begin());
        if (Status st = link_config_->set_mac(link.ifindex, mac); !st.ok() && st.error().code != ENODEV)
            PMIP_WARNING(kBul, link_context(link.name), "restoring the MAC failed: " + st.error().what);
    }
    link.prepared = link.address_added = link.mac_changed = false;
}

void MagDaemon::on_link_event(const LinkEvent& event) {
    const Link& l = event.link;
    auto it = access_.find(l.ifindex);
    switch (event.type) {
        case LinkEventType::kNew:
        case LinkEventType::kUp:
            if (it != access_.end() || is_access_name(l.name))
                track(l);
            return;
        case LinkEventType::kDown:
            if (it == access_.end())
                return;
            it->second.running = false;
            PMIP_INFO(kBul, link_context(it->second.name), "access link down");
            forget_early_query(it->second);
            engine_->detach(l.ifindex);
            if (maar_)
                maar_->detach(l.ifindex);
            return;
        case LinkEventType::kDeleted:
            if (it == access_.end())
                return;
            it->second.running = false;
            PMIP_INFO(kBul, link_context(it->second.name), "access link gone");
            engine_->detach(l.ifindex);
            if (maar_)
                maar_->detach(l.ifindex);
            remove_access_rule(it->second);  // rules name the device; the rest went with it
            access_.erase(l.ifindex);
            return;
    }
}

void MagDaemon::link_up(AccessLink& link) {
    PMIP_INFO(kBul, link_context(link.name), "access link up");
    // A new attachment: neighbour entries of the last one are stale. One
    // made by packets that were still arriving after the carrier went (it
    // is INCOMPLETE, its next solicitation up to a second away, packets
    // queued behind it) would hold back the MN's downlink after the PBA.
    if (auto flushed = link_config_->flush_neighbours(link.ifindex); !flushed) {
        ++counters_["neighbour_flush_errors"];
        PMIP_WARNING(kBul, link_context(link.name), flushed.error().what);
    } else if (*flushed > 0) {
        counters_["neighbours_flushed"] += *flushed;
    }
    if (!config_.access.detect_link)
        return;
    if (const PolicyEntry* e = policies_->find_by_interface(link.name)) {
        // The MN is registered on another access link of ours (it moved
        // there: MagEngine::attach, MaarEngine::attach): this link's
        // carrier is no sign that it is back, its Router Solicitation is.
        if (const auto other = registered_elsewhere(e->mac, link.ifindex); other && config_.access.detect_rs) {
            ++counters_["link_up_mn_registered_elsewhere"];
            PMIP_INFO(kBul, link_context(link.name), "access link up, but its MN is registered on " + *other +
                                                         ": it moves here at its Router Solicitation");
            return;
        }
        (void)attach(link, e->mac, "link up");
    } else {
        ++counters_["link_up_without_interface_policy"];
    }
}

void MagDaemon::on_solicitation(int ifindex, const std::string& mac, SolicitationKind kind) {
    const auto it = access_.find(ifindex);
    if (it == access_.end()) {
        ++counters_["solicitations_not_access_link"];
        return;
    }
    AccessLink& link = it->second;
    if (maar_) {
        if (const auto s = maar_->served().find(ifindex);
            s != maar_->served().end() && s->second.state != MaarState::kDetached) {
            if (kind == SolicitationKind::kRouterSolicitation)
                ra_scheduler_->solicited(ifindex);
            return;
        }
    }
    if (const auto* e = engine_->find_by_interface(ifindex)) {
        if (e->state == BulState::kRegistered && kind == SolicitationKind::kRouterSolicitation)
            ra_scheduler_->solicited(ifindex);  // RFC 4861 section 6.2.6
        return;
    }
    if (!config_.access.detect_rs || !link.running)
        return;
    (void)attach(link, mac, kind == SolicitationKind::kRouterSolicitation ? "router solicitation"
                                                                          : "DAD neighbour solicitation");
}

std::optional<std::string> MagDaemon::registered_elsewhere(const std::string& mac, int ifindex) const {
    if (maar_) {
        const auto* s = maar_->find_by_mac(mac);
        if (s && s->ifindex != ifindex && s->state == MaarState::kRegistered) return s->interface;
        return std::nullopt;
    }
    const auto* e = engine_->find_by_mac(mac);
    if (e && e->access_ifindex != ifindex && e->state == BulState::kRegistered) return e->access_interface;
    return std::nullopt;
}

bool MagDaemon::attach(AccessLink& link, const std::string& mac, const char* how) {
    PMIP_DEBUG(kBul, link_context(link.name), std::string("attach: ") + how + " from " + mac_text(mac));
    if (maar_)
        return maar_->attach(link.ifindex, link.name, mac);
    if (!engine_->attach(link.ifindex, link.name, mac))
        return false;
    send_early_query(link);
    return true;
}

// PROTOCOL.md 6.2 step 3 (RFC 6224 section 3, appendix A): a General Query
// on the MN's link as soon as its registration starts, so the MN's answer
// (a Linux MN answers two jiffies after any query, 8 ms at HZ=250) overlaps
// the PBU/PBA exchange instead of following it. Its answer is captured
// (on_captured_mld) and handed to the proxy instance once the link is a
// downstream; the instance counts this query as its first startup query
// (KernelProxy::add_downstream with its time) and sends none at once, which
// would restart the MN's pending answer. Ethernet access links only (the
// link-layer sender needs no IPv6 configuration on the link).
void MagDaemon::send_early_query(AccessLink& link) {
    forget_early_query(link);  // whatever an earlier registration left
    // No MLD on the links of an LMA whose instance is a plain listener.
    if (const auto* e = engine_->find_by_interface(link.ifindex);
        e && config_.multicast.mode_for(e->policy.lma) == McastConfig::Mode::kListener)
        return;
    if (!mld_query_sender_ || !link.ethernet)
        return;
    const BindingUpdateListEntry* e = engine_->find_by_interface(link.ifindex);
    if (e == nullptr || e->state != BulState::kRegistering || !e->policy.multicast)
        return;
    if (Status st = mld_query_sender_->send_general_query(link.ifindex, config_.access.router_link_local,
                                                          early_query_icmp_);
        !st.ok()) {
        ++counters_["early_query_errors"];
        PMIP_WARNING(kMld, link_context(link.name), st.error().what);
        return;
    }
    link.early_query = loop_.clock().now();
    link.early_entry = e->id;
}

// The early query of `link`, if it was sent for the link's current
// registration less than kEarlyCaptureWindow ago.
std::optional<TimePoint> MagDaemon::current_early_query(const AccessLink& link) const {
    if (!link.early_query || loop_.clock().now() > *link.early_query + kEarlyCaptureWindow)
        return std::nullopt;
    const BindingUpdateListEntry* e = engine_->find_by_interface(link.ifindex);
    if (e == nullptr || e->id != link.early_entry)
        return std::nullopt;
    return link.early_query;
}

// The proxy instance `link` is a downstream of, if any.
mcast::KernelProxy* MagDaemon::downstream_proxy(const AccessLink& link) {
    McastInstance* instance = instance_with_downstream(link.name);
    return instance ? instance->proxy.get() : nullptr;
}

MagDaemon::McastInstance* MagDaemon::instance_with_downstream(const std::string& access_device) {
    for (auto& [upstream, instance] : multicast_) {
        if (instance.proxy && instance.proxy->has_downstream(access_device))
            return &instance;
    }
    return nullptr;
}

// An MLD message seen on an access link by the AF_PACKET capture. Only the
// answers to an early query matter here, for the registration it was sent
// for: before the link is a downstream they are kept for the add; after it,
// only those that reached the link before the add go to the proxy (its
// socket joined ff02::16 in the add, so it missed them and has all later
// ones). All other MLD reaches the proxy through its socket.
void MagDaemon::on_captured_mld(int ifindex, std::span<const std::uint8_t> packet,
                                std::optional<std::chrono::system_clock::time_point> received_at) {
    const auto it = access_.find(ifindex);
    if (it == access_.end()) {
        ++counters_["mld_captured_not_access_link"];
        return;
    }
    AccessLink& link = it->second;
    if (!current_early_query(link)) {
        ++counters_["mld_captured_outside_window"];
        return;
    }
    auto message = mcast::parse_captured_mld(packet, ifindex);
    if (!message) {
        ++counters_["mld_captured_unparsed"];
        return;
    }
    if (link.downstream_since) {
        // Receive times and the add are compared on CLOCK_REALTIME (the only
        // clock SO_TIMESTAMPNS offers); if it was stepped since the add, or
        // the time is missing, the message is passed: a duplicate is
        // harmless, a lost answer is not. The window between the proxy's join
        // and downstream_since can also give a rare duplicate.
        const auto wall = std::chrono::system_clock::now() - *link.downstream_since;
        const auto steady = loop_.clock().now() - link.downstream_since_steady;
        const bool stepped = wall - steady > std::chrono::milliseconds(1) ||
                             steady - wall > std::chrono::milliseconds(1);
        if (!received_at || stepped) {
            ++counters_["mld_captured_time_unknown"];
        } else if (*received_at >= *link.downstream_since) {
            ++counters_["mld_captured_seen_by_proxy"];
            return;
        }
        if (mcast::KernelProxy* proxy = downstream_proxy(link)) {
            proxy->receive_captured(*message);
            ++counters_["mld_captured_passed"];
        } else {
            ++counters_["mld_captured_no_downstream"];
        }
        return;
    }
    if (link.captured.size() >= mcast::KernelProxy::kMaxHeld) {
        ++counters_["mld_captured_overflow"];
        return;
    }
    link.captured.push_back(std::move(*message));
    ++counters_["mld_captured_buffered"];
}

void MagDaemon::forget_early_query(AccessLink& link) {
    link.early_query.reset();
    link.early_entry = 0;
    link.captured.clear();
    link.replay_pending = false;
    link.downstream_since.reset();
}

bool MagDaemon::is_attached(int ifindex) const {
    const auto it = access_.find(ifindex);
    return it != access_.end() && it->second.running;
}

// RFC 5213 sections 6.7, 6.9.3, 6.12; RFC 4861 section 6.2.3.
void MagDaemon::send_ra(int ifindex, bool withdraw) {
    const auto it = access_.find(ifindex);
    if (it == access_.end() || !it->second.running)
        return;
    AccessLink& link = it->second;
    RouterAdvertisement ra;
    ra.router_lifetime = withdraw ? 0 : config_.ra.router_lifetime;
    ra.source_link_layer_address = config_.access.router_mac;
    const unsigned mtu = config_.ra.mtu ? config_.ra.mtu
                                        : (link.tunnel_mtu ? std::min(link.tunnel_mtu, link.mtu) : link.mtu);
    ra.mtu = mtu;
    if (withdraw) {
        for (const auto& p : link.advertised) ra.prefixes.push_back({p, true, true, 0, 0});
    } else if (maar_) {
        send_maar_ra(link, ra);
        if (ra.prefixes.empty())
            return;
    } else {
        const auto* e = engine_->find_by_interface(ifindex);
        if (!e || e->state != BulState::kRegistered)
            return;
        // Lifetimes tied to the binding (RFC 5213 section 6.7 MAY).
        const std::uint32_t binding = 4u * e->lifetime_granted;
        for (const auto& p : e->home_network_prefixes) {
            ra.prefixes.push_back({p, true, true, std::min<std::uint32_t>(2'592'000, binding),
                                   std::min<std::uint32_t>(604'800, binding)});
        }
        link.advertised = e->home_network_prefixes;
    }
    const auto icmp = build_router_advertisement(ra);
    if (Status st = ra_socket_->send(ifindex, link.ethernet, config_.access.router_link_local, kAllNodes, icmp);
        !st.ok()) {
        ++counters_["ra_errors"];
        PMIP_WARNING(kBul, link_context(link.name), st.error().what);
    }
}

// RFC 8885 section 3.7: the local prefix preferred, the previous MAARs'
// prefixes valid for the rest of their hold (plus one idle period) but
// deprecated (preferred lifetime 0), so new flows take the local one.
void MagDaemon::send_maar_ra(AccessLink& link, RouterAdvertisement& ra) {
    const auto it = maar_->served().find(link.ifindex);
    if (it == maar_->served().end() || it->second.state != MaarState::kRegistered)
        return;
    const MaarServed& s = it->second;
    const std::uint32_t binding = 4u * s.lifetime_granted;
    ra.prefixes.push_back({s.local, true, true, std::min<std::uint32_t>(2'592'000, binding),
                           std::min<std::uint32_t>(604'800, binding)});
    link.advertised = {s.local};
    const TimePoint now = loop_.clock().now();
    // Valid for the rest of the hold plus one idle period: a prefix still in
    // use at the hold's end is kept that much more (and the next RA says so
    // again), and the MN must not drop its address just before.
    const auto idle = maar_->config().previous_prefix_idle;
    for (const auto& r : s.remote) {
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(r.until - now + idle).count();
        ra.prefixes.push_back({r.prefix, true, true, static_cast<std::uint32_t>(std::max<long long>(left, 1)), 0});
        link.advertised.push_back(r.prefix);
    }
}

void MagDaemon::prefixes_changed(const MaarServed& s) {
    send_ra(s.ifindex, false);
    ra_scheduler_->start(s.ifindex);
}

void MagDaemon::left(const MaarServed& s) {
    ra_scheduler_->stop(s.ifindex);
    if (auto it = access_.find(s.ifindex); it != access_.end())
        it->second.advertised.clear();
}

json MagDaemon::show_maar() const {
    if (!maar_)
        throw ControlError("not a MAAR ([mag] mode = mag)");
    const TimePoint now = loop_.clock().now();
    json served = json::array();
    for (const auto& [ifindex, s] : maar_->served()) {
        json remote = json::array();
        for (const auto& r : s.remote) {
            remote.push_back({{"maar", to_string(r.maar)},
                              {"prefix", to_string(r.prefix)},
                              {"table", r.table},
                              {"hold_remaining_s", std::chrono::duration_cast<std::chrono::seconds>(r.until - now).count()}});
        }
        served.push_back({{"interface", s.interface},
                          {"mac", mac_text(s.mac)},
                          {"mn", s.policy.mn_identifier},
                          {"state", std::string(to_string(s.state))},
                          {"local_prefix", to_string(s.local)},
                          {"previous_maar_prefixes", remote},
                          {"lifetime", 4u * s.lifetime_granted}});
    }
    json anchors = json::array();
    for (const auto& [p, a] : maar_->anchors()) {
        anchors.push_back({{"prefix", to_string(p)},
                           {"mn", a.mn_identifier},
                           {"served_at", a.serving_elsewhere ? json(to_string(*a.serving_elsewhere)) : json("here")}});
    }
    const MaarCounters& c = maar_->counters();
    return {{"served", served},
            {"anchored", anchors},
            {"counters",
             {{"attaches", c.attaches}, {"pbu_sent", c.pbu_sent}, {"pbu_retransmitted", c.pbu_retransmitted},
              {"pba_accepted", c.pba_accepted}, {"pba_rejected", c.pba_rejected}, {"pba_unmatched", c.pba_unmatched},
              {"pba_not_dmm", c.pba_not_dmm}, {"pool_exhausted", c.pool_exhausted}, {"remotes_added", c.remotes_added},
              {"remotes_expired", c.remotes_expired}, {"holds_extended", c.holds_extended},
              {"became_previous", c.became_previous},
              {"anchors_released", c.anchors_released}, {"returns", c.returns},
              {"cmd_pbu_received", c.cmd_pbu_received}, {"cmd_pbu_unknown", c.cmd_pbu_unknown},
              {"deregistrations", c.deregistrations}, {"intra_maar_moves", c.intra_maar_moves},
              {"data_path_errors", c.data_path_errors}}}};
}

// --- engine observer -------------------------------------------------------

void MagDaemon::registered(const BindingUpdateListEntry& e, const TunnelInfo& tunnel) {
    if (auto it = access_.find(e.access_ifindex); it != access_.end())
        it->second.tunnel_mtu = tunnel.mtu;
    if (heartbeat_)
        heartbeat_->binding_added(e.policy.lma);
    ++lma_bindings_[e.policy.lma];
    publish({BindingEvent::Kind::kAttached, e.mn_link_layer_address, e.policy.mn_identifier,
             e.policy.lma, e.access_interface, e.access_ifindex, tunnel.name, tunnel.ifindex,
             e.home_network_prefixes, e.policy.multicast, profile_channels(e),
             e.policy.multicast_admission});
    // An RA now, then the initial burst; once this PBA's multicast set-up is
    // done (the context of RFC 7161 is applied after this returns): after a
    // handover the MN keeps its address and router, so its traffic does not
    // wait for the RA, but the streams the proxy forwards do wait for their
    // set-up.
    loop_.post([this, ifindex = e.access_ifindex, id = e.id] {
        const BindingUpdateListEntry* entry = engine_ ? engine_->find_by_interface(ifindex) : nullptr;
        if (!shut_down_ && entry != nullptr && entry->id == id && entry->state == BulState::kRegistered)
            ra_scheduler_->start(ifindex);
    });
}

void MagDaemon::deregistered(const BindingUpdateListEntry& e) {
    ra_scheduler_->stop(e.access_ifindex);
    if (auto it = access_.find(e.access_ifindex); it != access_.end()) {
        forget_early_query(it->second);
        send_ra(e.access_ifindex, true);  // RFC 5213 section 6.12: zero lifetimes
        it->second.advertised.clear();
    }
    if (heartbeat_)
        heartbeat_->binding_removed(e.policy.lma);
    if (auto it = lma_bindings_.find(e.policy.lma); it != lma_bindings_.end() && --it->second == 0)
        lma_bindings_.erase(it);
    publish({BindingEvent::Kind::kDetached, e.mn_link_layer_address, e.policy.mn_identifier,
             e.policy.lma, e.access_interface, e.access_ifindex, "", 0, e.home_network_prefixes,
             e.policy.multicast, {}, {}});
}

void MagDaemon::publish(const BindingEvent& event) {
    if (event.kind == BindingEvent::Kind::kAttached)
        multicast_attached(event);
    else
        multicast_detached(event);
    for (const auto& listener : listeners_) listener(event);
}

// RFC 6224 section 3 steps 4-6 and section 4.2: the MN's link becomes a
// downstream of the instance whose upstream is the tunnel to its LMA (created
// with the first MN of that LMA); the proxy sends a General Query on it at
// once, unless the early query at attach (send_early_query) counts as it.
void MagDaemon::multicast_attached(const BindingEvent& event) {
    const auto a = access_.find(event.access_ifindex);
    AccessLink* link = a == access_.end() ? nullptr : &a->second;
    // The early query and its answers are for this add only.
    const std::optional<TimePoint> early = link ? current_early_query(*link) : std::nullopt;
    mcast::KernelProxy* proxy = add_multicast_downstream(event, early);
    // A new downstream has no profile state yet: an empty profile is nothing
    // to do (and on a handover's path).
    if (proxy != nullptr && (!event.multicast_channels.empty() || event.multicast_admission != MulticastAdmission{}))
        apply_profile(*proxy, event.access_device, event.multicast_channels, event.multicast_admission);
    if (proxy == nullptr || !early) {
        if (link)
            forget_early_query(*link);
        return;
    }
    // The proxy's socket hears the link from now on; what the MN said since
    // the early query goes to it in registration_settled(), once the
    // registration's multicast context is in.
    link->downstream_since = std::chrono::system_clock::now();
    link->downstream_since_steady = loop_.clock().now();
    link->replay_pending = true;  // from now on nothing is added to link->captured
}

// What the MN said since the early query, in order, goes to the proxy
// (PROTOCOL.md 6.2 step 7), then the captures still queued, before the
// proxy's socket is read; later ones are judged by their receive time
// (on_captured_mld). After the registration's RFC 7161 context: the MN's
// reports are newer than the state the previous MAG or the LMA kept, and
// the context's forwarding state does not wait for them.
void MagDaemon::registration_settled(const BindingUpdateListEntry& e) {
    const auto a = access_.find(e.access_ifindex);
    if (a == access_.end() || !a->second.replay_pending)
        return;
    AccessLink& link = a->second;
    link.replay_pending = false;
    const std::vector<mcast::ReceivedMld> captured = std::exchange(link.captured, {});
    McastInstance* instance = instance_with_downstream(e.access_interface);
    if (instance == nullptr)
        return;
    for (const mcast::ReceivedMld& m : captured) instance->proxy->receive_captured(m);
    counters_["mld_captured_passed"] += captured.size();
    if (mld_capture_)
        mld_capture_->drain();
}

// The instance of the event's LMA (created with its first MN) with the
// event's access link added as a downstream; null when the MN is not
// admitted, the link was a downstream already, or an error was logged.
mcast::KernelProxy* MagDaemon::add_multicast_downstream(const BindingEvent& event,
                                                        std::optional<TimePoint> early_query) {
    if (!config_.multicast.enabled || !event.multicast || event.tunnel_device.empty())
        return nullptr;
    const std::string upstream = multicast_upstream(event.tunnel_device, event.lma);
    const std::string ctx = "[mag mcast lma=" + to_string(event.lma) + " upstream=" + upstream + "]";
    // The link moved to another tunnel (a new registration with another
    // tunnel kind or key): it leaves the instance of the old one first.
    for (auto it = multicast_.begin(); it != multicast_.end(); ++it) {
        if (it->first == upstream || !it->second.proxy ||
            !it->second.proxy->has_downstream(event.access_device))
            continue;
        PMIP_INFO(kMld, ctx, event.access_device + " leaves the instance of " + it->first);
        (void)it->second.proxy->remove_downstream(event.access_device);
        ++counters_["multicast_downstreams_removed"];
        drop_unused_instance(std::string(it->first));
        break;
    }
    McastInstance* found = multicast_instance(upstream, event.lma);
    if (found == nullptr)
        return nullptr;
    McastInstance& instance = *found;
    // RFC 7287 section 5: only the MN's own sources go to a peering; set
    // before the link forwards anything (also on a prepared link), and
    // again when a registration changes them.
    const bool peering = !instance.proxy->config().peerings.empty();
    if (peering)
        (void)instance.proxy->set_downstream_prefixes(event.access_device, event.prefixes);
    if (instance.proxy->has_downstream(event.access_device))
        return nullptr;
    if (Status st = instance.proxy->add_downstream(event.access_device, config_.multicast.querier,
                                                   early_query);
        !st.ok()) {
        ++counters_["multicast_errors"];
        PMIP_ERROR(kMld, ctx, "access link " + event.access_device + " not added: " + st.error().what);
        return nullptr;
    }
    ++counters_["multicast_downstreams_added"];
    if (peering)
        (void)instance.proxy->set_downstream_prefixes(event.access_device, event.prefixes);
    return instance.proxy.get();
}

// The upstream of the instance for the MNs of `lma` whose unicast tunnel is
// `tunnel_device`: that tunnel (RFC 6224), or the M-Tunnel to the LMA
// (draft-asaeda; multicast.m-tunnel), whose name follows from its key.
std::string MagDaemon::multicast_upstream(const std::string& tunnel_device, const Ipv6Address& lma) const {
    return config_.multicast.m_tunnel.enabled() ? m_tunnel_name(lma) : tunnel_device;
}

std::string MagDaemon::m_tunnel_name(const Ipv6Address& lma) const {
    return tunnel_device_name(m_tunnel_key(lma), config_.tunnel.name_prefix);
}

TunnelKey MagDaemon::m_tunnel_key(const Ipv6Address& lma) const {
    return multicast_tunnel_key(lma, config_.engine.proxy_coa, config_.multicast.m_tunnel.key);
}

// draft-asaeda's M-Tunnel to `lma`: one reference taken (the device made
// with the first). Static mode also holds one until shutdown, taken at start
// for the policy store's LMAs, or with the first use for an LMA a reload
// added.
bool MagDaemon::acquire_m_tunnel(const Ipv6Address& lma) {
    if (config_.multicast.m_tunnel.mode == MulticastTunnelMode::kStatic && !static_m_tunnels_.contains(lma)) {
        if (!take_m_tunnel(lma))
            return false;
        static_m_tunnels_.insert(lma);
    }
    return take_m_tunnel(lma);
}

bool MagDaemon::take_m_tunnel(const Ipv6Address& lma) {
    const TunnelKey key = m_tunnel_key(lma);
    const bool exists = tunnels_->find(key).has_value();
    auto t = tunnels_->acquire(key);
    if (!t) {
        ++counters_["m_tunnel_errors"];
        PMIP_ERROR(kMld, "[mag mcast lma=" + to_string(lma) + "]",
                   "M-Tunnel (GRE key " + std::to_string(*key.input_key) + ") not made: " + t.error().what);
        return false;
    }
    if (!exists) {
        ++counters_["m_tunnels_created"];
        PMIP_INFO(kMld, "[mag mcast lma=" + to_string(lma) + "]",
                  std::string(to_string(config_.multicast.m_tunnel.mode)) + " M-Tunnel " + t->name +
                      " (GRE key " + std::to_string(*key.input_key) + ")");
    }
    return true;
}

void MagDaemon::release_m_tunnel(const Ipv6Address& lma) {
    if (Status st = tunnels_->release(m_tunnel_key(lma)); !st.ok()) {
        ++counters_["m_tunnel_errors"];
        PMIP_WARNING(kMld, "[mag mcast lma=" + to_string(lma) + "]", "releasing the M-Tunnel: " + st.error().what);
    }
}

// RFC 6224 section 4: one MLD proxy instance per upstream, the tunnel to an
// LMA (or its M-Tunnel); created with the first MN of the tunnel, at its
// PBA or, when the tunnel is prepared, while its PBU is out.
MagDaemon::McastInstance* MagDaemon::multicast_instance(const std::string& tunnel_device,
                                                        const Ipv6Address& lma) {
    const std::string ctx = "[mag mcast lma=" + to_string(lma) + " upstream=" + tunnel_device + "]";
    McastInstance& instance = multicast_[tunnel_device];
    if (!instance.proxy) {
        // The M-Tunnel exists before the instance opens its sockets on it.
        if (config_.multicast.m_tunnel.enabled()) {
            if (!acquire_m_tunnel(lma)) {
                multicast_.erase(tunnel_device);
                return nullptr;
            }
        }
        std::set<std::uint32_t> used;
        for (const auto& [device, other] : multicast_) {
            if (other.proxy)
                used.insert(other.table);
        }
        std::uint32_t table = config_.multicast.table_base;
        while (used.count(table)) ++table;
        mcast::KernelProxyConfig pc;
        pc.name = "lma " + to_string(lma);
        pc.table = table;
        pc.upstream = tunnel_device;
        pc.querier = config_.multicast.querier;
        const McastConfig::Mode mode = config_.multicast.mode_for(lma);
        pc.downstream_mld = mode != McastConfig::Mode::kListener;
        pc.policy = config_.multicast.policy;
        pc.interface_filters = config_.multicast.interface_filters;
        pc.rule_priority = config_.engine.rule_priority;
        pc.forwarding = forwarding_;
        pc.filter_handle = config_.multicast.table_base;  // one per daemon (ebpf)
        pc.ebpf_limits = config_.multicast.ebpf_limits;
        // proxy-direct: the local link takes the direct channels, first in
        // match order (upstream_rules.hpp); one instance at a time has it.
        std::string upstreams = tunnel_device;
        if (mode == McastConfig::Mode::kProxyDirect) {
            const bool busy = std::any_of(multicast_.begin(), multicast_.end(), [](const auto& e) {
                return e.second.proxy && !e.second.proxy->config().extra_upstreams.empty();
            });
            if (busy) {
                ++counters_["multicast_direct_upstream_busy"];
                PMIP_WARNING(kMld, ctx,
                             "direct upstream " + config_.multicast.direct_upstream +
                                 " serves another instance: every channel of this one goes "
                                 "through its LMA");
            } else {
                pc.extra_upstreams.push_back(
                    {config_.multicast.direct_upstream, config_.multicast.direct_channels});
                upstreams = config_.multicast.direct_upstream + " (direct), " + tunnel_device;
            }
        }
        // RFC 7287 peerings: one instance at a time has them.
        if (!config_.multicast.peerings.empty()) {
            const bool busy = std::any_of(multicast_.begin(), multicast_.end(), [](const auto& e) {
                return e.second.proxy && !e.second.proxy->config().peerings.empty();
            });
            if (busy) {
                ++counters_["multicast_peering_busy"];
                PMIP_WARNING(kMld, ctx, "the peering links serve another instance: none for this one");
            } else {
                pc.peerings = config_.multicast.peerings;
                pc.peering_data_timeout = config_.multicast.peering_data_timeout;
                for (const auto& p : pc.peerings) upstreams += ", peering " + p.name;
            }
        }
        std::unique_ptr<mcast::MulticastRouter> router;
        if (spare_program_) {
            // Loaded ahead (refill_spare_program): no verifier on this path.
            auto made = mcast::make_ebpf_multicast_router(loop_, table, pc.filter_handle,
                                                          std::move(*spare_program_));
            spare_program_.reset();
            if (made)
                router = std::move(*made);
            else
                PMIP_WARNING(kMld, ctx, "prepared forwarding program: " + made.error().what);
            ++counters_["multicast_prepared_programs_used"];
            // Not now: the verifier's CPU (a 2-core router) would compete
            // with the handover this instance is made for.
            if (!spare_refill_timer_)
                spare_refill_timer_ = loop_.start_timer(kSpareRefillDelay, [this] {
                    spare_refill_timer_ = 0;
                    refill_spare_program();
                });
        }
        auto proxy = mcast::KernelProxy::create(loop_, *routes_, pc, std::move(router));
        if (!proxy && !pc.peerings.empty()) {
            // A peering link gone or refused must not cost the LMA's MNs
            // their multicast: the instance is made without peerings.
            ++counters_["multicast_peering_errors"];
            PMIP_ERROR(kMld, ctx, "peering links not usable, instance made without them: " +
                                      proxy.error().what);
            pc.peerings.clear();
            proxy = mcast::KernelProxy::create(loop_, *routes_, pc);
        }
        if (!proxy) {
            ++counters_["multicast_errors"];
            PMIP_ERROR(kMld, ctx, "no multicast for this LMA's MNs: " + proxy.error().what);
            multicast_.erase(tunnel_device);
            if (config_.multicast.m_tunnel.enabled())
                release_m_tunnel(lma);
            return nullptr;
        }
        instance.proxy = std::move(*proxy);
        instance.lma = lma;
        instance.table = table;
        ++counters_["multicast_instances_created"];
        PMIP_INFO(kMld, ctx, "MLD proxy instance: upstream " + upstreams + ", table " +
                                 std::to_string(table) + ", mode " + mode_name(mode));
    }
    return &instance;
}

void MagDaemon::drop_unused_instance(const std::string& tunnel_device) {
    const auto it = multicast_.find(tunnel_device);
    if (it == multicast_.end() || preparing_.contains(tunnel_device) ||
        (it->second.proxy && !it->second.proxy->downstreams().empty()))
        return;
    PMIP_INFO(kMld, "[mag mcast lma=" + to_string(it->second.lma) + " upstream=" + tunnel_device + "]",
              "no downstream left: instance removed");
    const Ipv6Address lma = it->second.lma;
    // Every instance made holds one M-Tunnel reference (multicast_instance).
    const bool holds_m_tunnel = it->second.proxy && config_.multicast.m_tunnel.enabled();
    multicast_.erase(it);  // its sockets and MIFs before the M-Tunnel
    if (holds_m_tunnel)
        release_m_tunnel(lma);
}

// While the first PBU of a multicast MN is out: the prepared tunnel gets
// its clsact while it is down (made on a device that is up, a qdisc stops
// the device for a moment: qdisc_graft -> dev_deactivate) and the MLD proxy
// instance whose upstream it is (milliseconds: sockets, the forwarding
// program's maps, the filter). The instance is built from the loop's queue,
// after the events already waiting: a PBA that is in goes first (its
// registration then builds the instance itself).
void MagDaemon::tunnel_prepared(const BindingUpdateListEntry& e, const TunnelInfo& tunnel) {
    if (!config_.multicast.enabled || !e.policy.multicast)
        return;
    // With an M-Tunnel the instance's upstream is that, not this tunnel.
    const std::string upstream = multicast_upstream(tunnel.name, e.policy.lma);
    preparing_links_.emplace(upstream, e.access_interface);
    if (++preparing_[upstream] == 1 && forwarding_ == mcast::Forwarding::kEbpf && !tunnel.up &&
        upstream == tunnel.name) {
        if (auto made = mcast::ensure_clsact(tunnel.ifindex); !made)
            PMIP_WARNING(kMld, "[mag mcast upstream=" + tunnel.name + "]",
                         "clsact on the prepared tunnel: " + made.error().what +
                             " (made when the instance attaches to it)");
    }
    loop_.post([this, device = upstream, lma = e.policy.lma, link = e.access_interface] {
        if (shut_down_ || !preparing_.contains(device))
            return;
        const bool fresh = !multicast_.contains(device);
        McastInstance* instance = multicast_instance(device, lma);
        if (instance == nullptr)
            return;
        if (fresh)
            ++counters_["multicast_instances_prepared"];
        if (!preparing_links_.contains({device, link}))
            return;  // its registration was answered or given up meanwhile
        // The MN's link too: its MIF, rule and router groups take the
        // kernel's RTNL lock, which other work may hold for milliseconds
        // (a tunnel being deleted); at the PBA only the querier starts.
        if (Status st = instance->proxy->prepare_downstream(link); !st.ok()) {
            ++counters_["multicast_errors"];
            PMIP_WARNING(kMld, "[mag mcast if=" + link + "]",
                         "not prepared ahead (made at the PBA): " + st.error().what);
        }
    });
}

void MagDaemon::tunnel_unprepared(const BindingUpdateListEntry& e, const TunnelInfo& tunnel) {
    if (!config_.multicast.enabled || !e.policy.multicast)
        return;
    const std::string upstream = multicast_upstream(tunnel.name, e.policy.lma);
    const auto it = preparing_.find(upstream);
    if (it == preparing_.end())
        return;
    if (--it->second == 0)
        preparing_.erase(it);
    preparing_links_.erase({upstream, e.access_interface});
    // Accepted: the link is a downstream by now (nothing to undo); else
    // what was made for it ahead goes.
    if (const auto m = multicast_.find(upstream); m != multicast_.end() && m->second.proxy)
        m->second.proxy->unprepare_downstream(e.access_interface);
    drop_unused_instance(upstream);
}

// The MN's multicast profile on its link. Network-initiated service
// (draft-zhao-multimob-pmip6-solution; the profile's subscription of
// draft-asaeda section 7.1): the link holds the profile's channels from the
// PBA on, whatever MLD says, so the upstream joins them at once and traffic
// flows before (or without) any report from the MN; they go with the
// downstream at detach, or when a reload changes them. Admission: what the
// MN may join itself (its reports filtered, its groups limited, counted by
// the instance), on top of the instance policy, which applies to both.
void MagDaemon::apply_profile(mcast::KernelProxy& proxy, const std::string& access_device,
                              const std::vector<MulticastChannel>& channels,
                              const MulticastAdmission& admission) {
    const std::string ctx = "[mag mcast if=" + access_device + "]";
    mcast::DownstreamPolicy own;
    own.policy = mcast::admission_policy(admission);
    own.max_groups = admission.max_groups;
    if (Status st = proxy.set_downstream_policy(access_device, std::move(own)); !st.ok()) {
        ++counters_["multicast_errors"];
        PMIP_WARNING(kMld, ctx, "profile policy: " + st.error().what);
        return;
    }
    mcast::StaticSubscriptions statics;
    for (const MulticastChannel& c : channels) {
        mcast::MembershipState wanted;
        if (c.sources.empty())
            wanted.mode = mcast::FilterMode::kExclude;  // (*, G)
        else
            wanted.sources.insert(c.sources.begin(), c.sources.end());
        const auto [it, fresh] = statics.emplace(c.group, wanted);
        if (!fresh)
            it->second = mcast::merge(it->second, wanted);
    }
    if (Status st = proxy.set_static_subscriptions(access_device, std::move(statics)); !st.ok()) {
        ++counters_["multicast_errors"];
        PMIP_WARNING(kMld, ctx, "profile channels: " + st.error().what);
        return;
    }
    if (channels.empty())
        return;
    counters_["multicast_profile_channels_set"] += channels.size();
    PMIP_INFO(kMld, ctx, std::to_string(channels.size()) + " channel(s) of the MN's profile joined on its behalf");
}

// Issue 18, the LMA deciding an MN's channels: what its PBA names beyond
// what we asked for is joined like our own profile's, but only what the
// MN's profile here admits (its multicast_policy; the instance and
// interface tables filter both afterwards): the LMA never makes this MAG
// forward a channel its own policy refuses the MN. Refused ones are
// counted and logged.
std::vector<MulticastChannel> MagDaemon::profile_channels(const BindingUpdateListEntry& e) {
    std::vector<MulticastChannel> out = e.policy.multicast_channels;
    if (e.lma_channels.empty() || !e.policy.multicast)
        return out;
    const mcast::Policy admits = mcast::admission_policy(e.policy.multicast_admission);
    for (const MulticastChannel& c : e.lma_channels) {
        MulticastChannel kept{c.group, {}};
        bool refused = !admits.admits_group(c.group);
        if (!refused && c.sources.empty()) {
            refused = admits.source_restricted(c.group);
        } else if (!refused) {
            for (const auto& s : c.sources) {
                if (admits.admits_source(s, c.group))
                    kept.sources.push_back(s);
            }
            refused = kept.sources.empty();
        }
        if (refused) {
            ++counters_["multicast_lma_channels_refused"];
            PMIP_INFO(kMld, "[mag mcast if=" + e.access_interface + "]",
                      "the LMA's channel " + to_string(c.group) + " is not admitted by the MN's profile here");
            continue;
        }
        out.push_back(std::move(kept));
    }
    return out;
}

void MagDaemon::lma_channels_changed(const BindingUpdateListEntry& e) {
    ++counters_["multicast_lma_channel_updates"];
    if (McastInstance* m = instance_with_downstream(e.access_interface))
        apply_profile(*m->proxy, e.access_interface, profile_channels(e), e.policy.multicast_admission);
}

// The ebpf backend's program loaded on a thread of its own (4-20 ms of
// verifier and map allocation), kept for the next proxy instance, which is
// created when an LMA's first MN attaches: on a handover's path. Refilled
// kSpareRefillDelay after one is used, when that handover is over.
void MagDaemon::refill_spare_program() {
    if (forwarding_ != mcast::Forwarding::kEbpf || spare_program_ || spare_loading_ || shut_down_)
        return;
    if (spare_loader_.joinable())
        spare_loader_.join();
    spare_loading_ = true;
    spare_loader_ = std::thread([this, limits = config_.multicast.ebpf_limits] {
        auto loaded = std::make_shared<Expected<mcast::LoadedEbpfProgram>>(mcast::load_ebpf_program(limits));
        loop_.post([this, loaded] {
            spare_loading_ = false;
            if (*loaded) {
                spare_program_ = std::move(**loaded);
            } else {
                ++counters_["multicast_errors"];
                PMIP_WARNING(kMld, "[mag mcast]", "loading a forwarding program ahead: " + loaded->error().what);
            }
        });
    });
}

// RFC 6224 sections 3 and 6: the link stops being a downstream; its
// listeners' state goes and the upstream leaves what only it held; the
// instance goes with its last downstream (before its tunnel).
void MagDaemon::multicast_detached(const BindingEvent& event) {
    auto it = multicast_.begin();
    while (it != multicast_.end() && !(it->second.proxy && it->second.proxy->has_downstream(event.access_device)))
        ++it;
    if (it == multicast_.end())
        return;
    auto& proxy = *it->second.proxy;
    if (proxy.has_downstream(event.access_device)) {
        if (Status st = proxy.remove_downstream(event.access_device); !st.ok()) {
            ++counters_["multicast_errors"];
            PMIP_WARNING(kMld, "[mag mcast]", "removing " + event.access_device + ": " + st.error().what);
        }
        ++counters_["multicast_downstreams_removed"];
    }
    drop_unused_instance(std::string(it->first));
}

// --- RFC 7161 multicast context ---------------------------------------------

std::vector<mh::ActiveMulticastSubscriptionIpv6> MagDaemon::subscriptions(const BindingUpdateListEntry& e) {
    McastInstance* instance = instance_with_downstream(e.access_interface);
    if (instance == nullptr)
        return {};
    return mcast::to_subscription_options(instance->proxy->subscriptions(e.access_interface));
}

void MagDaemon::apply(const BindingUpdateListEntry& e,
                      const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) {
    McastInstance* instance = instance_with_downstream(e.access_interface);
    if (!e.policy.multicast || instance == nullptr) {
        ++counters_["sial_context_not_applied"];
        return;
    }
    std::size_t unknown = 0;
    auto records = mcast::to_context_records(subscriptions, &unknown);
    counters_["sial_records_unknown_type"] += unknown;
    // The instance's policy filters them as it filters the MN's own reports.
    if (Status st = instance->proxy->apply_context(e.access_interface, std::move(records)); !st.ok()) {
        ++counters_["sial_context_not_applied"];
        PMIP_WARNING(kMld, "[mag sial if=" + e.access_interface + "]", st.error().what);
    }
}

// The records of a PBU-M (MagEngine::pbu_m_add): the channels of the MN's
// profile, which its link will hold from the PBA on, less what the
// instance towards its LMA already receives (another MN's, or a channel of
// its own from before). An MN with a GRE-keyed tunnel of its own gets a new
// instance, and so does one whose tunnel does not exist yet: everything is
// asked for. The instance policy filters them as it
// filters the statics.
std::vector<mh::MulticastAddressRecord> MagDaemon::channels_to_request(const BindingUpdateListEntry& e) {
    if (!config_.multicast.enabled || !e.policy.multicast || e.policy.multicast_channels.empty())
        return {};
    // The instance on the tunnel this registration will use (as the engine
    // keys it), if that tunnel exists already.
    const mcast::KernelProxy* proxy = nullptr;
    if (config_.multicast.m_tunnel.enabled()) {
        // One instance per LMA whatever the unicast tunnel.
        if (const auto m = multicast_.find(m_tunnel_name(e.policy.lma)); m != multicast_.end() && m->second.proxy)
            proxy = m->second.proxy.get();
    } else if (!e.policy.gre_keys) {
        TunnelKey key;
        key.peer = e.policy.lma;
        key.local = config_.engine.proxy_coa;
        key.kind = e.policy.tunnel_kind == TunnelKind::kGre ? TunnelKind::kGre : TunnelKind::kIp6Ip6;
        if (const auto info = tunnels_->find(key)) {
            if (const auto m = multicast_.find(info->name); m != multicast_.end() && m->second.proxy)
                proxy = m->second.proxy.get();
        }
    }
    std::map<Ipv6Address, std::set<Ipv6Address>> wanted;  // group -> sources ({} = any)
    std::set<Ipv6Address> any_source;
    for (const MulticastChannel& c : e.policy.multicast_channels) {
        if (c.sources.empty())
            any_source.insert(c.group);
        else
            wanted[c.group].insert(c.sources.begin(), c.sources.end());
    }
    std::vector<mh::MulticastAddressRecord> out;
    for (const Ipv6Address& group : any_source) {
        mcast::MembershipState upstream;
        if (proxy != nullptr) {
            if (!proxy->instance().policy().admits_group(group))
                continue;
            upstream = proxy->instance().database().upstream_state(group);
        }
        if (upstream.mode == mcast::FilterMode::kExclude && upstream.sources.empty())
            continue;  // every source of it comes already
        out.push_back({static_cast<std::uint8_t>(mcast::RecordType::kModeIsExclude), group, {}, {}});
    }
    for (const auto& [group, sources] : wanted) {
        if (any_source.contains(group))
            continue;
        mcast::MembershipState upstream;
        if (proxy != nullptr) {
            if (!proxy->instance().policy().admits_group(group))
                continue;
            upstream = proxy->instance().database().upstream_state(group);
        }
        mh::MulticastAddressRecord r{static_cast<std::uint8_t>(mcast::RecordType::kModeIsInclude), group, {}, {}};
        for (const Ipv6Address& s : sources) {
            const bool admitted = proxy == nullptr || proxy->instance().policy().admits_source(s, group);
            if (admitted && !upstream.wants(s))
                r.sources.push_back(s);
        }
        if (!r.sources.empty())
            out.push_back(std::move(r));
    }
    return out;
}

nlohmann::json MagDaemon::show_multicast() const {
    json out = json::array();
    for (const auto& [upstream, instance] : multicast_) {
        if (!instance.proxy)
            continue;
        json j = instance.proxy->show();
        j["lma"] = to_string(instance.lma);
        j["mode"] = mode_name(config_.multicast.mode_for(instance.lma));
        j["m_tunnel"] = config_.multicast.m_tunnel.enabled();  // the upstream is the M-Tunnel to the LMA
        out.push_back(std::move(j));
    }
    return out;
}

void MagDaemon::send_heartbeat_request(const Ipv6Address& lma, std::uint32_t sequence) {
    mh::Heartbeat request;
    request.sequence = sequence;
    transmitter_->send(config_.engine.proxy_coa, lma, request);
}

// --- control -----------------------------------------------------------------

void MagDaemon::register_commands() {
    control_->handle("show mns", [this](const json&) { return show_mns(); });
    control_->handle("show bul", [this](const json& r) { return show_bul(r); });
    control_->handle("show tunnels", [this](const json&) { return show_tunnels(); });
    control_->handle("show links", [this](const json&) { return show_links(); });
    control_->handle("show counters", [this](const json&) { return show_counters(); });
    control_->handle("show maar", [this](const json&) { return show_maar(); });
    control_->handle("show multicast", [this](const json&) { return show_multicast(); });
    control_->handle("show policy", [this](const json&) { return policies_->to_json(); });
    control_->handle("attach", [this](const json& r) { return attach_command(r); });
    control_->handle("detach", [this](const json& r) { return detach_command(r); });
    control_->handle("reload", [this](const json&) { return reload(); });
    control_->handle("channel add", [this](const json& r) { return channel_command(r, true); });
    control_->handle("channel remove", [this](const json& r) { return channel_command(r, false); });
}

json MagDaemon::show_mns() const {
    json out = json::array();
    for (const auto& [id, e] : engine_->entries()) {
        std::string tunnel;
        if (e.tunnel) {
            if (const auto info = tunnels_->find(*e.tunnel))
                tunnel = info->name;
        }
        out.push_back({{"interface", e.access_interface},
                       {"mac", mac_text(e.mn_link_layer_address)},
                       {"mn", e.policy.mn_identifier},
                       {"lma", to_string(e.policy.lma)},
                       {"state", std::string(to_string(e.state))},
                       {"prefixes", prefixes_json(e.home_network_prefixes)},
                       {"tunnel", tunnel},
                       {"lifetime", 4u * e.lifetime_granted}});
    }
    return out;
}

json MagDaemon::show_bul(const json& request) const {
    const std::string mn = request.value("mn", "");
    const std::string interface = request.value("interface", "");
    json out = json::array();
    for (const auto& [id, e] : engine_->entries()) {
        if (!mn.empty() && e.policy.mn_identifier != mn)
            continue;
        if (!interface.empty() && e.access_interface != interface)
            continue;
        json j{{"id", id},
               {"interface", e.access_interface},
               {"ifindex", e.access_ifindex},
               {"mac", mac_text(e.mn_link_layer_address)},
               {"mn", e.policy.mn_identifier},
               {"lma", to_string(e.policy.lma)},
               {"state", std::string(to_string(e.state))},
               {"requested_prefixes", prefixes_json(e.requested_prefixes)},
               {"prefixes", prefixes_json(e.home_network_prefixes)},
               {"handoff_indicator", e.handoff_indicator},
               {"sequence", e.sequence},
               {"timestamp", e.timestamp},
               {"lifetime_requested", 4u * e.policy.lifetime},
               {"multicast_channels", channels_json(e.policy.multicast_channels)},
               {"lma_multicast_channels", channels_json(e.lma_channels)},
               {"lifetime", 4u * e.lifetime_granted},
               {"last_status", e.last_status},
               {"transmissions", e.transmissions},
               {"retransmit_timeout_ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(e.retransmit_timeout).count()},
               {"table", e.lma_table},
               {"multicast", e.policy.multicast}};
        j["gre"] = {{"uplink_key", e.uplink_key ? json(*e.uplink_key) : json(nullptr)},
                    {"downlink_key", e.downlink_key ? json(*e.downlink_key) : json(nullptr)}};
        if (e.tunnel) {
            if (const auto info = tunnels_->find(*e.tunnel))
                j["tunnel"] = info->name;
        }
        out.push_back(std::move(j));
    }
    return out;
}

json MagDaemon::show_tunnels() const {
    json out = json::array();
    for (const auto& info : tunnels_->tunnels()) out.push_back(tunnel_json(info, tunnels_->counters(info.key)));
    return out;
}

json MagDaemon::show_links() const {
    json out = json::array();
    for (const auto& [ifindex, l] : access_) {
        out.push_back({{"interface", l.name},
                       {"ifindex", ifindex},
                       {"running", l.running},
                       {"prepared", l.prepared},
                       {"mtu", l.mtu},
                       {"advertised", prefixes_json(l.advertised)},
                       {"ra_running", ra_scheduler_->running(ifindex)}});
    }
    return out;
}

json MagDaemon::show_counters() const {
    const MagCounters& c = engine_->counters();
    json rejected = json::object();
    for (const auto& [status, n] : c.pba_rejected) rejected[std::to_string(status)] = n;
    json bra = json::object();
    for (const auto& [status, n] : c.bra_sent) bra[std::to_string(status)] = n;
    json engine{{"attaches", c.attaches},
                {"attach_without_policy", c.attach_without_policy},
                {"intra_mag_moves", c.intra_mag_moves},
                {"gre_required_by_lma", c.gre_required_by_lma},
                {"pbu_sent", c.pbu_sent},
                {"pbu_retransmitted", c.pbu_retransmitted},
                {"pba_accepted", c.pba_accepted},
                {"pba_rejected", rejected},
                {"pba_unmatched", c.pba_unmatched},
                {"pba_dmm_ignored", c.pba_dmm_ignored},
                {"pba_mismatched", c.pba_mismatched},
                {"renewals", c.renewals},
                {"renewals_skipped_detached", c.renewals_skipped_detached},
                {"deregistrations", c.deregistrations},
                {"deregistration_timeouts", c.deregistration_timeouts},
                {"data_path_errors", c.data_path_errors},
                {"tunnels_prepared", c.tunnels_prepared},
                {"tunnel_preparation_errors", c.tunnel_preparation_errors},
                {"tunnel_rule_removal_errors", tunnel_rules_->removal_errors()},
                {"bri_received", c.bri_received},
                {"bri_discarded", c.bri_discarded},
                {"bindings_revoked", c.bindings_revoked},
                {"bra_sent", bra},
                {"sial",
                 {{"contexts_sent", c.sial_contexts_sent},
                  {"contexts_applied", c.sial_contexts_applied},
                  {"subscriptions_applied", c.sial_subscriptions_applied},
                  {"pba_without_context", c.sial_pba_without_context},
                  {"queries_sent", c.sial_queries_sent},
                  {"query_retransmissions", c.sial_query_retransmissions},
                  {"queries_timed_out", c.sial_queries_timed_out},
                  {"responses_received", c.sial_responses_received},
                  {"responses_unmatched", c.sial_responses_unmatched},
                  {"queries_received", c.sial_queries_received},
                  {"queries_unknown", c.sial_queries_unknown},
                  {"responses_sent", c.sial_responses_sent},
                  {"responses_with_context", c.sial_responses_with_context},
                  {"queries_skipped", c.sial_queries_skipped}}},
                {"pbu_m",
                 {{"sent", c.pbu_m_sent},
                  {"records_requested", c.pbu_m_records_requested},
                  {"records_not_sent", c.pbu_m_records_not_sent},
                  {"answered", c.pbu_m_answered},
                  {"records_granted", c.pbu_m_records_granted},
                  {"unanswered", c.pbu_m_unanswered},
                  {"lma_channel_changes", c.pbu_m_lma_channel_changes}}},
                {"update_notification",
                 {{"received", c.upn_received},
                  {"duplicates", c.upn_duplicates},
                  {"reregistrations", c.upn_reregistrations},
                  {"unknown_mn", c.upn_unknown_mn},
                  {"unsupported", c.upn_unsupported},
                  {"upa_sent", c.upa_sent}}},
                {"context_peers",
                 {{"queries_sent", c.peer_queries_sent},
                  {"contexts_received", c.peer_contexts_received},
                  {"contexts_applied", c.peer_contexts_applied},
                  {"responses_empty", c.peer_responses_empty},
                  {"queries_timed_out", c.peer_queries_timed_out},
                  {"queries_received", c.peer_queries_received},
                  {"responses_unmatched", c.peer_responses_unmatched}}}};
    json daemon = json::object();
    for (const auto& [k, v] : counters_) daemon[k] = v;
    json access = solicitations_ ? solicitations_->counters() : json::object();
    if (mld_capture_)
        access["mld_capture"] = mld_capture_->counters();
    access.update(ra_socket_->counters());
    if (mld_query_sender_)
        access.update(mld_query_sender_->counters());
    // The tunnel backend's own counters (the ebpf programs' slow-path and
    // error counts, the userspace data plane's drops), as lmad shows them.
    json backend = json::object();
    for (const auto& [name, value] : tunnels_->backend().statistics()) backend[name] = value;
    return {{"engine", engine},
            {"mh", receiver_->counters()},
            {"auth", auth_->counters()},
            {"socket", socket_->counters()},
            {"access", access},
            {"tunnel_backend", backend},
            {"daemon", daemon},
            {"control", control_->counters()}};
}

json MagDaemon::attach_command(const json& request) {
    const std::string name = request.value("interface", "");
    if (name.empty())
        throw ControlError("attach: give \"interface\" (and optionally \"mac\")");
    const auto l = links_->find(name);
    if (!l)
        throw ControlError("attach: no device \"" + name + "\"");
    if (!access_.count(l->ifindex))
        track(*l);  // an AP controller may name any device
    AccessLink& link = access_.at(l->ifindex);
    if (!link.running)
        throw ControlError("attach: " + name + " is down (the MN cannot be reached)");
    std::string mac;
    if (request.contains("mac")) {
        const auto parsed = request["mac"].is_string() ? parse_mac_text(request["mac"].get<std::string>())
                                                       : std::nullopt;
        if (!parsed)
            throw ControlError("attach: \"mac\" is not a MAC address (xx:xx:xx:xx:xx:xx)");
        mac = *parsed;
    } else if (const PolicyEntry* e = policies_->find_by_interface(name)) {
        mac = e->mac;
    } else {
        throw ControlError("attach: no \"mac\" given and no policy entry names interface " + name);
    }
    if (const auto* e = engine_->find_by_interface(l->ifindex)) {
        if (e->mn_link_layer_address != mac)
            throw ControlError("attach: " + name + " already has mobile node " + mac_text(e->mn_link_layer_address));
    } else if (!policies_->find(mac)) {
        engine_->attach(l->ifindex, name, mac);  // counted as without policy
        throw ControlError("attach: no policy for " + mac_text(mac) + ": no service");
    } else {
        (void)attach(link, mac, "pmipctl attach");
    }
    const auto* e = engine_->find_by_interface(l->ifindex);
    return {{"interface", name},
            {"mac", mac_text(mac)},
            {"mn", e ? json(e->policy.mn_identifier) : json(nullptr)},
            {"state", e ? json(std::string(to_string(e->state))) : json(nullptr)}};
}

json MagDaemon::detach_command(const json& request) {
    const std::string name = request.value("interface", "");
    if (name.empty())
        throw ControlError("detach: give \"interface\"");
    for (auto& [ifindex, link] : access_) {
        if (link.name != name)
            continue;
        const auto* e = engine_->find_by_interface(ifindex);
        if (!e)
            throw ControlError("detach: no mobile node on " + name);
        const std::string mn = e->policy.mn_identifier;
        engine_->detach(ifindex);
        const auto* after = engine_->find_by_interface(ifindex);
        return {{"interface", name},
                {"mn", mn},
                {"state", after ? std::string(to_string(after->state)) : std::string("removed")}};
    }
    throw ControlError("detach: " + name + " is not an access link");
}

// [lmas] auth from the re-read configuration file (key rotation without
// touching bindings; command-line --lmas.auth values are not re-applied),
// and with it the file's [multicast] filter tables and peerings. `fresh` is
// null without a configuration file. All or nothing: a file with errors
// changes none of them.
std::string MagDaemon::reload_configuration(const ConfigLoad* fresh) {
    if (fresh == nullptr)
        return "no configuration file: [lmas] auth unchanged";
    auto now = auth::reload(*auth_, config_.auth, *fresh, "lmas", kContext);
    if (!now) {
        ++counters_["reload_failures"];
        throw ControlError(now.error().what);
    }
    reload_filter_tables(fresh->config.multicast.policy, fresh->config.multicast.interface_filters);
    reload_peerings(fresh->config.multicast);
    return *now;
}

// Throws when a peering of a reload's configuration cannot be used: before
// anything of the reload is applied.
void MagDaemon::check_peerings(const McastConfig& fresh) {
    if (!config_.multicast.enabled)
        return;
    for (const auto& p : fresh.peerings) {
        bool access = false;
        for (const auto& pattern : config_.access.patterns)
            access = access || ::fnmatch(pattern.c_str(), p.name.c_str(), 0) == 0;
        if (::if_nametoindex(p.name.c_str()) == 0 || access) {
            ++counters_["multicast_peering_reload_errors"];
            ++counters_["reload_failures"];
            throw ControlError("multicast.peering " + p.name +
                               (access ? " matches access.interface" : ": no such interface") +
                               " (nothing reloaded)");
        }
    }
}

// RFC 7287 peerings from a reload's re-read configuration: the instance that
// has them (or the first one, when none has) gets the new set at once
// (KernelProxy::set_peerings); instances made later get it as at start.
void MagDaemon::reload_peerings(const McastConfig& fresh) {
    McastConfig& m = config_.multicast;
    if (!m.enabled || (fresh.peerings == m.peerings && fresh.peering_data_timeout == m.peering_data_timeout))
        return;
    m.peerings = fresh.peerings;
    m.peering_data_timeout = fresh.peering_data_timeout;
    McastInstance* holder = nullptr;
    for (auto& [device, instance] : multicast_) {
        if (!instance.proxy)
            continue;
        if (!instance.proxy->config().peerings.empty()) {
            holder = &instance;
            break;
        }
        if (!holder)
            holder = &instance;
    }
    ++counters_["multicast_peerings_reloaded"];
    if (!holder) {
        PMIP_INFO(kMld, kContext, "multicast peerings reloaded: no proxy instance yet");
        return;
    }
    if (Status st = holder->proxy->set_peerings(m.peerings, m.peering_data_timeout); !st) {
        ++counters_["multicast_peering_reload_errors"];
        throw ControlError("multicast peerings: " + st.error().what);
    }
    PMIP_INFO(kMld, kContext, "multicast peerings reloaded: " + std::to_string(m.peerings.size()) +
                                  " on the instance of " + to_string(holder->lma));
}

void MagDaemon::reload_filter_tables(const mcast::Policy& policy,
                                     const std::vector<mcast::InterfaceFilter>& filters) {
    if (policy == config_.multicast.policy && filters == config_.multicast.interface_filters)
        return;
    const bool policy_changed = policy != config_.multicast.policy;
    config_.multicast.policy = policy;
    config_.multicast.interface_filters = filters;
    for (auto& [device, instance] : multicast_) {
        if (!instance.proxy)
            continue;
        if (policy_changed)
            instance.proxy->set_policy(policy);
        instance.proxy->set_interface_filters(filters);
    }
    ++counters_["multicast_filters_reloaded"];
    PMIP_INFO(kMld, kContext, "multicast filter tables reloaded: applied to " +
                                  std::to_string(multicast_.size()) + " MLD proxy instance(s)");
}

// SIGHUP and `pmipctl reload`: the configuration file's reloadable parts
// and the policy store, read and checked before anything changes, so a
// reload with a problem anywhere leaves everything as it was.
json MagDaemon::reload() {
    std::optional<ConfigLoad> fresh;
    if (!config_.config_file.empty())
        fresh = load_config({"--config", config_.config_file});
    PolicyLoad load = load_policy_file(config_.policy_file);
    if (!load.ok()) {
        ++counters_["reload_failures"];
        std::string text;
        for (const auto& p : load.problems) {
            text += (text.empty() ? "" : "; ") + p.to_string();
            PMIP_ERROR(kBul, kContext, "reload: " + p.to_string());
        }
        throw ControlError("policy store not reloaded (the old one stays; nothing reloaded): " + text);
    }
    if (fresh)
        check_peerings(fresh->config.multicast);
    const std::string auth = reload_configuration(fresh ? &*fresh : nullptr);
    ++counters_["reloads"];
    const PolicyApplied applied = apply_policy_contents(std::move(load.contents));
    PMIP_INFO(kBul, kContext, "policy store reloaded: " + std::to_string(policies_->size()) +
                                  " mobile nodes, " + std::to_string(applied.changed.size()) +
                                  " changed, " + std::to_string(applied.reregistering) +
                                  " registering again, " + std::to_string(applied.in_place) +
                                  " multicast profile changes applied in place");
    json macs = json::array();
    for (const auto& m : applied.changed) macs.push_back(mac_text(m));
    return {{"mobile_nodes", policies_->size()},
            {"changed", macs},
            {"reregistering", applied.reregistering},
            {"multicast_profile_updated", applied.in_place},
            {"auth", auth}};
}

MagDaemon::PolicyApplied MagDaemon::apply_policy_contents(PolicyFileContents contents) {
    const auto changed = policies_->replace(std::move(contents));
    // MNs whose policy changed register again with the new one (RFC 5213
    // section 6.2: the profile decides the LMA, prefixes and tunnel).
    // Only the profile's multicast channels changed: applied in place,
    // without a new registration or disturbing the MN's other streams.
    std::vector<std::pair<int, std::string>> again;
    std::size_t in_place = 0;
    std::vector<EntryId> ids;
    for (const auto& [id, e] : engine_->entries()) ids.push_back(id);
    for (const EntryId id : ids) {
        const auto found = engine_->entries().find(id);
        const BindingUpdateListEntry& e = found->second;
        if (std::find(changed.begin(), changed.end(), e.mn_link_layer_address) == changed.end())
            continue;
        const MobileNodePolicy* now = policies_->find(e.mn_link_layer_address);
        if (now && engine_->update_policy_in_place(id, *now)) {
            ++in_place;
            ++counters_["policy_multicast_changes_applied"];
            if (McastInstance* m = instance_with_downstream(e.access_interface))
                apply_profile(*m->proxy, e.access_interface, profile_channels(e),
                              e.policy.multicast_admission);
            continue;
        }
        again.emplace_back(e.access_ifindex, e.mn_link_layer_address);
    }
    for (const auto& [ifindex, mac] : again) {
        ++counters_["policy_changes_applied"];
        engine_->detach(ifindex);
        // After the de-registration completes (PBA or INITIAL_BINDACK_TIMEOUT).
        loop_.start_timer(config_.engine.initial_bindack_timeout + std::chrono::milliseconds(50),
                          [this, ifindex = ifindex, mac = mac] {
                              auto it = access_.find(ifindex);
                              if (it == access_.end() || !it->second.running ||
                                  engine_->find_by_interface(ifindex))
                                  return;
                              (void)attach(it->second, mac, "policy reload");
                          });
    }
    return {changed, again.size(), in_place};
}

// pmipctl channel add|remove: one MN's network-initiated channels (its
// profile's multicast_channels) changed in this magd's copy of the policy
// store and applied as a reload applies them: in place on its link when it
// is attached here, the upstream joined or left at once. The store file is
// not written: the next reload replaces the change with the file's entry.
json MagDaemon::channel_command(const json& request, bool add) {
    const char* verb = add ? "channel add" : "channel remove";
    const std::string mn = request.value("mn", "");
    const std::string group_text = request.value("group", "");
    if (mn.empty() || group_text.empty())
        throw ControlError(std::string(verb) + ": give \"mn\" (MAC or MN identifier) and \"group\"");
    const auto group = parse_address(group_text);
    if (!group || !is_multicast(*group) || (((*group)[1] & 0x0f) <= 2))
        throw ControlError(std::string(verb) + ": \"" + group_text +
                           "\" is not a multicast group beyond link-local scope");
    std::vector<Ipv6Address> sources;
    if (request.contains("sources")) {
        const json& list = request["sources"];
        if (!list.is_array())
            throw ControlError(std::string(verb) + ": \"sources\" must be a list of addresses");
        for (const auto& item : list) {
            const auto a = item.is_string() ? parse_address(item.get<std::string>()) : std::nullopt;
            if (!a || is_multicast(*a) || *a == Ipv6Address{})
                throw ControlError(std::string(verb) + ": source " + item.dump() +
                                   " is not a unicast address");
            sources.push_back(*a);
        }
    }
    PolicyFileContents contents = policies_->contents();
    PolicyEntry* entry = nullptr;
    const auto mac = parse_mac_text(mn);
    for (auto& [key, e] : contents.by_mac) {
        if ((mac && key == *mac) || e.policy.mn_identifier == mn)
            entry = &e;
    }
    if (!entry)
        throw ControlError(std::string(verb) + ": no entry for " + mn +
                           " in the policy store (an MN served by the default policy has none: "
                           "add one to the store)");
    MobileNodePolicy& policy = entry->policy;
    if (!policy.multicast)
        throw ControlError(std::string(verb) + ": " + mn + " is not admitted to multicast (\"multicast\": false)");
    auto& channels = policy.multicast_channels;
    auto it = std::find_if(channels.begin(), channels.end(),
                           [&](const MulticastChannel& c) { return c.group == *group; });
    if (add) {
        if (it == channels.end()) {
            channels.push_back({*group, sources});
        } else if (sources.empty()) {
            it->sources.clear();  // any source from now on
        } else if (!it->sources.empty()) {
            for (const auto& a : sources) {
                if (std::find(it->sources.begin(), it->sources.end(), a) == it->sources.end())
                    it->sources.push_back(a);
            }
        }
    } else {
        if (it == channels.end())
            throw ControlError(std::string(verb) + ": " + mn + " has no channel " + group_text);
        if (sources.empty()) {
            channels.erase(it);
        } else {
            if (it->sources.empty())
                throw ControlError(std::string(verb) + ": " + group_text +
                                   " is joined from any source: remove the group, then add the sources wanted");
            for (const auto& a : sources)
                it->sources.erase(std::remove(it->sources.begin(), it->sources.end(), a), it->sources.end());
            if (it->sources.empty())
                channels.erase(it);
        }
    }
    json now = json::array();
    for (const auto& c : channels) {
        json src = json::array();
        for (const auto& a : c.sources) src.push_back(to_string(a));
        now.push_back({{"group", to_string(c.group)}, {"sources", src}});
    }
    const std::size_t count = channels.size();
    const PolicyApplied applied = apply_policy_contents(std::move(contents));
    ++counters_["multicast_channel_commands"];
    PMIP_INFO(kMld, kContext, std::string(verb) + " " + mn + " " + group_text + ": " +
                                  std::to_string(count) + " channel(s) in its profile, " +
                                  (applied.in_place ? "applied on its link" : "not attached here") +
                                  " (until the next reload re-reads the store)");
    return {{"mn", mn},
            {"channels", now},
            {"applied_in_place", applied.in_place},
            {"reregistering", applied.reregistering}};
}

}  // namespace pmip::mag
