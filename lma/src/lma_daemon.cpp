// lmad wiring: adapters around the LMA engine. See lma_daemon.hpp.
#include "lma_daemon.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "pmip/common/auth_config_keys.hpp"
#include "pmip/common/heap.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/prefix_pool.hpp"

namespace pmip::lma {

using pmip::to_string;

using json = nlohmann::json;

namespace {

const char* const kContext = "[lma]";

std::string peer_context(const Ipv6Address& mag) {
    return "[lma mag=" + to_string(mag) + "]";
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? "none" : out;
}

// Creates the directory of `path` (one level) when it is missing.
Status ensure_directory_of(const std::string& path, mode_t mode) {
    const auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec))
        return {};
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
        return Error::from_errno("creating directory " + dir.string());
    }
    return {};
}

}  // namespace

LmaDaemon::LmaDaemon(LmadConfig config, EventLoop& loop)
    : config_(std::move(config)), loop_(loop) {}

Expected<std::unique_ptr<LmaDaemon>> LmaDaemon::start(LmadConfig config, EventLoop& loop) {
    // Restart Counter [RFC 5847 section 5.2]: +1 at every start (lmad never
    // keeps its Binding Cache across a restart), persisted before anything
    // is answered.
    auto previous = read_state_file(config.state_file);
    if (!previous)
        return previous.error();
    std::unique_ptr<LmaDaemon> d(new LmaDaemon(std::move(config), loop));
    d->state_.restart_counter = previous->restart_counter + 1;
    // The previous run's peers stay listed until our own bindings replace them.
    d->state_.peers = previous->peers;
    if (Status st = write_state_file(d->config_.state_file, d->state_); !st.ok()) {
        return Error{st.error().code, "cannot persist the restart counter: " + st.error().what};
    }
    if (Status st = d->open(*previous); !st.ok()) {
        d->shutdown();
        return st.error();
    }
    return d;
}

