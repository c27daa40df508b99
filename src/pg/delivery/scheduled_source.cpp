// The one-off scheduled-event source of due deliveries (delivery_source.hpp): rows of
// eventhooks.scheduled_events, each carrying its own webhook and configuration, recorded in
// scheduled_event_invocation_logs.
#include "pg/delivery/delivery_source.hpp"
#include "pg/delivery/timed_source_sql.hpp"

namespace eventhooks::pg {

namespace {

#define DUE "e.status = 'scheduled' AND " EVENTHOOKS_DUE_AT " <= now() "

const char *const kMarkDeadSql =
    "UPDATE eventhooks.scheduled_events e SET status = 'dead' "
    "WHERE " DUE " AND e.id <> ALL ($1::uuid[]) AND " EVENTHOOKS_TOO_LATE("e.retry_conf");

// Hasura's scheduled-event body: {"scheduled_time", "payload", "id", "comment"}. Events of one
// webhook share its request slots (fairness), as a trigger's events do.
const char *const kClaimSql =
    "SELECT e.id, 'scheduled event ' || e.id, '', '', "
    "  json_build_object('scheduled_time', " EVENTHOOKS_SCHEDULED_TIME_JSON ", "
    "    'payload', e.payload, 'id', e.id, 'comment', e.comment)::text, "
    "  '', e.tries, true, e.webhook, NULL::text, e.headers::text, e.retry_conf::text, "
    "  e.xmin::text, e.signing::text, false, 2, 'scheduled event ' || e.webhook "
    "FROM eventhooks.scheduled_events e "
    "WHERE " DUE " AND NOT " EVENTHOOKS_TOO_LATE("e.retry_conf")
    "  AND 'scheduled event ' || e.webhook <> ALL ($2) "
    "  AND e.id <> ALL ($3::uuid[]) "
    "ORDER BY " EVENTHOOKS_DUE_AT " LIMIT $1";

const char *const kRecordSql =
    "WITH " EVENTHOOKS_RECORDS_CTE ", "
    "u AS (" EVENTHOOKS_SETTLE("eventhooks.scheduled_events") "), "
    "i AS ("
    "  INSERT INTO eventhooks.scheduled_event_invocation_logs (event_id, status, request, "
    "  response) "
    "  SELECT id, NULLIF(status, 0), request::jsonb, response::jsonb FROM r WHERE NOT r.archive) "
    "SELECT count(*) FROM u";

#undef DUE

}  // namespace

extern const TimedSource kScheduledSource = {
    SourceKind::ScheduledEvent, "scheduled event", kMarkDeadSql, kClaimSql, kRecordSql,
    EVENTHOOKS_NEXT_DUE("eventhooks.scheduled_events"), nullptr,
};

}  // namespace eventhooks::pg
