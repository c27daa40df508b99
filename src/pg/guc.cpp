// Defines the eventhooks.* settings: bounds and units here, meaning in SPEC §5/§6.
#include "pg/guc.hpp"

#include "core/destination_policy.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

#include <climits>
#include <cstdio>
#include <exception>

namespace eventhooks::pg {

int guc_max_concurrent_deliveries = 100;
int guc_fetch_batch_size = 100;
int guc_poll_interval_ms = 1000;
int guc_http_response_max_bytes = 64 * 1024;
char *guc_session_variables = nullptr;
char *guc_allowed_env = nullptr;
char *guc_ca_file = nullptr;
char *guc_allowed_destinations = nullptr;
char *guc_denied_destinations = nullptr;
int guc_max_databases = 64;
char *guc_retention = nullptr;
int guc_retention_check_interval_ms = 3600 * 1000;
bool guc_log_successful_request_bodies = true;

namespace {

// False while the destination settings are being defined: Postgres then applies the value
// from postgresql.conf, and a rejected value would leave the default in force (only link-local
// denied), quietly opening what the administrator meant to close.
bool destinations_defined = false;

// Rejects a destination list that does not parse, naming the bad entry, so that a typo never
// reaches the worker (on ALTER SYSTEM an error; on reload Postgres keeps the previous value and
// logs why). Except at definition (server start): there the value is let through, and the
// delivery worker, which cannot parse it, sends nowhere and says so (client_options()).
bool check_destination_list(char **newval, void **, GucSource) {
    char problem[1024] = "";
    try {
        core::DestinationList list(*newval != nullptr ? *newval : "");
    } catch (const std::exception &e) {
        std::snprintf(problem, sizeof problem, "%s", e.what());
    } catch (...) {
        std::snprintf(problem, sizeof problem, "the list could not be read");
    }
    if (problem[0] == '\0' || !destinations_defined) return true;
    GUC_check_errdetail("%s", problem);  // no C++ object is alive here
    return false;
}

// Postgres's interval input of `text`, or nullptr if it does not parse (the input function
// reports a bad value with ERROR: caught here, where no C++ object is alive).
Interval *parse_interval(const char *text) {
    MemoryContext context = CurrentMemoryContext;
    Interval *volatile value = nullptr;
    PG_TRY();
    {
        value = DatumGetIntervalP(DirectFunctionCall3(
            interval_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(context);
        FlushErrorState();
    }
    PG_END_TRY();
    return value;
}

// eventhooks.retention: empty (keep everything) or a positive interval. Parsed by Postgres's
// own interval input, so that what is accepted here is what the worker's SQL casts; a value
// that does not parse is refused with the reason (on reload Postgres keeps the previous value
// and logs it).
bool check_retention(char **newval, void **, GucSource) {
    const char *text = *newval != nullptr ? *newval : "";
    while (*text == ' ') text++;
    if (*text == '\0') return true;
    Interval *value = parse_interval(text);
    if (value == nullptr) {
        GUC_check_errdetail("\"%s\" is not an interval (for example '30 days' or '12 hours').",
                            text);
        return false;
    }
    if (value->month < 0 || value->day < 0 || value->time < 0 ||
        (value->month == 0 && value->day == 0 && value->time == 0)) {
        GUC_check_errdetail("The retention must be a positive interval (empty: keep everything).");
        return false;
    }
    return true;
}

}  // namespace

void define_settings() {
    DefineCustomIntVariable(
        "eventhooks.max_concurrent_deliveries", "HTTP requests in flight per database.", nullptr,
        &guc_max_concurrent_deliveries, 100, 1, 10000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "eventhooks.fetch_batch_size", "Events the delivery worker claims per fetch.", nullptr,
        &guc_fetch_batch_size, 100, 1, 10000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("eventhooks.poll_interval",
                            "Fallback poll of the event table when no wake-up came.", nullptr,
                            &guc_poll_interval_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("eventhooks.http_response_max_bytes",
                            "Response body bytes kept in the invocation log.", nullptr,
                            &guc_http_response_max_bytes, 64 * 1024, 0, 64 * 1024 * 1024,
                            PGC_SIGHUP, GUC_UNIT_BYTE, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "eventhooks.session_variables",
        "JSON object sent as session_variables with the events of this session.",
        "Usually set with SET LOCAL. When unset, hasura.user and then request.jwt.claims are used.",
        &guc_session_variables, nullptr, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "eventhooks.allowed_env",
        "Environment variables that non-superusers may name in value_from_env, "
        "webhook_from_env and secret_from_env.",
        "Comma-separated list. Superusers may name any variable.", &guc_allowed_env, "", PGC_SUSET,
        GUC_LIST_INPUT, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("eventhooks.ca_file",
                               "CA bundle for TLS verification of webhooks (empty: system store).",
                               nullptr, &guc_ca_file, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    // SIGHUP: only a superuser (postgresql.conf, ALTER SYSTEM) changes them, and the delivery
    // worker, which does the checking, takes them in on reload.
    DefineCustomStringVariable(
        "eventhooks.allowed_destinations",
        "Hosts and networks webhooks may reach (empty: any that is not denied).",
        "Comma-separated IP addresses, CIDRs (10.0.0.0/8), host names and *.domain suffixes.",
        &guc_allowed_destinations, "", PGC_SIGHUP, GUC_LIST_INPUT, check_destination_list, nullptr,
        nullptr);
    DefineCustomStringVariable(
        "eventhooks.denied_destinations", "Hosts and networks webhooks never reach.",
        "Comma-separated IP addresses, CIDRs (10.0.0.0/8), host names and *.domain suffixes; "
        "checked on the address each connection goes to. Wins over allowed_destinations.",
        &guc_denied_destinations, "169.254.0.0/16, fe80::/10", PGC_SIGHUP, GUC_LIST_INPUT,
        check_destination_list, nullptr, nullptr);
    destinations_defined = true;
    DefineCustomStringVariable(
        "eventhooks.retention",
        "Age after which the delivery worker deletes delivered events and their logs.",
        "An interval such as '30 days'; empty: keep everything. Pending and failed events are "
        "kept (eventhooks.cleanup_event_logs removes failed ones on request).",
        &guc_retention, "", PGC_SIGHUP, 0, check_retention, nullptr, nullptr);
    // Developer setting (tests): how often the worker's retention pass runs; the first pass
    // comes a minute after the worker starts, or after this if shorter.
    DefineCustomIntVariable("eventhooks.retention_check_interval",
                            "Time between the delivery worker's retention passes.", nullptr,
                            &guc_retention_check_interval_ms, 3600 * 1000, 100, INT_MAX, PGC_SIGHUP,
                            GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr,
                            nullptr);
    DefineCustomBoolVariable(
        "eventhooks.log_successful_request_bodies",
        "Keep the request body in the invocation log of successful attempts too.",
        "Off: a delivered attempt's logged request has \"payload\": null (the event row holds "
        "the payload); failed attempts keep theirs.",
        &guc_log_successful_request_bodies, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    // Sizes shared memory, so it is read at server start only. Postgres refuses to define a
    // postmaster setting later (the library loaded by CREATE EXTENSION without preloading).
    if (process_shared_preload_libraries_in_progress)
        DefineCustomIntVariable(
            "eventhooks.max_databases",
            "Databases with the extension that get a delivery worker.",
            "Each takes a slot of shared memory (and needs a background worker process); "
            "databases without the extension take none.",
            &guc_max_databases, 64, 1, 4096, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("eventhooks");
}

bool env_var_allowed_for_current_user(const char *name) {
    if (superuser()) return true;
    // A plain comma-separated scan: environment variable names are case-sensitive, so
    // SplitIdentifierString (which folds case) would be wrong here.
    size_t name_len = strlen(name);
    for (const char *p = guc_allowed_env ? guc_allowed_env : ""; *p != '\0';) {
        while (*p == ',' || *p == ' ' || *p == '\t') p++;
        const char *start = p;
        while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') p++;
        if (static_cast<size_t>(p - start) == name_len && strncmp(start, name, name_len) == 0)
            return true;
    }
    return false;
}

}  // namespace eventhooks::pg