Status LmaDaemon::open(const LmadState& previous) {
    const LmadConfig& c = config_;

    // Policy store first: a broken file must stop the start, not half of it.
    policies_ = std::make_unique<FilePolicyStore>(c.engine.serve_unknown_mobile_nodes);
    PolicyFileContents contents;
    contents.default_policy = c.engine.default_policy;
    if (!c.policy_file.empty()) {
        PolicyLoad load = load_policy_file(c.policy_file, c.engine.default_policy);
        if (!load.ok()) {
            std::string text;
            for (const auto& p : load.problems) text += (text.empty() ? "" : "; ") + p.to_string();
            return Error{0, "policy store has problems: " + text};
        }
        contents = std::move(load.contents);
    }
    (void)policies_->replace(std::move(contents));
    warn_unused_multicast_profiles();

    // Kernel state a crashed run may have left.
    auto routes = make_netlink_route_manager();
    if (!routes)
        return routes.error();
    routes_ = std::move(*routes);
    if (auto flushed = routes_->flush_owned(); !flushed) {
        PMIP_WARNING(kRoute, kContext,
                     "removing routes of a previous run failed: " + flushed.error().what);
    } else if (*flushed > 0) {
        PMIP_INFO(kRoute, kContext,
                  "removed " + std::to_string(*flushed) + " routes left by a previous run");
    }
    auto backend = make_tunnel_backend(c.tunnel_backend);
    if (!backend)
        return backend.error();
    if (auto stale = (*backend)->remove_stale(c.tunnel.name_prefix); !stale) {
        PMIP_WARNING(kTunnel, kContext,
                     "removing stale tunnel devices failed: " + stale.error().what);
    } else if (*stale > 0) {
        PMIP_INFO(kTunnel, kContext,
                  "removed " + std::to_string(*stale) + " tunnel devices left by a previous run");
    }
    const std::string backend_name((*backend)->name());
    tunnels_ = std::make_unique<RefCountingTunnelManager>(std::move(*backend), loop_, c.tunnel);

    auto socket = MhSocket::open(loop_);
    if (!socket)
        return socket.error();
    socket_ = std::move(*socket);
    socket_->set_code_points(c.code_points);
    socket_->set_max_queue_delay(c.max_queue_delay);
    auth_ = std::make_unique<auth::MessageAuthenticator>(c.auth, loop_.clock());
    auth_->set_code_points(c.code_points);
    transmitter_ = std::make_unique<auth::AuthenticatingTransmitter>(*auth_, *socket_);
    PMIP_INFO(kMh, kContext, "signalling authentication: " + auth::describe(c.auth));

    MhReceiverConfig rc;
    rc.local_addresses = c.addresses;
    rc.profiles = c.profiles;
    rc.ordering = c.ordering;
    rc.restart_counter = state_.restart_counter;
    rc.oai_identity = c.oai_identity;
    rc.code_points = c.code_points;
    rc.cmd = c.cmd.has_value();
    rc.auth = auth_.get();  // no [mags] auth: every MAG "not configured", nothing checked
    MhReceiverHandlers handlers;
    handlers.proxy_binding_update = [this](const Ipv6Address& s, const Ipv6Address& d,
                                           const mh::BindingUpdate& pbu,
                                           const MobileNodeIdentifier* identity) {
        // RFC 8885: a MAAR's PBU (D) to the CMD; a MAG's to the LMA, which
        // refuses D when no CMD runs here.
        if (cmd_ && (pbu.flags & mh::bu_flag::kD) != 0)
            cmd_->handle_proxy_binding_update(s, d, pbu);
        else
            engine_->handle_proxy_binding_update(s, d, pbu, identity);
    };
    if (c.cmd) {
        handlers.proxy_binding_acknowledgement = [this](const Ipv6Address& s, const mh::BindingAcknowledgement& pba) {
            cmd_->handle_proxy_binding_acknowledgement(s, pba);
        };
    }
    handlers.binding_revocation_acknowledgement =
        [this](const Ipv6Address& s, const Ipv6Address& d,
               const mh::BindingRevocationAcknowledgement& bra) {
            engine_->handle_binding_revocation_acknowledgement(s, d, bra);
        };
    handlers.update_notification_acknowledgement = [this](const Ipv6Address& s,
                                                          const mh::UpdateNotificationAcknowledgement& upa) {
        engine_->handle_update_notification_acknowledgement(s, upa);
    };
    if (c.engine.sial.enabled) {
        handlers.subscription_query = [this](const Ipv6Address& s, const Ipv6Address& d,
                                             const mh::SubscriptionQuery& q) {
            engine_->handle_subscription_query(s, d, q);
        };
        handlers.subscription_response = [this](const Ipv6Address& s, const Ipv6Address& d,
                                                const mh::SubscriptionResponse& r) {
            engine_->handle_subscription_response(s, d, r);
        };
    }
    handlers.heartbeat_response = [this](const Ipv6Address& peer, std::uint32_t sequence,
                                         std::optional<std::uint32_t> counter, bool unsolicited) {
        if (heartbeat_)
            heartbeat_->response_received(peer, sequence, counter, unsolicited);
    };
    handlers.binding_error_unrecognized_type = [this](const Ipv6Address& peer) {
        if (heartbeat_)
            heartbeat_->binding_error_received(peer);
    };
    receiver_ =
        std::make_unique<MhReceiver>(std::move(rc), *transmitter_, loop_.clock(), std::move(handlers));

    if (c.heartbeat_enabled) {
        HeartbeatMonitor::Callbacks cb;
        cb.send_request = [this](const Ipv6Address& mag, std::uint32_t seq) {
            send_heartbeat_request(mag, seq);
        };
        cb.unreachable = [this](const Ipv6Address& mag) { peer_unreachable(mag); };
        cb.reachable = [this](const Ipv6Address&) { ++counters_["peer_reachable_again"]; };
        cb.restarted = [this](const Ipv6Address& mag, std::uint32_t o, std::uint32_t n) {
            peer_restarted(mag, o, n);
        };
        heartbeat_ = std::make_unique<HeartbeatMonitor>(loop_, c.heartbeat, std::move(cb));
    }

    std::vector<PrefixPool> pools;
    for (const auto& p : c.pools) {
        auto pool = PrefixPool::create(p.prefix, p.delegated_length);
        if (!pool)
            return pool.error();
        pools.push_back(std::move(*pool));
    }
    LmaConfig engine_config = c.engine;
    // The store answers for unknown MNs itself (with the reloadable default).
    engine_config.serve_unknown_mobile_nodes = false;
    engine_ = std::make_unique<LmaEngine>(engine_config, *policies_, std::move(pools), *tunnels_,
                                          *routes_, loop_, receiver_->reply_sender());
    engine_->set_observer(this);
    if (c.engine.expected_bindings > 0) session_tunnels_.reserve(c.engine.expected_bindings);
    if (c.engine.expected_bindings > 0 && c.reserve_heap) {
        // After the indexes above are sized: the pages the bindings will take.
        const std::size_t wanted = c.engine.expected_bindings * std::size_t{1024};
        const HeapReservation r = reserve_heap(wanted);
        if (!r.error.empty()) {
            PMIP_WARNING(kBce, kContext, "binding.reserve-heap: not reserved (" + r.error +
                                          "); registrations page-fault as the heap grows");
        } else {
            PMIP_INFO(kBce, kContext,
                      "binding.reserve-heap: " + std::to_string(r.bytes >> 20) + " MiB of heap touched for " +
                          std::to_string(c.engine.expected_bindings) + " expected bindings" +
                          (r.bytes < wanted ? " (capped at 1 GiB)" : ""));
        }
        heap_reserved_ = r.bytes;
    }
    if (c.cmd) {
        CmdConfig cmd = *c.cmd;
        cmd.authorized_maars = c.engine.authorized_mags;
        cmd.serve_unknown_mobile_nodes = false;  // the store answers with its default itself
        cmd.max_lifetime = c.engine.max_lifetime;
        cmd_ = std::make_unique<CmdEngine>(cmd, *policies_, loop_, receiver_->reply_sender());
        PMIP_INFO(kBce, kContext, "RFC 8885 Central Mobility Database on, as " + std::string(to_string(cmd.mode)) +
                                      ": PBUs with the D flag go to it");
    }

    if (c.multicast.enabled) {
        LmaMulticastConfig mc = c.multicast;
        auto multicast = LmaMulticast::create(loop_, *routes_, mc);
        if (!multicast)
            return multicast.error();
        multicast_ = std::move(*multicast);
        make_static_m_tunnels();
    }

    if (Status st = ensure_directory_of(c.control_socket, 0755); !st.ok())
        return st;
    auto control = ControlServer::create(loop_, c.control_socket, c.control_mode);
    if (!control)
        return control.error();
    control_ = std::move(*control);
    register_commands();

    socket_->set_handler([this](const ReceivedPacket& packet) { receiver_->receive(packet); });
    // Issue 20: the routes of a whole batch read from the socket in one
    // netlink batch, its PBAs after them (LmaEngine::begin_batch).
    socket_->set_batch_hooks([this] { engine_->begin_batch(); }, [this] { engine_->end_batch(); });
    warn_about_unassigned_addresses();
    send_unsolicited_heartbeats(previous.peers);

    std::vector<std::string> addresses;
    for (const auto& a : c.addresses) addresses.push_back(to_string(a));
    PMIP_INFO(kBce, kContext,
              "lmad started: LMA address " + join(addresses) + ", restart counter " +
                  std::to_string(state_.restart_counter) + ", tunnel backend " + backend_name +
                  ", " + std::to_string(policies_->size()) +
                  " mobile nodes in the policy store, control " + c.control_socket);
    return {};
}

