// The resume point kept in eventhooks.worker_resume_point (see resume_point.hpp).
//
// What must hold: no committed event is ever lost. After a server restart the worker scans
// event_log's primary key from the kept point P on (exclusive), so every event that is pending
// without a next_retry_at (those with one are claimed through event_log_retry, wherever they
// lie) and has an id at or below P must be one the worker will not need to find by the scan.
// The round computes P as min(R, L), and keeps it at most every few seconds (delivery_queue.cpp):
//  - R, the resume point it publishes in shared memory: the cursor after the round, lowered
//    below every event in flight and to every per-trigger cursor not caught up (a paused
//    trigger, or a webhook that had no room: their events wait behind their own cursors), and
//    to every rescan hint taken before the round's snapshot. Nothing pending without a
//    next_retry_at lies at or below R in what the round could see, except events in flight.
//  - What the round could not see: a transaction T that committed events below R after the
//    round's snapshot, or before it but whose rescan hint (commit_wakeup.cpp, set in shared
//    memory at commit) was not yet taken by the round. A crash loses that hint. L covers T:
//    L is computed BEFORE the round takes its hint (step 1), from the backend status array:
//    the earliest xact_start of the backends of this database that are in a transaction. T
//    leaves its hint in its commit callback, and clears its xact_start only after that callback
//    (CommitTransaction: ProcArrayEndTransaction, XACT_EVENT_COMMIT callbacks, then
//    pgstat_report_xact_timestamp(0)). So a T whose hint the round did not take was, at step 1,
//    either in a transaction (its xact_start counts in L) or not yet started (its transaction
//    starts after step 1, so after the clock time L is taken from). Its events' ids come from
//    clock_timestamp() after its xact_start: they are at or above L, above P. The clock margin
//    covers a clock stepped back by up to that much between a writer's start and its writes
//    (while running, the rescan hint covers any step). Every backend in a transaction counts,
//    with an xid or not (a read-only one may write later; filtering on the xid would race with
//    a commit that clears it before its hint is set): a long read-only transaction only holds
//    the point back. A backend with track_activities off reports no xact_start: while one is
//    connected to the database, no point is kept. PREPARE TRANSACTION with events is refused
//    (commit_wakeup.cpp): no prepared transaction commits events later without a hint.
//  - Later transactions write ids above P (their start is later), and events made pending
//    again by SQL or retried get a next_retry_at; so a point that was safe when kept stays
//    safe: an older kept point (a crash before the next one is kept) is just more to scan.
// Where the point applies:
//  - A server restart, or a crash: shared memory is empty, the worker reads the table.
//  - Failover: the table is replicated with everything else; a promoted standby (same system
//    identifier, same event_log oid) reads the primary's last kept point, safe as above for
//    every transaction the standby had received (what it had not is not committed there).
//  - Logical replication copies rows of other servers (a FOR ALL TABLES publication): the key
//    is the system identifier, so another server's row neither applies here nor conflicts
//    with this server's.
//  - DROP and CREATE EXTENSION: the table goes with the extension; the point also names the
//    event_log it was taken in (event_log_relid), and applies to no other.
//  - pg_dump: the table is no configuration table (no pg_extension_config_dump): a restore
//    starts with no point, from the beginning (restored pending events come with a
//    next_retry_at anyway).
//  - A 0.2.0 schema (library updated, ALTER EXTENSION ... UPDATE not run): no table, no point
//    kept or read; the worker starts from the beginning as before.
#include "pg/delivery/resume_point.hpp"

