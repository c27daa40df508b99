// Argument handling shared by the SQL API functions (event_trigger_api.cpp,
// cron_trigger_api.cpp, scheduled_event_api.cpp): reading text and jsonb arguments, collecting
// the environment variable names that headers and signing refer to while C++ objects are alive,
// and checking them against eventhooks.allowed_env afterwards, in plain C-style code. One place,
// so that every kind of trigger takes headers and signing with the same rules and messages.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

#include <string>
#include <vector>

#include "core/trigger_config.hpp"

namespace eventhooks::pg {

// NULL → nullptr, else a palloc'd copy.
char *text_arg(FunctionCallInfo fcinfo, int n);
// NULL → nullptr, else the jsonb as text (palloc'd).
char *jsonb_arg(FunctionCallInfo fcinfo, int n);
// As jsonb_arg, and JSON null also → nullptr (an argument where "none" may be said either way).
char *optional_jsonb_arg(FunctionCallInfo fcinfo, int n);
// The argument's JSON type as jsonb_typeof names it ("object", "array", "string", "number",
// "boolean", "null"); nullptr for SQL NULL.
char *jsonb_arg_type(FunctionCallInfo fcinfo, int n);
// For an argument that is a JSON object or nothing (SQL NULL or JSON null): throws ConfigError
// `<label>: must be a JSON object, got <type>` for any other type (from jsonb_arg_type).
void check_optional_object(const char *label, const char *json_type);

// palloc that throws std::bad_alloc instead of raising an ERROR: for code that holds C++
// objects (guard_entry turns the exception into an ERROR after the unwinding).
void *alloc_or_throw(size_t size);
char *copy_or_throw(const std::string &text);

// A (argument label, name) pair still to be checked against the catalog or the allow-list.
struct NamedRef {
    char *label;
    char *name;
};

// palloc'd, so it outlives the C++ validation that fills it (start it with palloc0).
struct RefList {
    int count;
    int capacity;
    NamedRef *items;
    void add(const std::string &label, const std::string &name);
};

// Parses `headers` (nullptr: '[]') and adds the names of environment variables they read.
std::vector<core::HeaderConf> parse_headers_arg(const char *headers, RefList *env_names);

// Parses `signing` (nullptr: unsigned), adds its secret's environment variable name, and checks
// that no configured header carries the signature's header.
void parse_signing_arg(const char *signing, const std::vector<core::HeaderConf> &headers,
                       RefList *env_names);

// ERROR (insufficient_privilege) for the first environment variable name a non-superuser may
// not name (eventhooks.allowed_env). Holds no C++ objects: call it after the C++ validation.
void check_env_names_allowed(const RefList &env_names);

// The jsonb of `json` for an SPI parameter, or SQL NULL for nullptr (sets *null_flag).
Datum jsonb_or_null(const char *json, char *null_flag);

// Whether the current user may manage an object made by the role named `owner`: a superuser, or
// a member of that role (with its privileges, as pg_has_role(..., 'USAGE')). A name whose role
// was dropped is nobody's: no error, only superusers.
bool is_owner_role_member(const char *owner);

}  // namespace eventhooks::pg
