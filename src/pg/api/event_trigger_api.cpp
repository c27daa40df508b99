// SQL API of event triggers (SPEC §2): create, delete, invoke, redeliver; pause, resume and
// redeliver_failed (issue 20).
//
// Each function first checks its arguments in C++ (src/core parsers; a ConfigError names the
// argument), then does its Postgres work in plain C-style code that holds no C++ objects, so an
// ERROR there cannot skip a destructor. The caller must own the table (or be superuser);
// privileged writes to the extension's tables then run as the extension owner. An event
// trigger is found by its name, and its table and row trigger by the oids its configuration
// row is bound to: names of row triggers, which table owners may change, decide nothing.
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include "core/trigger_config.hpp"
#include "pg/api/api_args.hpp"
#include "pg/delivery/commit_wakeup.hpp"
#include "pg/capture/event_writer.hpp"
#include "pg/extension_catalog.hpp"
#include "pg/pg_guard.hpp"
#include "pg/capture/event_payload.hpp"
#include "pg/capture/row_encoder.hpp"
#include "pg/capture/trigger_cache.hpp"

namespace eventhooks::pg {

namespace {

constexpr const char *kRowTriggerPrefix = "eventhooks_";

struct CreateArgs {
    char *name;
    Oid relid;
    char *webhook;
    char *operation_spec[3];  // on_insert, on_update, on_delete
    bool enable_manual;
    char *headers;
    char *retry_conf;
    char *webhook_from_env;
    bool replace;
    char *signing;
};

const char *const kOperationArgument[3] = {"on_insert", "on_update", "on_delete"};

// Checks what can be checked without the catalog; returns the column and environment
// variable names the catalog checks still need.
void validate_create_args(const CreateArgs &args, RefList *columns, RefList *env_names) {
    if (args.name == nullptr) throw core::ConfigError("name: must not be null");
    core::validate_trigger_name(args.name);
    if (args.relid == InvalidOid) throw core::ConfigError("table_name: must not be null");
    if ((args.webhook == nullptr) == (args.webhook_from_env == nullptr))
        throw core::ConfigError("webhook, webhook_from_env: exactly one of them must be given");
    if (args.webhook != nullptr) core::validate_webhook_url("webhook", args.webhook);
    if (args.webhook_from_env != nullptr) {
        core::validate_env_name_argument("webhook_from_env", args.webhook_from_env);
        env_names->add("webhook_from_env", args.webhook_from_env);
    }
    bool any_operation = args.enable_manual;
    for (int op = 0; op < 3; op++) {
        if (args.operation_spec[op] == nullptr) continue;
        any_operation = true;
        std::string argument = kOperationArgument[op];
        core::OperationSpec spec = core::parse_operation_spec(argument, args.operation_spec[op]);
        for (const auto &column : spec.columns.columns) columns->add(argument + ".columns", column);
        for (const auto &column : spec.payload.columns) columns->add(argument + ".payload", column);
    }
    if (!any_operation)
        throw core::ConfigError(
            "on_insert, on_update, on_delete, enable_manual: no operation is enabled; give at "
            "least one OperationSpec or enable_manual => true");
    auto headers = parse_headers_arg(args.headers, env_names);
    core::parse_retry_conf(args.retry_conf ? args.retry_conf : "{}");
    parse_signing_arg(args.signing, headers, env_names);
}

char *qualified_table_name(Oid relid) {
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                      get_rel_name(relid));
}

char *row_trigger_name(const char *name) { return psprintf("%s%s", kRowTriggerPrefix, name); }

// The event trigger's configuration row, read as the extension owner. SPI must be connected.
struct StoredTrigger {
    bool found;
    Oid relid;        // its table, InvalidOid once the table is dropped
    Oid row_trigger;  // as stored (see bound_row_trigger); InvalidOid: manual invocation only
    char *owner;
    bool enable_manual;
    TimestampTz created_at;  // kept by a replace: the events so far stay this trigger's
};

// for_update: the row stays locked until the transaction ends, so that a replace and a
// pause/resume of the same trigger run one after the other: a replace reads `paused` from the
// row it deletes, and a pause waiting behind a replace finds the old row gone ("does not
// exist": an ERROR, not a pause silently lost with the deleted row).
StoredTrigger load_stored_trigger(const char *name, bool for_update = false) {
    StoredTrigger stored = {false, InvalidOid, InvalidOid, nullptr, false, 0};
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    spi_execute_as_owner(
        for_update ? "SELECT table_name::oid, row_trigger, owner::text, enable_manual, created_at "
                     "FROM eventhooks.event_triggers WHERE name = $1 FOR UPDATE"
                   : "SELECT table_name::oid, row_trigger, owner::text, enable_manual, created_at "
                     "FROM eventhooks.event_triggers WHERE name = $1",
        1, types, values, nullptr, !for_update, 1);
    if (SPI_processed == 0) return stored;
    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    stored.found = true;
    bool isnull;
    Oid relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
    if (!isnull && SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid))) stored.relid = relid;
    Datum trigger = SPI_getbinval(row, desc, 2, &isnull);
    if (!isnull) stored.row_trigger = DatumGetObjectId(trigger);
    stored.owner = SPI_getvalue(row, desc, 3);
    stored.enable_manual = DatumGetBool(SPI_getbinval(row, desc, 4, &isnull));
    stored.created_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 5, &isnull));
    return stored;
}

