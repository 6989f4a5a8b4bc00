// MLD querier [RFC 3810 sections 7, 8.3, 9; RFC 2710; RFC 6224 section 4.7].
#include "pmip/mcast/querier.hpp"

#include <algorithm>
#include <limits>

#include "pmip/common/log.hpp"

namespace pmip::mcast {

namespace {

SourceSet to_set(const std::vector<Ipv6Address>& v) {
    return SourceSet(v.begin(), v.end());
}

SourceSet set_minus(const SourceSet& a, const SourceSet& b) {
    SourceSet out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
    return out;
}

SourceSet set_intersection(const SourceSet& a, const SourceSet& b) {
    SourceSet out;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
    return out;
}

std::uint32_t to_ms(Duration d) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    if (ms <= 0)
        return 0;
    if (ms > std::numeric_limits<std::uint32_t>::max())
        return std::numeric_limits<std::uint32_t>::max();
    return static_cast<std::uint32_t>(ms);
}

std::uint32_t to_s(Duration d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s <= 0)
        return 0;
    if (s > std::numeric_limits<std::uint32_t>::max())
        return std::numeric_limits<std::uint32_t>::max();
    return static_cast<std::uint32_t>(s);
}

bool is_current_state(RecordType t) {
    return t == RecordType::kModeIsInclude || t == RecordType::kModeIsExclude;
}

Duration remaining(TimePoint expiry, TimePoint now) {
    return expiry > now ? expiry - now : Duration{};
}

}  // namespace

QuerierConfig QuerierConfig::with_robustness(unsigned robustness) {
    QuerierConfig c;
    c.robustness = robustness;
    c.startup_query_count = robustness;
    c.last_listener_query_count = robustness;
    return c;
}

std::string validate(const QuerierConfig& c) {
    if (c.robustness == 0)
        return "robustness must be at least 1";
    if (c.query_interval <= Duration{})
        return "query_interval must be positive";
    if (c.query_response_interval <= Duration{})
        return "query_response_interval must be positive";
    // RFC 3810 section 9.3: the response interval must be below the query interval.
    if (c.query_response_interval >= c.query_interval) {
        return "query_response_interval must be shorter than query_interval";
    }
    if (c.startup_query_interval <= Duration{})
        return "startup_query_interval must be positive";
    if (c.startup_query_count == 0)
        return "startup_query_count must be at least 1";
    if (c.last_listener_query_interval <= Duration{})
        return "last_listener_query_interval must be positive";
    if (c.last_listener_query_count == 0)
        return "last_listener_query_count must be at least 1";
    if (c.version != 1 && c.version != 2)
        return "version must be 1 or 2";
    if (c.fast_leave && !c.explicit_tracking)
        return "fast_leave needs explicit_tracking";
    return {};
}

bool querier_address_lower(const Ipv6Address& a, const Ipv6Address& b) {
    const auto a_id = std::span<const std::uint8_t>(a).subspan(8);
    const auto b_id = std::span<const std::uint8_t>(b).subspan(8);
    if (!std::equal(a_id.begin(), a_id.end(), b_id.begin())) {
        return std::lexicographical_compare(a_id.begin(), a_id.end(), b_id.begin(), b_id.end());
    }
    return a < b;
}

Querier::Querier(Timers& timers, QuerierOutput& output, const Ipv6Address& link_local,
                 QuerierConfig config, std::string context)
    : timers_(timers),
      output_(output),
      link_local_(link_local),
      config_(config),
      context_(std::move(context)),
      robustness_(config.robustness),
      query_interval_(config.query_interval) {}

Querier::~Querier() {
    stop();
}

Duration Querier::multicast_address_listening_interval() const {
    return static_cast<int>(robustness_) * query_interval_ + config_.query_response_interval;
}

Duration Querier::other_querier_present_timeout() const {
    return static_cast<int>(robustness_) * query_interval_ + config_.query_response_interval / 2;
}

Duration Querier::last_listener_query_time() const {
    return static_cast<int>(config_.last_listener_query_count) *
           config_.last_listener_query_interval;
}

