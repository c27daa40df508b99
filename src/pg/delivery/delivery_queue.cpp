// SQL of the delivery worker (see delivery_queue.hpp). The Postgres work runs in plain C-style
// code inside call_postgres(); results are copied into C++ objects only after it returned.
#include <memory>
#include <nlohmann/json.hpp>

#include "pg/delivery/delivery_queue.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include "pg/extension_catalog.hpp"
#include "pg/pg_guard.hpp"
#include "pg/delivery/replication_guard.hpp"
#include "pg/delivery/resume_point.hpp"
#include "pg/delivery/shared_state.hpp"
#include "pg/delivery/uuid_order.hpp"

namespace eventhooks::pg {

namespace {

constexpr int kClaimColumns = 17;
constexpr int kFromCursorColumn = 14;  // 0-based: the row came from the cursor's arm
constexpr int kSourceColumn = 15;      // SourceKind
constexpr int kQueueKeyColumn = 16;    // NULL: the trigger's name (event_log)
constexpr int kSourceKinds = 3;

// The results of a round's attempts, one array per column: no JSON document to parse and
// take apart again (that was 40% of this statement's time); each request and response is
// parsed once, into the invocation log's jsonb.
// A record of no attempt (no_attempt) keeps the event's tries and writes no invocation log: with
// no retry time it archives the event (its trigger was deleted), with one it only looks again
// later (the trigger is not there yet).
// An attempt settles its event only if the event's row is still the version the claim read
// (xmin: the worker itself writes no claimed row until it records it). A row changed during the
// attempt was requeued (redeliver_event, an UPDATE) or settled by hand: that change wins, and
// the event keeps the state it was given (a requeued event is due: event_log_retry_time). The
// attempt still gets its invocation log row. Returns how many events were settled.
const char *const kRecordSql =
    "WITH r AS ("
    "  SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::bool[], $5::bool[], "
    "    $6::int[], $7::int8[], $8::int[], $9::text[], $10::text[], $11::text[]) "
    "  AS r(id, trigger_name, no_attempt, delivered, error, tries, retry_in_ms, status, request, "
    "    response, row_version)), "
    "u AS ("
    "  UPDATE eventhooks.event_log e SET delivered = r.delivered, error = r.error, "
    "    tries = CASE WHEN r.no_attempt THEN e.tries ELSE r.tries END, "
    "    archived = e.archived OR (r.no_attempt AND r.retry_in_ms < 0), locked = NULL, "
    "    next_retry_at = CASE WHEN r.retry_in_ms IS NULL OR r.retry_in_ms < 0 THEN NULL "
    "      ELSE pg_catalog.clock_timestamp() + r.retry_in_ms * interval '1 millisecond' END "
    "  FROM r WHERE e.id = r.id AND (r.row_version IS NULL OR e.xmin = r.row_version::xid) "
    "  RETURNING 1), "
    "i AS ("
    "  INSERT INTO eventhooks.event_invocation_logs (event_id, trigger_name, status, request, "
    "  response) "
    "  SELECT id, trigger_name, NULLIF(status, 0), request::jsonb, response::jsonb "
    "  FROM r WHERE NOT r.no_attempt) "
    "SELECT count(*) FROM u";

// How the worker finds due events without an index of pending events (which would cost every
// writer a second index insert per event):
// - New events: a scan of the primary key from the cursor (`id > $4`), kept in the worker's
//   memory. UUIDv7 ids grow with time, so new events land ahead of it. An event that commits
//   after newer ones were scanned lies behind it; its transaction's commit tells the worker
//   where to rescan from (commit_wakeup.cpp), and the worker reads that before its snapshot.
// - Everything with a next_retry_at: retries, events made pending again by SQL (the
//   event_log_retry_time trigger gives them one): through event_log_retry, when due.
// - Events of a webhook that had no room for more requests: the cursor passes them by (the
//   arm filters their trigger out), and a TriggerCursor of that trigger reads them later.
// A new worker starts its cursor where the last committed round of its predecessor left it, but
// below any event then in flight (publish_resume_point; the server's start: the beginning).
// Claiming writes nothing: one worker serves a database, and it keeps the events it has in
// flight in memory and passes them here ($3) to be skipped. A claim thus costs no WAL and no
// commit flush before the request goes out, and a crashed worker leaves nothing locked: its
// successor simply finds those events pending and sends them again (at-least-once).
#define EVENT_COLUMNS                                                                          \
    "e.id, e.trigger_name, e.schema_name, e.table_name, e.payload::text, "                     \
    "to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), e.tries, " \
    "t.name IS NOT NULL, t.webhook, t.webhook_from_env, t.headers::text, t.retry_conf::text, " \
    "e.xmin::text, t.signing::text "
#define PENDING "NOT e.delivered AND NOT e.error AND NOT e.archived "
const char *const kClaimSql =
    "SELECT * FROM ("
    " (SELECT " EVENT_COLUMNS ", false, 0, NULL::text "
    "  FROM eventhooks.event_log e "
    "  LEFT JOIN eventhooks.event_triggers t ON t.name = e.trigger_name "
    "  WHERE e.next_retry_at IS NOT NULL AND e.next_retry_at <= now() AND " PENDING
    "    AND e.trigger_name <> ALL ($2) AND e.id <> ALL ($3::uuid[]) "
    "  ORDER BY e.next_retry_at LIMIT $1) "
    " UNION ALL "
    " (SELECT " EVENT_COLUMNS ", true, 0, NULL::text "
    "  FROM eventhooks.event_log e "
    "  LEFT JOIN eventhooks.event_triggers t ON t.name = e.trigger_name "
    "  WHERE e.id > $4 AND e.next_retry_at IS NULL AND " PENDING
    "    AND e.trigger_name <> ALL ($5) AND e.id <> ALL ($3::uuid[]) "
    "  ORDER BY e.id LIMIT $1)) claim "
    "LIMIT $1";

// The events of one webhook that the cursor passed by while the webhook had no room
// (TriggerCursor): from its own cursor ($2) up to where the main cursor stood ($3).
const char *const kTriggerArmSql =
    "SELECT " EVENT_COLUMNS ", false, 0, NULL::text "
    "FROM eventhooks.event_log e "
    "LEFT JOIN eventhooks.event_triggers t ON t.name = e.trigger_name "
    "WHERE e.id > $2 AND e.id <= $3 AND e.trigger_name = $4 AND e.next_retry_at IS NULL AND "
    PENDING "  AND e.id <> ALL ($5::uuid[]) "
    "ORDER BY e.id LIMIT $1";

// The cursor's arm came back short: it has seen every event committed so far.
const char *const kNewestIdSql = "SELECT id FROM eventhooks.event_log ORDER BY id DESC LIMIT 1";

// Pending: what waits in event_log_retry, what lies ahead of the cursor, and what is in flight.
const char *const kCountSql =
    "SELECT count(*), "
    "  count(*) FILTER (WHERE next_retry_at IS NULL OR next_retry_at <= now()), "
    "  (extract(epoch FROM min(next_retry_at) FILTER (WHERE next_retry_at > now()) "
    "     - pg_catalog.clock_timestamp()) * 1000)::bigint "
    "FROM ("
    "  SELECT e.next_retry_at FROM eventhooks.event_log e "
    "  WHERE e.next_retry_at IS NOT NULL AND " PENDING
    "  UNION ALL "
    "  SELECT e.next_retry_at FROM eventhooks.event_log e "
    "  WHERE e.id > $1 AND e.next_retry_at IS NULL AND " PENDING
    "  UNION ALL "
    "  SELECT e.next_retry_at FROM eventhooks.event_log e "
    "  WHERE e.id = ANY ($2::uuid[]) AND e.id <= $1 AND e.next_retry_at IS NULL AND " PENDING
    ") pending";

// After a claim: when the next retry that it left waiting is due (ms from now, rounded up).
// The worker knows the due times of the attempts it recorded itself, but not those of retries
// recorded by a predecessor (a restart) or set by SQL; the count above names only the earliest
// future one, once a second, so a retry that became due between a claim and the next count
// had no wake-up at all (issue 16 (9)). Uses event_log_retry: one index probe.
const char *const kNextRetrySql =
    "SELECT greatest(0, ceil(extract(epoch FROM e.next_retry_at - pg_catalog.clock_timestamp()) "
    "  * 1000))::bigint "
    "FROM eventhooks.event_log e WHERE e.next_retry_at > now() AND " PENDING
    "ORDER BY e.next_retry_at LIMIT 1";
#undef PENDING
#undef EVENT_COLUMNS

// What the C-style transaction hands back: claimed rows as C strings, in `context`.
struct RawRound {
    pg_uuid_t resume_from;  // the cursor, or the smallest id in flight if smaller
    Oid relid;              // event_log the round worked on
    bool extension_present;
    uint64 rows;
    char **cells;  // rows * kClaimColumns, NULL for SQL NULL
    bool more_due;
    bool cursor_reset;  // a new event_log (extension re-created): trigger cursors are void
    bool counted;
    int64 counts[3];
    int64 next_retry_in_ms;  // -1: no claim, or no retry waiting
    bool timed_checked;
    bool timed_more_due;
    int64 timed_next_due_ms;  // -1: none
    int64 count_cost_us;
    int64 requeued;  // records whose event was not settled (changed during the attempt)
    bool paused_changed;  // the paused triggers' names changed (read_paused_triggers)
};

void begin_transaction(const char *activity) {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, activity);
}

void end_transaction() {
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
}

int64 int8_cell(int column, bool *isnull) {
    Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, isnull);
    return *isnull ? -1 : DatumGetInt64(value);
}

