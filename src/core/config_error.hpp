// ConfigError: the exception thrown by src/core parsers and validators when user-supplied
// configuration is invalid. Its message names the argument and what is wrong, e.g.
//   retry_conf.timeout_sec: must be between 1 and 86400, got 0
// and is shown verbatim to the user as a Postgres ERROR (regression tests compare it).
#pragma once

#include <stdexcept>

namespace eventhooks::core {

struct ConfigError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

}  // namespace eventhooks::core
