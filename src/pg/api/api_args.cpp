// See api_args.hpp.
#include "pg/api/api_args.hpp"

#include <cstring>
#include <new>

extern "C" {
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

#include "pg/guc.hpp"

namespace eventhooks::pg {

char *text_arg(FunctionCallInfo fcinfo, int n) {
    return PG_ARGISNULL(n) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

char *jsonb_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return nullptr;
    Jsonb *jsonb = PG_GETARG_JSONB_P(n);
    return JsonbToCString(nullptr, &jsonb->root, VARSIZE(jsonb));
}

char *optional_jsonb_arg(FunctionCallInfo fcinfo, int n) {
    char *json = jsonb_arg(fcinfo, n);
    return json != nullptr && strcmp(json, "null") == 0 ? nullptr : json;
}

char *jsonb_arg_type(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return nullptr;
    return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(jsonb_typeof, PG_GETARG_DATUM(n))));
}

void check_optional_object(const char *label, const char *json_type) {
    if (json_type == nullptr || strcmp(json_type, "null") == 0 || strcmp(json_type, "object") == 0)
        return;
    throw core::ConfigError(std::string(label) + ": must be a JSON object, got " + json_type);
}

void *alloc_or_throw(size_t size) {
    void *memory = palloc_extended(size, MCXT_ALLOC_NO_OOM);
    if (memory == nullptr) throw std::bad_alloc();
    return memory;
}

char *copy_or_throw(const std::string &text) {
    auto *copy = static_cast<char *>(alloc_or_throw(text.size() + 1));
    memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}

void RefList::add(const std::string &label, const std::string &name) {
    if (count == capacity) {
        int grown = capacity == 0 ? 16 : capacity * 2;
        auto *bigger = static_cast<NamedRef *>(alloc_or_throw(sizeof(NamedRef) * grown));
        if (count > 0) memcpy(bigger, items, sizeof(NamedRef) * count);
        items = bigger;
        capacity = grown;
    }
    items[count].label = copy_or_throw(label);
    items[count].name = copy_or_throw(name);
    count++;
}

std::vector<core::HeaderConf> parse_headers_arg(const char *headers, RefList *env_names) {
    auto parsed = core::parse_headers(headers ? headers : "[]");
    for (size_t i = 0; i < parsed.size(); i++)
        if (parsed[i].from_env())
            env_names->add("headers[" + std::to_string(i) + "].value_from_env",
                           parsed[i].value_from_env);
    return parsed;
}

void parse_signing_arg(const char *signing, const std::vector<core::HeaderConf> &headers,
                       RefList *env_names) {
    if (signing == nullptr) return;
    auto parsed = core::parse_signing(signing);
    if (parsed) env_names->add("signing.secret_from_env", parsed->secret_from_env);
    core::check_headers_against_signing(headers, parsed);
}

void check_env_names_allowed(const RefList &env_names) {
    for (int i = 0; i < env_names.count; i++) {
        if (!env_var_allowed_for_current_user(env_names.items[i].name))
            ereport(ERROR,
                    (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                     errmsg("%s: only superusers may name environment variable \"%s\"",
                            env_names.items[i].label, env_names.items[i].name),
                     errhint("A superuser can allow it by adding it to eventhooks.allowed_env.")));
    }
}

Datum jsonb_or_null(const char *json, char *null_flag) {
    if (json == nullptr) {
        *null_flag = 'n';
        return (Datum)0;
    }
    *null_flag = ' ';
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

bool is_owner_role_member(const char *owner) {
    if (superuser()) return true;
    Oid role = get_role_oid(owner, true);
    return OidIsValid(role) && has_privs_of_role(GetUserId(), role);
}

}  // namespace eventhooks::pg
