// SQL API of cron triggers (SPEC §2, §7): create (or replace), delete, pause, resume, and
// cron_next_times, the look-ahead that the planner of cron events (cron_planning.cpp) uses too.
//
// As in event_trigger_api.cpp: arguments are checked in C++ first (src/core; a ConfigError names
// the argument), then the Postgres work runs in plain C-style code that holds no C++ objects, so
// an ERROR there cannot skip a destructor. Everybody may create a cron trigger; it is managed by
// superusers and members of the role that made it (named in `owner`), the same rule the
// row-level security policy on eventhooks.cron_triggers shows rows by. Writes to the
// extension's tables run as the extension owner.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"
}

#include "core/cron_schedule.hpp"
#include "core/trigger_config.hpp"
#include "pg/api/api_args.hpp"
#include "pg/delivery/cron_planning.hpp"
#include "pg/extension_catalog.hpp"
#include "pg/pg_guard.hpp"

namespace eventhooks::pg {

namespace {

// Seconds from the Unix epoch to Postgres's (2000-01-01 00:00:00 UTC).
constexpr int64_t kPostgresEpochUnixSeconds =
    static_cast<int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;

constexpr int kMaxNextTimes = 100000;

// Unix seconds of the whole second at or before `at` (floor, also before 1970), so that "the
// first minute strictly after" it is also strictly after `at` when `at` has a fraction.
int64_t unix_seconds_floor(TimestampTz at) {
    int64_t seconds = at / USECS_PER_SEC;
    if (at % USECS_PER_SEC < 0) seconds--;
    return seconds + kPostgresEpochUnixSeconds;
}

// The times as Unix seconds in a palloc'd array (*found of them): fewer than count once the
// schedule has no more, or past the last time a timestamptz can hold. C++ objects live only
// in here, so the caller may raise ERRORs.
int64_t *next_times(const char *schedule_text, TimestampTz after, int count, int *found) {
    const int64_t last_unix_seconds = END_TIMESTAMP / USECS_PER_SEC + kPostgresEpochUnixSeconds;
    auto schedule = core::CronSchedule::parse(schedule_text);
    auto *times = static_cast<int64_t *>(alloc_or_throw(sizeof(int64_t) * (count > 0 ? count : 1)));
    int64_t from = unix_seconds_floor(after);
    *found = 0;
    while (*found < count) {
        std::optional<int64_t> next = schedule.next_after(from);
        if (!next || *next >= last_unix_seconds) break;
        times[(*found)++] = *next;
        from = *next;
    }
    return times;
}

Datum cron_next_times(FunctionCallInfo fcinfo) {
    char *schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
    TimestampTz after = PG_GETARG_TIMESTAMPTZ(1);
    int32 count = PG_GETARG_INT32(2);
    if (TIMESTAMP_NOT_FINITE(after))
        throw core::ConfigError("after: must be a finite time, got " +
                                std::string(TIMESTAMP_IS_NOBEGIN(after) ? "-infinity" : "infinity"));
    if (count < 0 || count > kMaxNextTimes)
        throw core::ConfigError("count: must be between 0 and " + std::to_string(kMaxNextTimes) +
                                ", got " + std::to_string(count));
    int found = 0;
    int64_t *times = next_times(schedule, after, count, &found);

    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    for (int i = 0; i < found; i++) {
        Datum value =
            TimestampTzGetDatum((times[i] - kPostgresEpochUnixSeconds) * USECS_PER_SEC);
        bool isnull = false;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
    }
    return (Datum)0;
}

struct CronArgs {
    char *name;
    char *webhook;
    char *schedule;
    char *payload_type;  // jsonb_typeof of payload, nullptr for SQL NULL
    char *payload;       // nullptr: none (SQL NULL or JSON null)
    char *headers;
    char *retry_conf;
    char *comment;
    bool replace;
    char *signing;
    // include_in_metadata (0.2.0's 10th argument): whether export_metadata shows the trigger.
    // Not passed (0.1.0's signature, whose table has no such column) or NULL: left as it is
    // (a new trigger gets the column's default, true).
    bool has_include_in_metadata;
    bool include_in_metadata;
};

// Checks what can be checked without the catalog; returns the environment variable names that
// headers and signing read, still to be checked against eventhooks.allowed_env.
void validate_cron_args(const CronArgs &args, RefList *env_names) {
    if (args.name == nullptr) throw core::ConfigError("name: must not be null");
    core::validate_trigger_name(args.name);
    if (args.webhook == nullptr) throw core::ConfigError("webhook: must not be null");
    core::validate_webhook_url("webhook", args.webhook);
    if (args.schedule == nullptr) throw core::ConfigError("schedule: must not be null");
    core::CronSchedule::parse(args.schedule);
    check_optional_object("payload", args.payload_type);
    auto headers = parse_headers_arg(args.headers, env_names);
    core::parse_retry_conf(args.retry_conf ? args.retry_conf : "{}", /*allow_tolerance=*/true);
    parse_signing_arg(args.signing, headers, env_names);
}

char *require_name(FunctionCallInfo fcinfo) {
    char *name = text_arg(fcinfo, 0);
    if (name == nullptr) throw core::ConfigError("name: must not be null");
    return name;
}

// The cron trigger's row, locked (FOR UPDATE) until the transaction ends: a concurrent
// replace, delete, pause or resume of the same trigger waits, and then sees this one's result.
// SPI must be connected.
struct StoredCronTrigger {
    bool found;
    char *owner;
    bool paused;
};

StoredCronTrigger lock_stored_trigger(const char *name) {
    StoredCronTrigger stored = {false, nullptr, false};
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    spi_execute_as_owner(
        "SELECT owner::text, paused FROM eventhooks.cron_triggers WHERE name = $1 FOR UPDATE",
        1, types, values, nullptr, false, 1);
    if (SPI_processed == 0) return stored;
    bool isnull;
    stored.found = true;
    stored.owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    stored.paused =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    return stored;
}

// Names are one namespace per database (create says "already exists" for a name taken by
// anyone), so telling a caller that it may not manage a trigger it cannot see tells nothing new.
void require_may_manage(const char *label, const char *name, const StoredCronTrigger &stored) {
    if (is_owner_role_member(stored.owner)) return;
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("%s: must be a member of the role that created cron trigger \"%s\" to "
                    "manage it",
                    label, name)));
}