Duration Querier::older_version_host_present_timeout() const {
    return static_cast<int>(robustness_) * query_interval_ + config_.query_response_interval;
}

void Querier::start() {
    if (started_)
        return;
    started_ = true;
    is_querier_ = true;  // RFC 3810 section 7.6.2: a router starts as querier
    startup_remaining_ = config_.startup_query_count;
    PMIP_DEBUG(kMld, context_, "querier started on " + pmip::to_string(link_local_));
    send_general_query();
}

void Querier::start_after_query(TimePoint sent_at) {
    if (started_)
        return;
    started_ = true;
    is_querier_ = true;
    ++counters_.general_queries_sent_before_start;
    // The query at sent_at was startup query 1 (validate(): count >= 1).
    startup_remaining_ = config_.startup_query_count - 1;
    const Duration interval =
        startup_remaining_ > 0 ? config_.startup_query_interval : config_.query_interval;
    const Duration delay = sent_at + interval - timers_.clock().now();
    PMIP_DEBUG(kMld, context_,
               "querier started on " + pmip::to_string(link_local_) + " after a General Query " +
                   std::to_string(to_ms(timers_.clock().now() - sent_at)) + " ms ago");
    arm_general_timer(std::max(delay, Duration::zero()));
}

void Querier::stop() {
    if (general_timer_)
        timers_.cancel_timer(general_timer_);
    if (other_querier_timer_)
        timers_.cancel_timer(other_querier_timer_);
    general_timer_ = other_querier_timer_ = 0;
    for (auto& [address, rec] : records_) {
        if (rec.timer)
            timers_.cancel_timer(rec.timer);
    }
    records_.clear();
    started_ = false;
    is_querier_ = false;
    other_querier_.reset();
    startup_remaining_ = 0;
}

// --- General Queries [RFC 3810 sections 5.1.15, 7.6.2, 9.6, 9.7] ----------

MldMessage general_query(const QuerierConfig& config) {
    if (config.version == 1) {
        const std::uint32_t mrd =
            std::min<std::uint32_t>(to_ms(config.query_response_interval), 0xffff);
        return Mldv1Query{static_cast<std::uint16_t>(mrd), kUnspecified};
    }
    Mldv2Query q;
    q.max_response_code = encode_max_response_delay(to_ms(config.query_response_interval));
    // QRV is 0 when the robustness does not fit 3 bits (section 5.1.8).
    q.querier_robustness = static_cast<std::uint8_t>(config.robustness <= 7 ? config.robustness : 0);
    q.querier_query_interval_code = encode_qqic(to_s(config.query_interval));
    return q;
}

void Querier::send_general_query() {
    if (!is_querier_)
        return;
    output_.send_query(kAllNodes, general_query(config_));
    ++counters_.general_queries_sent;
    if (startup_remaining_ > 0)
        --startup_remaining_;
    arm_general_timer(startup_remaining_ > 0 ? config_.startup_query_interval
                                             : config_.query_interval);
}

void Querier::arm_general_timer(Duration delay) {
    if (general_timer_)
        timers_.cancel_timer(general_timer_);
    general_timer_ = timers_.start_timer(delay, [this] {
        general_timer_ = 0;
        send_general_query();
    });
}

void Querier::send_general_query_now() {
    if (!started_ || !is_querier_)
        return;
    send_general_query();
}

// --- Receiving -------------------------------------------------------------

void Querier::receive(const Ipv6Address& source, const MldMessage& message) {
    if (const auto* r2 = std::get_if<Mldv2Report>(&message)) {
        receive_report(source, *r2);
    } else if (const auto* r1 = std::get_if<Mldv1Report>(&message)) {
        receive_v1_report(source, *r1);
    } else if (const auto* d1 = std::get_if<Mldv1Done>(&message)) {
        receive_v1_done(source, *d1);
    } else {
        receive_query(source, message);
    }
}

void Querier::receive_report(const Ipv6Address& source, const Mldv2Report& report) {
    ++counters_.v2_reports_received;
    receive_records(source, report.records);
}

