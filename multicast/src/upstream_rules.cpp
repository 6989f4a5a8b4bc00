#include "pmip/mcast/upstream_rules.hpp"

namespace pmip::mcast {

std::string_view to_string(UpstreamMatching matching) {
    switch (matching) {
        case UpstreamMatching::kAll: return "all";
        case UpstreamMatching::kMutex: return "mutex";
        case UpstreamMatching::kFirst: break;
    }
    return "first";
}

UpstreamRules::UpstreamRules(std::vector<std::vector<SourceGroupRule>> rules,
                             UpstreamMatching matching)
    : rules_(std::move(rules)), matching_(matching) {}

bool UpstreamRules::matches(std::size_t index, const Ipv6Address& source,
                            const Ipv6Address& group) const {
    const auto& rules = rules_.at(index);
    if (rules.empty())
        return true;
    for (const auto& r : rules) {
        if (contains(r.group, group) && contains(r.source, source))
            return true;
    }
    return false;
}

bool UpstreamRules::matches_any_source(std::size_t index, const Ipv6Address& group) const {
    const auto& rules = rules_.at(index);
    if (rules.empty())
        return true;
    for (const auto& r : rules) {
        if (r.source.length == 0 && contains(r.group, group))
            return true;
    }
    return false;
}

template <typename Match>
bool UpstreamRules::chosen(std::size_t index, Match&& match) const {
    if (!match(index))
        return false;
    if (matching_ != UpstreamMatching::kFirst)
        return true;  // all, mutex: every matching upstream
    for (std::size_t i = 0; i < index; ++i) {
        if (match(i))
            return false;  // an earlier upstream takes it
    }
    return true;
}

MembershipState UpstreamRules::project(std::size_t index, const Ipv6Address& group,
                                       const MembershipState& state) const {
    if (state.mode == FilterMode::kExclude) {
        if (chosen(index, [&](std::size_t i) { return matches_any_source(i, group); }))
            return state;
        return {};
    }
    MembershipState out;
    for (const Ipv6Address& s : state.sources) {
        if (chosen(index, [&](std::size_t i) { return matches(i, s, group); }))
            out.sources.insert(s);
    }
    return out;
}

bool UpstreamRules::accepts(std::size_t index, const Ipv6Address& source, const Ipv6Address& group,
                            const MembershipState& merged) const {
    if (!merged.wants(source))
        return false;
    if (merged.mode == FilterMode::kExclude)
        return chosen(index, [&](std::size_t i) { return matches_any_source(i, group); });
    return chosen(index, [&](std::size_t i) { return matches(i, source, group); });
}

std::vector<std::size_t> UpstreamRules::targets(const Ipv6Address& source,
                                                const Ipv6Address& group) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        if (!matches(i, source, group))
            continue;
        out.push_back(i);
        if (matching_ != UpstreamMatching::kAll)
            break;  // first, mutex: one upstream sends a downstream's data
    }
    return out;
}

std::size_t UpstreamRules::any_source_upstream(const Ipv6Address& group) const {
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        if (matches_any_source(i, group))
            return i;
    }
    return rules_.size();
}

}  // namespace pmip::mcast
