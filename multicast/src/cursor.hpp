// The MLD codec's octet reader and writer: the shared ones of pmip_octets
// (common/octets/include/pmip/octets/cursor.hpp).
#pragma once

#include "pmip/octets/cursor.hpp"

namespace pmip::mcast::detail {
using octets::Reader;
using octets::Writer;
}  // namespace pmip::mcast::detail