// Locks the extension against a concurrent DROP EXTENSION for the rest of the transaction
// (DROP takes an exclusive lock on it first): the worker then never touches half-dropped
// tables, and never deadlocks with the DROP over the order it locks them in.
bool lock_extension() {
    Oid extension = get_extension_oid("pg_eventhooks", true);
    if (!OidIsValid(extension)) return false;
    LockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
    // Still there once we hold the lock? (The lock wait may have been for its DROP.)
    return OidIsValid(get_extension_oid("pg_eventhooks", true));
}

// The worker's three statements, parsed and planned once per worker (the plan cache re-plans
// them by itself after DDL, e.g. a DROP and CREATE of the extension).
// options CURSOR_OPT_CUSTOM_PLAN: planned for each execution's parameters (parse and analysis
// are still saved), for the claim, whose best plan depends on its LIMIT and the backlog.
SPIPlanPtr prepared_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, int options = 0) {
    if (*plan == nullptr) {
        SPIPlanPtr fresh = SPI_prepare_cursor(sql, nargs, types, options);
        if (fresh == nullptr)
            elog(ERROR, "pg_eventhooks: preparing a delivery statement failed: %s",
                 SPI_result_code_string(SPI_result));
        if (SPI_keepplan(fresh) != 0) elog(ERROR, "pg_eventhooks: SPI_keepplan failed");
        *plan = fresh;
    }
    return *plan;
}

SPIPlanPtr record_plan = nullptr;
SPIPlanPtr claim_plan = nullptr;
SPIPlanPtr newest_id_plan = nullptr;
SPIPlanPtr trigger_arm_plan = nullptr;
SPIPlanPtr count_plan = nullptr;
SPIPlanPtr next_retry_plan = nullptr;

Datum text_array(int count, const char *const *items) {
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
    for (int i = 0; i < count; i++) values[i] = CStringGetTextDatum(items[i]);
    return PointerGetDatum(construct_array(values, count, TEXTOID, -1, false, TYPALIGN_INT));
}