void LmaDaemon::warn_about_unassigned_addresses() const {
    for (const auto& a : config_.addresses) {
        const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        std::memcpy(&sa.sin6_addr, a.data(), 16);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 &&
            errno == EADDRNOTAVAIL) {
            PMIP_WARNING(kMh, kContext,
                         "LMA address " + to_string(a) +
                             " is not assigned to an interface here: PBAs from it cannot be sent");
        }
        ::close(fd);
    }
}

LmaDaemon::~LmaDaemon() {
    shutdown();
}

void LmaDaemon::shutdown() {
    if (shut_down_)
        return;
    shut_down_ = true;
    // The MAGs keep their bindings when we stop: the peer list in the state
    // file stays as it is, so the next start tells them (unsolicited
    // heartbeat responses with the new Restart Counter).
    stopping_ = true;
    if (socket_)
        socket_->set_handler({});
    if (engine_) {
        const std::size_t n = engine_->cache().size();
        engine_->clear();
        if (n > 0)
            PMIP_INFO(kBce, kContext, "shutdown: deleted " + std::to_string(n) + " bindings");
    }
    multicast_.reset();  // before the tunnels it uses
    if (tunnels_)
        tunnels_->destroy_all();
    if (routes_) {
        if (auto flushed = routes_->flush_owned(); !flushed) {
            PMIP_WARNING(kRoute, kContext,
                         "shutdown: removing routes failed: " + flushed.error().what);
        }
    }
    control_.reset();  // removes the socket file
}

// --- observer: sessions per MAG -> heartbeat peers and the state file ------

void LmaDaemon::session_bound(const BindingCacheEntry& entry, const TunnelInfo& tunnel) {
    session_tunnels_[entry.id] = SessionTunnel{tunnel.name, tunnel.key.local};
    if (multicast_)
        multicast_bound(entry.id, tunnel);
    MagPeer& peer = mag_peers_[entry.proxy_coa];
    peer.local = tunnel.key.local;
    if (++peer.bindings == 1)
        schedule_state_save();
    if (heartbeat_)
        heartbeat_->binding_added(entry.proxy_coa);
}

// --- draft-asaeda's M-Tunnel -------------------------------------------------

// A session is bound to unicast `tunnel`: its multicast downstream is that
// tunnel (RFC 6224 section 4.3) or, with multicast.m-tunnel, the M-Tunnel to
// its MAG from the same local address (one reference per session). An
// M-Tunnel that does not exist yet is made from the loop's queue, after the
// PBA this binding is for has gone: making a device takes milliseconds that
// would delay the PBA, and unicast with it; a SIAL context or PBU-M channels
// for it meanwhile wait and are applied once it is made.
void LmaDaemon::multicast_bound(SessionId session, const TunnelInfo& tunnel) {
    if (!config_.multicast.m_tunnel.enabled()) {
        multicast_->tunnel_used(tunnel.name);
        return;
    }
    MTunnelUse& use = m_tunnel_uses_[tunnel.name];
    use.key = multicast_tunnel_key(tunnel.key.peer, tunnel.key.local, config_.multicast.m_tunnel.key);
    if (use.made) {
        if (auto t = tunnels_->acquire(use.key)) {  // exists: no device made here
            ++use.held[session];
            multicast_->tunnel_used(use.name);
        } else {
            ++counters_["m_tunnel_errors"];
            PMIP_ERROR(kMld, "[lma mcast]", "M-Tunnel " + use.name + ": " + t.error().what);
        }
        return;
    }
    ++use.pending[session];
    if (use.queued)
        return;
    if (tunnels_->find(use.key)) {  // another unicast tunnel's: take it now
        make_m_tunnel(tunnel.name);
        return;
    }
    use.queued = true;
    loop_.post([this, device = tunnel.name] {
        if (!shut_down_ && multicast_)
            make_m_tunnel(device);
    });
}