void Querier::receive_records(const Ipv6Address& source,
                              std::span<const MulticastAddressRecord> records) {
    for (const auto& r : records)
        apply_record(source, r.type, r.multicast_address, to_set(r.sources));
}

// RFC 3810 section 8.3.2: a v1 Report sets MLDv1 compatibility mode for the
// address and is handled as IS_EX({}).
void Querier::receive_v1_report(const Ipv6Address& source, const Mldv1Report& report) {
    ++counters_.v1_reports_received;
    if (!is_reportable_multicast(report.multicast_address)) {
        ++counters_.records_ignored;
        return;
    }
    auto& rec = records_[report.multicast_address];
    rec.v1_host_present_until = now() + older_version_host_present_timeout();
    apply_record(source, RecordType::kModeIsExclude, report.multicast_address, {});
}

// RFC 3810 section 8.3.2: a v1 Done is handled as TO_IN({}) (which sends
// nothing when not querier, as RFC 2710 section 4 has non-queriers ignore it).
void Querier::receive_v1_done(const Ipv6Address& source, const Mldv1Done& done) {
    ++counters_.v1_dones_received;
    if (!records_.contains(done.multicast_address))
        return;
    apply_record(source, RecordType::kChangeToIncludeMode, done.multicast_address, {});
}

void Querier::apply_record(const Ipv6Address& from, RecordType type, const Ipv6Address& address,
                           const SourceSet& sources) {
    if (!is_reportable_multicast(address)) {
        ++counters_.records_ignored;
        return;
    }
    const auto it = records_.try_emplace(address).first;
    AddressRecord& rec = it->second;
    // RFC 3810 section 8.3.2: in MLDv1 compatibility mode BLOCK is ignored and
    // TO_EX(x) is TO_EX({}).
    const bool v1_mode = rec.v1_host_present_until > now();
    if (v1_mode && type == RecordType::kBlockOldSources) {
        ++counters_.records_ignored;
        settle(it);
        return;
    }
    static const SourceSet kNone;
    const SourceSet& effective =
        v1_mode && type == RecordType::kChangeToExcludeMode ? kNone : sources;
    ++counters_.records_processed;
    PMIP_DEBUG(kMld, context_,
               std::string(to_string(type)) + " " + pmip::to_string(address) + " (" +
                   std::to_string(effective.size()) + " sources) from " + pmip::to_string(from));
    if (config_.explicit_tracking) {
        const bool was_listener = rec.listeners.contains(from);
        track_listener(rec, from, type, effective);
        // RFC 6224 section 4.7 (RFC 6636 section 3.1): with explicit tracking
        // the querier knows when the last listener left and stops forwarding
        // at once, without Last Listener Queries.
        const bool left = was_listener && !rec.listeners.contains(from);
        if (config_.fast_leave && is_querier_ && left && !has_live_listener(rec)) {
            ++counters_.fast_leaves;
            PMIP_DEBUG(kMld, context_, "fast leave " + pmip::to_string(address));
            rec.mode = FilterMode::kInclude;
            rec.sources.clear();
            rec.address_retransmissions = 0;
            settle(it);
            return;
        }
        // The same per source: in INCLUDE mode, when every live listener is in
        // INCLUDE mode, a source no listener includes any more is dropped at
        // once instead of being queried (BLOCK and TO_IN only).
        const bool source_leave =
            type == RecordType::kBlockOldSources || type == RecordType::kChangeToIncludeMode;
        if (config_.fast_leave && is_querier_ && source_leave && rec.mode == FilterMode::kInclude) {
            counters_.fast_leaves += drop_unwanted_sources(rec);
        }
    }
    if (is_current_state(type)) {
        apply_current_state(rec, type, effective);
    } else {
        apply_state_change(rec, type, effective, address);
    }
    settle(it);
}

