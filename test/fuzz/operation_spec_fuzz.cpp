// parse_operation_spec (on_insert / on_update / on_delete: {"columns": ..., "payload": ...}).
// Invariants: ConfigError is the only exception and its message names the argument; an accepted
// selection is "*" or a list of distinct non-empty names ("columns" never empty); the parsed spec
// survives a round trip through JSON.
#include <nlohmann/json.hpp>

#include "core/trigger_config.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

namespace {

nlohmann::json to_json(const core::ColumnSelection &s) {
    return s.all ? nlohmann::json("*") : nlohmann::json(s.columns);
}

void check(const core::ColumnSelection &s, bool allow_empty) {
    if (s.all) {
        FUZZ_CHECK(s.columns.empty(), "\"*\" with a column list");
        return;
    }
    FUZZ_CHECK(allow_empty || !s.columns.empty(), "empty column list accepted");
    for (std::size_t i = 0; i < s.columns.size(); ++i) {
        FUZZ_CHECK(!s.columns[i].empty(), "empty column name");
        for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(s.columns[j] != s.columns[i], s.columns[i]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string text = fuzz_text(data, size);
    core::OperationSpec spec;
    try {
        spec = core::parse_operation_spec("on_update", text);
    } catch (const core::ConfigError &e) {
        FUZZ_CHECK(std::string(e.what()).rfind("on_update", 0) == 0, e.what());
        return 0;
    }
    check(spec.columns, false);
    check(spec.payload, true);

    nlohmann::json again = {{"columns", to_json(spec.columns)}, {"payload", to_json(spec.payload)}};
    std::string dumped = again.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (nlohmann::json::parse(dumped) != again) return 0;  // invalid UTF-8 was replaced
    auto back = core::parse_operation_spec("on_update", dumped);
    FUZZ_CHECK(back.columns.all == spec.columns.all && back.columns.columns == spec.columns.columns &&
                   back.payload.all == spec.payload.all &&
                   back.payload.columns == spec.payload.columns,
               "round trip changed the spec");
    return 0;
}