StoredTrigger require_stored_trigger(const char *label, const char *name,
                                     bool for_update = false) {
    StoredTrigger stored = load_stored_trigger(name, for_update);
    if (!stored.found)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("%s: event trigger \"%s\" does not exist", label, name)));
    return stored;
}

// Superusers and owners of its table (the one its configuration is bound to; members of the
// owning role included), as SPEC §6 says. Not the role that made it, by the name stored in
// `owner`: that name outlives the role, and a new role of the same name, maybe another
// tenant's, would inherit the trigger. The row-level security policy may_manage on
// event_triggers (sql/pg_eventhooks--0.1.0.sql) shows a non-superuser the same triggers.
bool may_manage(const StoredTrigger &stored) {
    if (superuser()) return true;
    return OidIsValid(stored.relid) && pg_class_ownercheck(stored.relid, GetUserId());
}

// A trigger's name is the caller's own argument, and names are one namespace per database
// (create_event_trigger says "already exists" for a name taken by anyone), so saying that the
// caller may not manage it tells nothing new.
void require_may_manage(const char *label, const char *name, const StoredTrigger &stored) {
    if (may_manage(stored)) return;
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("%s: must be owner of the table of event trigger \"%s\" to manage it",
                           label, name)));
}

// Drops the row trigger the configuration is bound to (with its clones on partitions), by oid:
// whatever it is called now, and never a trigger of another table.
void drop_row_trigger(const char *name, const StoredTrigger &stored) {
    Oid trigger = bound_row_trigger(stored.relid, stored.row_trigger, name);
    if (!OidIsValid(trigger)) return;
    ObjectAddress address;
    ObjectAddressSet(address, TriggerRelationId, trigger);
    performDeletion(&address, DROP_RESTRICT, 0);
}

void check_table(const CreateArgs &args) {
    char relkind = get_rel_relkind(args.relid);
    if (relkind == '\0')
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("table_name: relation with OID %u does not exist", args.relid)));
    if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("table_name: %s is not a table", qualified_table_name(args.relid))));
    // A temporary table goes at the end of its session without any sql_drop event, which would
    // leave its trigger behind (and bound to whatever later gets that oid).
    if (get_rel_persistence(args.relid) == RELPERSISTENCE_TEMP)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("table_name: \"%s\" is a temporary table", get_rel_name(args.relid)),
                        errdetail("A temporary table is dropped at the end of its session "
                                  "without notice; its trigger would be left behind.")));
    char *schema = get_namespace_name(get_rel_namespace(args.relid));
    if (schema != nullptr && strcmp(schema, "eventhooks") == 0)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("table_name: %s belongs to pg_eventhooks and cannot be watched",
                               qualified_table_name(args.relid)),
                        errdetail("Events about the event tables would feed on themselves.")));
    if (!pg_class_ownercheck(args.relid, GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("table_name: must be owner of table %s",
                               qualified_table_name(args.relid))));
}