// RFC 3810 section 7.4.1, Reception of Current State Records.
void Querier::apply_current_state(AddressRecord& rec, RecordType type, const SourceSet& b) {
    const TimePoint mali = now() + multicast_address_listening_interval();
    if (type == RecordType::kModeIsInclude) {
        // IN(A) IS_IN(B) -> IN(A+B), (B)=MALI
        // EX(X,Y) IS_IN(A) -> EX(X+A, Y-A), (A)=MALI
        set_source_timers(rec, b, mali);
        return;
    }
    if (rec.mode == FilterMode::kInclude) {
        // IN(A) IS_EX(B) -> EX(A*B, B-A); (B-A)=0; delete (A-B); FT=MALI
        std::erase_if(rec.sources, [&](const auto& s) { return !b.contains(s.first); });
        for (const auto& s : b) rec.sources.try_emplace(s, SourceRecord{TimePoint{}, 0});
        rec.mode = FilterMode::kExclude;
    } else {
        // EX(X,Y) IS_EX(A) -> EX(A-Y, Y*A); (A-X-Y)=MALI; delete (X-A), (Y-A); FT=MALI
        std::erase_if(rec.sources, [&](const auto& s) { return !b.contains(s.first); });
        for (const auto& s : b) rec.sources.try_emplace(s, SourceRecord{mali, 0});
    }
    rec.filter_expiry = mali;
}

// RFC 3810 section 7.4.2, Reception of Filter Mode Change and Source List
// Change Records.
void Querier::apply_state_change(AddressRecord& rec, RecordType type, const SourceSet& b,
                                 const Ipv6Address& address) {
    const TimePoint n = now();
    const TimePoint mali = n + multicast_address_listening_interval();
    SourceSet current;    // A in INCLUDE; X+Y in EXCLUDE
    SourceSet requested;  // X in EXCLUDE
    for (const auto& [s, sr] : rec.sources) {
        current.insert(current.end(), s);
        if (sr.expiry > n)
            requested.insert(requested.end(), s);
    }
    if (rec.mode == FilterMode::kInclude) {
        switch (type) {
            case RecordType::kAllowNewSources:  // IN(A) ALLOW(B) -> IN(A+B); (B)=MALI
                set_source_timers(rec, b, mali);
                break;
            case RecordType::kBlockOldSources:  // IN(A) BLOCK(B) -> IN(A); Q(MA,A*B)
                query_sources(rec, address, set_intersection(current, b));
                break;
            case RecordType::kChangeToExcludeMode: {
                // IN(A) TO_EX(B) -> EX(A*B,B-A); (B-A)=0; delete (A-B); Q(MA,A*B); FT=MALI
                apply_current_state(rec, RecordType::kModeIsExclude, b);
                query_sources(rec, address, set_intersection(current, b));
                break;
            }
            case RecordType::kChangeToIncludeMode:  // IN(A) TO_IN(B) -> IN(A+B); (B)=MALI;
                                                    // Q(MA,A-B)
                set_source_timers(rec, b, mali);
                query_sources(rec, address, set_minus(current, b));
                break;
            default:
                break;
        }
        return;
    }
    switch (type) {
        case RecordType::kAllowNewSources:  // EX(X,Y) ALLOW(A) -> EX(X+A,Y-A); (A)=MALI
            set_source_timers(rec, b, mali);
            break;
        case RecordType::kBlockOldSources: {
            // EX(X,Y) BLOCK(A) -> EX(X+(A-Y),Y); (A-X-Y)=FT; Q(MA,A-Y)
            for (const auto& s : b) rec.sources.try_emplace(s, SourceRecord{rec.filter_expiry, 0});
            query_sources(rec, address, set_minus(b, set_minus(current, requested)));
            break;
        }
        case RecordType::kChangeToExcludeMode: {
            // EX(X,Y) TO_EX(A) -> EX(A-Y,Y*A); (A-X-Y)=FT; delete (X-A),(Y-A);
            // Q(MA,A-Y); FT=MALI
            std::erase_if(rec.sources, [&](const auto& s) { return !b.contains(s.first); });
            for (const auto& s : b) rec.sources.try_emplace(s, SourceRecord{rec.filter_expiry, 0});
            query_sources(rec, address, set_minus(b, set_minus(current, requested)));
            rec.filter_expiry = mali;
            break;
        }
        case RecordType::kChangeToIncludeMode: {
            // EX(X,Y) TO_IN(A) -> EX(X+A,Y-A); (A)=MALI; Q(MA,X-A); Q(MA)
            set_source_timers(rec, b, mali);
            query_sources(rec, address, set_minus(requested, b));
            query_address(rec, address);
            break;
        }
        default:
            break;
    }
}

