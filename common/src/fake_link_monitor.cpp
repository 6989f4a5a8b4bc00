// FakeLinkMonitor: the in-memory LinkMonitor for unit tests (DESIGN.md
// section 2). Tests change the link table and the matching LinkEvent is
// delivered synchronously to the handler, with the same rules as the netlink
// monitor: kNew for an unknown ifindex (then kUp if running), kUp / kDown only
// when `running` changes, kDeleted when a link goes.
//
// Threading: test thread only.
#include <algorithm>

#include "pmip/common/link_monitor.hpp"

namespace pmip {

std::optional<Link> FakeLinkMonitor::find(const std::string& name) const {
    const auto it =
        std::find_if(links_.begin(), links_.end(), [&](const Link& l) { return l.name == name; });
    if (it == links_.end())
        return std::nullopt;
    return *it;
}

std::optional<Link> FakeLinkMonitor::find(int ifindex) const {
    const auto it = std::find_if(links_.begin(), links_.end(),
                                 [&](const Link& l) { return l.ifindex == ifindex; });
    if (it == links_.end())
        return std::nullopt;
    return *it;
}

std::vector<InterfaceAddress> FakeLinkMonitor::addresses(int ifindex) const {
    std::vector<InterfaceAddress> out;
    std::copy_if(addresses_.begin(), addresses_.end(), std::back_inserter(out),
                 [&](const InterfaceAddress& a) { return a.ifindex == ifindex; });
    return out;
}

void FakeLinkMonitor::add_link(Link link) {
    if (link.running)
        link.up = true;
    const auto it = std::find_if(links_.begin(), links_.end(),
                                 [&](const Link& l) { return l.ifindex == link.ifindex; });
    if (it == links_.end()) {
        links_.push_back(link);
        emit(LinkEventType::kNew, link);
        if (link.running)
            emit(LinkEventType::kUp, link);
        return;
    }
    const bool was_running = it->running;
    *it = link;
    if (!was_running && link.running)
        emit(LinkEventType::kUp, link);
    if (was_running && !link.running)
        emit(LinkEventType::kDown, link);
}

void FakeLinkMonitor::set_running(int ifindex, bool running) {
    const auto it = std::find_if(links_.begin(), links_.end(),
                                 [&](const Link& l) { return l.ifindex == ifindex; });
    if (it == links_.end() || it->running == running)
        return;
    it->running = running;
    if (running)
        it->up = true;
    const Link link = *it;
    emit(running ? LinkEventType::kUp : LinkEventType::kDown, link);
}

void FakeLinkMonitor::remove_link(int ifindex) {
    const auto it = std::find_if(links_.begin(), links_.end(),
                                 [&](const Link& l) { return l.ifindex == ifindex; });
    if (it == links_.end())
        return;
    const Link link = *it;
    links_.erase(it);
    std::erase_if(addresses_, [&](const InterfaceAddress& a) { return a.ifindex == ifindex; });
    emit(LinkEventType::kDeleted, link);
}

void FakeLinkMonitor::add_address(InterfaceAddress address) {
    if (std::find(addresses_.begin(), addresses_.end(), address) == addresses_.end()) {
        addresses_.push_back(address);
    }
}

void FakeLinkMonitor::remove_address(const InterfaceAddress& address) {
    std::erase(addresses_, address);
}

void FakeLinkMonitor::emit(LinkEventType type, const Link& link) {
    if (handler_)
        handler_(LinkEvent{type, link});
}

}  // namespace pmip