// The references of the sessions waiting on unicast `device` to its
// M-Tunnel (made with the first) and its downstream for each, then what
// waited. A session holds what it took and gives back only that.
void LmaDaemon::make_m_tunnel(const std::string& device) {
    const auto it = m_tunnel_uses_.find(device);
    if (it == m_tunnel_uses_.end())
        return;
    MTunnelUse& use = it->second;
    use.queued = false;
    auto waiting = std::exchange(use.waiting, {});
    auto pending = std::exchange(use.pending, {});
    for (const auto& [session, n] : pending) {
        for (unsigned i = 0; i < n; ++i) {
            auto t = take_m_tunnel(use.key.peer, use.key.local);
            if (!t) {
                // Those left get none (their unicast is unaffected); the
                // next binding on this tunnel tries again.
                counters_["m_tunnel_contexts_dropped"] += waiting.size();
                if (use.held.empty())
                    m_tunnel_uses_.erase(it);
                return;
            }
            use.name = t->name;
            ++use.held[session];
            multicast_->tunnel_used(use.name);
        }
    }
    if (use.held.empty()) {  // all gone before it was made
        m_tunnel_uses_.erase(it);
        return;
    }
    use.made = true;
    for (auto& apply : waiting) apply(use.name);
}

// Applies `apply` to the multicast downstream of sessions on unicast
// `tunnel`: now, or when their M-Tunnel is made.
void LmaDaemon::on_multicast_device(const std::string& tunnel, std::function<void(const std::string&)> apply) {
    if (!config_.multicast.m_tunnel.enabled()) {
        apply(tunnel);
        return;
    }
    const auto it = m_tunnel_uses_.find(tunnel);
    if (it == m_tunnel_uses_.end())
        return;
    if (it->second.made)
        apply(it->second.name);
    else
        it->second.waiting.push_back(std::move(apply));
}

Expected<TunnelInfo> LmaDaemon::take_m_tunnel(const Ipv6Address& mag, const Ipv6Address& local) {
    const TunnelKey key = multicast_tunnel_key(mag, local, config_.multicast.m_tunnel.key);
    const bool exists = tunnels_->find(key).has_value();
    auto t = tunnels_->acquire(key);
    const std::string ctx = "[lma mcast mag=" + to_string(mag) + "]";
    if (!t) {
        ++counters_["m_tunnel_errors"];
        PMIP_ERROR(kMld, ctx, "M-Tunnel (GRE key " + std::to_string(*key.input_key) +
                                  ") not made, no multicast to this MAG: " + t.error().what);
        return t.error();
    }
    if (!exists) {
        ++counters_["m_tunnels_created"];
        PMIP_INFO(kMld, ctx, std::string(to_string(config_.multicast.m_tunnel.mode)) + " M-Tunnel " + t->name +
                                 " (GRE key " + std::to_string(*key.input_key) + ")");
    }
    return t;
}

// A session left unicast `tunnel`: its downstream reference goes, then its
// M-Tunnel reference (the device goes with the last, after [tunnel]
// delete-delay-ms).
void LmaDaemon::multicast_unbound(SessionId session, const std::string& tunnel) {
    if (!config_.multicast.m_tunnel.enabled()) {
        multicast_->tunnel_unused(tunnel);
        return;
    }
    const auto it = m_tunnel_uses_.find(tunnel);
    if (it == m_tunnel_uses_.end())
        return;  // its M-Tunnel could not be made
    MTunnelUse& use = it->second;
    if (const auto p = use.pending.find(session); p != use.pending.end()) {
        if (--p->second == 0)
            use.pending.erase(p);
    } else if (const auto h = use.held.find(session); h != use.held.end()) {
        if (--h->second == 0)
            use.held.erase(h);
        multicast_->tunnel_unused(use.name);
        if (Status st = tunnels_->release(use.key); !st.ok()) {
            ++counters_["m_tunnel_errors"];
            PMIP_WARNING(kMld, "[lma mcast]", "releasing M-Tunnel " + use.name + ": " + st.error().what);
        }
    }
    if (use.held.empty() && use.pending.empty() && !use.queued)
        m_tunnel_uses_.erase(it);
}

// multicast.m-tunnel = static: the M-Tunnels to the listed MAGs, from the
// first LMA address, made now and kept (their querier runs) until shutdown.
void LmaDaemon::make_static_m_tunnels() {
    if (!multicast_ || config_.multicast.m_tunnel.mode != MulticastTunnelMode::kStatic || config_.addresses.empty())
        return;
    for (const Ipv6Address& mag : config_.multicast.m_tunnel_mags) {
        if (auto t = take_m_tunnel(mag, config_.addresses.front()))
            multicast_->tunnel_used(t->name);
    }
}

void LmaDaemon::multicast_context(const BindingCacheEntry& entry,
                                  const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) {
    const auto t = session_tunnels_.find(entry.id);
    if (multicast_ && t != session_tunnels_.end())
        on_multicast_device(t->second.device, [this, subscriptions](const std::string& device) {
            multicast_->apply_context(device, subscriptions);
        });
}

void LmaDaemon::multicast_channels_requested(const BindingCacheEntry& entry,
                                             const std::vector<mh::MulticastAddressRecord>& records) {
    const auto t = session_tunnels_.find(entry.id);
    if (multicast_ && t != session_tunnels_.end())
        on_multicast_device(t->second.device, [this, records](const std::string& device) {
            multicast_->apply_records(device, records);
        });
}

