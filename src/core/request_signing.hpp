// Signing a webhook request (SPEC §6): the signature headers of one attempt, from the trigger's
// SigningConf and the secret read from the server's environment at send time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/request_builder.hpp"
#include "core/trigger_config.hpp"

namespace eventhooks::core {

struct SignatureHeader {
    std::string name;
    std::string value;
    bool masked = true;  // logged as "***" (all but webhook-timestamp)
};

struct Signature {
    std::vector<SignatureHeader> headers;  // to add to the request (webhook-id is not among them:
                                           // build_request_headers sends it already)
    std::string error;  // non-empty: the request must not be sent; never contains the secret
};

// standard-webhooks: webhook-timestamp: <unix_seconds>, webhook-signature: v1,<base64 HMAC-SHA256
// of "<event_id>.<unix_seconds>.<body>"> with the key base64-decoded from each space-separated
// "whsec_<base64>" secret (the prefix is optional, as in the specification's reference
// libraries), one signature per secret, space-separated.
// hmac-sha256: <conf.header>: sha256=<lowercase hex HMAC-SHA256 of body>, the key being the
// variable's raw value.
// Errors: `signing: environment variable "X" is not set`, `signing: secret in "X" is empty`,
// `signing: secret in "X" is not valid: expected whsec_<base64>`.
Signature sign_request(const SigningConf &conf, const GetenvFn &getenv_fn,
                       const std::string &event_id, int64_t unix_seconds, std::string_view body);

// Adds the signature's headers to `headers` (lines to send, and `logged` with masked values),
// replacing a configured header of the same name, so that exactly one of each goes out. A
// signature error becomes headers.error unless that already names a problem.
void add_signature(BuiltHeaders &headers, const Signature &signature);

}  // namespace eventhooks::core
