// SQL API of one-off scheduled events (SPEC §2): create_scheduled_event, delete_scheduled_event.
//
// As in event_trigger_api.cpp: arguments are checked in C++ first (src/core; a ConfigError names
// the argument), then the Postgres work runs in plain C-style code that holds no C++ objects.
// Everybody may schedule an event; it is managed by superusers and members of the role that made
// it (named in `owner`), the rule by which row-level security shows eventhooks.scheduled_events.
// The insert wakes the delivery worker at commit (statement trigger scheduled_events_wake_worker).
#include <string>

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include "core/trigger_config.hpp"
#include "pg/api/api_args.hpp"
#include "pg/extension_catalog.hpp"
#include "pg/pg_guard.hpp"

namespace eventhooks::pg {

namespace {

struct ScheduledArgs {
    char *webhook;
    bool schedule_at_null;
    TimestampTz schedule_at;
    char *payload_type;  // jsonb_typeof of payload, nullptr for SQL NULL
    char *payload;       // nullptr: none (SQL NULL or JSON null)
    char *headers;
    char *retry_conf;
    char *comment;
    char *signing;
};

// Checks the arguments; returns the environment variable names that headers and signing read,
// still to be checked against eventhooks.allowed_env.
void validate_scheduled_args(const ScheduledArgs &args, RefList *env_names) {
    if (args.webhook == nullptr) throw core::ConfigError("webhook: must not be null");
    core::validate_webhook_url("webhook", args.webhook);
    if (args.schedule_at_null) throw core::ConfigError("schedule_at: must not be null");
    if (TIMESTAMP_NOT_FINITE(args.schedule_at))
        throw core::ConfigError(
            std::string("schedule_at: must be a finite time, got ") +
            (TIMESTAMP_IS_NOBEGIN(args.schedule_at) ? "-infinity" : "infinity"));
    check_optional_object("payload", args.payload_type);
    auto headers = parse_headers_arg(args.headers, env_names);
    core::parse_retry_conf(args.retry_conf ? args.retry_conf : "{}", /*allow_tolerance=*/true);
    parse_signing_arg(args.signing, headers, env_names);
}

Datum insert_scheduled_event(const ScheduledArgs &args) {
    Oid types[8] = {TEXTOID,  TIMESTAMPTZOID, JSONBOID, JSONBOID,
                    JSONBOID, TEXTOID,        JSONBOID, TEXTOID};
    Datum values[8];
    char nulls[9] = "        ";
    values[0] = CStringGetTextDatum(args.webhook);
    values[1] = TimestampTzGetDatum(args.schedule_at);
    values[2] = jsonb_or_null(args.payload, &nulls[2]);
    values[3] = jsonb_or_null(args.headers ? args.headers : "[]", &nulls[3]);
    values[4] = jsonb_or_null(args.retry_conf ? args.retry_conf : "{}", &nulls[4]);
    values[5] = args.comment ? CStringGetTextDatum(args.comment) : (nulls[5] = 'n', (Datum)0);
    values[6] = jsonb_or_null(args.signing, &nulls[6]);
    values[7] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
    SPI_connect();
    spi_execute_as_owner(
        "INSERT INTO eventhooks.scheduled_events (webhook, scheduled_time, payload, headers, "
        "retry_conf, comment, signing, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "RETURNING id",
        8, types, values, nulls, false, 0);
    bool isnull;
    Datum id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    // The uuid is in SPI's memory, which SPI_finish frees: copy it to the caller's.
    auto *result = static_cast<pg_uuid_t *>(SPI_palloc(sizeof(pg_uuid_t)));
    *result = *DatumGetUUIDP(id);
    SPI_finish();
    return UUIDPGetDatum(result);
}

Datum create_scheduled_event(FunctionCallInfo fcinfo) {
    ScheduledArgs args;
    args.webhook = text_arg(fcinfo, 0);
    args.schedule_at_null = PG_ARGISNULL(1);
    args.schedule_at = args.schedule_at_null ? 0 : PG_GETARG_TIMESTAMPTZ(1);
    args.payload_type = jsonb_arg_type(fcinfo, 2);
    args.payload = optional_jsonb_arg(fcinfo, 2);
    args.headers = jsonb_arg(fcinfo, 3);
    args.retry_conf = jsonb_arg(fcinfo, 4);
    args.comment = text_arg(fcinfo, 5);
    args.signing = optional_jsonb_arg(fcinfo, 6);

    auto *env_names = static_cast<RefList *>(palloc0(sizeof(RefList)));
    validate_scheduled_args(args, env_names);
    check_env_names_allowed(*env_names);
    return insert_scheduled_event(args);
}

// Deletes the event whatever its status, with its invocation logs, as Hasura does (its
// invocation logs reference the event ON DELETE CASCADE): one still to be sent is not sent, and
// the history of one that was sent goes too. An event the caller may not manage does not exist
// for it (row-level security hides it, and event ids are not guessable).
Datum delete_scheduled_event(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0)) throw core::ConfigError("event_id: must not be null");
    pg_uuid_t *id = PG_GETARG_UUID_P(0);
    Oid types[1] = {UUIDOID};
    Datum values[1] = {UUIDPGetDatum(id)};
    SPI_connect();
    spi_execute_as_owner(
        "SELECT owner::text FROM eventhooks.scheduled_events WHERE id = $1 FOR UPDATE", 1, types,
        values, nullptr, false, 1);
    char *owner = SPI_processed == 1
                      ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)
                      : nullptr;
    if (owner == nullptr || !is_owner_role_member(owner))
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_OBJECT),
                 errmsg("event_id: scheduled event %s does not exist",
                        DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id))))));
    spi_execute_as_owner("DELETE FROM eventhooks.scheduled_event_invocation_logs WHERE event_id = $1",
                         1, types, values, nullptr, false, 0);
    spi_execute_as_owner("DELETE FROM eventhooks.scheduled_events WHERE id = $1", 1, types, values,
                         nullptr, false, 0);
    SPI_finish();
    PG_RETURN_VOID();
}

}  // namespace

}  // namespace eventhooks::pg

using eventhooks::pg::guard_entry;

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_create_scheduled_event);
PG_FUNCTION_INFO_V1(eventhooks_delete_scheduled_event);

Datum eventhooks_create_scheduled_event(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::create_scheduled_event(fcinfo); });
}
Datum eventhooks_delete_scheduled_event(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::delete_scheduled_event(fcinfo); });
}
}