void LmaDaemon::session_unbound(const BindingCacheEntry& entry, const Ipv6Address& proxy_coa,
                                const std::string& tunnel) {
    if (multicast_ && !tunnel.empty())
        multicast_unbound(entry.id, tunnel);
    // After a handoff the session is bound to its new tunnel already.
    if (const auto t = session_tunnels_.find(entry.id); t != session_tunnels_.end() && t->second.device == tunnel)
        session_tunnels_.erase(t);
    if (heartbeat_)
        heartbeat_->binding_removed(proxy_coa);
    const auto it = mag_peers_.find(proxy_coa);
    if (it == mag_peers_.end())
        return;
    if (--it->second.bindings == 0) {
        mag_peers_.erase(it);
        schedule_state_save();
    }
}

// The state file is written (with fsync) once the event being handled is
// done: a handoff's PBA must not wait for the disk.
void LmaDaemon::schedule_state_save() {
    if (state_save_pending_)
        return;
    state_save_pending_ = true;
    loop_.post([this] {
        state_save_pending_ = false;
        save_state();
    });
}

void LmaDaemon::save_state() {
    if (stopping_)
        return;
    state_.peers.clear();
    for (const auto& [mag, peer] : mag_peers_) state_.peers.push_back({mag, peer.local});
    if (Status st = write_state_file(config_.state_file, state_); !st.ok()) {
        ++counters_["state_write_errors"];
        static log::RateLimit limit(3, std::chrono::minutes(1));
        if (limit.allow())
            PMIP_ERROR(kBce, kContext, "state file not written: " + st.error().what);
    }
}

// --- heartbeats [RFC 5847] --------------------------------------------------

Ipv6Address LmaDaemon::local_address_for(const Ipv6Address& mag) const {
    if (const auto it = mag_peers_.find(mag);
        it != mag_peers_.end() && it->second.local != Ipv6Address{}) {
        return it->second.local;
    }
    return config_.addresses.front();
}

void LmaDaemon::send_heartbeat_request(const Ipv6Address& mag, std::uint32_t sequence) {
    mh::Heartbeat request;
    request.sequence = sequence;
    transmitter_->send(local_address_for(mag), mag, request);
    ++counters_["heartbeat_requests_sent"];
}

void LmaDaemon::send_unsolicited_heartbeats(const std::vector<StatePeer>& peers) {
    for (const auto& p : peers) {
        const bool ours = std::find(config_.addresses.begin(), config_.addresses.end(), p.lma) !=
                          config_.addresses.end();
        mh::Heartbeat response;
        response.flags = mh::heartbeat_flag::kU | mh::heartbeat_flag::kR;
        response.sequence = 0;  // ignored by the receiver (section 5.1)
        response.options.push_back(mh::RestartCounter{state_.restart_counter});
        transmitter_->send(ours ? p.lma : config_.addresses.front(), p.mag, response);
        ++counters_["unsolicited_heartbeats_sent"];
        PMIP_INFO(kMh, peer_context(p.mag),
                  "told MAG of our restart (restart counter " +
                      std::to_string(state_.restart_counter) + ")");
    }
}

void LmaDaemon::peer_unreachable(const Ipv6Address& mag) {
    ++counters_["peer_unreachable"];
    if (config_.on_peer_failure == OnPeerFailure::kKeep) {
        PMIP_WARNING(kBce, peer_context(mag),
                     "MAG unreachable; its bindings stay until their lifetime ends");
        return;
    }
    // Purge outside the monitor's callback.
    loop_.post([this, mag] {
        if (!engine_ || stopping_)
            return;
        const std::size_t n = engine_->delete_sessions_of(mag);
        counters_["sessions_purged"] += n;
        PMIP_WARNING(kBce, peer_context(mag),
                     "MAG unreachable; purged " + std::to_string(n) + " bindings");
    });
}

void LmaDaemon::peer_restarted(const Ipv6Address& mag, std::uint32_t old_value,
                               std::uint32_t new_value) {
    ++counters_["peer_restarts"];
    // RFC 5847 section 3.2: the MAG lost its state; its bindings are invalid
    // (it re-registers the MNs still attached).
    loop_.post([this, mag, old_value, new_value] {
        if (!engine_ || stopping_)
            return;
        const std::size_t n = engine_->delete_sessions_of(mag);
        counters_["sessions_purged"] += n;
        PMIP_INFO(kBce, peer_context(mag),
                  "MAG restarted (restart counter " + std::to_string(old_value) + " -> " +
                      std::to_string(new_value) + "); deleted its " + std::to_string(n) +
                      " bindings");
    });
}

// --- policy reload ----------------------------------------------------------

// [mags] auth re-read from the configuration file (key rotation without
// dropping bindings; command-line --mags.auth values are not re-applied).
std::string LmaDaemon::reload_auth() {
    if (config_.config_file.empty())
        return "no configuration file: [mags] auth unchanged";
    const ConfigLoad fresh = load_config({"--config", config_.config_file});
    auto now = auth::reload(*auth_, config_.auth, fresh, "mags", kContext);
    if (!now) {
        ++counters_["reload_failures"];
        throw ControlError(now.error().what);
    }
    // The same file, without errors: its [multicast] filter tables too.
    reload_filter_tables(fresh.config.multicast.policy, fresh.config.multicast.interface_filters);
    return *now;
}

