// SQL pieces shared by the timed sources' statements (cron_source.cpp, scheduled_source.cpp):
// what is due, in the index order of their *_due indexes, and how its results are unpacked.
#pragma once

// Due at: the time of the next attempt. The expression of the partial indexes cron_events_due
// and scheduled_events_due (WHERE status = 'scheduled'), written the same way so they serve.
#define EVENTHOOKS_DUE_AT "coalesce(e.next_retry_at, e.scheduled_time)"

// scheduled_time as Hasura writes it: ISO-8601 in UTC, fractional seconds only if any.
#define EVENTHOOKS_SCHEDULED_TIME_JSON                                                       \
    "rtrim(rtrim(to_char(e.scheduled_time AT TIME ZONE 'UTC', "                            \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '0'), '.') || 'Z'"

// An event never attempted whose time is more than retry_conf.tolerance_sec (default 21600)
// ago: it is marked dead, not sent. Compared in seconds, never as an interval: a hand-edited
// value (1e300, a string) must not fail the round, which would stop every source's delivery;
// one that is not a number counts as the default. (scheduled_time is finite: CHECK.)
#define EVENTHOOKS_TOO_LATE(conf)                                                           \
    "(e.tries = 0 AND extract(epoch FROM now() - e.scheduled_time) > "                    \
    "(CASE WHEN jsonb_typeof(" conf " -> 'tolerance_sec') = 'number' "                     \
    "THEN (" conf " ->> 'tolerance_sec')::float8 ELSE 21600 END))"

// The attempts of a round (the arrays of delivery_queue.cpp's kRecordSql) as rows r.
#define EVENTHOOKS_RECORDS_CTE                                                               \
    "r AS ("                                                                                 \
    "  SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::bool[], $5::bool[], "    \
    "    $6::int[], $7::int8[], $8::int[], $9::text[], $10::text[], $11::text[]) "           \
    "  AS r(id, log_name, archive, delivered, error, tries, retry_in_ms, status, request, "  \
    "    response, row_version)) "

// The settlement of one attempt: delivered, failed for good, or due again after retry_in_ms.
// Only if the row is still the version the claim read and still pending (not deleted, not
// settled by hand during the attempt).
#define EVENTHOOKS_SETTLE(table)                                                             \
    "UPDATE " table " e SET "                                                              \
    "  status = CASE WHEN r.delivered THEN 'delivered' WHEN r.error THEN 'error' "         \
    "    ELSE 'scheduled' END, "                                                            \
    "  tries = r.tries, "                                                                   \
    "  next_retry_at = CASE WHEN r.retry_in_ms IS NULL OR r.retry_in_ms < 0 THEN NULL "     \
    "    ELSE pg_catalog.clock_timestamp() + r.retry_in_ms * interval '1 millisecond' END " \
    "FROM r WHERE e.id = r.id AND e.status = 'scheduled' "                                 \
    "  AND (r.row_version IS NULL OR e.xmin = r.row_version::xid) RETURNING 1"

// ms from now until the first event of `table` that is not yet due (one index probe).
#define EVENTHOOKS_NEXT_DUE(table)                                                           \
    "SELECT greatest(0, ceil(extract(epoch FROM " EVENTHOOKS_DUE_AT                          \
    " - pg_catalog.clock_timestamp()) * 1000))::bigint FROM " table " e "                   \
    "WHERE e.status = 'scheduled' AND " EVENTHOOKS_DUE_AT " > now() "                       \
    "ORDER BY " EVENTHOOKS_DUE_AT " LIMIT 1"
