// Message-level helpers: MH type, kind names, option access.
#include "pmip/mh/messages.hpp"

namespace pmip::mh {

namespace {
template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;
}  // namespace

MessageType message_type_of(const Message& message) {
    return std::visit(
        Overloaded{
            [](const BindingUpdate&) { return MessageType::kBindingUpdate; },
            [](const BindingAcknowledgement&) { return MessageType::kBindingAcknowledgement; },
            [](const BindingError&) { return MessageType::kBindingError; },
            [](const Heartbeat&) { return MessageType::kHeartbeat; },
            [](const BindingRevocationIndication&) { return MessageType::kBindingRevocation; },
            [](const BindingRevocationAcknowledgement&) {
                return MessageType::kBindingRevocation;
            },
            [](const UpdateNotification&) { return MessageType::kUpdateNotification; },
            [](const UpdateNotificationAcknowledgement&) {
                return MessageType::kUpdateNotificationAck;
            },
            [](const SubscriptionQuery&) { return MessageType::kSubscriptionQuery; },
            [](const SubscriptionResponse&) { return MessageType::kSubscriptionResponse; },
        },
        message);
}

std::string_view message_kind(const Message& message) {
    return std::visit(
        Overloaded{
            [](const BindingUpdate& m) -> std::string_view { return m.is_proxy() ? "pbu" : "bu"; },
            [](const BindingAcknowledgement& m) -> std::string_view {
                return m.is_proxy() ? "pba" : "ba";
            },
            [](const BindingError&) -> std::string_view { return "be"; },
            [](const Heartbeat&) -> std::string_view { return "heartbeat"; },
            [](const BindingRevocationIndication&) -> std::string_view { return "bri"; },
            [](const BindingRevocationAcknowledgement&) -> std::string_view { return "bra"; },
            [](const UpdateNotification&) -> std::string_view { return "upn"; },
            [](const UpdateNotificationAcknowledgement&) -> std::string_view { return "upa"; },
            [](const SubscriptionQuery&) -> std::string_view { return "subscription_query"; },
            [](const SubscriptionResponse&) -> std::string_view { return "subscription_response"; },
        },
        message);
}

const Options& options_of(const Message& message) {
    return std::visit([](const auto& m) -> const Options& { return m.options; }, message);
}

Options& options_of(Message& message) {
    return std::visit([](auto& m) -> Options& { return m.options; }, message);
}

}  // namespace pmip::mh
