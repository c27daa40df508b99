// Per-backend cache of event trigger configuration, as the row trigger needs it: which row
// trigger the configuration is bound to, which operations fire, which columns are listened to
// and sent, and the names to report. Built on first use from eventhooks.event_triggers,
// dropped when the relcache says the configuration table or the watched table changed, when a
// schema is renamed (events carry current names), or when a cast changed (it can change how a
// column of a user-defined type is sent). The row trigger thus reads no catalog and parses no
// SQL per row: it compares its trigger's oid with the cached one.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/relcache.h"
}

#include "pg/capture/row_encoder.hpp"

namespace eventhooks::pg {

struct ColumnList {
    bool all;   // every column of the row
    int count;  // otherwise these attribute numbers of the firing relation
    AttrNumber *attnums;
};

struct TriggerCacheKey {
    char name[NAMEDATALEN];  // event trigger name
    Oid relid;               // firing relation (a partition fires with its own oid)
    Oid trigger;             // firing trigger: a hand-made copy next to ours gets its own entry
};

// How one listened column is compared for UPDATE: the type's default equality (IS DISTINCT
// FROM semantics), or the stored image for types without one (json).
struct ColumnComparison {
    AttrNumber attnum;
    bool by_image;
    Oid collation;
    FmgrInfo equal;
};

struct CachedTrigger {
    TriggerCacheKey key;
    bool found;                 // false: no configuration row (orphaned row trigger)
    Oid firing_trigger;         // key.trigger if it records events for the configuration (it
                                // is the bound row trigger, or a partition's clone of it);
                                // InvalidOid for any other trigger naming it
    bool warned;                // a misplaced trigger was reported (once per cache entry)
    bool fires[3];              // INSERT, UPDATE, DELETE
    ColumnList listened[3];     // columns whose change fires (meaningful for UPDATE)
    ColumnList payload[3];      // columns sent in data.old / data.new
    RowEncoder *encoder[3];     // turns the payload columns of a row into jsonb
    int compare_count;          // UPDATE: the listened columns and how to compare them
    ColumnComparison *compare;
    char *schema_name;  // of the table the event trigger was made on
    char *table_name;   //   (the partitioned table for a partition's rows)
};

enum TriggerOperation { kInsert = 0, kUpdate = 1, kDelete = 2 };

// The configuration of event trigger `name` as it applies to rows of `rel`, where the
// trigger with oid `firing_trigger` fired.
CachedTrigger *lookup_trigger(const char *name, Oid firing_trigger, Relation rel);

// The row trigger event trigger `name` is bound to: `stored` (event_triggers.row_trigger) when
// it is still eventhooks.capture_event(name) on table `relid` (not a partition's clone). A
// dump/restore or pg_upgrade gives triggers new oids: then the one such trigger on `relid`
// (preferring the one called eventhooks_<name>) is re-bound. InvalidOid if there is none, or
// if `stored` is InvalidOid (manual invocation only).
Oid bound_row_trigger(Oid relid, Oid stored, const char *name);

// Registers the relcache callback that keeps the cache (and extension_catalog) fresh.
void register_cache_invalidation();

}  // namespace eventhooks::pg
