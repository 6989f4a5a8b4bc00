// Mobility Header messages as plain value types.
//
// RFC 6275 section 6.1 (BU, BA, BE), RFC 5213 section 8.1/8.2 (PBU = BU with
// P, PBA = BA with P), RFC 5847 section 5.1 (Heartbeat), RFC 5846 section 6
// (BRI/BRA), RFC 7077 section 4 (UPN/UPA). Flags are kept as the raw field so
// that every registered bit, and any reserved bit a peer sets, survives a
// parse/serialize round trip.
#pragma once

#include <cstdint>
#include <variant>

#include "pmip/mh/options.hpp"

namespace pmip::mh {

// MH Type 5. A Proxy Binding Update when flags has bu_flag::kP.
struct BindingUpdate {
    std::uint16_t sequence = 0;
    std::uint16_t flags = 0;
    std::uint16_t lifetime = 0;  // units of 4 s; 0 = de-registration
    Options options;

    bool is_proxy() const { return (flags & bu_flag::kP) != 0; }
    bool operator==(const BindingUpdate&) const = default;
};

// MH Type 6. A Proxy Binding Acknowledgement when flags has ba_flag::kP.
struct BindingAcknowledgement {
    std::uint8_t status = 0;
    std::uint8_t flags = 0;
    std::uint16_t sequence = 0;
    std::uint16_t lifetime = 0;  // units of 4 s
    Options options;

    bool is_proxy() const { return (flags & ba_flag::kP) != 0; }
    bool accepted() const { return status < 128; }
    bool operator==(const BindingAcknowledgement&) const = default;
};

// MH Type 7.
struct BindingError {
    std::uint8_t status = 0;  // 1 unknown binding for HAO, 2 unrecognized MH type
    Ipv6Address home_address{};
    Options options;
    bool operator==(const BindingError&) const = default;
};

// MH Type 13 [RFC 5847].
struct Heartbeat {
    std::uint8_t flags = 0;  // heartbeat_flag::kU | kR
    std::uint32_t sequence = 0;
    Options options;

    bool is_response() const { return (flags & heartbeat_flag::kR) != 0; }
    bool operator==(const Heartbeat&) const = default;
};

// MH Type 16, B.R. Type 1 [RFC 5846 section 6.1].
struct BindingRevocationIndication {
    std::uint8_t revocation_trigger = 0;
    std::uint16_t sequence = 0;
    std::uint8_t flags = 0;  // revocation_flag::kP | kV | kG
    Options options;
    bool operator==(const BindingRevocationIndication&) const = default;
};

// MH Type 16, B.R. Type 2 [RFC 5846 section 6.2].
struct BindingRevocationAcknowledgement {
    std::uint8_t status = 0;
    std::uint16_t sequence = 0;
    std::uint8_t flags = 0;
    Options options;
    bool operator==(const BindingRevocationAcknowledgement&) const = default;
};

// MH Type 19 [RFC 7077 section 4.1].
struct UpdateNotification {
    std::uint16_t sequence = 0;
    std::uint16_t notification_reason = 0;
    std::uint8_t flags = 0;  // update_notification_flag::kA | kD
    Options options;
    bool operator==(const UpdateNotification&) const = default;
};

// MH Type 20 [RFC 7077 section 4.2].
struct UpdateNotificationAcknowledgement {
    std::uint16_t sequence = 0;
    std::uint8_t status = 0;
    Options options;
    bool operator==(const UpdateNotificationAcknowledgement&) const = default;
};

// MH Type 22 [RFC 7161 section 4.3.1]: LMA -> previous MAG (reactive
// handover) or new MAG -> LMA (PBA with S=1 and no context). Options: one
// MN-ID (mandatory), HNPs (optional). The 8-bit sequence number is compared
// modulo 2^8 (subscription_sequence_newer).
struct SubscriptionQuery {
    std::uint8_t sequence = 0;
    Options options;
    bool operator==(const SubscriptionQuery&) const = default;
};

// MH Type 23 [RFC 7161 section 4.3.2]: the answer, sequence copied; I flag
// set iff Active Multicast Subscription options follow.
struct SubscriptionResponse {
    std::uint8_t sequence = 0;
    std::uint8_t flags = 0;  // subscription_response_flag::kI
    Options options;
    bool has_information() const { return (flags & subscription_response_flag::kI) != 0; }
    bool operator==(const SubscriptionResponse&) const = default;
};

// RFC 7161 section 4.3.1.2: `received` is newer than `last` when it is not in
// the range of `last` and the 128 values before it (modulo 2^8).
inline bool subscription_sequence_newer(std::uint8_t received, std::uint8_t last) {
    return static_cast<std::uint8_t>(received - last) != 0 &&
           static_cast<std::uint8_t>(received - last) < 128;
}

using Message = std::variant<BindingUpdate, BindingAcknowledgement, BindingError, Heartbeat,
                             BindingRevocationIndication, BindingRevocationAcknowledgement,
                             UpdateNotification, UpdateNotificationAcknowledgement,
                             SubscriptionQuery, SubscriptionResponse>;

MessageType message_type_of(const Message& message);

// "pbu" | "bu" | "pba" | "ba" | "be" | "heartbeat" | "bri" | "bra" | "upn" | "upa"
// | "subscription_query" | "subscription_response"
std::string_view message_kind(const Message& message);

const Options& options_of(const Message& message);
Options& options_of(Message& message);

}  // namespace pmip::mh
