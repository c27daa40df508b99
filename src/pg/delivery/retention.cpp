// See retention.hpp. The rule of what goes is eventhooks._cleanup_event_logs_batch (the 0.3.0
// upgrade script), shared with eventhooks.cleanup_event_logs; this file only paces it.
#include "pg/delivery/retention.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
}

#include "pg/extension_catalog.hpp"
#include "pg/guc.hpp"
#include "pg/pg_guard.hpp"

namespace eventhooks::pg {

namespace {

using std::chrono::milliseconds;

// Ids read per batch: a batch is a few milliseconds, its row locks held only that long.
constexpr int kBatchSize = 1000;
// The first pass after the worker starts (or sooner if the interval is shorter).
constexpr auto kFirstPassDelay = milliseconds(60 * 1000);
// While events wait to be claimed, one batch at most this often.
constexpr auto kBusySpacing = milliseconds(100);
const char *const kSources[] = {"event_log", "cron_events", "scheduled_events"};
constexpr int kSourceCount = 3;

// 0.2.0's schema has no batch function (before ALTER EXTENSION ... UPDATE): no pass then.
const char *const kBatchFunctionSql =
    "SELECT pg_catalog.to_regprocedure('eventhooks._cleanup_event_logs_batch("
    "text, timestamptz, boolean, uuid, integer)') IS NOT NULL, "
    "pg_catalog.now() - $1::pg_catalog.interval";
// Settled events: delivered or archived (include_failed false: failed ones stay for operators).
const char *const kBatchSql =
    "SELECT removed, scanned, last_id::text FROM eventhooks._cleanup_event_logs_batch("
    "$1, $2, false, $3::uuid, $4)";

milliseconds check_interval() { return milliseconds(guc_retention_check_interval_ms); }

bool retention_set() {
    if (guc_retention == nullptr) return false;
    for (const char *p = guc_retention; *p != '\0'; p++)
        if (*p != ' ') return true;
    return false;
}

// Runs `body` in its own transaction (SPI connected, a snapshot pushed). After a Postgres
// error, aborts it and returns the message; "" when it committed.
template <typename F>
std::string in_transaction(const char *activity, F &&body) {
    try {
        call_postgres([&]() {
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            SPI_connect();
            PushActiveSnapshot(GetTransactionSnapshot());
            pgstat_report_activity(STATE_RUNNING, activity);
            body();
            SPI_finish();
            PopActiveSnapshot();
            CommitTransactionCommand();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
        return "";
    } catch (const PgError &e) {
        std::string message = e.what();
        ErrorData *edata = e.edata();
        call_postgres([edata]() {
            FreeErrorData(edata);
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
        return message;
    }
}

}  // namespace

bool RetentionPass::due(Clock::time_point now) const {
    auto interval = check_interval();
    if (passes_ == 0) return now >= started_ + std::min<Clock::duration>(kFirstPassDelay, interval);
    return now >= last_pass_ + interval;
}

void RetentionPass::step(bool busy) {
    auto now = Clock::now();
    if (!retention_set()) {  // unset by a reload: a pass under way stops too
        active_ = false;
        return;
    }
    if (!active_) {
        if (!due(now)) return;
        begin_pass(now);
        return;
    }
    if (busy && now < last_batch_ + kBusySpacing) return;
    run_batch(now);
}

long RetentionPass::wait_ms(bool busy) const {
    if (!active_) return LONG_MAX;
    if (!busy) return 0;
    auto left = last_batch_ + kBusySpacing - Clock::now();
    return std::max<long>(0, std::chrono::duration_cast<milliseconds>(left).count() + 1);
}

void RetentionPass::begin_pass(Clock::time_point now) {
    bool present = false;
    TimestampTz cutoff = 0;
    const char *retention = guc_retention;
    std::string failure = in_transaction("pg_eventhooks retention", [&]() {
        Oid types[1] = {TEXTOID};
        Datum values[1] = {CStringGetTextDatum(retention)};
        SPI_execute_with_args(kBatchFunctionSql, 1, types, values, nullptr, true, 1);
        if (SPI_processed == 1) {
            bool isnull = false;
            present = DatumGetBool(
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
            cutoff = DatumGetTimestampTz(
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
        }
    });
    if (!failure.empty()) {
        fail("could not start the retention pass", failure, now);
        return;
    }
    if (!present) {  // 0.2.0's schema: nothing to do until the update
        end_pass(now);
        return;
    }
    active_ = true;
    source_ = 0;
    after_.clear();
    cutoff_ = cutoff;
    removed_ = 0;
}

void RetentionPass::run_batch(Clock::time_point now) {
    last_batch_ = now;
    int64 removed = 0;
    int32 scanned = 0;
    char last_id[UUID_LEN * 2 + 8] = "";
    const char *source = kSources[source_];
    const char *after = after_.empty() ? nullptr : after_.c_str();
    TimestampTz cutoff = cutoff_;
    std::string failure = in_transaction("pg_eventhooks retention", [&]() {
        Oid types[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, INT4OID};
        Datum values[4] = {CStringGetTextDatum(source), TimestampTzGetDatum(cutoff),
                           after ? CStringGetTextDatum(after) : (Datum)0,
                           Int32GetDatum(kBatchSize)};
        char nulls[5] = {' ', ' ', after ? ' ' : 'n', ' ', '\0'};
        spi_execute_as_owner(kBatchSql, 4, types, values, nulls, false, 1);
        if (SPI_processed == 1) {
            bool isnull = false;
            HeapTuple row = SPI_tuptable->vals[0];
            TupleDesc desc = SPI_tuptable->tupdesc;
            removed = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
            scanned = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));
            char *id = SPI_getvalue(row, desc, 3);
            if (id != nullptr) strlcpy(last_id, id, sizeof last_id);
        }
    });
    if (!failure.empty()) {
        fail("retention pass failed", failure, now);
        return;
    }
    removed_ += removed;
    if (scanned >= kBatchSize && last_id[0] != '\0') {
        after_ = last_id;
        return;
    }
    after_.clear();
    if (++source_ < kSourceCount) return;
    if (removed_ > 0)
        ereport(LOG, (errmsg("pg_eventhooks: retention removed %lld events older than %s",
                             static_cast<long long>(removed_), guc_retention)));
    end_pass(now);
}

void RetentionPass::end_pass(Clock::time_point now) {
    active_ = false;
    passes_++;
    last_pass_ = now;
}

// Like the worker's other failures: a WARNING in the server log and worker_status.last_error;
// the pass ends and the next comes after the interval.
void RetentionPass::fail(const char *what, const std::string &message, Clock::time_point now) {
    ereport(WARNING, (errmsg("pg_eventhooks: %s: %s", what, message.c_str()),
                      errdetail("The delivery worker tries again in %ld s.",
                                static_cast<long>(check_interval().count() / 1000))));
    std::string text = std::string("delivery worker: ") + what + ": " + message;
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    strlcpy(slot_->last_error, text.c_str(), kLastErrorLength);
    slot_->last_error_at = GetCurrentTimestamp();
    SpinLockRelease(&state->mutex);
    end_pass(now);
}

}  // namespace eventhooks::pg
