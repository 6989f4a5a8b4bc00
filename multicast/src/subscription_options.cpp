// RFC 7161 option 57 <-> MLD records. See subscription_options.hpp.
#include "pmip/mcast/subscription_options.hpp"

namespace pmip::mcast {

std::vector<mh::ActiveMulticastSubscriptionIpv6> to_subscription_options(
    const std::vector<LinkSubscription>& subscriptions) {
    std::vector<mh::ActiveMulticastSubscriptionIpv6> out;
    out.reserve(subscriptions.size());
    for (const auto& s : subscriptions) {
        // Link-local scope (the MN's solicited-node groups): no session to
        // carry over; the MN's own address configuration joins them.
        if ((s.record.multicast_address[1] & 0x0f) <= 2)
            continue;
        mh::ActiveMulticastSubscriptionIpv6 o;
        o.mld_type = s.mldv1 ? 131 : 143;
        o.record.record_type = static_cast<std::uint8_t>(s.record.type);
        o.record.multicast_address = s.record.multicast_address;
        if (!s.mldv1)
            o.record.sources = s.record.sources;
        out.push_back(std::move(o));
    }
    mh::fit_subscriptions(out, mh::kSubscriptionBudget);
    return out;
}

std::vector<MulticastAddressRecord> to_context_records(
    const std::vector<mh::ActiveMulticastSubscriptionIpv6>& options, std::size_t* unknown) {
    std::vector<MulticastAddressRecord> out;
    for (const auto& o : options) {
        MulticastAddressRecord r;
        r.multicast_address = o.record.multicast_address;
        if (o.mld_type == 131) {
            r.type = RecordType::kModeIsExclude;
        } else if (o.mld_type == 143 && (o.record.record_type == 1 || o.record.record_type == 2)) {
            // Only Current-State records (IS_IN / IS_EX) describe a state;
            // change records would act on the link's other listeners.
            r.type = static_cast<RecordType>(o.record.record_type);
            r.sources = o.record.sources;
        } else {
            if (unknown)
                ++*unknown;
            continue;
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace pmip::mcast