void check_catalog_refs(const CreateArgs &args, const RefList &columns, const RefList &env_names) {
    for (int i = 0; i < columns.count; i++) {
        AttrNumber attnum = get_attnum(args.relid, columns.items[i].name);
        if (attnum <= 0)
            ereport(ERROR,
                    (errcode(ERRCODE_UNDEFINED_COLUMN),
                     errmsg("%s: column \"%s\" does not exist in table %s", columns.items[i].label,
                            columns.items[i].name, qualified_table_name(args.relid))));
    }
    check_env_names_allowed(env_names);
}

// Makes the row trigger and returns its oid (InvalidOid: manual invocation only).
Oid create_row_trigger(const CreateArgs &args) {
    StringInfoData events;
    initStringInfo(&events);
    const char *const sql_event[3] = {"INSERT", "UPDATE", "DELETE"};
    for (int op = 0; op < 3; op++) {
        if (args.operation_spec[op] == nullptr) continue;
        appendStringInfo(&events, "%s%s", events.len > 0 ? " OR " : "", sql_event[op]);
    }
    if (events.len == 0) return InvalidOid;
    if (get_trigger_oid(args.relid, row_trigger_name(args.name), true) != InvalidOid)
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                        errmsg("name: table %s already has a trigger named \"%s\"",
                               qualified_table_name(args.relid), row_trigger_name(args.name)),
                        errhint("pg_eventhooks names its row trigger after the event trigger; "
                                "choose another name or drop that trigger.")));
    char *sql = psprintf(
        "CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION "
        "eventhooks.capture_event(%s)",
        quote_identifier(row_trigger_name(args.name)), events.data,
        qualified_table_name(args.relid), quote_literal_cstr(args.name));
    spi_execute_as_owner(sql, 0, nullptr, nullptr, nullptr, false, 0);
    CommandCounterIncrement();  // the new trigger becomes visible to the lookup
    return get_trigger_oid(args.relid, row_trigger_name(args.name), false);
}

// created_at: that of the trigger replaced, or 0 for a new trigger. An event belongs to the
// trigger of its name only if written since the trigger's created_at (row-level security
// policies in sql/pg_eventhooks--0.1.0.sql, redeliver_event), so a replace keeps it, and a new
// trigger takes the clock now, not its transaction's start: a transaction that began before a
// trigger of the same name was deleted must not make the new trigger older than that trigger's
// events. (The caller found no trigger of this name in a snapshot taken after the deleting
// transaction committed, and that one had waited for every writer of the events.)
void store_trigger(const CreateArgs &args, Oid row_trigger, TimestampTz created_at) {
    Oid types[14] = {TEXTOID,  REGCLASSOID, OIDOID,   TEXTOID,  TEXTOID,  JSONBOID, JSONBOID,
                     JSONBOID, BOOLOID,     JSONBOID, JSONBOID, JSONBOID, TEXTOID,  TIMESTAMPTZOID};
    Datum values[14];
    char nulls[15] = "              ";
    values[0] = CStringGetTextDatum(args.name);
    values[1] = ObjectIdGetDatum(args.relid);
    values[2] = OidIsValid(row_trigger) ? ObjectIdGetDatum(row_trigger) : (nulls[2] = 'n', (Datum)0);
    values[3] = args.webhook ? CStringGetTextDatum(args.webhook) : (nulls[3] = 'n', (Datum)0);
    values[4] = args.webhook_from_env ? CStringGetTextDatum(args.webhook_from_env)
                                      : (nulls[4] = 'n', (Datum)0);
    for (int op = 0; op < 3; op++)
        values[5 + op] = jsonb_or_null(args.operation_spec[op], &nulls[5 + op]);
    values[8] = BoolGetDatum(args.enable_manual);
    values[9] = jsonb_or_null(args.headers ? args.headers : "[]", &nulls[9]);
    values[10] = jsonb_or_null(args.retry_conf ? args.retry_conf : "{}", &nulls[10]);
    values[11] = jsonb_or_null(args.signing, &nulls[11]);
    values[12] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
    values[13] =
        TimestampTzGetDatum(created_at != 0 ? created_at : GetCurrentTimestamp());
    spi_execute_as_owner(
        "INSERT INTO eventhooks.event_triggers (name, table_name, row_trigger, webhook, "
        "webhook_from_env, on_insert, on_update, on_delete, enable_manual, headers, retry_conf, "
        "signing, owner, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        14, types, values, nulls, false, 0);
}

void delete_stored_trigger(const char *name, bool archive_pending) {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    if (archive_pending)
        spi_execute_as_owner(
            "UPDATE eventhooks.event_log SET archived = true, next_retry_at = NULL "
            "WHERE trigger_name = $1 "
            "AND NOT delivered AND NOT error AND NOT archived",
            1, types, values, nullptr, false, 0);
    spi_execute_as_owner("DELETE FROM eventhooks.event_triggers WHERE name = $1", 1, types, values,
                         nullptr, false, 0);
}

// Whether event_triggers has the column `paused` (0.3.0 on; the library also serves databases
// not yet updated, where nothing is paused).
bool has_paused_column() {
    Oid relid = event_triggers_relid();
    return OidIsValid(relid) && get_attnum(relid, "paused") != InvalidAttrNumber;
}

bool was_paused(const char *name) {
    if (!has_paused_column()) return false;
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    spi_execute_as_owner("SELECT paused FROM eventhooks.event_triggers WHERE name = $1", 1, types,
                         values, nullptr, true, 1);
    bool isnull = true;
    Datum paused = SPI_processed == 1
                       ? SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)
                       : (Datum)0;
    return !isnull && DatumGetBool(paused);
}

