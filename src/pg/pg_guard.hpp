// The boundary between C++ exceptions and Postgres errors (GUIDE §3), in one place.
//
//  - guard_entry(): every extern "C" entry point runs its body through it. A C++ exception
//    becomes ereport(ERROR) only after the body's C++ objects are destroyed (the ereport is a
//    longjmp, which would skip destructors).
//  - call_postgres(): C++ code that must call Postgres while holding C++ objects wraps the call;
//    a Postgres ERROR inside becomes a PgError exception, which guard_entry() re-raises
//    unchanged. The callable itself must hold no objects with destructors.
//
// After a PgError the current transaction is unusable: it must end in an abort (guard_entry
// re-raises the error, the worker aborts its transaction).
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "core/config_error.hpp"

namespace eventhooks::pg {

// A Postgres ERROR caught where C++ called Postgres, with its full ErrorData.
class PgError : public std::exception {
  public:
    explicit PgError(ErrorData *edata) : edata_(edata) {}
    const char *what() const noexcept override {
        return edata_ && edata_->message ? edata_->message : "Postgres error";
    }
    ErrorData *edata() const { return edata_; }

  private:
    ErrorData *edata_;
};

template <typename F>
void call_postgres(F &&body) {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr;
    PG_TRY();
    { body(); }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (edata != nullptr) throw PgError(edata);
}

template <typename F>
Datum guard_entry(F &&body) {
    ErrorData *pg_error = nullptr;
    const char *message = nullptr;
    int sqlstate = ERRCODE_INTERNAL_ERROR;
    try {
        return body();
    } catch (const PgError &e) {
        pg_error = e.edata();
    } catch (const core::ConfigError &e) {
        sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        message = pstrdup(e.what());
    } catch (const std::bad_alloc &) {
        sqlstate = ERRCODE_OUT_OF_MEMORY;
        message = "out of memory in pg_eventhooks";
    } catch (const std::exception &e) {
        message = pstrdup(e.what());
    } catch (...) {
        message = "unknown C++ exception in pg_eventhooks";
    }
    // Every C++ object of the body and of the catch blocks is gone here.
    if (pg_error != nullptr) ReThrowError(pg_error);
    ereport(ERROR, (errcode(sqlstate), errmsg("%s", message)));
    pg_unreachable();
}

}  // namespace eventhooks::pg
