// SQL of the delivery worker (see delivery_queue.hpp). The Postgres work runs in plain C-style
// code inside call_postgres(); results are copied into C++ objects only after it returned.
#include <nlohmann/json.hpp>

#include "pg/delivery_queue.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "pg/pg_guard.hpp"

namespace eventhooks::pg {

namespace {

constexpr int kClaimColumns = 12;

const char *const kRecordSql =
    "WITH r AS ("
    "  SELECT * FROM pg_catalog.jsonb_to_recordset($1) AS r(id uuid, trigger_name text, "
    "    archive bool, delivered bool, error bool, tries int, retry_in_ms bigint, status int, "
    "    request jsonb, response jsonb)), "
    "u AS ("
    "  UPDATE eventhooks.event_log e SET delivered = r.delivered, error = r.error, "
    "    tries = CASE WHEN r.archive THEN e.tries ELSE r.tries END, "
    "    archived = e.archived OR r.archive, locked = NULL, "
    "    next_retry_at = CASE WHEN r.retry_in_ms IS NULL OR r.retry_in_ms < 0 THEN NULL "
    "      ELSE pg_catalog.clock_timestamp() + r.retry_in_ms * interval '1 millisecond' END "
    "  FROM r WHERE e.id = r.id) "
    "INSERT INTO eventhooks.event_invocation_logs (event_id, trigger_name, status, request, "
    "response) "
    "SELECT id, trigger_name, NULLIF(status, 0), request, response FROM r WHERE NOT r.archive";

// Claiming writes nothing: one worker serves a database, and it keeps the events it has in
// flight in memory and passes them here ($3) to be skipped. A claim thus costs no WAL and no
// commit flush before the request goes out, and a crashed worker leaves nothing locked: its
// successor simply finds those events pending and sends them again (at-least-once).
const char *const kClaimSql =
    "SELECT e.id::text, e.trigger_name, e.schema_name, e.table_name, e.payload::text, "
    "  to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), e.tries, "
    "  t.name IS NOT NULL, t.webhook, t.webhook_from_env, t.headers::text, t.retry_conf::text "
    "FROM eventhooks.event_log e LEFT JOIN eventhooks.event_triggers t ON t.name = e.trigger_name "
    "WHERE NOT e.delivered AND NOT e.error AND NOT e.archived "
    "  AND (e.next_retry_at IS NULL OR e.next_retry_at <= now()) "
    "  AND e.trigger_name <> ALL ($2) AND e.id <> ALL ($3::uuid[]) "
    "ORDER BY e.id LIMIT $1";

const char *const kCountSql =
    "SELECT count(*), "
    "  count(*) FILTER (WHERE next_retry_at IS NULL OR next_retry_at <= now()), "
    "  (extract(epoch FROM min(next_retry_at) FILTER (WHERE next_retry_at > now()) "
    "     - pg_catalog.clock_timestamp()) * 1000)::bigint "
    "FROM eventhooks.event_log WHERE NOT delivered AND NOT error AND NOT archived";

// What the C-style transaction hands back: claimed rows as C strings, in `context`.
struct RawRound {
    bool extension_present;
    uint64 rows;
    char **cells;  // rows * kClaimColumns, NULL for SQL NULL
    bool counted;
    int64 counts[3];
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
SPIPlanPtr count_plan = nullptr;

Datum text_array(int count, const char *const *items) {
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
    for (int i = 0; i < count; i++) values[i] = CStringGetTextDatum(items[i]);
    return PointerGetDatum(construct_array(values, count, TEXTOID, -1, false, TYPALIGN_INT));
}

void run_round_in_transaction(const char *records_json, int claim_limit, int excluded_count,
                              const char *const *excluded, int in_flight_count,
                              const char *const *in_flight, bool refresh_counts,
                              MemoryContext context, RawRound *out) {
    begin_transaction("pg_eventhooks: record results and claim events");
    out->extension_present = lock_extension();
    if (!out->extension_present) {
        end_transaction();
        return;
    }
    if (records_json != nullptr) {
        Oid types[1] = {JSONBOID};
        Datum values[1] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(records_json))};
        if (SPI_execute_plan(prepared_plan(&record_plan, kRecordSql, 1, types), values, nullptr,
                             false, 0) < 0)
            elog(ERROR, "pg_eventhooks: recording delivery results failed");
    }
    if (claim_limit > 0) {
        Oid types[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
        Datum values[3] = {Int32GetDatum(claim_limit), text_array(excluded_count, excluded),
                           text_array(in_flight_count, in_flight)};
        if (SPI_execute_plan(prepared_plan(&claim_plan, kClaimSql, 3, types, CURSOR_OPT_CUSTOM_PLAN), values, nullptr,
                             false, 0) < 0)
            elog(ERROR, "pg_eventhooks: claiming events failed");
        out->rows = SPI_processed;
        out->cells = static_cast<char **>(
            MemoryContextAllocZero(context, sizeof(char *) * kClaimColumns * (SPI_processed + 1)));
        for (uint64 row = 0; row < SPI_processed; row++) {
            for (int col = 0; col < kClaimColumns; col++) {
                char *value = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col + 1);
                out->cells[row * kClaimColumns + col] =
                    value ? MemoryContextStrdup(context, value) : nullptr;
            }
        }
    }
    if (refresh_counts) {
        if (SPI_execute_plan(prepared_plan(&count_plan, kCountSql, 0, nullptr), nullptr, nullptr,
                             true, 1) != SPI_OK_SELECT ||
            SPI_processed != 1)
            elog(ERROR, "pg_eventhooks: counting events failed");
        bool isnull;
        for (int i = 0; i < 3; i++) out->counts[i] = int8_cell(i + 1, &isnull);
        out->counted = true;
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

}  // namespace

RoundResult run_round(const std::vector<AttemptRecord> &records, int claim_limit,
                      const std::vector<std::string> &excluded_triggers,
                      const std::vector<std::string> &in_flight_ids, bool refresh_counts) {
    std::string records_json;
    if (!records.empty()) {
        records_json.reserve(records.size() * 1024);
        records_json += '[';
        for (const auto &r : records) {
            if (records_json.size() > 1) records_json += ',';
            records_json += "{\"id\":\"" + r.event_id +
                            "\",\"trigger_name\":" + nlohmann::json(r.trigger_name).dump() +
                            ",\"archive\":" + (r.archive ? "true" : "false") +
                            ",\"delivered\":" + (r.delivered ? "true" : "false") +
                            ",\"error\":" + (r.error ? "true" : "false") +
                            ",\"tries\":" + std::to_string(r.tries) +
                            ",\"retry_in_ms\":" + std::to_string(r.retry_in_ms) +
                            ",\"status\":" + std::to_string(r.status) +
                            ",\"request\":" + (r.request.empty() ? "null" : r.request) +
                            ",\"response\":" + (r.response.empty() ? "null" : r.response) + "}";
        }
        records_json += ']';
    }
    std::vector<const char *> excluded;
    for (const auto &name : excluded_triggers) excluded.push_back(name.c_str());
    std::vector<const char *> in_flight;
    for (const auto &id : in_flight_ids) in_flight.push_back(id.c_str());

    MemoryContext context = round_context();
    MemoryContextReset(context);
    RawRound raw = {true, 0, nullptr, false, {-1, -1, -1}};
    const char *records_arg = records.empty() ? nullptr : records_json.c_str();
    const char *const *excluded_arg = excluded.data();
    int excluded_count = static_cast<int>(excluded.size());
    const char *const *in_flight_arg = in_flight.data();
    int in_flight_count = static_cast<int>(in_flight.size());
    call_postgres([&]() {
        run_round_in_transaction(records_arg, claim_limit, excluded_count, excluded_arg,
                                 in_flight_count, in_flight_arg, refresh_counts, context, &raw);
    });

    RoundResult result;
    result.extension_present = raw.extension_present;
    result.counts_refreshed = raw.counted;
    if (raw.counted) result.counts = {raw.counts[0], raw.counts[1], raw.counts[2]};
    result.claimed.reserve(raw.rows);
    for (uint64 row = 0; row < raw.rows; row++) {
        ClaimedEvent e;
        e.id = cell(raw, row, 0);
        e.trigger_name = cell(raw, row, 1);
        e.schema_name = cell(raw, row, 2);
        e.table_name = cell(raw, row, 3);
        e.payload = cell(raw, row, 4);
        e.created_at = cell(raw, row, 5);
        e.tries = std::atoi(cell(raw, row, 6).c_str());
        e.trigger_exists = cell(raw, row, 7) == "t";
        e.webhook = cell(raw, row, 8);
        e.webhook_from_env = cell(raw, row, 9);
        e.headers = cell(raw, row, 10);
        e.retry_conf = cell(raw, row, 11);
        result.claimed.push_back(std::move(e));
    }
    return result;
}

}  // namespace eventhooks::pg