// The worker learns of it through the statement trigger on event_triggers (relcache
// invalidation, read by its next round); an unchanged row is not written.
void set_paused(const char *name, bool paused) {
    Oid types[2] = {TEXTOID, BOOLOID};
    Datum values[2] = {CStringGetTextDatum(name), BoolGetDatum(paused)};
    spi_execute_as_owner(
        "UPDATE eventhooks.event_triggers SET paused = $2 WHERE name = $1 AND paused <> $2", 2,
        types, values, nullptr, false, 0);
}

void create_event_trigger_in_catalog(const CreateArgs &args, const RefList &columns,
                                     const RefList &env_names) {
    check_table(args);
    check_catalog_refs(args, columns, env_names);
    SPI_connect();
    StoredTrigger existing = load_stored_trigger(args.name, args.replace);
    TimestampTz created_at = 0;
    bool paused = false;
    if (existing.found) {
        if (!args.replace)
            ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                            errmsg("name: event trigger \"%s\" already exists", args.name),
                            errhint("Pass replace => true to replace it.")));
        require_may_manage("replace", args.name, existing);
        paused = was_paused(args.name);
        drop_row_trigger(args.name, existing);
        delete_stored_trigger(args.name, false);  // its pending events go to the new definition
        created_at = existing.created_at;
    }
    store_trigger(args, create_row_trigger(args), created_at);
    // A replace keeps the trigger paused if it was: a replace changes what is sent, not
    // whether sending is on (an operator who paused a trigger to fix its webhook resumes it
    // once the fix is in); pause and resume say that, nothing else does.
    if (paused) set_paused(args.name, true);
    SPI_finish();
}

Datum create_event_trigger(FunctionCallInfo fcinfo) {
    CreateArgs args;
    args.name = text_arg(fcinfo, 0);
    args.relid = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
    args.webhook = text_arg(fcinfo, 2);
    for (int op = 0; op < 3; op++) args.operation_spec[op] = jsonb_arg(fcinfo, 3 + op);
    args.enable_manual = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
    args.headers = jsonb_arg(fcinfo, 7);
    args.retry_conf = jsonb_arg(fcinfo, 8);
    args.webhook_from_env = text_arg(fcinfo, 9);
    args.replace = !PG_ARGISNULL(10) && PG_GETARG_BOOL(10);
    args.signing = optional_jsonb_arg(fcinfo, 11);

    auto *columns = static_cast<RefList *>(palloc0(sizeof(RefList)));
    auto *env_names = static_cast<RefList *>(palloc0(sizeof(RefList)));
    validate_create_args(args, columns, env_names);
    create_event_trigger_in_catalog(args, *columns, *env_names);
    PG_RETURN_VOID();
}

