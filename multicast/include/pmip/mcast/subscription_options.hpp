// RFC 7161 option 57 <-> the MLD proxy's records (magd's MulticastContext,
// lmad's anchor).
//
// A link's subscriptions (ProxyInstance::subscriptions) become one Active
// Multicast Subscription option each [RFC 7161 section 4.1]: MLD type 143
// with the Current-State record (IS_IN(sources) / IS_EX(excluded)), or, for
// an address in MLDv1 compatibility mode, MLD type 131 with the address alone
// (section 4.1.3); link-local scope groups (solicited-node) are left out,
// and so are records that do not fit (more than 14 sources, or beyond
// mh::kSubscriptionBudget octets in all): the MN's reports restore those.
// Received options become the records applied to the new link: 131 as
// IS_EX({}) (an MLDv1 listener wants every source), 143 as its record (IS_IN
// or IS_EX only: change records would act on the link's other listeners);
// others are skipped and counted.
#pragma once

#include <cstddef>
#include <vector>

#include "pmip/mcast/proxy_instance.hpp"
#include "pmip/mh/options.hpp"

namespace pmip::mcast {

std::vector<mh::ActiveMulticastSubscriptionIpv6> to_subscription_options(
    const std::vector<LinkSubscription>& subscriptions);

std::vector<MulticastAddressRecord> to_context_records(
    const std::vector<mh::ActiveMulticastSubscriptionIpv6>& options, std::size_t* unknown = nullptr);

}  // namespace pmip::mcast