Datum uuid_array(const Datum *ids, int count) {
    return PointerGetDatum(
        construct_array(const_cast<Datum *>(ids), count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

Datum uuid_datum(const pg_uuid_t &id) {
    auto *copy = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    *copy = id;
    return UUIDPGetDatum(copy);
}

// The records as C arrays (count 0: nothing to record); request/response nullptr: SQL NULL.
struct RecordColumns {
    int count;
    const char *const *ids;
    const char *const *trigger_names;
    const bool *archive;
    const bool *delivered;
    const bool *error;
    const int32 *tries;
    const int64 *retry_in_ms;
    const int32 *status;
    const char *const *requests;
    const char *const *responses;
    const char *const *row_versions;
};

// An array of `count` values of a fixed-size type, from value(i).
template <typename Value>
Datum fixed_array(int count, Oid type, int16 length, bool by_value, char align, Value value) {
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
    for (int i = 0; i < count; i++) values[i] = value(i);
    return PointerGetDatum(construct_array(values, count, type, length, by_value, align));
}

// A text array; nullptr items are NULLs.
Datum nullable_text_array(int count, const char *const *items) {
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * (count + 1)));
    for (int i = 0; i < count; i++) {
        nulls[i] = items[i] == nullptr;
        values[i] = nulls[i] ? (Datum)0 : CStringGetTextDatum(items[i]);
    }
    int dims[1] = {count};
    int lbs[1] = {1};
    return PointerGetDatum(
        construct_md_array(values, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

// Returns how many of the records' events were not settled (kRecordSql, or a timed source's
// record_sql, which take the same parameters).
int64 record_results(const RecordColumns &r, SPIPlanPtr *plan, const char *sql) {
    Oid types[11] = {UUIDARRAYOID, TEXTARRAYOID, BOOLARRAYOID, BOOLARRAYOID,
                     BOOLARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID,
                     TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
    Datum values[11] = {
        fixed_array(r.count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
                    [&](int i) { return DirectFunctionCall1(uuid_in, CStringGetDatum(r.ids[i])); }),
        text_array(r.count, r.trigger_names),
        fixed_array(r.count, BOOLOID, 1, true, TYPALIGN_CHAR,
                    [&](int i) { return BoolGetDatum(r.archive[i]); }),
        fixed_array(r.count, BOOLOID, 1, true, TYPALIGN_CHAR,
                    [&](int i) { return BoolGetDatum(r.delivered[i]); }),
        fixed_array(r.count, BOOLOID, 1, true, TYPALIGN_CHAR,
                    [&](int i) { return BoolGetDatum(r.error[i]); }),
        fixed_array(r.count, INT4OID, 4, true, TYPALIGN_INT,
                    [&](int i) { return Int32GetDatum(r.tries[i]); }),
        fixed_array(r.count, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
                    [&](int i) { return Int64GetDatum(r.retry_in_ms[i]); }),
        fixed_array(r.count, INT4OID, 4, true, TYPALIGN_INT,
                    [&](int i) { return Int32GetDatum(r.status[i]); }),
        nullable_text_array(r.count, r.requests),
        nullable_text_array(r.count, r.responses),
        nullable_text_array(r.count, r.row_versions),
    };
    if (SPI_execute_plan(prepared_plan(plan, sql, 11, types), values, nullptr, false, 0) !=
            SPI_OK_SELECT ||
        SPI_processed != 1)
        elog(ERROR, "pg_eventhooks: recording delivery results failed");
    bool isnull;
    return r.count - int8_cell(1, &isnull);
}

// The timed sources' statements, prepared once per worker like the event_log ones.
struct TimedPlans {
    SPIPlanPtr mark_dead = nullptr;
    SPIPlanPtr claim = nullptr;
    SPIPlanPtr record = nullptr;
    SPIPlanPtr next_due = nullptr;
};
TimedPlans timed_plans[kSourceKinds];

TimedPlans &plans_of(const TimedSource &source) {
    return timed_plans[static_cast<int>(source.kind)];
}

// Records each source's attempts in its own tables; returns how many were not settled.
int64 record_all(const RecordColumns *per_source) {
    int64 requeued = 0;
    if (per_source[0].count > 0)
        requeued += record_results(per_source[0], &record_plan, kRecordSql);
    for (const TimedSource *source : timed_sources()) {
        const RecordColumns &records = per_source[static_cast<int>(source->kind)];
        if (records.count > 0)
            requeued += record_results(records, &plans_of(*source).record, source->record_sql);
    }
    return requeued;
}

// Only records: the transaction of a round that failed, narrowed (run_round).
void record_in_transaction(const RecordColumns *per_source, bool *extension_present,
                           int64 *requeued) {
    begin_transaction("pg_eventhooks: record results");
    *extension_present = lock_extension();
    if (*extension_present) *requeued = record_all(per_source);
    end_transaction();
}

// Event trigger configurations changed (their table's relcache was invalidated, see
// eventhooks_configuration_changed): events claimed before then may carry an old webhook.
// Also cron trigger configurations, and deletions of timed events (statement triggers in the
// install script): events waiting for a slot may have been deleted.
Oid watched_configuration_relid = InvalidOid;
Oid watched_cron_relid = InvalidOid;
Oid watched_cron_events_relid = InvalidOid;
Oid watched_scheduled_events_relid = InvalidOid;
bool configuration_changed = false;
bool cron_configuration_changed = false;

// Paused event triggers (event_triggers.paused, issue 20): their events are left where they
// are, like those of a webhook with no room (excluded from the claim, a TriggerCursor keeps
// their place), until resumed. The names are read with the round's snapshot, so its claim
// honours a pause or resume committed before it: by every round while a trigger is paused (a
// resume wakes the worker at commit, before the commit's relcache invalidation is sent, so
// that is not waited for; one small read of event_triggers a round, only while something is
// paused), and otherwise by the first round after a change of event_triggers
// (paused_generation moves on). A pause is thus seen by the first round whose transaction
// takes the invalidation in; what a round claimed just before is sent, like requests in flight
// at the pause. In paused_context: C-style, read in the round.
uint64 paused_generation = 1;       // moves on with every change of event_triggers
uint64 paused_read_generation = 0;  // the generation the names below were read at
int paused_count = 0;
char **paused_names = nullptr;
MemoryContext paused_context = nullptr;

void note_relcache_invalidation(Datum, Oid relid) {
    if (relid == InvalidOid || relid == watched_configuration_relid) paused_generation++;
    if (relid == InvalidOid || relid == watched_configuration_relid ||
        relid == watched_cron_events_relid || relid == watched_scheduled_events_relid)
        configuration_changed = true;
    if (relid == InvalidOid || relid == watched_cron_relid)
        configuration_changed = cron_configuration_changed = true;
}

// The event_log the cursor belongs to: a DROP and CREATE EXTENSION makes a new, empty one.
Oid cursor_relid = InvalidOid;

// The resume point is kept in its table at most this often (resume_point.cpp).
constexpr int64 kKeepPointIntervalUs = 5 * USECS_PER_SEC;
constexpr int64 kKeepPointSlackUs = 100 * 1000;
TimestampTz last_kept_at = 0;
TimestampTz last_kept_failure_logged_at = 0;
bool kept_any = false;         // by this worker
bool keep_asked = false;       // the worker was asked to come back for a keep (RoundResult)
pg_uuid_t last_kept_resume{};  // the published point when the kept one was computed
pg_uuid_t last_kept_point{};   // the kept one (lower while a transaction held it back)
pg_uuid_t last_published{};

struct RoundInput {
    RecordColumns records[kSourceKinds];  // by SourceKind
    int claim_limit;
    int excluded_count;
    const char *const *excluded;
    int in_flight_count;
    const char *const *in_flight;  // uuid texts: held events of event_log
    int timed_held_count;
    const char *const *timed_held;  // uuid texts: held events of the timed sources
    // Trigger cursors: read from (and advanced in place) for the eligible ones; done[i] is
    // set when cursor i caught up with the main cursor.
    int trigger_cursor_count;
    const char *const *trigger_cursor_names;
    pg_uuid_t *trigger_cursor_after;
    const bool *trigger_cursor_eligible;
    bool *trigger_cursor_done;
    bool refresh_counts;
    bool check_timed;
};

// Copies the rows of one claim statement into out->cells and the in-flight list. With
// moves_cursor (the main cursor's arm, in id order), the cursor moves to each row's id; with
// trigger_cursor, that cursor does.
void take_claimed_rows(SPITupleTable *claimed, uint64 returned, bool main_statement,
                       pg_uuid_t *cursor, pg_uuid_t *trigger_cursor, MemoryContext context,
                       RawRound *out, Datum *in_flight, int *in_flight_count) {
    for (uint64 row = 0; row < returned; row++) {
        HeapTuple tuple = claimed->vals[row];
        bool isnull;
        Datum id = SPI_getbinval(tuple, claimed->tupdesc, 1, &isnull);
        bool from_cursor = main_statement && DatumGetBool(SPI_getbinval(
                                                 tuple, claimed->tupdesc, kFromCursorColumn + 1, &isnull));
        // The arms read in id order: their cursor moves to each row they hand over.
        if (from_cursor) *cursor = *DatumGetUUIDP(id);
        if (trigger_cursor != nullptr) *trigger_cursor = *DatumGetUUIDP(id);
        in_flight[(*in_flight_count)++] = id;
        char **cells = out->cells + out->rows * kClaimColumns;
        for (int col = 0; col < kClaimColumns; col++) {
            char *value = SPI_getvalue(tuple, claimed->tupdesc, col + 1);
            cells[col] = value ? MemoryContextStrdup(context, value) : nullptr;
        }
        out->rows++;
    }
}

// The timed sources' part of a claim: they claim up to `limit` due events between them (rows
// appended to out), and about once a second each marks dead what is too late for its first
// attempt (that statement reads every due event, which a backlog makes many: once a second is
// enough for a tolerance counted in seconds; the claim leaves such events alone meanwhile).
// Returns whether they filled the limit; *next_due_ms: the earliest not yet due (-1: none).
TimestampTz last_marked_dead = 0;
constexpr int64 kMarkDeadIntervalUs = USECS_PER_SEC;

bool claim_timed(const RoundInput &in, int limit, MemoryContext context, RawRound *out,
                 int64 *next_due_ms) {
    // The held ids, and room for what is claimed now: skipped by the sources claimed after.
    Datum *held = static_cast<Datum *>(palloc(sizeof(Datum) * (in.timed_held_count + limit + 1)));
    int held_count = in.timed_held_count;
    for (int i = 0; i < held_count; i++)
        held[i] = DirectFunctionCall1(uuid_in, CStringGetDatum(in.timed_held[i]));
    TimestampTz now = GetCurrentTimestamp();
    bool mark_dead = now - last_marked_dead >= kMarkDeadIntervalUs || now < last_marked_dead;
    if (mark_dead) last_marked_dead = now;
    int claimed = 0;
    *next_due_ms = -1;
    for (const TimedSource *source : timed_sources()) {
        TimedPlans &plans = plans_of(*source);
        if (mark_dead) {
            Oid dead_types[1] = {UUIDARRAYOID};
            Datum dead_values[1] = {uuid_array(held, held_count)};
            if (SPI_execute_plan(
                    prepared_plan(&plans.mark_dead, source->mark_dead_sql, 1, dead_types),
                    dead_values, nullptr, false, 0) < 0)
                elog(ERROR, "pg_eventhooks: marking late %s events dead failed", source->what);
        }
        Oid types[3] = {INT4OID, TEXTARRAYOID, UUIDARRAYOID};
        Datum values[3] = {Int32GetDatum(limit - claimed),
                           text_array(in.excluded_count, in.excluded),
                           uuid_array(held, held_count)};
        if (SPI_execute_plan(prepared_plan(&plans.claim, source->claim_sql, 3, types), values,
                             nullptr, false, 0) != SPI_OK_SELECT)
            elog(ERROR, "pg_eventhooks: claiming %s events failed", source->what);
        uint64 returned = SPI_processed;
        claimed += static_cast<int>(returned);
        take_claimed_rows(SPI_tuptable, returned, false, nullptr, nullptr, context, out, held,
                          &held_count);
        // Not read-only: that would read the round's first snapshot, without the retry times
        // this round recorded.
        if (SPI_execute_plan(prepared_plan(&plans.next_due, source->next_due_sql, 0, nullptr),
                             nullptr, nullptr, false, 1) != SPI_OK_SELECT)
            elog(ERROR, "pg_eventhooks: reading the next %s time failed", source->what);
        bool isnull = true;
        int64 ms = SPI_processed == 1 ? int8_cell(1, &isnull) : -1;
        if (!isnull && ms >= 0 && (*next_due_ms < 0 || ms < *next_due_ms)) *next_due_ms = ms;
    }
    return claimed >= limit;
}

bool is_paused(const char *trigger_name) {
    for (int i = 0; i < paused_count; i++)
        if (strcmp(paused_names[i], trigger_name) == 0) return true;
    return false;
}

// Reads the paused triggers' names (in the round's transaction; see paused_generation). With
// 0.1.0's or 0.2.0's table (no column `paused` before ALTER EXTENSION UPDATE), nothing is
// paused. Returns whether the names changed.
bool read_paused_triggers(Oid event_triggers) {
    if (paused_read_generation == paused_generation && paused_count == 0) return false;
    uint64 generation = paused_generation;
    if (paused_context == nullptr)
        paused_context = AllocSetContextCreate(TopMemoryContext, "pg_eventhooks paused triggers",
                                               ALLOCSET_SMALL_SIZES);
    bool has_column = OidIsValid(event_triggers) &&
                      get_attnum(event_triggers, "paused") != InvalidAttrNumber;
    uint64 rows = 0;
    if (has_column) {
        if (SPI_execute("SELECT name FROM eventhooks.event_triggers WHERE paused ORDER BY name",
                        false, 0) != SPI_OK_SELECT)
            elog(ERROR, "pg_eventhooks: reading the paused event triggers failed");
        rows = SPI_processed;
    }
    paused_read_generation = generation;
    bool changed = rows != static_cast<uint64>(paused_count);
    for (uint64 i = 0; i < rows && !changed; i++)
        changed = strcmp(paused_names[i], SPI_getvalue(SPI_tuptable->vals[i],
                                                       SPI_tuptable->tupdesc, 1)) != 0;
    if (!changed) return false;
    // Replaced only once the read succeeded (an ERROR above keeps the old names).
    paused_count = 0;
    MemoryContextReset(paused_context);
    paused_names = static_cast<char **>(
        MemoryContextAllocZero(paused_context, sizeof(char *) * (rows + 1)));
    for (uint64 i = 0; i < rows; i++)
        paused_names[i] = MemoryContextStrdup(
            paused_context, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
    paused_count = static_cast<int>(rows);
    return true;
}

void run_round_in_transaction(const RoundInput &in, pg_uuid_t *cursor, MemoryContext context,
                              RawRound *out) {
    begin_transaction("pg_eventhooks: record results and claim events");
    out->extension_present = lock_extension();
    if (!out->extension_present) {
        end_transaction();
        return;
    }
    Oid relid = event_log_relid();
    if (relid != cursor_relid) {
        memset(cursor->data, 0, UUID_LEN);
        cursor_relid = relid;
        out->cursor_reset = true;
    }
    out->requeued = record_all(in.records);
    // palloc'd, not std::vector: an ERROR here longjmps, which must skip no C++ destructor.
    // Room for the events claimed now too: they count as pending (kCountSql) like those held.
    // event_log's claims: up to claim_limit; the timed sources claim up to claim_limit more
    // (claim_timed): a backlog of events does not hold back what is due at a time, nor the
    // reverse.
    Datum *in_flight = static_cast<Datum *>(
        palloc(sizeof(Datum) * (in.in_flight_count + in.claim_limit + 1)));
    int in_flight_count = in.in_flight_count;
    for (int i = 0; i < in_flight_count; i++)
        in_flight[i] = DirectFunctionCall1(uuid_in, CStringGetDatum(in.in_flight[i]));
    watched_configuration_relid = event_triggers_relid();
    watched_cron_relid = cron_triggers_relid();
    watched_cron_events_relid = cron_events_relid();
    watched_scheduled_events_relid = scheduled_events_relid();
    pg_uuid_t cursor_at_start = *cursor;
    out->paused_changed = read_paused_triggers(watched_configuration_relid);
    // A new event_log (DROP and CREATE EXTENSION since the last round): the worker's exclusions
    // and held events belong to the old one; it claims again in the next round, afresh.
    if (in.claim_limit > 0 && !out->cursor_reset && !delivery_held_by_subscription(relid)) {
        out->cells = static_cast<char **>(MemoryContextAllocZero(
            context, sizeof(char *) * kClaimColumns * (2 * in.claim_limit + 1)));
        if (in.check_timed) {
            out->timed_more_due =
                claim_timed(in, in.claim_limit, context, out, &out->timed_next_due_ms);
            out->timed_checked = true;
        }
        int timed_rows = static_cast<int>(out->rows);
        // Exclusions ($2: both arms): webhooks with no room and paused triggers. The main
        // cursor's arm ($5) also leaves out the triggers whose own cursor reads this round
        // (below, after it, up to where it leaves the main cursor): a trigger with events passed
        // by gets them in id order, older ones first, not newer ones from the main arm before.
        const char **excluded = static_cast<const char **>(palloc(
            sizeof(char *) * (in.excluded_count + paused_count + in.trigger_cursor_count + 1)));
        int excluded_count = 0;
        for (int i = 0; i < in.excluded_count; i++) excluded[excluded_count++] = in.excluded[i];
        for (int i = 0; i < paused_count; i++) excluded[excluded_count++] = paused_names[i];
        int main_excluded_count = excluded_count;
        for (int i = 0; i < in.trigger_cursor_count; i++)
            if (in.trigger_cursor_eligible[i] && !is_paused(in.trigger_cursor_names[i]))
                excluded[main_excluded_count++] = in.trigger_cursor_names[i];
        // While triggers' own cursors read, the main claim takes at most half the limit: it
        // leaves those triggers out, so if it filled the whole limit (any backlog) their cursors
        // would get nothing, and those triggers no event at all, for as long as the backlog
        // lasts. A trigger cursor's range ends where the main cursor stands: finite.
        int main_limit = main_excluded_count > excluded_count ? in.claim_limit / 2
                                                              : in.claim_limit;
        Oid types[5] = {INT4OID, TEXTARRAYOID, UUIDARRAYOID, UUIDOID, TEXTARRAYOID};
        Datum values[5] = {Int32GetDatum(main_limit), text_array(excluded_count, excluded),
                           uuid_array(in_flight, in_flight_count), uuid_datum(*cursor),
                           text_array(main_excluded_count, excluded)};
        if (SPI_execute_plan(prepared_plan(&claim_plan, kClaimSql, 5, types, CURSOR_OPT_CUSTOM_PLAN),
                             values, nullptr, false, 0) < 0)
            elog(ERROR, "pg_eventhooks: claiming events failed");
        uint64 returned = SPI_processed;
        bool main_ran_dry = returned < static_cast<uint64>(main_limit);
        take_claimed_rows(SPI_tuptable, returned, true, cursor, nullptr, context, out, in_flight,
                          &in_flight_count);
        if (main_ran_dry) {
            // Both arms ran dry, so the cursor's saw every visible event: move it to the
            // newest. Events of transactions still open come with a rescan hint at commit.
            if (SPI_execute_plan(prepared_plan(&newest_id_plan, kNewestIdSql, 0, nullptr), nullptr,
                                 nullptr, true, 1) != SPI_OK_SELECT)
                elog(ERROR, "pg_eventhooks: reading the newest event id failed");
            bool isnull = true;
            Datum newest = SPI_processed == 0 ? (Datum)0
                                              : SPI_getbinval(SPI_tuptable->vals[0],
                                                              SPI_tuptable->tupdesc, 1, &isnull);
            if (!isnull && uuid_less(*cursor, *DatumGetUUIDP(newest)))
                *cursor = *DatumGetUUIDP(newest);
        }
        out->more_due = !main_ran_dry;
        // Webhooks with room again: the events the main cursor passed by while they had none.
        for (int i = 0; i < in.trigger_cursor_count; i++) {
            int budget = in.claim_limit - (static_cast<int>(out->rows) - timed_rows);
            if (budget <= 0) {
                out->more_due = true;
                break;
            }
            if (!in.trigger_cursor_eligible[i] || is_paused(in.trigger_cursor_names[i]))
                continue;
            Oid arm_types[5] = {INT4OID, UUIDOID, UUIDOID, TEXTOID, UUIDARRAYOID};
            Datum arm_values[5] = {Int32GetDatum(budget),
                                   uuid_datum(in.trigger_cursor_after[i]),
                                   uuid_datum(*cursor),  // the main arm passed its events by
                                   CStringGetTextDatum(in.trigger_cursor_names[i]),
                                   uuid_array(in_flight, in_flight_count)};
            if (SPI_execute_plan(prepared_plan(&trigger_arm_plan, kTriggerArmSql, 5, arm_types,
                                               CURSOR_OPT_CUSTOM_PLAN),
                                 // Not read-only: a read-only SPI call keeps the round's first
                                 // snapshot, which does not see the results recorded above, so
                                 // an event just settled would be claimed and sent again.
                                 arm_values, nullptr, false, 0) != SPI_OK_SELECT)
                elog(ERROR, "pg_eventhooks: claiming the events of a webhook with room failed");
            uint64 arm_rows = SPI_processed;
            take_claimed_rows(SPI_tuptable, arm_rows, false, cursor, &in.trigger_cursor_after[i],
                              context, out, in_flight, &in_flight_count);
            if (arm_rows < static_cast<uint64>(budget))
                in.trigger_cursor_done[i] = true;
            else
                out->more_due = true;
        }
        if (SPI_execute_plan(prepared_plan(&next_retry_plan, kNextRetrySql, 0, nullptr), nullptr,
                             nullptr, true, 1) != SPI_OK_SELECT)
            elog(ERROR, "pg_eventhooks: reading the next retry time failed");
        bool isnull = true;
        if (SPI_processed == 1) out->next_retry_in_ms = int8_cell(1, &isnull);
    }
    // A successor may start where this round leaves off, but not past an event in flight.
    out->relid = relid;
    out->resume_from = *cursor;
    for (int i = 0; i < in_flight_count; i++) {
        pg_uuid_t before = uuid_before(*DatumGetUUIDP(in_flight[i]));
        if (uuid_less(before, out->resume_from)) out->resume_from = before;
    }
    for (int i = 0; i < in.trigger_cursor_count; i++)
        if (!in.trigger_cursor_done[i] && !out->cursor_reset &&
            uuid_less(in.trigger_cursor_after[i], out->resume_from))
            out->resume_from = in.trigger_cursor_after[i];
    // A paused trigger with no cursor yet gets one at the round's start (run_round): its events
    // from there on wait, so a successor starts no later than that.
    for (int i = 0; i < paused_count && !out->cursor_reset; i++) {
        bool has_cursor = false;
        for (int k = 0; k < in.trigger_cursor_count && !has_cursor; k++)
            has_cursor = strcmp(in.trigger_cursor_names[k], paused_names[i]) == 0;
        if (!has_cursor && uuid_less(cursor_at_start, out->resume_from))
            out->resume_from = cursor_at_start;
    }
    if (in.refresh_counts) {
        TimestampTz count_start = GetCurrentTimestamp();
        Oid types[2] = {UUIDOID, UUIDARRAYOID};
        Datum values[2] = {uuid_datum(*cursor), uuid_array(in_flight, in_flight_count)};
        // Custom plans: its best plan depends on how far behind the cursor is.
        if (SPI_execute_plan(prepared_plan(&count_plan, kCountSql, 2, types, CURSOR_OPT_CUSTOM_PLAN),
                             values, nullptr,
                             true, 1) != SPI_OK_SELECT ||
            SPI_processed != 1)
            elog(ERROR, "pg_eventhooks: counting events failed");
        bool isnull;
        for (int i = 0; i < 3; i++) out->counts[i] = int8_cell(i + 1, &isnull);
        out->counted = true;
        out->count_cost_us = GetCurrentTimestamp() - count_start;
    }
    end_transaction();
}

std::string cell(const RawRound &raw, uint64 row, int col) {
    const char *value = raw.cells[row * kClaimColumns + col];
    return value ? value : "";
}

MemoryContext round_context() {
    static MemoryContext context = nullptr;
    if (context == nullptr)
        context = AllocSetContextCreate(TopMemoryContext, "pg_eventhooks delivery round",
                                        ALLOCSET_DEFAULT_SIZES);
    return context;
}

// The records as column arrays (the strings stay owned by the records).
class RecordArrays {
  public:
    // The records of one source.
    RecordArrays(const AttemptRecord *records, size_t count, SourceKind source)
        : RecordArrays(records, count, source, count_of(records, count, source)) {}

    RecordColumns columns() const {
        return {static_cast<int>(ids_.size()), ids_.data(),        trigger_names_.data(),
                archive_.get(),                delivered_.get(),   error_.get(),
                tries_.data(),                 retry_in_ms_.data(), status_.data(),
                requests_.data(),              responses_.data(),  row_versions_.data()};
    }

  private:
    static size_t count_of(const AttemptRecord *records, size_t count, SourceKind source) {
        size_t n = 0;
        for (size_t i = 0; i < count; i++) n += records[i].source == source ? 1 : 0;
        return n;
    }

    RecordArrays(const AttemptRecord *records, size_t count, SourceKind source, size_t n)
        : ids_(n), trigger_names_(n), requests_(n), responses_(n), row_versions_(n),
          archive_(new bool[n + 1]), delivered_(new bool[n + 1]), error_(new bool[n + 1]),
          tries_(n), status_(n), retry_in_ms_(n) {
        size_t i = 0;
        for (size_t k = 0; k < count; k++) {
            const AttemptRecord &r = records[k];
            if (r.source != source) continue;
            ids_[i] = r.event_id.c_str();
            trigger_names_[i] = r.trigger_name.c_str();
            archive_[i] = r.archive || r.hold;  // "no attempt": no log, tries kept
            delivered_[i] = r.delivered;
            error_[i] = r.error;
            tries_[i] = r.tries;
            retry_in_ms_[i] = r.retry_in_ms;
            status_[i] = r.status;
            requests_[i] = r.request.empty() ? nullptr : r.request.c_str();
            responses_[i] = r.response.empty() ? nullptr : r.response.c_str();
            row_versions_[i] = r.row_version.empty() ? nullptr : r.row_version.c_str();
            i++;
        }
    }

    std::vector<const char *> ids_, trigger_names_, requests_, responses_, row_versions_;
    std::unique_ptr<bool[]> archive_, delivered_, error_;
    std::vector<int32> tries_, status_;
    std::vector<int64> retry_in_ms_;
};

// A round's records split by source, each source's as the columns its record statement takes.
class RoundRecords {
  public:
    RoundRecords(const AttemptRecord *records, size_t count)
        : by_source_{RecordArrays(records, count, SourceKind::EventTrigger),
                     RecordArrays(records, count, SourceKind::CronTrigger),
                     RecordArrays(records, count, SourceKind::ScheduledEvent)} {
        for (int kind = 0; kind < kSourceKinds; kind++) columns_[kind] = by_source_[kind].columns();
    }
    const RecordColumns *columns() const { return columns_; }

  private:
    RecordArrays by_source_[kSourceKinds];
    RecordColumns columns_[kSourceKinds];
};

struct Failure {
    std::string message;
    int sqlstate = 0;
};

// Runs `body`, one transaction; after a Postgres error in it, aborts that transaction and
// says why in `failure`.
template <typename F>
bool in_transaction(F &&body, Failure *failure) {
    try {
        call_postgres(body);
        return true;
    } catch (const PgError &e) {
        ErrorData *edata = e.edata();
        failure->message = e.what();
        failure->sqlstate = edata->sqlerrcode;
        call_postgres([edata]() {
            FreeErrorData(edata);
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
        return false;
    }
}

// Errors that say nothing about the records written: the database refuses writes (read-only,
// disk full), a lock or a cancel got in the way. A record that fails with one of them is not
// marked failed for it; it is kept and recorded later.
bool not_the_records_fault(int sqlstate) {
    switch (ERRCODE_TO_CATEGORY(sqlstate)) {
        case ERRCODE_CONNECTION_EXCEPTION:
        case ERRCODE_TRANSACTION_ROLLBACK:  // deadlock, serialization failure
        case ERRCODE_OPERATOR_INTERVENTION:  // query canceled, shutdown
        case ERRCODE_SYSTEM_ERROR:           // I/O error
        case ERRCODE_INSUFFICIENT_RESOURCES:  // out of memory, disk full, too many connections
        case ERRCODE_INTERNAL_ERROR:          // XX: nothing known about the record
            return true;
        default:
            break;
    }
    return sqlstate == ERRCODE_DISK_FULL || sqlstate == ERRCODE_TOO_MANY_CONNECTIONS ||
           sqlstate == ERRCODE_CONFIGURATION_LIMIT_EXCEEDED ||
           sqlstate == ERRCODE_LOCK_NOT_AVAILABLE || sqlstate == ERRCODE_OBJECT_IN_USE ||
           sqlstate == ERRCODE_READ_ONLY_SQL_TRANSACTION;
}

// What is written instead of an attempt that cannot be recorded: the event fails (sending it
// again would end the same way), and its log row says why, without the request and response
// that may be what cannot be stored (too large for jsonb, refused by a trigger).
AttemptRecord failed_record(const AttemptRecord &attempt, const std::string &reason) {
    AttemptRecord failed;
    failed.event_id = attempt.event_id;
    failed.trigger_name = attempt.trigger_name;
    failed.error = true;
    failed.tries = attempt.tries;
    failed.status = attempt.status;
    failed.row_version = attempt.row_version;
    nlohmann::json request = {{"omitted", "the request of this attempt could not be recorded"}};
    nlohmann::json response = {{"error", "could not record this attempt: " + reason}};
    if (attempt.status != 0) response["status"] = attempt.status;
    auto dump = [](const nlohmann::json &j) {
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    failed.request = dump(request);
    failed.response = dump(response);
    return failed;
}

// Records `records` (a round that failed as a whole) in transactions of their own: the whole
// set, then halves, down to the record that fails, which is recorded as failed instead. A
// record that cannot be written even so is kept (result.unrecorded); once two of them failed
// and nothing could be written at all, the database refuses every write: the rest is kept
// without trying each (log2(n) + 4 transactions, not 2n).
class Narrowing {
  public:
    Narrowing(const std::vector<AttemptRecord> &records, RoundResult &result)
        : records_(records), result_(result) {}

    void run(size_t from, size_t count) {
        if (count == 0) return;
        if (give_up_ || !result_.extension_present) {
            keep(from, count);
            return;
        }
        Failure failure;
        if (record(&records_[from], count, &failure)) {
            result_.recorded += static_cast<int>(count);
            return;
        }
        if (count > 1) {
            run(from, count / 2);
            run(from + count / 2, count - count / 2);
            return;
        }
        const AttemptRecord &attempt = records_[from];
        if (!attempt.archive && !attempt.hold && !not_the_records_fault(failure.sqlstate)) {
            AttemptRecord failed = failed_record(attempt, failure.message);
            Failure second;
            if (record(&failed, 1, &second)) {
                result_.recorded++;
                ereport(WARNING,
                        (errmsg("pg_eventhooks: could not record the attempt of event %s of "
                                "event trigger \"%s\": %s",
                                attempt.event_id.c_str(), attempt.trigger_name.c_str(),
                                failure.message.c_str()),
                         errdetail("The event is marked failed; its invocation log row says "
                                   "why.")));
                return;
            }
            failure = second;
        }
        result_.failure = failure.message;
        keep(from, 1);
        if (result_.recorded == 0 && ++unwritable_ >= 2) give_up_ = true;
    }

  private:
    bool record(const AttemptRecord *records, size_t count, Failure *failure) {
        RoundRecords split(records, count);
        bool present = true;
        int64 requeued = 0;
        if (!in_transaction([&]() { record_in_transaction(split.columns(), &present, &requeued); },
                            failure))
            return false;
        if (!present) result_.extension_present = false;  // nothing left to record into
        result_.requeued += static_cast<int>(requeued);
        return true;
    }

    void keep(size_t from, size_t count) {
        for (size_t i = from; i < from + count; i++) result_.unrecorded.push_back(records_[i]);
    }

    const std::vector<AttemptRecord> &records_;
    RoundResult &result_;
    int unwritable_ = 0;
    bool give_up_ = false;
};

}  // namespace

RoundResult run_round(const std::vector<AttemptRecord> &records, int claim_limit,
                      const std::vector<std::string> &excluded_triggers,
                      const HeldIds &held, EventCursor &cursor,
                      std::vector<TriggerCursor> &trigger_cursors, bool refresh_counts,
                      bool check_timed) {
    RoundRecords split(records.data(), records.size());
    std::vector<const char *> excluded;
    excluded.reserve(excluded_triggers.size());
    for (const auto &name : excluded_triggers) excluded.push_back(name.c_str());
    std::vector<const char *> in_flight, timed_held;
    in_flight.reserve(held.event_log.size());
    for (const auto &id : held.event_log) in_flight.push_back(id.c_str());
    timed_held.reserve(held.timed.size());
    for (const auto &id : held.timed) timed_held.push_back(id.c_str());

    // Read before the round's snapshot: a hint is left after its events became visible, so
    // the snapshot sees them (take_rescan_request gives the id before the hinted one: the
    // cursor is exclusive).
    // The cursor is rewound here, not in the round, so that a round that fails keeps the hint.
    pg_uuid_t position;
    memcpy(position.data, cursor.data(), UUID_LEN);
    // Keeping the resume point in its table (resume_point.cpp): the bound of what transactions
    // in progress may have written is read before the hint, so it covers every hint left after.
    TimestampTz round_start = GetCurrentTimestamp();
    // (The slack: the worker's timer for an asked keep runs on another clock.)
    bool keep_point = (round_start - last_kept_at >= kKeepPointIntervalUs - kKeepPointSlackUs ||
                       round_start < last_kept_at) &&
                      (!kept_any || memcmp(&last_kept_resume, &last_kept_point, UUID_LEN) != 0 ||
                       memcmp(&last_kept_resume, &last_published, UUID_LEN) != 0);
    pg_uuid_t in_progress_bound{};
    if (keep_point) {
        try {
            bool known = false;
            call_postgres([&]() { known = lowest_id_in_progress(&in_progress_bound); });
            if (!known) {  // try again an interval later
                keep_point = false;
                last_kept_at = round_start;
                keep_asked = false;
            }
        } catch (const PgError &) {
            keep_point = false;  // out of memory at most; keep it at a later round
        }
    }
    pg_uuid_t rescan_from;
    if (take_rescan_request(MyDatabaseId, &rescan_from)) {
        if (uuid_less(rescan_from, position)) {
            position = rescan_from;
            memcpy(cursor.data(), position.data, UUID_LEN);
            // What the rescan reads again of an excluded trigger is that trigger's cursor's.
            for (auto &tc : trigger_cursors)
                if (memcmp(rescan_from.data, tc.after.data(), UUID_LEN) < 0)
                    memcpy(tc.after.data(), rescan_from.data, UUID_LEN);
        }
    }
    // An excluded trigger's events ahead of the main cursor are passed by from now on: its
    // cursor takes them over from here (or from where its existing cursor already stands).
    for (const auto &name : excluded_triggers) {
        bool has_cursor = false;
        for (const auto &tc : trigger_cursors) has_cursor = has_cursor || tc.trigger_name == name;
        if (!has_cursor) trigger_cursors.push_back(TriggerCursor{name, cursor});
    }
    size_t cursors = trigger_cursors.size();
    std::vector<const char *> cursor_names(cursors);
    std::unique_ptr<pg_uuid_t[]> cursor_after(new pg_uuid_t[cursors + 1]);
    std::unique_ptr<bool[]> cursor_eligible(new bool[cursors + 1]),
        cursor_done(new bool[cursors + 1]);
    for (size_t i = 0; i < cursors; i++) {
        const TriggerCursor &tc = trigger_cursors[i];
        cursor_names[i] = tc.trigger_name.c_str();
        memcpy(cursor_after[i].data, tc.after.data(), UUID_LEN);
        cursor_eligible[i] = true;
        for (const auto &name : excluded_triggers)
            if (name == tc.trigger_name) cursor_eligible[i] = false;
        cursor_done[i] = false;
    }

    MemoryContext context = round_context();
    MemoryContextReset(context);
    RawRound raw = {{},    InvalidOid,   true, 0, nullptr, false, false, false, {-1, -1, -1},
                    -1,    false, false, -1,   0, 0, false};
    pg_uuid_t position_at_start = position;
    // Read before the round's snapshot, like the rescan hint; only by a round that claims (one
    // that does not would drop it unseen).
    if (claim_limit > 0 && take_timed_work_written(MyDatabaseId)) check_timed = true;
    RoundInput input{{split.columns()[0], split.columns()[1], split.columns()[2]},
                     claim_limit,
                     static_cast<int>(excluded.size()),
                     excluded.data(),
                     static_cast<int>(in_flight.size()),
                     in_flight.data(),
                     static_cast<int>(timed_held.size()),
                     timed_held.data(),
                     static_cast<int>(cursors),
                     cursor_names.data(),
                     cursor_after.get(),
                     cursor_eligible.get(),
                     cursor_done.get(),
                     refresh_counts,
                     check_timed};
    RoundResult result;
    Oid relid_before = cursor_relid;
    Failure failure;
    if (!in_transaction([&]() { run_round_in_transaction(input, &position, context, &raw); },
                        &failure)) {
        // Nothing of the round happened: the cursor stays, and so does the event_log it is for.
        cursor_relid = relid_before;
        result.failure = failure.message;
        if (records.empty()) {
            result.claim_failed = true;
            return result;
        }
        // Recording or claiming failed. The events were sent: their results must be written,
        // or kept, never dropped (their events would be sent again, and fail again, forever).
        Narrowing(records, result).run(0, records.size());
        if (result.unrecorded.empty())
            ereport(LOG, (errmsg("pg_eventhooks: a delivery round failed (%s); its %zu results "
                                 "were recorded in smaller transactions",
                                 failure.message.c_str(), records.size())));
        return result;
    }
    memcpy(cursor.data(), position.data, UUID_LEN);
    if (raw.cursor_reset) {
        trigger_cursors.clear();
    } else {
        std::vector<TriggerCursor> kept;
        for (size_t i = 0; i < cursors; i++) {
            if (cursor_done[i]) continue;
            memcpy(trigger_cursors[i].after.data(), cursor_after[i].data, UUID_LEN);
            kept.push_back(std::move(trigger_cursors[i]));
        }
        trigger_cursors = std::move(kept);
    }
    // Paused triggers: the round's claim passed their events by from where it started (a new
    // event_log: from its beginning); a cursor keeps their place, as for an excluded webhook,
    // until they are resumed.
    for (int i = 0; i < paused_count; i++) {
        bool has_cursor = false;
        for (const auto &tc : trigger_cursors)
            has_cursor = has_cursor || tc.trigger_name == paused_names[i];
        if (has_cursor) continue;
        TriggerCursor tc{paused_names[i], {}};
        if (!raw.cursor_reset) memcpy(tc.after.data(), position_at_start.data, UUID_LEN);
        trigger_cursors.push_back(std::move(tc));
    }
    result.paused_changed = raw.paused_changed;
    // Committed: a worker started after this one may skip what this round settled.
    if (raw.extension_present) {
        publish_resume_point(MyDatabaseId, raw.relid, raw.resume_from);
        last_published = raw.resume_from;
    }
    if (raw.extension_present && keep_point) {
        // In its own transaction: a failure to keep it costs a longer scan at the next
        // server start, never a round.
        pg_uuid_t point = raw.resume_from;
        if (uuid_less(in_progress_bound, point)) point = in_progress_bound;
        Oid relid = raw.relid;
        Failure kept_failure;
        if (in_transaction(
                [&]() {
                    begin_transaction("pg_eventhooks: keep the resume point");
                    if (lock_extension() && event_log_relid() == relid)
                        persist_resume_point(relid, point);
                    end_transaction();
                },
                &kept_failure)) {
            kept_any = true;
            last_kept_resume = raw.resume_from;
            last_kept_point = point;
        }
        // Failed or not, the next try comes an interval later.
        last_kept_at = round_start;
        keep_asked = false;
        if (!kept_failure.message.empty() &&
            round_start - last_kept_failure_logged_at >= 600 * USECS_PER_SEC) {
            last_kept_failure_logged_at = round_start;
            ereport(LOG, (errmsg("pg_eventhooks: keeping the worker's resume point failed: %s",
                                 kept_failure.message.c_str())));
        }
    }
    // A point that moved since it was last kept: the worker comes back for it even when idle,
    // so that a burst followed by silence does not leave the kept point before the burst.
    int64 since = GetCurrentTimestamp() - last_kept_at;
    if (raw.extension_present && (!keep_asked || since > 2 * kKeepPointIntervalUs) &&
        (!kept_any || memcmp(&last_kept_resume, &raw.resume_from, UUID_LEN) != 0)) {
        keep_asked = true;
        result.keep_point_in_ms = since < 0 || since >= kKeepPointIntervalUs
                                      ? 0
                                      : (kKeepPointIntervalUs - since) / 1000 + 1;
    }

    result.extension_present = raw.extension_present;
    result.event_log_replaced = raw.cursor_reset;
    result.more_due = raw.more_due;
    result.counts_refreshed = raw.counted;
    result.count_cost_us = raw.count_cost_us;
    result.requeued = static_cast<int>(raw.requeued);
    result.recorded = static_cast<int>(records.size());
    if (raw.counted) result.counts = {raw.counts[0], raw.counts[1], raw.counts[2]};
    result.next_retry_in_ms = raw.next_retry_in_ms;
    result.timed_checked = raw.timed_checked;
    result.timed_check_skipped = claim_limit > 0 && check_timed && !raw.timed_checked;
    result.timed_more_due = raw.timed_more_due;
    result.timed_next_due_in_ms = raw.timed_next_due_ms;
    result.claimed.reserve(raw.rows);
    for (uint64 row = 0; row < raw.rows; row++) {
        ClaimedEvent e;
        e.id = cell(raw, row, 0);
        e.trigger_name = cell(raw, row, 1);
        e.schema_name = cell(raw, row, 2);
        e.table_name = cell(raw, row, 3);
        e.payload = cell(raw, row, 4);
        e.created_at = cell(raw, row, 5);
        // NOLINTNEXTLINE(cert-err34-c): the text of our own integer column, never malformed
        e.tries = std::atoi(cell(raw, row, 6).c_str());
        e.trigger_exists = cell(raw, row, 7) == "t";
        e.webhook = cell(raw, row, 8);
        e.webhook_from_env = cell(raw, row, 9);
        e.headers = cell(raw, row, 10);
        e.retry_conf = cell(raw, row, 11);
        e.row_version = cell(raw, row, 12);
        e.signing = cell(raw, row, 13);
        // NOLINTNEXTLINE(cert-err34-c): the text of a constant of our own statements
        e.source = static_cast<SourceKind>(std::atoi(cell(raw, row, kSourceColumn).c_str()));
        e.queue_key = cell(raw, row, kQueueKeyColumn);
        if (e.queue_key.empty()) e.queue_key = e.trigger_name;
        result.claimed.push_back(std::move(e));
    }
    return result;
}

void resume_cursor(EventCursor &cursor) {
    // Once per worker, where an ERROR unwinds nothing: later rounds only reset the context.
    call_postgres([]() {
        (void)round_context();
        CacheRegisterRelcacheCallback(note_relcache_invalidation, (Datum)0);
    });
    Oid relid;
    pg_uuid_t from;
    if (!read_resume_point(MyDatabaseId, &relid, &from)) {
        // None in shared memory: the server (re)started. The point kept in the table, if any
        // (resume_point.cpp); without one, or if it cannot be read, from the beginning.
        bool found = false;
        Failure failure;
        bool read = in_transaction(
            [&]() {
                begin_transaction("pg_eventhooks: read the kept resume point");
                if (lock_extension()) {
                    relid = event_log_relid();
                    found = OidIsValid(relid) && read_persisted_resume_point(relid, &from);
                }
                end_transaction();
            },
            &failure);
        if (!read)
            ereport(LOG, (errmsg("pg_eventhooks: reading the worker's kept resume point failed, "
                                 "starting from the first event: %s",
                                 failure.message.c_str())));
        if (!read || !found) return;
    }
    memcpy(cursor.data(), from.data, UUID_LEN);
    cursor_relid = relid;  // a different event_log (extension re-created) starts from zero
}

bool take_cron_configuration_change() {
    bool changed = cron_configuration_changed;
    cron_configuration_changed = false;
    return changed;
}

std::string prepare_timed_sources() {
    std::string failures;
    for (const TimedSource *source : timed_sources()) {
        if (source->prepare == nullptr) continue;
        Failure failure;
        char *problems = nullptr;  // in TopMemoryContext: outlives the transaction
        bool done = in_transaction(
            [&]() {
                begin_transaction("pg_eventhooks: plan timed events");
                char *found = lock_extension() ? source->prepare() : nullptr;
                if (found != nullptr) problems = MemoryContextStrdup(TopMemoryContext, found);
                end_transaction();
            },
            &failure);
        std::string problem = done ? "" : failure.message;
        if (problems != nullptr) {
            problem = problems;
            call_postgres([problems]() { pfree(problems); });
        }
        if (problem.empty()) continue;
        if (!failures.empty()) failures += "; ";
        failures += problem;
    }
    return failures;
}

bool take_configuration_change() {
    bool changed = configuration_changed;
    configuration_changed = false;
    return changed;
}

void give_back(std::vector<TriggerCursor> &trigger_cursors, const ClaimedEvent &event) {
    if (event.source != SourceKind::EventTrigger) return;
    const std::string &trigger_name = event.trigger_name;
    pg_uuid_t id{};
    int nibbles = 0;
    for (char c : event.id) {
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0 || nibbles >= 2 * UUID_LEN) continue;  // dashes
        id.data[nibbles / 2] = static_cast<unsigned char>(id.data[nibbles / 2] << 4 | v);
        nibbles++;
    }
    pg_uuid_t before = uuid_before(id);
    for (auto &tc : trigger_cursors) {
        if (tc.trigger_name != trigger_name) continue;
        if (memcmp(before.data, tc.after.data(), UUID_LEN) < 0)
            memcpy(tc.after.data(), before.data, UUID_LEN);
        return;
    }
    TriggerCursor cursor{trigger_name, {}};
    memcpy(cursor.after.data(), before.data, UUID_LEN);
    trigger_cursors.push_back(std::move(cursor));
}

}  // namespace eventhooks::pg
