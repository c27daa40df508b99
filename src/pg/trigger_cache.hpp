// Per-backend cache of event trigger configuration, as the row trigger needs it: which
// operations fire, which columns are listened to and sent, and the names to report. Built on
// first use from eventhooks.event_triggers, dropped when the relcache says the configuration
// table or the watched table changed (or a cast changed: it can change how a column of a
// user-defined type is sent). The row trigger thus reads no catalog and parses no SQL
// per row.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/relcache.h"
}

#include "pg/row_encoder.hpp"

namespace eventhooks::pg {

struct ColumnList {
    bool all;   // every column of the row
    int count;  // otherwise these attribute numbers of the firing relation
    AttrNumber *attnums;
};

struct TriggerCacheKey {
    char name[NAMEDATALEN];  // event trigger name
    Oid relid;               // firing relation (a partition fires with its own oid)
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

// The configuration of event trigger `name` as it applies to rows of `rel`.
const CachedTrigger *lookup_trigger(const char *name, const char *row_trigger_name, Relation rel);

// Registers the relcache callback that keeps the cache (and extension_catalog) fresh.
void register_cache_invalidation();

}  // namespace eventhooks::pg