void LmaDaemon::reload_filter_tables(const mcast::Policy& policy,
                                     const std::vector<mcast::InterfaceFilter>& filters) {
    if (policy == config_.multicast.policy && filters == config_.multicast.interface_filters)
        return;
    const bool policy_changed = policy != config_.multicast.policy;
    config_.multicast.policy = policy;
    config_.multicast.interface_filters = filters;
    if (multicast_ && policy_changed)
        multicast_->set_policy(policy);
    if (multicast_)
        multicast_->set_interface_filters(filters);
    ++counters_["multicast_filters_reloaded"];
    PMIP_INFO(kMld, kContext, "multicast filter tables reloaded");
}

// The MNs' multicast profiles reach MAGs only in PBU-M answers.
void LmaDaemon::warn_unused_multicast_profiles() {
    if (config_.engine.pbu_m.enabled)
        return;
    const auto has = [](const MobileNodePolicy& p) {
        return !p.multicast_channels.empty() || p.multicast_admission != MulticastAdmission{};
    };
    bool any = has(policies_->default_policy());
    for (const auto& [mn, p] : policies_->entries().policies) any = any || has(p);
    if (any)
        PMIP_WARNING(kBce, kContext,
                     "the policy store holds multicast profiles (multicast_channels, multicast_policy) but "
                     "[multicast] pbu-m is off: no MAG will learn them");
}

// SIGHUP and `pmipctl reload`: the policy store is read and checked before
// the configuration file's reloadable parts change, so a store with a
// problem leaves everything as it was.
json LmaDaemon::reload() {
    if (config_.policy_file.empty()) {
        return json{{"policy_file", nullptr},
                    {"message", "no policy store configured; nothing to reload"},
                    {"auth", reload_auth()}};
    }
    PolicyLoad load = load_policy_file(config_.policy_file, config_.engine.default_policy);
    if (!load.ok()) {
        ++counters_["reload_failures"];
        std::string text;
        for (const auto& p : load.problems) {
            if (!p.warning)
                text += (text.empty() ? "" : "; ") + p.to_string();
        }
        PMIP_WARNING(kBce, kContext, "policy store not reloaded (previous policies stay; nothing reloaded): " + text);
        throw ControlError("policy store not reloaded (previous policies stay; nothing reloaded): " + text);
    }
    const std::string auth = reload_auth();
    const PolicyChanges changes = policies_->replace(std::move(load.contents));
    ++counters_["reloads"];
    warn_unused_multicast_profiles();
    PMIP_INFO(kBce, kContext,
              "policy store reloaded from " + config_.policy_file + ": " +
                  std::to_string(policies_->size()) + " mobile nodes; added " +
                  join(changes.added) + "; removed " + join(changes.removed) + "; changed " +
                  join(changes.changed) +
                  (changes.default_changed ? "; default policy changed" : ""));
    // Issue 18: the serving MAGs of MNs whose multicast profile changed
    // register them again (RFC 7077), and learn the channels from the PBA.
    std::size_t notified = 0;
    if (!changes.multicast_changed.empty() || changes.default_multicast_changed) {
        const std::set<MobileNodeIdentifier> changed(changes.multicast_changed.begin(),
                                                     changes.multicast_changed.end());
        const bool default_changed = changes.default_multicast_changed;
        notified = engine_->profile_changed([&](const BindingCacheEntry& e) {
            return changed.count(e.mn_identifier) > 0 ||
                   (default_changed && policies_->entries().find(e.mn_identifier) == nullptr);
        });
    }
    json result = changes.to_json();
    result["multicast_profiles_notified"] = notified;
    result["policy_file"] = config_.policy_file;
    result["mobile_nodes"] = policies_->size();
    result["auth"] = auth;
    result["note"] =
        "new policies apply from each mobile node's next PBU; lifetimes and timers stay as loaded";
    return result;
}

// --- control commands -------------------------------------------------------

void LmaDaemon::register_commands() {
    control_->handle("show bindings", [this](const json& r) { return show_bindings(r); });
    control_->handle("show binding", [this](const json& r) { return show_binding(r); });
    control_->handle("show tunnels", [this](const json&) { return show_tunnels(); });
    control_->handle("show multicast", [this](const json&) {
        if (!multicast_)
            throw ControlError("multicast is not enabled ([multicast] enabled = true)");
        json j = multicast_->show();
        const MulticastTunnelConfig& m = config_.multicast.m_tunnel;
        j["m_tunnel"] = {{"mode", std::string(to_string(m.mode))}};
        if (m.enabled())
            j["m_tunnel"]["key"] = m.key;
        return j;
    });
    control_->handle("show peers", [this](const json&) { return show_peers(); });
    control_->handle("show counters", [this](const json&) { return show_counters(); });
    control_->handle("show cmd", [this](const json&) { return show_cmd(); });
    control_->handle("reload", [this](const json&) { return reload(); });
    control_->handle("revoke", [this](const json& r) { return revoke(r); });
    control_->handle("show revocations", [this](const json&) { return show_revocations(); });
}

// --- Binding Revocation [RFC 5846 section 8.1] -------------------------------

