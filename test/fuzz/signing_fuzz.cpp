// parse_signing (the signing argument, SPEC §6). Invariants: ConfigError is the only exception
// and its message starts with "signing"; a result is unsigned (nullopt) or has a known scheme, a
// valid environment variable name, and a valid header name exactly for hmac-sha256; the parsed
// configuration survives a round trip through JSON.
#include <nlohmann/json.hpp>

#include "core/trigger_config.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string text = fuzz_text(data, size);
    std::optional<core::SigningConf> conf;
    try {
        conf = core::parse_signing(text);
    } catch (const core::ConfigError &e) {
        FUZZ_CHECK(std::string(e.what()).rfind("signing", 0) == 0, e.what());
        return 0;
    }
    if (!conf) return 0;
    FUZZ_CHECK(conf->scheme == "standard-webhooks" || conf->scheme == "hmac-sha256", conf->scheme);
    FUZZ_CHECK(core::is_valid_env_name(conf->secret_from_env), conf->secret_from_env);
    if (conf->scheme == "hmac-sha256") {
        FUZZ_CHECK(core::is_valid_header_name(conf->header), conf->header);
    } else {
        FUZZ_CHECK(conf->header.empty(), conf->header);
    }

    nlohmann::json again = {{"scheme", conf->scheme}, {"secret_from_env", conf->secret_from_env}};
    if (!conf->header.empty()) again["header"] = conf->header;
    auto back = core::parse_signing(again.dump());
    FUZZ_CHECK(back && back->scheme == conf->scheme &&
                   back->secret_from_env == conf->secret_from_env && back->header == conf->header,
               "round trip changed the signing configuration");
    return 0;
}
