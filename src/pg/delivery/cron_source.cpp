// The cron-trigger source of due deliveries (delivery_source.hpp): events of
// eventhooks.cron_events, planned ahead by cron_planning.cpp, sent with the configuration of
// their cron trigger, recorded in cron_event_invocation_logs. A paused trigger's events are
// neither sent nor marked dead (resume_cron_trigger settles those whose time passed).
#include "pg/delivery/cron_planning.hpp"
#include "pg/delivery/delivery_source.hpp"
#include "pg/delivery/timed_source_sql.hpp"

namespace eventhooks::pg {

namespace {

#define DUE "e.status = 'scheduled' AND " EVENTHOOKS_DUE_AT " <= now() "

const char *const kMarkDeadSql =
    "UPDATE eventhooks.cron_events e SET status = 'dead' "
    "FROM eventhooks.cron_triggers t "
    "WHERE t.name = e.trigger_name AND NOT t.paused AND " DUE
    "  AND e.id <> ALL ($1::uuid[]) AND " EVENTHOOKS_TOO_LATE("t.retry_conf");

// Hasura's cron body: {"scheduled_time", "payload", "name", "id", "comment"}.
const char *const kClaimSql =
    "SELECT e.id, t.name, '', '', "
    "  json_build_object('scheduled_time', " EVENTHOOKS_SCHEDULED_TIME_JSON ", "
    "    'payload', t.payload, 'name', t.name, 'id', e.id, 'comment', t.comment)::text, "
    "  '', e.tries, true, t.webhook, NULL::text, t.headers::text, t.retry_conf::text, "
    "  e.xmin::text, t.signing::text, false, 1, 'cron trigger ' || t.name "
    "FROM eventhooks.cron_events e JOIN eventhooks.cron_triggers t ON t.name = e.trigger_name "
    "WHERE " DUE " AND NOT t.paused AND NOT " EVENTHOOKS_TOO_LATE("t.retry_conf")
    "  AND 'cron trigger ' || t.name <> ALL ($2) AND e.id <> ALL ($3::uuid[]) "
    "ORDER BY " EVENTHOOKS_DUE_AT " LIMIT $1";

const char *const kRecordSql =
    "WITH " EVENTHOOKS_RECORDS_CTE ", "
    "u AS (" EVENTHOOKS_SETTLE("eventhooks.cron_events") "), "
    "i AS ("
    "  INSERT INTO eventhooks.cron_event_invocation_logs (event_id, trigger_name, status, "
    "  request, response) "
    "  SELECT id, log_name, NULLIF(status, 0), request::jsonb, response::jsonb "
    "  FROM r WHERE NOT r.archive) "
    "SELECT count(*) FROM u";

#undef DUE

char *plan_every_trigger() { return plan_each_cron_trigger(); }

}  // namespace

extern const TimedSource kCronSource = {
    SourceKind::CronTrigger, "cron trigger",   kMarkDeadSql, kClaimSql, kRecordSql,
    EVENTHOOKS_NEXT_DUE("eventhooks.cron_events"), plan_every_trigger,
};

}  // namespace eventhooks::pg