StoredCronTrigger require_managed_trigger(const char *name) {
    StoredCronTrigger stored = lock_stored_trigger(name);
    if (!stored.found)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("name: cron trigger \"%s\" does not exist", name)));
    require_may_manage("name", name, stored);
    return stored;
}

// Runs `sql` with the trigger's name as $1, as the extension owner.
void execute_for_trigger(const char *sql, const char *name) {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    spi_execute_as_owner(sql, 1, types, values, nullptr, false, 0);
}

// Parameters $1..$8 of the INSERT and the UPDATE below, in this order.
constexpr int kCronColumns = 8;

void fill_cron_params(const CronArgs &args, Oid *types, Datum *values, char *nulls) {
    const Oid column_types[kCronColumns] = {TEXTOID,  TEXTOID,  TEXTOID, JSONBOID,
                                            JSONBOID, JSONBOID, TEXTOID, JSONBOID};
    for (int i = 0; i < kCronColumns; i++) {
        types[i] = column_types[i];
        nulls[i] = ' ';
    }
    values[0] = CStringGetTextDatum(args.name);
    values[1] = CStringGetTextDatum(args.webhook);
    values[2] = CStringGetTextDatum(args.schedule);
    values[3] = jsonb_or_null(args.payload, &nulls[3]);
    values[4] = jsonb_or_null(args.headers ? args.headers : "[]", &nulls[4]);
    values[5] = jsonb_or_null(args.retry_conf ? args.retry_conf : "{}", &nulls[5]);
    values[6] = args.comment ? CStringGetTextDatum(args.comment) : (nulls[6] = 'n', (Datum)0);
    values[7] = jsonb_or_null(args.signing, &nulls[7]);
}

// A replace keeps the trigger's created_at (its events so far stay its own: row-level security
// shows cron_events made since created_at), its owner and whether it is paused (a definition
// changed, not its state). Its future events that were never tried are planned again with the
// new schedule; those already due are sent by the new definition.
void replace_stored_trigger(const CronArgs &args) {
    Oid types[kCronColumns];
    Datum values[kCronColumns];
    char nulls[kCronColumns + 1] = {0};
    fill_cron_params(args, types, values, nulls);
    spi_execute_as_owner(
        "UPDATE eventhooks.cron_triggers SET webhook = $2, schedule = $3, payload = $4, "
        "headers = $5, retry_conf = $6, comment = $7, signing = $8 WHERE name = $1",
        kCronColumns, types, values, nulls, false, 0);
    execute_for_trigger(
        "DELETE FROM eventhooks.cron_events WHERE trigger_name = $1 AND status = 'scheduled' "
        "AND tries = 0 AND scheduled_time > now()",
        args.name);
}