Datum delete_event_trigger(FunctionCallInfo fcinfo) {
    char *name = text_arg(fcinfo, 0);
    if (name == nullptr) throw core::ConfigError("name: must not be null");
    SPI_connect();
    StoredTrigger stored = require_stored_trigger("name", name);
    require_may_manage("name", name, stored);
    drop_row_trigger(name, stored);
    delete_stored_trigger(name, true);
    SPI_finish();
    PG_RETURN_VOID();
}

Datum invoke_event_trigger(FunctionCallInfo fcinfo) {
    char *name = text_arg(fcinfo, 0);
    if (name == nullptr) throw core::ConfigError("name: must not be null");
    Jsonb *payload = PG_ARGISNULL(1) ? nullptr : PG_GETARG_JSONB_P(1);
    SPI_connect();
    StoredTrigger stored = require_stored_trigger("name", name);
    require_may_manage("name", name, stored);
    if (!stored.enable_manual)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("name: event trigger \"%s\" does not allow manual invocation", name),
                        errhint("Create it with enable_manual => true.")));
    if (!OidIsValid(stored.relid))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("name: the table of event trigger \"%s\" no longer exists", name),
                        errhint("Delete the event trigger, or create it again on a table.")));
    // Events carry the table's current names.
    NewEvent event;
    event.schema_name = get_namespace_name(get_rel_namespace(stored.relid));
    event.table_name = get_rel_name(stored.relid);
    event.trigger_name = name;
    event.payload = build_event_payload("MANUAL", nullptr,
                                        payload ? jsonb_value_tree(payload) : nullptr);
    pg_uuid_t id = write_event(event);
    SPI_finish();
    auto *result = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    *result = id;
    PG_RETURN_UUID_P(result);
}

Datum redeliver_event(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0)) throw core::ConfigError("event_id: must not be null");
    pg_uuid_t *id = PG_GETARG_UUID_P(0);
    char *id_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
    SPI_connect();
    Oid types[1] = {UUIDOID};
    Datum values[1] = {UUIDPGetDatum(id)};
    // belongs: whether a trigger of the event's name exists and was made before the event was
    // written (not a later one that took the name of a deleted trigger).
    spi_execute_as_owner(
        "SELECT e.trigger_name, e.id >= eventhooks.first_event_id_at(t.created_at) AS belongs "
        "FROM eventhooks.event_log e LEFT JOIN eventhooks.event_triggers t "
        "ON t.name = e.trigger_name WHERE e.id = $1",
        1, types, values, nullptr, true, 1);
    char *trigger_name = nullptr;
    bool belongs = false, later_trigger = false;
    if (SPI_processed == 1) {
        bool isnull;
        trigger_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
        belongs = !isnull && DatumGetBool(value);
        later_trigger = !isnull && !belongs;
    }
    StoredTrigger stored = {false, InvalidOid, InvalidOid, nullptr, false, 0};
    if (belongs) stored = load_stored_trigger(trigger_name);
    // An event the caller cannot see in event_log (row-level security: not of a trigger it
    // may manage, or of a deleted trigger and the caller is no superuser) does not exist for
    // it: event ids are not guessable, and the error must not name another role's trigger.
    if (trigger_name == nullptr || (stored.found ? !may_manage(stored) : !superuser()))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("event_id: event %s does not exist", id_text)));
    // Not even a superuser sends it to the webhook of a later trigger of the same name.
    if (!stored.found)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("event_id: event %s belongs to event trigger \"%s\", which no "
                               "longer exists",
                               id_text, trigger_name),
                        later_trigger ? errdetail("The event trigger that has the name now was "
                                                  "created after the event was written.")
                                      : 0));
    spi_execute_as_owner(
        "UPDATE eventhooks.event_log SET delivered = false, error = false, archived = false, "
        "tries = 0, next_retry_at = now(), locked = NULL WHERE id = $1",
        1, types, values, nullptr, false, 0);
    SPI_finish();
    // Due now: the worker finds it through event_log_retry, wherever its cursor is.
    note_event_requeued();
    PG_RETURN_VOID();
}