void Querier::set_source_timers(AddressRecord& rec, const SourceSet& sources, TimePoint expiry) {
    for (const auto& s : sources) rec.sources[s].expiry = expiry;
}

// Listener's own state from its records (the host view of RFC 3810 section
// 4.2), keyed by its link-local address [RFC 6224 section 4.7].
void Querier::track_listener(AddressRecord& rec, const Ipv6Address& from, RecordType type,
                             const SourceSet& sources) {
    if (from == kUnspecified)
        return;
    const TimePoint n = now();
    std::erase_if(rec.listeners,
                  [&](const auto& e) { return e.second.expiry <= n && e.first != from; });
    auto& l = rec.listeners[from];
    auto& st = l.state;
    switch (type) {
        case RecordType::kModeIsInclude:
        case RecordType::kChangeToIncludeMode:
            st = {FilterMode::kInclude, sources};
            break;
        case RecordType::kModeIsExclude:
        case RecordType::kChangeToExcludeMode:
            st = {FilterMode::kExclude, sources};
            break;
        case RecordType::kAllowNewSources:
            for (const auto& s : sources) {
                if (st.mode == FilterMode::kInclude)
                    st.sources.insert(s);
                else
                    st.sources.erase(s);
            }
            break;
        case RecordType::kBlockOldSources:
            for (const auto& s : sources) {
                if (st.mode == FilterMode::kInclude)
                    st.sources.erase(s);
                else
                    st.sources.insert(s);
            }
            break;
    }
    l.expiry = now() + multicast_address_listening_interval();
    if (st.no_listeners())
        rec.listeners.erase(from);
}

std::size_t Querier::drop_unwanted_sources(AddressRecord& rec) {
    const TimePoint n = now();
    SourceSet wanted;
    for (const auto& [a, l] : rec.listeners) {
        if (l.expiry <= n)
            continue;
        if (l.state.mode == FilterMode::kExclude)
            return 0;  // wants nearly everything
        wanted.insert(l.state.sources.begin(), l.state.sources.end());
    }
    return std::erase_if(rec.sources, [&](const auto& s) { return !wanted.contains(s.first); });
}

bool Querier::has_live_listener(const AddressRecord& rec) const {
    const TimePoint n = now();
    return std::any_of(rec.listeners.begin(), rec.listeners.end(),
                       [n](const auto& l) { return l.second.expiry > n; });
}

// --- Specific queries [RFC 3810 section 7.6.3] -------------------------------

// 7.6.3.1: "Send Q(MA)" lowers the Filter Timer to LLQT, sends at once and
// schedules LLQC - 1 retransmissions every LLQI.
void Querier::query_address(AddressRecord& rec, const Ipv6Address& address) {
    if (!is_querier_)
        return;  // only the querier sends (section 7.1)
    const TimePoint llqt_at = now() + last_listener_query_time();
    if (rec.mode == FilterMode::kExclude && rec.filter_expiry > llqt_at)
        rec.filter_expiry = llqt_at;
    rec.address_retransmissions = config_.last_listener_query_count;
    static const SourceSet kNone;
    transmit_specific(rec, address, true, &kNone);
    if (rec.next_retransmission <= now())
        rec.next_retransmission = now() + config_.last_listener_query_interval;
}

