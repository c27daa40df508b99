// Writes the delivery worker's per trigger, per minute figures (see stats_flush.hpp).
#include "pg/delivery/stats_flush.hpp"

#include <nlohmann/json.hpp>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

#include "pg/pg_guard.hpp"

namespace eventhooks::pg {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kFlushInterval = std::chrono::milliseconds(1000);
constexpr auto kCleanupInterval = std::chrono::minutes(10);
constexpr auto kWarningInterval = std::chrono::minutes(1);

double unix_ms_now() {
    return std::chrono::duration<double, std::milli>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Adds one flush's figures to the row of each (trigger, minute): a worker that restarts within
// a minute adds to what its predecessor wrote.
constexpr const char *kUpsertSql = R"SQL(
INSERT INTO eventhooks.trigger_delivery_stats AS s
    (trigger_name, minute, delivered, failed, latency, last_error, last_error_at)
SELECT u.trigger_name, pg_catalog.to_timestamp(u.minute), u.delivered, u.failed, u.latency,
       u.last_error,
       CASE WHEN u.last_error IS NOT NULL
            THEN pg_catalog.to_timestamp(u.last_error_at::float8 / 1000000) END
FROM pg_catalog.jsonb_to_recordset($1) AS u(trigger_name text, minute bigint, delivered bigint,
     failed bigint, latency jsonb, last_error text, last_error_at bigint)
ON CONFLICT (trigger_name, minute) DO UPDATE SET
    delivered = s.delivered + excluded.delivered,
    failed = s.failed + excluded.failed,
    latency = eventhooks._merge_latency(s.latency, excluded.latency),
    last_error = coalesce(excluded.last_error, s.last_error),
    last_error_at = coalesce(excluded.last_error_at, s.last_error_at)
)SQL";

constexpr const char *kCleanupSql =
    "DELETE FROM eventhooks.trigger_delivery_stats "
    "WHERE minute < pg_catalog.now() - interval '1 day'";

// In the caller's transaction: does the table exist (0.3.0), under a lock on the extension
// against a concurrent DROP EXTENSION (as the rounds take it, delivery_queue.cpp)?
bool stats_table_present() {
    Oid extension = get_extension_oid("pg_eventhooks", true);
    if (!OidIsValid(extension)) return false;
    LockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
    Oid schema = get_namespace_oid("eventhooks", true);
    return OidIsValid(schema) && OidIsValid(get_relname_relid("trigger_delivery_stats", schema));
}

// One transaction: upserts the rows of `rows_json` (and deletes old rows, with `cleanup`).
// Called through call_postgres: holds no C++ object.
void write_figures(const char *rows_json, bool cleanup) {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "pg_eventhooks: writing delivery figures");
    if (stats_table_present()) {
        Oid types[1] = {JSONBOID};
        Datum values[1] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(rows_json))};
        if (SPI_execute_with_args(kUpsertSql, 1, types, values, nullptr, false, 0) !=
            SPI_OK_INSERT)
            elog(ERROR, "pg_eventhooks: writing delivery figures failed");
        if (cleanup && SPI_execute(kCleanupSql, false, 0) != SPI_OK_DELETE)
            elog(ERROR, "pg_eventhooks: deleting old delivery figures failed");
    }
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
}

}  // namespace

void DeliveryStatsWriter::delivered(const std::string &trigger_name, const std::string &event_id) {
    stats_.delivered(trigger_name, event_id, unix_ms_now());
}

void DeliveryStatsWriter::failed(const std::string &trigger_name, const std::string &error) {
    stats_.failed(trigger_name, error, unix_ms_now());
}

void DeliveryStatsWriter::flush_if_due(bool force) {
    auto now = Clock::now();
    bool cleanup = now >= next_cleanup_;  // also when idle: old rows go within 10 minutes
    if ((stats_.empty() && !cleanup) || (!force && now < next_flush_)) return;
    next_flush_ = now + kFlushInterval;
    if (cleanup) next_cleanup_ = now + kCleanupInterval;

    nlohmann::json rows = nlohmann::json::array();
    for (auto &m : stats_.take()) {
        nlohmann::json latency = nlohmann::json::object();
        for (const auto &[bucket, count] : m.latency) latency[std::to_string(bucket)] = count;
        nlohmann::json row = {{"trigger_name", m.trigger_name}, {"minute", m.minute},
                              {"delivered", m.delivered},        {"failed", m.failed},
                              {"latency", std::move(latency)},   {"last_error", nullptr},
                              {"last_error_at", m.last_error_at}};
        if (!m.last_error.empty()) row["last_error"] = m.last_error;
        rows.push_back(std::move(row));
    }
    std::string text = rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const char *text_ptr = text.c_str();

    try {
        call_postgres([text_ptr, cleanup]() { write_figures(text_ptr, cleanup); });
    } catch (const PgError &e) {
        std::string message = e.what();
        ErrorData *edata = e.edata();
        call_postgres([edata]() {
            FreeErrorData(edata);
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
        if (now >= next_warning_) {
            next_warning_ = now + kWarningInterval;
            ereport(WARNING,
                    (errmsg("pg_eventhooks: could not write delivery figures: %s",
                            message.c_str()),
                     errdetail("trigger_stats misses them; deliveries are not affected.")));
        }
    }
}

}  // namespace eventhooks::pg