// False when a trigger of that name was committed meanwhile (the INSERT waited for it).
// created_at is the clock now, not the transaction's start: events of an earlier trigger of
// the same name, deleted since, were made before it and stay hidden from the new one's owner.
bool insert_stored_trigger(const CronArgs &args) {
    Oid types[kCronColumns + 2];
    Datum values[kCronColumns + 2];
    char nulls[kCronColumns + 3] = {0};
    fill_cron_params(args, types, values, nulls);
    types[kCronColumns] = TEXTOID;
    values[kCronColumns] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
    types[kCronColumns + 1] = TIMESTAMPTZOID;
    values[kCronColumns + 1] = TimestampTzGetDatum(GetCurrentTimestamp());
    nulls[kCronColumns] = nulls[kCronColumns + 1] = ' ';
    spi_execute_as_owner(
        "INSERT INTO eventhooks.cron_triggers (name, webhook, schedule, payload, headers, "
        "retry_conf, comment, signing, owner, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING",
        kCronColumns + 2, types, values, nulls, false, 0);
    return SPI_processed == 1;
}

void store_cron_trigger(const CronArgs &args) {
    SPI_connect();
    // Twice at most: a trigger of the name committed between the lookup and the INSERT is
    // found, locked, by the second lookup.
    for (int attempt = 0; attempt < 2; attempt++) {
        StoredCronTrigger existing = lock_stored_trigger(args.name);
        if (existing.found) {
            if (!args.replace)
                ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                                errmsg("name: cron trigger \"%s\" already exists", args.name),
                                errhint("Pass replace => true to replace it.")));
            require_may_manage("replace", args.name, existing);
            replace_stored_trigger(args);
            break;
        }
        if (insert_stored_trigger(args)) break;
    }
    if (args.has_include_in_metadata) {
        Oid types[2] = {TEXTOID, BOOLOID};
        Datum values[2] = {CStringGetTextDatum(args.name), BoolGetDatum(args.include_in_metadata)};
        spi_execute_as_owner(
            "UPDATE eventhooks.cron_triggers SET include_in_metadata = $2 WHERE name = $1 "
            "AND include_in_metadata IS DISTINCT FROM $2",
            2, types, values, nullptr, false, 0);
    }
    plan_cron_events(args.name);
    SPI_finish();
}

Datum create_cron_trigger(FunctionCallInfo fcinfo) {
    CronArgs args;
    args.name = text_arg(fcinfo, 0);
    args.webhook = text_arg(fcinfo, 1);
    args.schedule = text_arg(fcinfo, 2);
    args.payload_type = jsonb_arg_type(fcinfo, 3);
    args.payload = optional_jsonb_arg(fcinfo, 3);
    args.headers = jsonb_arg(fcinfo, 4);
    args.retry_conf = jsonb_arg(fcinfo, 5);
    args.comment = text_arg(fcinfo, 6);
    args.replace = !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
    args.signing = optional_jsonb_arg(fcinfo, 8);
    args.has_include_in_metadata = PG_NARGS() > 9 && !PG_ARGISNULL(9);
    args.include_in_metadata = args.has_include_in_metadata && PG_GETARG_BOOL(9);

    auto *env_names = static_cast<RefList *>(palloc0(sizeof(RefList)));
    validate_cron_args(args, env_names);
    check_env_names_allowed(*env_names);
    store_cron_trigger(args);
    PG_RETURN_VOID();
}

// Its events still to be sent go with it (retries included); what was sent, failed or died
// stays, with the invocation logs, as history (seen by superusers once the trigger is gone).
Datum delete_cron_trigger(FunctionCallInfo fcinfo) {
    char *name = require_name(fcinfo);
    SPI_connect();
    require_managed_trigger(name);
    execute_for_trigger(
        "DELETE FROM eventhooks.cron_events WHERE trigger_name = $1 AND status = 'scheduled'",
        name);
    execute_for_trigger("DELETE FROM eventhooks.cron_triggers WHERE name = $1", name);
    SPI_finish();
    PG_RETURN_VOID();
}