// 7.6.3.2: "Send Q(MA,X)": each source of X with a timer above LLQT has it
// lowered to LLQT and gets LLQC retransmissions; send at once.
void Querier::query_sources(AddressRecord& rec, const Ipv6Address& address,
                            const SourceSet& sources) {
    if (!is_querier_ || sources.empty())
        return;
    const TimePoint n = now();
    const TimePoint llqt_at = n + last_listener_query_time();
    SourceSet fresh;
    for (const auto& s : sources) {
        const auto sit = rec.sources.find(s);
        if (sit == rec.sources.end() || sit->second.expiry <= llqt_at)
            continue;
        sit->second.expiry = llqt_at;
        sit->second.retransmissions = config_.last_listener_query_count;
        fresh.insert(fresh.end(), s);
    }
    if (fresh.empty())
        return;
    transmit_specific(rec, address, false, &fresh);
    if (rec.next_retransmission <= n)
        rec.next_retransmission = n + config_.last_listener_query_interval;
}

// One transmission: the Q(MA) when pending (S set while FT > LLQT), and the
// sources with retransmissions left split in two messages, S=1 for timers
// above LLQT and S=0 for the rest; empty messages are not sent.
void Querier::transmit_specific(AddressRecord& rec, const Ipv6Address& address, bool address_query,
                                const SourceSet* only_sources) {
    const TimePoint llqt_at = now() + last_listener_query_time();
    const std::uint32_t llqi_ms = to_ms(config_.last_listener_query_interval);
    auto make_query = [&](bool suppress, std::vector<Ipv6Address> sources) {
        Mldv2Query q;
        q.max_response_code = encode_max_response_delay(llqi_ms);
        q.multicast_address = address;
        q.suppress_router_processing = suppress;
        q.querier_robustness =
            static_cast<std::uint8_t>(config_.robustness <= 7 ? config_.robustness : 0);
        q.querier_query_interval_code = encode_qqic(to_s(config_.query_interval));
        q.sources = std::move(sources);
        return q;
    };
    if (address_query && rec.address_retransmissions > 0) {
        --rec.address_retransmissions;
        ++counters_.address_queries_sent;
        if (config_.version == 1) {
            output_.send_query(
                address,
                Mldv1Query{static_cast<std::uint16_t>(std::min<std::uint32_t>(llqi_ms, 0xffff)),
                           address});
        } else {
            const bool suppress = rec.mode == FilterMode::kExclude && rec.filter_expiry > llqt_at;
            output_.send_query(address, make_query(suppress, {}));
        }
    }
    std::vector<Ipv6Address> above;
    std::vector<Ipv6Address> below;
    for (auto& [s, sr] : rec.sources) {
        if (sr.retransmissions == 0)
            continue;
        if (only_sources && !only_sources->contains(s))
            continue;
        --sr.retransmissions;
        (sr.expiry > llqt_at ? above : below).push_back(s);
    }
    if (config_.version == 1)
        return;  // MLDv1 has no source-specific queries
    if (!above.empty()) {
        ++counters_.address_source_queries_sent;
        output_.send_query(address, make_query(true, std::move(above)));
    }
    if (!below.empty()) {
        ++counters_.address_source_queries_sent;
        output_.send_query(address, make_query(false, std::move(below)));
    }
}

// --- Timers [RFC 3810 sections 7.2.2, 7.2.3, 7.5, 7.6.3] ---------------------

void Querier::on_address_timer(const Ipv6Address& address) {
    const auto it = records_.find(address);
    if (it == records_.end())
        return;
    AddressRecord& rec = it->second;
    rec.timer = 0;
    const TimePoint n = now();
    if (rec.mode == FilterMode::kExclude && rec.filter_expiry <= n) {
        // 7.5: Filter Timer expiry in EXCLUDE: INCLUDE(X), Exclude List deleted;
        // record deleted when X is empty (settle()).
        ++counters_.filter_timer_expiries;
        std::erase_if(rec.sources, [n](const auto& s) { return s.second.expiry <= n; });
        rec.mode = FilterMode::kInclude;
        rec.filter_expiry = TimePoint{};
        rec.address_retransmissions = 0;
    } else if (rec.mode == FilterMode::kExclude) {
        // 7.2.3: a source timer expiring in EXCLUDE moves the source to the
        // Exclude List (timer 0).
        for (auto& [s, sr] : rec.sources) {
            if (sr.expiry <= n && sr.expiry != TimePoint{}) {
                sr.expiry = TimePoint{};
                sr.retransmissions = 0;
                ++counters_.source_timer_expiries;
            }
        }
    } else {
        // 7.2.3: a source timer expiring in INCLUDE deletes the source.
        const auto removed =
            std::erase_if(rec.sources, [n](const auto& s) { return s.second.expiry <= n; });
        counters_.source_timer_expiries += removed;
    }
    const bool pending = rec.address_retransmissions > 0 ||
                         std::any_of(rec.sources.begin(), rec.sources.end(),
                                     [](const auto& s) { return s.second.retransmissions > 0; });
    if (pending && is_querier_ && rec.next_retransmission <= n) {
        transmit_specific(rec, address, true, nullptr);
        rec.next_retransmission = n + config_.last_listener_query_interval;
    }
    std::erase_if(rec.listeners, [n](const auto& l) { return l.second.expiry <= n; });
    settle(it);
}