json LmaDaemon::revoke(const json& request) {
    static const char* const kUsage =
        "revoke: give \"mn\" (a mobile node, optionally \"prefix\" and \"trigger\") or "
        "\"mag\" (a MAG address, optionally \"realm\")";
    for (const auto& [key, value] : request.items()) {
        if (key != "command" && key != "mn" && key != "mag" && key != "trigger" &&
            key != "prefix" && key != "realm") {
            throw ControlError("revoke: unknown member \"" + key + "\"; " + kUsage);
        }
    }
    const bool by_mn = request.contains("mn"), by_mag = request.contains("mag");
    if (by_mn == by_mag)
        throw ControlError(kUsage);
    auto text_member = [&](const char* name) -> std::optional<std::string> {
        const auto it = request.find(name);
        if (it == request.end())
            return std::nullopt;
        if (!it->is_string() || it->get_ref<const std::string&>().empty())
            throw ControlError(std::string("revoke: \"") + name + "\" must be a non-empty string");
        return it->get<std::string>();
    };
    std::optional<std::uint8_t> trigger;
    if (const auto it = request.find("trigger"); it != request.end()) {
        if (it->is_number_unsigned() && it->get<unsigned long long>() <= 255) {
            trigger = static_cast<std::uint8_t>(it->get<unsigned>());
        } else if (it->is_string()) {
            trigger = parse_revocation_trigger(it->get_ref<const std::string&>());
        }
        if (!trigger) {
            throw ControlError("revoke: \"trigger\" must be a Revocation Trigger number (0-255) or "
                               "name, e.g. 1 or \"administrative-reason\" [RFC 5846 section 5.1]");
        }
    }
    json out = json::object();
    json revocations = json::array();
    if (by_mn) {
        if (request.contains("realm"))
            throw ControlError("revoke: \"realm\" goes with \"mag\", not \"mn\"");
        const std::string mn = *text_member("mn");
        std::optional<Ipv6Prefix> prefix;
        if (const auto p = text_member("prefix")) {
            prefix = parse_prefix(*p);
            if (!prefix || p->find('/') == std::string::npos)
                throw ControlError("revoke: \"prefix\" \"" + *p + "\" is not an IPv6 prefix (P/LEN)");
        }
        // The operator names the MN as `show bindings` prints it.
        std::optional<MobileNodeIdentifier> identity;
        for (const auto& [id, entry] : engine_->cache().entries()) {
            if (mn_identifier_text(entry.mn_identifier) == mn || entry.mn_identifier.identifier == mn) {
                identity = entry.mn_identifier;
                break;
            }
        }
        if (!identity)
            throw ControlError("revoke: no binding for mobile node \"" + mn + "\"");
        auto started = engine_->revoke_mobile_node(
            *identity, trigger.value_or(revocation_trigger::kAdministrativeReason), prefix);
        if (!started) {
            ++counters_["revoke_refused"];
            throw ControlError("revoke: mobile node \"" + mn + "\": " + started.error().what);
        }
        for (const Revocation* r : *started) revocations.push_back(revocation_json(*r));
    } else {
        const std::string text = *text_member("mag");
        const auto mag = parse_address(text);
        if (!mag)
            throw ControlError("revoke: \"mag\" \"" + text + "\" is not an IPv6 address");
        if (request.contains("prefix"))
            throw ControlError("revoke: \"prefix\" goes with \"mn\", not \"mag\"");
        const auto realm = text_member("realm");
        const std::uint8_t expected = realm ? revocation_trigger::kRevokingMobilityNodeLocalPolicy
                                            : revocation_trigger::kPerPeerPolicy;
        if (trigger && *trigger != expected) {
            throw ControlError(
                "revoke: a global revocation " + std::string(realm ? "by realm" : "of a MAG") +
                " uses trigger " + std::to_string(expected) + " (" +
                std::string(revocation_trigger_name(expected)) + ") [RFC 5846 section 8.1]");
        }
        auto started = engine_->revoke_mag(*mag, realm);
        if (!started) {
            ++counters_["revoke_refused"];
            throw ControlError("revoke: " + started.error().what);
        }
        revocations.push_back(revocation_json(**started));
    }
    out["revocations"] = revocations;
    out["note"] =
        "the bindings stay (state revoking) until the MAG acknowledges (BRA) or the last "
        "retransmission goes unanswered; then they are deleted (see show revocations)";
    return out;
}

json LmaDaemon::revocation_json(const Revocation& r) const {
    json sessions = json::array(), mns = json::array(), prefixes = json::array();
    for (SessionId id : r.sessions) {
        const BindingCacheEntry* e = engine_->cache().find(id);
        if (e == nullptr)
            continue;
        sessions.push_back(id);
        const std::string mn = mn_identifier_text(e->mn_identifier);
        if (std::find(mns.begin(), mns.end(), mn) == mns.end())
            mns.push_back(mn);
        for (const auto& p : e->home_network_prefixes) prefixes.push_back(pmip::to_string(p));
    }
    const auto ms = [](Duration d) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    return json{{"sequence", r.sequence},
                {"mag", pmip::to_string(r.mag)},
                {"lma", pmip::to_string(r.lma)},
                {"global", r.global()},
                {"trigger", r.bri.revocation_trigger},
                {"trigger_name", revocation_trigger_name(r.bri.revocation_trigger)},
                {"sessions", sessions},
                {"mobile_nodes", mns},
                {"prefixes", prefixes},
                {"transmissions", r.transmissions},
                {"retries_left", r.transmissions > config_.engine.revocation.max_retries + 1
                                     ? 0
                                     : config_.engine.revocation.max_retries + 1 - r.transmissions},
                {"timeout_ms", ms(r.timeout)},
                {"age_ms", ms(loop_.clock().now() - r.started)}};
}