// pause_event_trigger / resume_event_trigger: who may delete a trigger may pause it. Pausing a
// paused trigger (resuming a running one) changes nothing and is no error.
Datum pause_or_resume(FunctionCallInfo fcinfo, bool pause) {
    char *name = text_arg(fcinfo, 0);
    if (name == nullptr) throw core::ConfigError("name: must not be null");
    SPI_connect();
    StoredTrigger stored = require_stored_trigger("name", name, true);
    require_may_manage("name", name, stored);
    set_paused(name, pause);
    SPI_finish();
    // The worker sleeps until events come: wake it at commit, so that what waited goes out now.
    if (!pause) note_event_requeued();
    PG_RETURN_VOID();
}

// redeliver_failed: what redeliver_event does to one event, to each event of the trigger that
// ended in `error` (not archived), written since the trigger was created (an older event of
// the name belonged to a deleted trigger, as in the row-level security policies of event_log),
// and created at or after `since` when given. Through the index event_log_failed
// (trigger_name, id) WHERE error AND NOT archived: no scan of event_log
// (expected/operations_control.out shows the plan).
Datum redeliver_failed(FunctionCallInfo fcinfo) {
    char *name = text_arg(fcinfo, 0);
    if (name == nullptr) throw core::ConfigError("trigger_name: must not be null");
    bool has_since = !PG_ARGISNULL(1);
    TimestampTz since = has_since ? PG_GETARG_TIMESTAMPTZ(1) : 0;
    SPI_connect();
    StoredTrigger stored = require_stored_trigger("trigger_name", name);
    require_may_manage("trigger_name", name, stored);
    Oid types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
    Datum values[3] = {CStringGetTextDatum(name), TimestampTzGetDatum(stored.created_at),
                       TimestampTzGetDatum(since)};
    char nulls[4] = {' ', ' ', has_since ? ' ' : 'n', '\0'};
    spi_execute_as_owner(
        "UPDATE eventhooks.event_log SET delivered = false, error = false, archived = false, "
        "tries = 0, next_retry_at = now(), locked = NULL "
        "WHERE trigger_name = $1 AND error AND NOT archived "
        "AND id >= eventhooks.first_event_id_at($2) AND ($3 IS NULL OR created_at >= $3)",
        3, types, values, nulls, false, 0);
    int64 count = static_cast<int64>(SPI_processed);
    SPI_finish();
    // Due now: the worker finds them through event_log_retry, wherever its cursor is.
    if (count > 0) note_event_requeued();
    PG_RETURN_INT64(count);
}

}  // namespace

}  // namespace eventhooks::pg

using eventhooks::pg::guard_entry;

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_create_event_trigger);
PG_FUNCTION_INFO_V1(eventhooks_delete_event_trigger);
PG_FUNCTION_INFO_V1(eventhooks_invoke_event_trigger);
PG_FUNCTION_INFO_V1(eventhooks_redeliver_event);
PG_FUNCTION_INFO_V1(eventhooks_pause_event_trigger);
PG_FUNCTION_INFO_V1(eventhooks_resume_event_trigger);
PG_FUNCTION_INFO_V1(eventhooks_redeliver_failed);

Datum eventhooks_create_event_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::create_event_trigger(fcinfo); });
}
Datum eventhooks_delete_event_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::delete_event_trigger(fcinfo); });
}
Datum eventhooks_invoke_event_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::invoke_event_trigger(fcinfo); });
}
Datum eventhooks_redeliver_event(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::redeliver_event(fcinfo); });
}
Datum eventhooks_pause_event_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::pause_or_resume(fcinfo, true); });
}
Datum eventhooks_resume_event_trigger(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::pause_or_resume(fcinfo, false); });
}
Datum eventhooks_redeliver_failed(PG_FUNCTION_ARGS) {
    return guard_entry([&]() { return eventhooks::pg::redeliver_failed(fcinfo); });
}
}