MembershipState Querier::current_state(const AddressRecord& rec) const {
    MembershipState st;
    st.mode = rec.mode;
    const TimePoint n = now();
    for (const auto& [s, sr] : rec.sources) {
        // INCLUDE: the Include List; EXCLUDE: the Exclude List (timer 0) only
        // [RFC 4605 section 4.1 step 2].
        if (rec.mode == FilterMode::kInclude || sr.expiry <= n)
            st.sources.insert(st.sources.end(), s);
    }
    return st;
}

void Querier::settle(Records::iterator it) {
    AddressRecord& rec = it->second;
    if (rec.mode == FilterMode::kInclude && rec.sources.empty()) {
        delete_record(it);
        return;
    }
    MembershipState st = current_state(rec);
    if (st != rec.reported) {
        rec.reported = st;
        output_.membership_changed(it->first, rec.reported);
    }
    const TimePoint n = now();
    TimePoint next = TimePoint::max();
    if (rec.mode == FilterMode::kExclude)
        next = rec.filter_expiry;
    bool pending = rec.address_retransmissions > 0;
    for (const auto& [s, sr] : rec.sources) {
        if (sr.expiry > n)
            next = std::min(next, sr.expiry);
        pending = pending || sr.retransmissions > 0;
    }
    if (pending && is_querier_)
        next = std::min(next, std::max(rec.next_retransmission, n));
    if (rec.timer && rec.timer_at == next)
        return;
    if (rec.timer)
        timers_.cancel_timer(rec.timer);
    rec.timer = 0;
    if (next == TimePoint::max())
        return;
    const Ipv6Address address = it->first;
    rec.timer_at = next;
    rec.timer = timers_.start_timer(next - n, [this, address] { on_address_timer(address); });
}

void Querier::delete_record(Records::iterator it) {
    if (it->second.timer)
        timers_.cancel_timer(it->second.timer);
    const Ipv6Address address = it->first;
    const bool had_listeners = !it->second.reported.no_listeners();
    records_.erase(it);
    if (had_listeners) {
        ++counters_.addresses_deleted;
        PMIP_DEBUG(kMld, context_, "no listeners left for " + pmip::to_string(address));
        output_.membership_changed(address, MembershipState{});
    }
}

// --- Queries from other routers [RFC 3810 sections 7.6.1, 7.6.2] -------------

