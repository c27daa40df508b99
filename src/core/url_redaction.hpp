// Credentials in webhook URLs (https://user:password@host/...) never reach a log: the server
// log, the invocation log's request.url, worker_status.last_error. Pure string work, no
// parsing library: it must also work on text that merely contains a URL (an error message).
#pragma once

#include <string>
#include <string_view>

namespace eventhooks::core {

inline constexpr char kRedactedCredential[] = "***";

// `url` with the userinfo of its authority masked: "https://user:***@host/p" for a user and
// password, "https://***@host/p" for a userinfo without a colon (often a token). A URL without
// userinfo comes back unchanged. The authority ends at "/", "?" or "#" only, so a userinfo
// holding quotes or brackets is masked too.
std::string redact_url(std::string_view url);

// `text` with the userinfo of every "scheme://userinfo@host" in it masked as redact_url does;
// when `url` is given, also every other occurrence of that URL's "userinfo@" (an error text
// that quotes the host part without the scheme).
std::string redact_credentials(std::string_view text, std::string_view url = {});

}  // namespace eventhooks::core