extern "C" {
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

#include "pg/delivery/uuid_order.hpp"

namespace eventhooks::pg {

namespace {

// A clock stepped back by more than this between a transaction's start and its writes, with a
// crash before the worker took that transaction's hint, could lose its events after the
// restart. A start scans again the events of this much time before the point (with 10 s, a
// drain of 20,000 events just before a restart was read again: bench/history.sh).
constexpr int64 kClockMarginUs = 2 * USECS_PER_SEC;

// The lowest UUIDv7 event id of a time (eventhooks.first_event_id_at, in C).
pg_uuid_t first_event_id_at(TimestampTz at) {
    int64 unix_us = at + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
    if (unix_us < 0) unix_us = 0;
    uint64 ms = static_cast<uint64>(unix_us / 1000);
    uint32 fraction = static_cast<uint32>((unix_us % 1000) * 4096 / 1000);
    pg_uuid_t id{};
    for (int i = 0; i < 6; i++) id.data[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
    id.data[6] = static_cast<unsigned char>(0x70 | (fraction >> 8));
    id.data[7] = static_cast<unsigned char>(fraction & 0xff);
    return id;
}

Oid resume_point_relid() {
    Oid schema = get_namespace_oid("eventhooks", true);
    return OidIsValid(schema) ? get_relname_relid("worker_resume_point", schema) : InvalidOid;
}

}  // namespace

bool lowest_id_in_progress(pg_uuid_t *bound) {
    // Now, read before the status array: a transaction not in it started after this.
    TimestampTz oldest = GetCurrentTimestamp();
    bool known = true;
    pgstat_clear_backend_activity_snapshot();  // a fresh copy, not one cached earlier
    int backends = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= backends; i++) {
        LocalPgBackendStatus *entry = pgstat_fetch_stat_local_beentry(i);
        if (entry == nullptr) continue;
        const PgBackendStatus &status = entry->backendStatus;
        if (status.st_databaseid != MyDatabaseId || status.st_procpid == MyProcPid) continue;
        // track_activities off in that backend: its transaction start is not reported.
        if (status.st_state == STATE_DISABLED) known = false;
        TimestampTz started = status.st_xact_start_timestamp;
        if (started != 0 && started < oldest) oldest = started;
    }
    pgstat_clear_backend_activity_snapshot();
    *bound = first_event_id_at(oldest - kClockMarginUs);
    return known;
}

bool read_persisted_resume_point(Oid event_log_relid, pg_uuid_t *from) {
    if (!OidIsValid(resume_point_relid())) return false;
    Oid types[2] = {INT8OID, OIDOID};
    Datum values[2] = {Int64GetDatum(static_cast<int64>(GetSystemIdentifier())),
                       ObjectIdGetDatum(event_log_relid)};
    if (SPI_execute_with_args("SELECT resume_from FROM eventhooks.worker_resume_point "
                              "WHERE system_identifier = $1 AND event_log_relid = $2",
                              2, types, values, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "pg_eventhooks: reading the kept resume point failed");
    if (SPI_processed != 1) return false;
    bool isnull;
    Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (isnull) return false;
    *from = *DatumGetUUIDP(value);
    return true;
}

void persist_resume_point(Oid event_log_relid, const pg_uuid_t &from) {
    if (!OidIsValid(resume_point_relid())) return;
    auto *id = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    *id = from;
    Oid types[3] = {INT8OID, OIDOID, UUIDOID};
    Datum values[3] = {Int64GetDatum(static_cast<int64>(GetSystemIdentifier())),
                       ObjectIdGetDatum(event_log_relid), UUIDPGetDatum(id)};
    if (SPI_execute_with_args(
            "INSERT INTO eventhooks.worker_resume_point AS p "
            "  (system_identifier, event_log_relid, resume_from, saved_at) "
            "VALUES ($1, $2, $3, pg_catalog.now()) "
            "ON CONFLICT (system_identifier) DO UPDATE SET "
            "  event_log_relid = excluded.event_log_relid, resume_from = excluded.resume_from, "
            "  saved_at = excluded.saved_at",
            3, types, values, nullptr, false, 0) != SPI_OK_INSERT)
        elog(ERROR, "pg_eventhooks: keeping the resume point failed");
}

}  // namespace eventhooks::pg