void Querier::receive_query(const Ipv6Address& source, const MldMessage& query) {
    ++counters_.queries_received;
    Ipv6Address address{};
    std::vector<Ipv6Address> sources;
    bool suppress = false;
    const auto* q2 = std::get_if<Mldv2Query>(&query);
    if (q2) {
        address = q2->multicast_address;
        sources = q2->sources;
        suppress = q2->suppress_router_processing;
    } else if (const auto* q1 = std::get_if<Mldv1Query>(&query)) {
        address = q1->multicast_address;
    } else {
        return;
    }
    if (querier_address_lower(source, link_local_)) {
        if (is_querier_) {
            is_querier_ = false;
            ++counters_.querier_changes;
            if (general_timer_)
                timers_.cancel_timer(general_timer_);
            general_timer_ = 0;
            startup_remaining_ = 0;
            clear_retransmissions();
            PMIP_INFO(kMld, context_, "non-querier: " + pmip::to_string(source) + " is querier");
            output_.querier_changed(false);
        }
        other_querier_ = source;
        // Sections 5.1.8, 5.1.9: non-queriers adopt the querier's QRV and QQI
        // (0 means "use the configured value").
        if (q2) {
            robustness_ = q2->querier_robustness != 0 ? q2->querier_robustness : config_.robustness;
            const std::uint32_t qqi = decode_qqic(q2->querier_query_interval_code);
            query_interval_ =
                qqi != 0 ? Duration(std::chrono::seconds(qqi)) : config_.query_interval;
        }
        if (other_querier_timer_)
            timers_.cancel_timer(other_querier_timer_);
        other_querier_timer_ = timers_.start_timer(other_querier_present_timeout(), [this] {
            other_querier_timer_ = 0;
            on_other_querier_timeout();
        });
    }
    // 7.6.1: a specific query with S clear lowers the named timers to LLQT.
    if (!suppress && address != kUnspecified)
        lower_timers_on_query(address, sources);
}

void Querier::lower_timers_on_query(const Ipv6Address& address,
                                    const std::vector<Ipv6Address>& sources) {
    const auto it = records_.find(address);
    if (it == records_.end())
        return;
    AddressRecord& rec = it->second;
    const TimePoint llqt_at = now() + last_listener_query_time();
    if (sources.empty()) {
        if (rec.mode == FilterMode::kExclude && rec.filter_expiry > llqt_at)
            rec.filter_expiry = llqt_at;
    } else {
        for (const auto& s : sources) {
            const auto sit = rec.sources.find(s);
            if (sit != rec.sources.end() && sit->second.expiry > llqt_at)
                sit->second.expiry = llqt_at;
        }
    }
    settle(it);
}

void Querier::on_other_querier_timeout() {
    // 7.6.2: resume the querier role after Other Querier Present Timeout.
    other_querier_.reset();
    robustness_ = config_.robustness;
    query_interval_ = config_.query_interval;
    if (!started_)
        return;
    is_querier_ = true;
    ++counters_.querier_changes;
    PMIP_INFO(kMld, context_, "querier again: no query heard from a lower address");
    output_.querier_changed(true);
    send_general_query();
}

void Querier::clear_retransmissions() {
    for (auto& [address, rec] : records_) {
        rec.address_retransmissions = 0;
        for (auto& [s, sr] : rec.sources) sr.retransmissions = 0;
    }
}

// --- Views -----------------------------------------------------------------

MembershipState Querier::state(const Ipv6Address& multicast_address) const {
    const auto it = records_.find(multicast_address);
    return it == records_.end() ? MembershipState{} : it->second.reported;
}

std::optional<AddressView> Querier::address(const Ipv6Address& multicast_address) const {
    const auto it = records_.find(multicast_address);
    if (it == records_.end())
        return std::nullopt;
    const AddressRecord& rec = it->second;
    const TimePoint n = now();
    AddressView v;
    v.multicast_address = it->first;
    v.mode = rec.mode;
    v.filter_timer =
        rec.mode == FilterMode::kExclude ? remaining(rec.filter_expiry, n) : Duration{};
    for (const auto& [s, sr] : rec.sources)
        v.sources.push_back({s, remaining(sr.expiry, n), sr.retransmissions});
    v.mldv1_compatibility = rec.v1_host_present_until > n;
    v.older_version_host_present = remaining(rec.v1_host_present_until, n);
    v.address_query_retransmissions = rec.address_retransmissions;
    for (const auto& [a, l] : rec.listeners) {
        if (l.expiry > n)
            v.listeners.push_back({a, l.state, remaining(l.expiry, n)});
    }
    v.state = rec.reported;
    return v;
}

std::vector<Ipv6Address> Querier::addresses() const {
    std::vector<Ipv6Address> out;
    out.reserve(records_.size());
    for (const auto& [a, rec] : records_) out.push_back(a);
    return out;
}

}  // namespace pmip::mcast