// One cron event still to be sent, deleted (Hasura's delete_scheduled_event of type "cron"; the
// SQL function eventhooks._delete_cron_event, called by eventhooks.metadata). Managed by the
// rule of its trigger; an event the caller may not manage, or of a deleted trigger, or one no
// longer scheduled does not exist for it (row-level security hides it from the caller, and event
// ids are not guessable). The planner plans a trigger's times after its latest event: when the
// deleted event was the latest, its trigger's next time is planned in its place, or the planner
// would plan the deleted time again and send it after all.
Datum delete_cron_event(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0)) throw core::ConfigError("event_id: must not be null");
    pg_uuid_t *id = PG_GETARG_UUID_P(0);
    char *id_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
    Oid types[1] = {UUIDOID};
    Datum values[1] = {UUIDPGetDatum(id)};
    SPI_connect();
    // belongs: the event was made since its trigger was (not one of a deleted trigger that had
    // the name before), as the policy on cron_events says.
    spi_execute_as_owner(
        "SELECT e.trigger_name FROM eventhooks.cron_events e JOIN eventhooks.cron_triggers t "
        "ON t.name = e.trigger_name AND e.id >= eventhooks.first_event_id_at(t.created_at) "
        "WHERE e.id = $1",
        1, types, values, nullptr, false, 1);
    char *name = SPI_processed == 1
                     ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)
                     : nullptr;
    StoredCronTrigger stored = {false, nullptr, false};
    if (name != nullptr) stored = lock_stored_trigger(name);
    bool deleted = false;
    if (stored.found && is_owner_role_member(stored.owner)) {
        spi_execute_as_owner(
            "DELETE FROM eventhooks.cron_events WHERE id = $1 AND status = 'scheduled' "
            "RETURNING scheduled_time",
            1, types, values, nullptr, false, 0);
        deleted = SPI_processed == 1;
    }
    if (!deleted)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("event_id: cron event %s does not exist or is no longer scheduled",
                               id_text)));
    bool isnull;
    Datum deleted_time = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    Oid plan_types[2] = {TEXTOID, TIMESTAMPTZOID};
    Datum plan_values[2] = {CStringGetTextDatum(name), deleted_time};
    spi_execute_as_owner(
        "INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time) "
        "SELECT t.name, n.at FROM eventhooks.cron_triggers t "
        "CROSS JOIN LATERAL eventhooks.cron_next_times(t.schedule, $2, 1) n(at) "
        "WHERE t.name = $1 AND NOT EXISTS (SELECT FROM eventhooks.cron_events e "
        "  WHERE e.trigger_name = $1 AND e.scheduled_time > $2) "
        "ON CONFLICT (trigger_name, scheduled_time) DO NOTHING",
        2, plan_types, plan_values, nullptr, false, 0);
    SPI_finish();
    PG_RETURN_VOID();
}

// Events stay planned while paused; the worker sends none of a paused trigger's. Pausing a
// paused trigger is no error.
Datum pause_cron_trigger(FunctionCallInfo fcinfo) {
    char *name = require_name(fcinfo);
    SPI_connect();
    StoredCronTrigger stored = require_managed_trigger(name);
    if (!stored.paused)
        execute_for_trigger("UPDATE eventhooks.cron_triggers SET paused = true WHERE name = $1",
                            name);
    SPI_finish();
    PG_RETURN_VOID();
}

// Times that passed while the trigger was paused are not sent late: their events (never tried)
// are marked dead; then the trigger's next times are planned. Resuming a trigger that is not
// paused changes nothing: its due events may be just about to be sent.
Datum resume_cron_trigger(FunctionCallInfo fcinfo) {
    char *name = require_name(fcinfo);
    SPI_connect();
    StoredCronTrigger stored = require_managed_trigger(name);
    if (stored.paused) {
        execute_for_trigger("UPDATE eventhooks.cron_triggers SET paused = false WHERE name = $1",
                            name);
        execute_for_trigger(
            "UPDATE eventhooks.cron_events SET status = 'dead', next_retry_at = NULL "
            "WHERE trigger_name = $1 AND status = 'scheduled' AND tries = 0 "
            "AND scheduled_time <= now()",
            name);
        plan_cron_events(name);
    }
    SPI_finish();
    PG_RETURN_VOID();
}

}  // namespace

}  // namespace eventhooks::pg

using eventhooks::pg::guard_entry;

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_cron_next_times);
PG_FUNCTION_INFO_V1(eventhooks_create_cron_trigger);
PG_FUNCTION_INFO_V1(eventhooks_delete_cron_trigger);
PG_FUNCTION_INFO_V1(eventhooks_pause_cron_trigger);
PG_FUNCTION_INFO_V1(eventhooks_resume_cron_trigger);
PG_FUNCTION_INFO_V1(eventhooks_delete_cron_event);

Datum eventhooks_cron_next_times(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::cron_next_times(fcinfo); });
}
Datum eventhooks_create_cron_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::create_cron_trigger(fcinfo); });
}
Datum eventhooks_delete_cron_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::delete_cron_trigger(fcinfo); });
}
Datum eventhooks_pause_cron_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::pause_cron_trigger(fcinfo); });
}
Datum eventhooks_resume_cron_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::resume_cron_trigger(fcinfo); });
}
Datum eventhooks_delete_cron_event(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::delete_cron_event(fcinfo); });
}
}
