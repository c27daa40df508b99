// Holds delivery from event_log while a logical-replication subscription feeds it (see
// replication_guard.hpp): the catalog lookup, its cache, and the reports of a change.
//
// Why a subscription, and not the rows' origin: the subscriber of an upgrade or a migration
// becomes the primary when its subscription is disabled or dropped, and must then deliver what
// is still pending there; rows that were skipped for their origin would need that same signal
// to be released. Rows written under session_replication_role = replica by anything else (a
// restore) are delivered as usual. Like a physical standby that runs nothing until promoted
// (pg_cron), the subscriber sends nothing from event_log until its cutover.
#include "pg/delivery/replication_guard.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_subscription_rel.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

#include "pg/delivery/shared_state.hpp"

namespace eventhooks::pg {

namespace {

constexpr const char *kPausedPrefix = "delivery paused: ";

// The answer is valid while no change to the subscription catalogs arrived since it was
// computed (a counter, not a flag: an invalidation during the lookup, or an ERROR in it, must
// leave the answer stale).
bool callbacks_registered = false;
uint64 catalog_changes = 1;
uint64 answer_changes = 0;
Oid answer_relid = InvalidOid;
bool held = false;  // the last answer
NameData holder;    // the subscription that holds delivery, while held

void subscriptions_changed(Datum, int, uint32) { catalog_changes++; }

// The first enabled subscription that has `relid` among its tables. pg_subscription_rel is a
// catalog of this database, so its subscriptions are this database's.
bool find_enabled_subscription_of(Oid relid, NameData *name) {
    Relation members = table_open(SubscriptionRelRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(relid));
    SysScanDesc scan =
        systable_beginscan(members, SubscriptionRelSrrelidSrsubidIndexId, true, nullptr, 1, &key);
    bool found = false;
    HeapTuple member;
    while (!found && HeapTupleIsValid(member = systable_getnext(scan))) {
        Oid subscription_oid =
            reinterpret_cast<Form_pg_subscription_rel>(GETSTRUCT(member))->srsubid;
        HeapTuple subscription =
            SearchSysCache1(SUBSCRIPTIONOID, ObjectIdGetDatum(subscription_oid));
        if (!HeapTupleIsValid(subscription)) continue;
        auto *form = reinterpret_cast<Form_pg_subscription>(GETSTRUCT(subscription));
        if (form->subenabled) {
            *name = form->subname;
            found = true;
        }
        ReleaseSysCache(subscription);
    }
    systable_endscan(scan);
    table_close(members, AccessShareLock);
    return found;
}

// worker_status.last_error shows the pause while it lasts (nothing else is sent meanwhile, so
// nothing overwrites it); it is cleared when delivery resumes, unless an error came since.
void show_in_worker_status(const char *subscription) {
    SharedState *state = shared_state();
    if (state == nullptr) return;
    char message[kLastErrorLength] = "";
    TimestampTz at = 0;
    if (subscription != nullptr) {
        snprintf(message, sizeof(message),
                 "%ssubscription \"%s\" replicates eventhooks.event_log into this database",
                 kPausedPrefix, subscription);
        at = GetCurrentTimestamp();
    }
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(MyDatabaseId, false);
    if (slot != nullptr && (subscription != nullptr ||
                            strncmp(slot->last_error, kPausedPrefix, strlen(kPausedPrefix)) == 0)) {
        strlcpy(slot->last_error, message, kLastErrorLength);
        slot->last_error_at = at;
    }
    SpinLockRelease(&state->mutex);
}

void report_paused(const char *subscription) {
    ereport(LOG, (errmsg("pg_eventhooks: delivery from eventhooks.event_log paused in database "
                         "\"%s\": subscription \"%s\" replicates it into this database",
                         get_database_name(MyDatabaseId), subscription),
                  errdetail("The publisher delivers these events. This database delivers the "
                            "ones still pending here once the subscription is disabled or "
                            "dropped.")));
    show_in_worker_status(subscription);
}

void report_resumed() {
    ereport(LOG, (errmsg("pg_eventhooks: delivery from eventhooks.event_log resumed in database "
                         "\"%s\": no enabled subscription replicates it any more",
                         get_database_name(MyDatabaseId)),
                  errdetail("Events pending here are delivered now, including any the "
                            "publisher delivered after this database last heard from it.")));
    show_in_worker_status(nullptr);
    // The copies arrived with a next_retry_at (the event_log_retry_time trigger fires for the
    // apply worker too), but whatever came in with event_log's triggers disabled would lie
    // behind the cursor: read event_log once from its start. The cursor is exclusive and the
    // zero id stays zero, so this is the very beginning.
    pg_uuid_t start;
    memset(start.data, 0, UUID_LEN);
    wake_delivery_worker(MyDatabaseId, &start);
}

}  // namespace

bool delivery_held_by_subscription(Oid event_log_relid) {
    if (!callbacks_registered) {
        // pg_subscription (shared: its changes reach every database) and pg_subscription_rel.
        CacheRegisterSyscacheCallback(SUBSCRIPTIONOID, subscriptions_changed, (Datum)0);
        CacheRegisterSyscacheCallback(SUBSCRIPTIONRELMAP, subscriptions_changed, (Datum)0);
        callbacks_registered = true;
    }
    // The round's snapshot may already show copies applied after the subscription was created
    // or enabled; that change was queued for us before them, so reading the queue now (cheap
    // when it is empty) makes this round see it.
    AcceptInvalidationMessages();
    if (answer_changes == catalog_changes && answer_relid == event_log_relid) return held;

    uint64 computing_at = catalog_changes;
    NameData subscription;
    bool now_held =
        OidIsValid(event_log_relid) && find_enabled_subscription_of(event_log_relid, &subscription);
    if (now_held && (!held || strcmp(NameStr(subscription), NameStr(holder)) != 0))
        report_paused(NameStr(subscription));
    else if (!now_held && held)
        report_resumed();
    held = now_held;
    if (now_held) holder = subscription;
    answer_changes = computing_at;
    answer_relid = event_log_relid;
    return held;
}

}  // namespace eventhooks::pg
