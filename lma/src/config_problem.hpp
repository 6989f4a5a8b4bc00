// One problem found in lmad's configuration or policy store, located so that
// an operator can fix it: "FILE:LINE: key: problem". The type is shared with
// magd (pmip/common/config_file.hpp).
#pragma once

#include "pmip/common/config_file.hpp"

namespace pmip::lma {

using ::pmip::ConfigProblem;
using ::pmip::has_errors;

}  // namespace pmip::lma
