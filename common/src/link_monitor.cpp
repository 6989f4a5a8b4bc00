// Names of link events (link_monitor.hpp), for logs and `pmipctl show`.
//
// Threading: pure function.
#include "pmip/common/link_monitor.hpp"

namespace pmip {

std::string_view to_string(LinkEventType type) {
    switch (type) {
        case LinkEventType::kNew:
            return "new";
        case LinkEventType::kUp:
            return "up";
        case LinkEventType::kDown:
            return "down";
        case LinkEventType::kDeleted:
            return "deleted";
    }
    return "unknown";
}

}  // namespace pmip