json LmaDaemon::show_revocations() const {
    json out = json::array();
    for (const auto& [sequence, r] : engine_->revocations()) out.push_back(revocation_json(r));
    return out;
}

json LmaDaemon::show_bindings(const json& request) const {
    std::optional<Ipv6Address> mag;
    if (const auto it = request.find("mag"); it != request.end()) {
        mag = it->is_string() ? parse_address(it->get<std::string>()) : std::nullopt;
        if (!mag)
            throw ControlError("show bindings: \"mag\" must be an IPv6 address");
    }
    json out = json::array();
    const TimePoint now = loop_.clock().now();
    for (const auto& [id, entry] : engine_->cache().entries()) {
        if (mag && entry.proxy_coa != *mag)
            continue;
        const auto t = session_tunnels_.find(id);
        out.push_back(binding_json(entry, t == session_tunnels_.end() ? nullptr : &t->second, now));
    }
    return out;
}

json LmaDaemon::show_binding(const json& request) const {
    const auto it = request.find("mn");
    if (it == request.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
        throw ControlError("show binding: \"mn\" must name a mobile node (MN-Identifier)");
    }
    const std::string& mn = it->get_ref<const std::string&>();
    json out = json::array();
    const TimePoint now = loop_.clock().now();
    for (const auto& [id, entry] : engine_->cache().entries()) {
        if (mn_identifier_text(entry.mn_identifier) != mn && entry.mn_identifier.identifier != mn)
            continue;
        const auto t = session_tunnels_.find(id);
        out.push_back(binding_json(entry, t == session_tunnels_.end() ? nullptr : &t->second, now));
    }
    if (out.empty())
        throw ControlError("no binding for mobile node \"" + mn + "\"");
    return out;
}

json LmaDaemon::show_tunnels() const {
    json out = json::array();
    for (const auto& info : tunnels_->tunnels())
        out.push_back(tunnel_json(info, tunnels_->counters(info.key)));
    return out;
}

json LmaDaemon::show_peers() const {
    std::map<Ipv6Address, PeerView> views;
    for (const auto& [mag, peer] : mag_peers_) {
        PeerView& v = views[mag];
        v.mag = mag;
        v.lma = peer.local;
        v.bindings = peer.bindings;
    }
    std::vector<HeartbeatPeer> heartbeat_peers;
    if (heartbeat_)
        heartbeat_peers = heartbeat_->peers();
    for (const auto& h : heartbeat_peers) {
        PeerView& v = views[h.address];
        v.mag = h.address;
        v.heartbeat = &h;
    }
    json out = json::array();
    for (auto& [mag, v] : views) {
        v.profile = profile_of(config_, mag);
        out.push_back(peer_json(v));
    }
    return out;
}

json LmaDaemon::show_counters() const {
    json daemon = json::object();
    for (const char* name : {"peer_unreachable", "peer_reachable_again", "peer_restarts",
                             "sessions_purged", "reloads", "reload_failures", "state_write_errors",
                             "revoke_refused",
                             "unsolicited_heartbeats_sent", "heartbeat_requests_sent", "m_tunnels_created",
                             "m_tunnel_errors", "m_tunnel_contexts_dropped", "multicast_filters_reloaded"}) {
        const auto it = counters_.find(name);
        daemon[name] = it == counters_.end() ? 0 : it->second;
    }
    daemon["restart_counter"] = state_.restart_counter;
    daemon["bindings"] = engine_->cache().size();
    daemon["peers_with_bindings"] = mag_peers_.size();
    daemon["mobile_nodes_in_policy_store"] = policies_->size();
    const HeapUsage heap = heap_usage();
    daemon["heap_in_use_bytes"] = heap.in_use;
    daemon["heap_held_bytes"] = heap.held;
    daemon["heap_reserved_bytes"] = heap_reserved_;
    json backend = json::object();
    for (const auto& [name, value] : tunnels_->backend().statistics()) backend[name] = value;
    json out{{"engine", engine_counters_json(engine_->counters())},
             {"mh", receiver_->counters()},
             {"auth", auth_->counters()},
             {"mh_socket", socket_->counters()},
             {"control", control_->counters()},
             {"tunnel_backend", backend},
             {"daemon", daemon}};
    if (cmd_)
        out["cmd"] = cmd_counters_json(cmd_->counters());
    return out;
}

// `pmipctl show cmd`: the DMM sessions (RFC 8885), each with its serving
// MAAR and the previous MAARs still anchoring a prefix of the MN.
json LmaDaemon::show_cmd() const {
    if (!cmd_)
        throw ControlError("no Central Mobility Database here ([dmm] cmd = off)");
    json sessions = json::array();
    const TimePoint now = loop_.clock().now();
    for (const auto& [mn, s] : cmd_->sessions()) sessions.push_back(cmd_session_json(s, now));
    return json{{"mode", std::string(to_string(cmd_->config().mode))}, {"sessions", sessions}};
}

}  // namespace pmip::lma
