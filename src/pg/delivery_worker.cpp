// The delivery background worker of one database (SPEC §4, GUIDE §4): claims due events,
// sends them with the libcurl multi client, records every attempt, and sleeps on its latch
// (set at commit by writers) or until the next retry or the fallback poll.
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>
#include <nlohmann/json.hpp>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "core/background_http_client.hpp"
#include "core/request_builder.hpp"
#include "core/retry_policy.hpp"
#include "core/trigger_config.hpp"
#include "core/url_redaction.hpp"
#include "pg/delivery_queue.hpp"
#include "pg/guc.hpp"
#include "pg/pg_guard.hpp"
#include "pg/shared_state.hpp"

namespace eventhooks::pg {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kShutdownGrace = milliseconds(1500);  // for requests in flight at SIGTERM
constexpr auto kCountRefresh = milliseconds(1000);   // pending/due counts for worker_status
// Once the worker goes idle, the counts are refreshed after this much, so that worker_status
// does not show a drained queue as pending for up to a second.
constexpr auto kIdleCountDelay = milliseconds(50);
constexpr auto kSlowRequest = milliseconds(1000);    // a webhook slower than this is capped
constexpr auto kWarningInterval = std::chrono::seconds(10);
// Added to retry deadlines so that the claim's now() is past next_retry_at when they fire.
constexpr auto kClockMargin = milliseconds(5);

volatile sig_atomic_t shutdown_requested = false;
DeliverySlot *my_slot = nullptr;
uint32 requests_seen = 0;  // slot->request_count when this worker took its slot

// No extension here: stay stopped unless CREATE EXTENSION committed since we took the slot.
void mark_extension_missing() {
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    if (my_slot->request_count == requests_seen) my_slot->extension_missing = true;
    SpinLockRelease(&state->mutex);
}

void handle_sigterm(SIGNAL_ARGS) {
    int saved_errno = errno;
    shutdown_requested = true;
    SetLatch(MyLatch);
    errno = saved_errno;
}

void release_slot(int, Datum) {
    if (my_slot == nullptr) return;
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    if (my_slot->worker_pid == MyProcPid) {
        my_slot->worker_pid = 0;
        my_slot->worker_latch = nullptr;
        my_slot->requests_in_flight = 0;
    }
    SpinLockRelease(&state->mutex);
}

const char *getenv_at_send_time(const char *name) { return std::getenv(name); }

std::string response_log(const core::HttpResponse &response) {
    nlohmann::json log;
    if (response.got_response) {
        std::string body = response.body;
        for (char &c : body)
            if (c == '\0') c = ' ';  // jsonb cannot hold \u0000
        log["status"] = response.status;
        log["body"] = std::move(body);
        log["body_truncated"] = response.body_truncated;
        if (response.retry_after) log["retry_after"] = *response.retry_after;
    } else {
        log["error"] = response.error;
    }
    log["elapsed_ms"] = response.elapsed_ms;
    return log.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parsed delivery settings of one trigger, re-parsed only when its stored text changes.
struct TriggerSettings {
    std::string headers_text;
    std::string retry_text;
    std::vector<core::HeaderConf> headers;
    core::RetryConf retry;
    std::string problem;  // stored configuration unreadable (hand-edited): every attempt fails
};

struct TriggerActivity {
    int in_flight = 0;
    int consecutive_failures = 0;
    Clock::time_point last_warning{};
};

struct InFlight {
    std::string event_id;
    std::string trigger_name;
    int tries_before = 0;
    core::RetryConf retry;
    std::string request_log;
    Clock::time_point started;
};

// The HTTP thread of the running loop. Exits through proc_exit() (FATAL, postmaster death)
// skip the loop's destructor; this callback stops the thread before exit() runs the atexit
// handlers of libcurl and OpenSSL under its feet.
core::BackgroundHttpClient *running_http_client = nullptr;

void stop_http_thread(int, Datum) {
    if (running_http_client != nullptr) running_http_client->stop();
}

class DeliveryLoop {
  public:
    DeliveryLoop() : http_(client_options()) {
        running_http_client = &http_;
        resume_cursor(cursor_);
    }
    ~DeliveryLoop() { running_http_client = nullptr; }

    void run() {
        WaitEventSet *wait_set = CreateWaitEventSet(TopMemoryContext, 3);
        AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
        AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
        AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, http_.wait_fd(), nullptr, nullptr);

        bool want_claim = true;
        auto next_poll = Clock::now() + poll_interval();
        auto next_count = Clock::now();
        while (!shutdown_requested) {
            collect_responses();
            auto now = Clock::now();
            while (!retry_deadlines_.empty() && retry_deadlines_.top() <= now) {
                retry_deadlines_.pop();
                want_claim = true;
            }
            int capacity = guc_max_concurrent_deliveries - static_cast<int>(http_.in_flight());
            int limit = want_claim ? std::min(guc_fetch_batch_size, capacity) : 0;
            bool refresh = now >= next_count;
            if (limit > 0 || !finished_.empty() || refresh) {
                if (limit > 0 || !finished_.empty()) counts_outdated_ = true;
                RoundResult round = run_round(finished_, std::max(limit, 0), saturated_triggers(),
                                              in_flight_ids(), cursor_, refresh);
                // The database computed next_retry_at during the round; a deadline taken now
                // (after its commit) is never earlier than that, so the claim finds it due.
                auto recorded_at = Clock::now();
                for (const auto &record : finished_)
                    if (record.retry_in_ms >= 0)
                        retry_deadlines_.push(recorded_at + milliseconds(record.retry_in_ms) +
                                              kClockMargin);
                finished_.clear();
                if (!round.extension_present) {
                    report_extension_missing();
                    break;
                }
                for (auto &event : round.claimed) dispatch(event);
                if (limit > 0 && !round.more_due) want_claim = false;
                if (round.counts_refreshed) {
                    next_count = now + kCountRefresh;
                    counts_outdated_ = false;
                    publish_counts(round.counts);
                }
                // The HTTP thread may have finished requests during the round: take them now.
                collect_responses();
                publish_in_flight();
                if (!finished_.empty()) continue;  // record them now
            }
            if (counts_outdated_ && http_.in_flight() == 0 && !want_claim)
                next_count = std::min(next_count, Clock::now() + kIdleCountDelay);
            long timeout = wait_timeout_ms(want_claim, next_poll, next_count);
            WaitEvent event;
            int fired = WaitEventSetWait(wait_set, timeout, &event, 1, PG_WAIT_EXTENSION);
            if (fired > 0 && (event.events & WL_LATCH_SET)) {
                ResetLatch(MyLatch);
                want_claim = true;
            }
            CHECK_FOR_INTERRUPTS();
            if (ConfigReloadPending) reload_settings();
            if (Clock::now() >= next_poll) {
                want_claim = true;
                next_poll = Clock::now() + poll_interval();
            }
        }
        finish_in_flight(wait_set);
        FreeWaitEventSet(wait_set);
    }

  private:
    static core::HttpClientOptions client_options() {
        core::HttpClientOptions options;
        options.max_response_bytes = static_cast<size_t>(guc_http_response_max_bytes);
        options.ca_file = guc_ca_file ? guc_ca_file : "";
        options.user_agent = "pg_eventhooks/" EVENTHOOKS_VERSION;
        options.max_total_connections = std::max(guc_max_concurrent_deliveries, 10);
        return options;
    }

    static Clock::duration poll_interval() { return milliseconds(guc_poll_interval_ms); }

    void reload_settings() {
        ConfigReloadPending = false;
        // The reload may call setlocale() and setenv(), which must not race the HTTP thread.
        // (An ERROR here ends the process; its exit callback stops the held thread.)
        http_.pause();
        ProcessConfigFile(PGC_SIGHUP);
        http_.resume();
        http_.set_options(client_options());
    }

    long wait_timeout_ms(bool want_claim, Clock::time_point next_poll,
                         Clock::time_point next_count) {
        int capacity = guc_max_concurrent_deliveries - static_cast<int>(http_.in_flight());
        if (want_claim && capacity > 0) return 0;
        auto now = Clock::now();
        auto deadline = next_poll;
        if (!retry_deadlines_.empty()) deadline = std::min(deadline, retry_deadlines_.top());
        // Counts are refreshed while work goes on, and once more when it ends; an idle
        // worker does not wake up for them.
        if (http_.in_flight() > 0 || counts_outdated_) deadline = std::min(deadline, next_count);
        // curl's timers are the HTTP thread's business: nothing else to wake up for.
        return std::max<long>(0,
                              std::chrono::duration_cast<milliseconds>(deadline - now).count() + 1);
    }

    std::vector<std::string> in_flight_ids() const {
        std::vector<std::string> ids;
        ids.reserve(in_flight_.size());
        for (const auto &[tag, request] : in_flight_) ids.push_back(request.event_id);
        return ids;
    }

    // Triggers whose webhook is slow and already holds its share of the request slots: their
    // events wait, so that one slow webhook does not hold up the others.
    std::vector<std::string> saturated_triggers() const {
        std::vector<std::string> names;
        if (in_flight_.empty()) return names;
        int share = std::max(1, guc_max_concurrent_deliveries / 4);
        auto slow_since = Clock::now() - kSlowRequest;
        std::unordered_map<std::string, bool> slow;
        for (const auto &[tag, request] : in_flight_)
            if (request.started < slow_since) slow[request.trigger_name] = true;
        for (const auto &[name, is_slow] : slow) {
            auto it = activity_.find(name);
            if (is_slow && it != activity_.end() && it->second.in_flight >= share)
                names.push_back(name);
        }
        return names;
    }

    TriggerSettings &settings_for(const ClaimedEvent &event) {
        TriggerSettings &settings = settings_[event.trigger_name];
        if (settings.headers_text == event.headers && settings.retry_text == event.retry_conf &&
            !settings.headers_text.empty())
            return settings;
        settings = TriggerSettings{};
        settings.headers_text = event.headers;
        settings.retry_text = event.retry_conf;
        try {
            settings.headers = core::parse_headers(event.headers.empty() ? "[]" : event.headers);
            settings.retry =
                core::parse_retry_conf(event.retry_conf.empty() ? "{}" : event.retry_conf);
        } catch (const std::exception &e) {
            settings.problem = std::string("stored configuration is invalid: ") + e.what();
        }
        return settings;
    }

    void dispatch(const ClaimedEvent &event) {
        if (!event.trigger_exists) {
            AttemptRecord record;
            record.event_id = event.id;
            record.trigger_name = event.trigger_name;
            record.archive = true;
            finished_.push_back(std::move(record));
            return;
        }
        TriggerSettings &settings = settings_for(event);
        core::EventForDelivery delivery{
            event.id,      event.trigger_name, event.schema_name,          event.table_name,
            event.payload, event.created_at,   settings.retry.num_retries, event.tries};
        std::string body = core::build_event_body(delivery);
        std::string problem = settings.problem;
        std::string url = core::resolve_webhook_url(event.webhook, event.webhook_from_env,
                                                    getenv_at_send_time, problem);
        core::BuiltHeaders headers =
            core::build_request_headers(settings.headers, event.id, getenv_at_send_time);
        if (problem.empty()) problem = headers.error;

        nlohmann::json request_log;
        request_log["url"] = event.webhook.empty() ? "$" + event.webhook_from_env
                                                    : core::redact_url(event.webhook);
        request_log["headers"] = headers.logged;
        std::string request_text =
            request_log.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        // Splice the body in as JSON without parsing it again.
        request_text.pop_back();
        request_text += ",\"payload\":" + body + "}";

        InFlight request{event.id,       event.trigger_name,      event.tries,
                         settings.retry, std::move(request_text), Clock::now()};
        if (!problem.empty()) {
            core::HttpResponse failed;
            failed.error = problem;
            record_attempt(request, failed);
            return;
        }
        uint64_t tag = next_tag_++;
        core::HttpRequest http_request;
        http_request.tag = tag;
        http_request.url = std::move(url);
        http_request.headers = std::move(headers.lines);
        http_request.body = std::move(body);
        http_request.timeout_ms = static_cast<long>(settings.retry.timeout_sec) * 1000;
        activity_[event.trigger_name].in_flight++;
        in_flight_.emplace(tag, std::move(request));
        http_.submit(std::move(http_request));
    }

    void collect_responses() {
        for (auto &response : http_.take_completed()) {
            auto it = in_flight_.find(response.tag);
            if (it == in_flight_.end()) continue;
            activity_[it->second.trigger_name].in_flight--;
            record_attempt(it->second, response);
            in_flight_.erase(it);
        }
    }

    void record_attempt(const InFlight &request, const core::HttpResponse &response) {
        bool success = response.got_response && response.status >= 200 && response.status < 300;
        std::optional<int64_t> retry_after;
        if (!success && response.got_response && response.retry_after)
            retry_after = core::parse_retry_after(*response.retry_after, std::time(nullptr));
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        core::RetryDecision decision = core::decide_after_attempt(
            request.retry, request.tries_before + 1, success, retry_after, unit(random_));

        AttemptRecord record;
        record.event_id = request.event_id;
        record.trigger_name = request.trigger_name;
        record.tries = request.tries_before + 1;
        record.delivered = decision.result == core::AttemptResult::Delivered;
        record.error = decision.result == core::AttemptResult::Failed;
        if (decision.result == core::AttemptResult::RetryLater)
            record.retry_in_ms = decision.delay_ms;
        record.status = response.got_response ? static_cast<int>(response.status) : 0;
        record.request = request.request_log;
        record.response = response_log(response);
        finished_.push_back(std::move(record));
        note_outcome(request.trigger_name, success, response);
    }

    void note_outcome(const std::string &trigger, bool success,
                      const core::HttpResponse &response) {
        TriggerActivity &activity = activity_[trigger];
        SharedState *state = shared_state();
        if (success) {
            activity.consecutive_failures = 0;
            SpinLockAcquire(&state->mutex);
            my_slot->events_sent++;
            SpinLockRelease(&state->mutex);
            return;
        }
        activity.consecutive_failures++;
        std::string what = response.got_response ? "HTTP status " + std::to_string(response.status)
                                                 : response.error;
        std::string message = "event trigger \"" + trigger + "\": " + what;
        SpinLockAcquire(&state->mutex);
        my_slot->events_failed++;
        strlcpy(my_slot->last_error, message.c_str(), kLastErrorLength);
        my_slot->last_error_at = GetCurrentTimestamp();
        SpinLockRelease(&state->mutex);
        auto now = Clock::now();
        if (activity.consecutive_failures >= 3 && now - activity.last_warning >= kWarningInterval) {
            activity.last_warning = now;
            ereport(WARNING,
                    (errmsg("pg_eventhooks: webhook of event trigger \"%s\" failed %d "
                            "times in a row, last: %s",
                            trigger.c_str(), activity.consecutive_failures, what.c_str())));
        }
    }

    void publish_in_flight() {
        SharedState *state = shared_state();
        SpinLockAcquire(&state->mutex);
        my_slot->requests_in_flight = static_cast<int>(http_.in_flight());
        SpinLockRelease(&state->mutex);
    }

    void publish_counts(const QueueCounts &counts) {
        SharedState *state = shared_state();
        SpinLockAcquire(&state->mutex);
        my_slot->events_pending = counts.pending;
        my_slot->events_due = counts.due;
        SpinLockRelease(&state->mutex);
        if (counts.ms_until_next_retry >= 0)
            retry_deadlines_.push(Clock::now() + milliseconds(counts.ms_until_next_retry) +
                                  kClockMargin);
    }

    void report_extension_missing() {
        mark_extension_missing();
        ereport(LOG, (errmsg("pg_eventhooks: extension dropped, delivery worker exits")));
    }

    // SIGTERM: take no new events, give requests in flight a short grace period, record what
    // finished. The rest stays claimed and is released by the next worker.
    void finish_in_flight(WaitEventSet *wait_set) {
        auto deadline = Clock::now() + kShutdownGrace;
        while (http_.in_flight() > 0 && Clock::now() < deadline) {
            long ms = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
            WaitEvent event;
            (void)WaitEventSetWait(wait_set, std::max(ms, 0L), &event, 1, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
            collect_responses();
        }
        collect_responses();
        // Requests still in flight stay pending; the published resume point stays below them.
        if (!finished_.empty()) run_round(finished_, 0, {}, in_flight_ids(), cursor_, false);
        finished_.clear();
    }

    core::BackgroundHttpClient http_;  // sends from its own thread while this one runs SQL
    EventCursor cursor_{};             // where the scan for new events stands (delivery_queue)
    bool counts_outdated_ = false;     // events recorded or claimed since the last count
    uint64_t next_tag_ = 1;
    std::unordered_map<uint64_t, InFlight> in_flight_;
    std::unordered_map<std::string, TriggerSettings> settings_;
    std::unordered_map<std::string, TriggerActivity> activity_;
    std::vector<AttemptRecord> finished_;
    std::priority_queue<Clock::time_point, std::vector<Clock::time_point>, std::greater<>>
        retry_deadlines_;
    std::mt19937_64 random_{std::random_device{}()};
};

// Takes this database's slot; false when another live worker already serves it.
bool take_slot(Oid database_oid) {
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, true);
    bool taken = false;
    if (slot != nullptr &&
        (slot->worker_pid == 0 || (kill(slot->worker_pid, 0) != 0 && errno == ESRCH))) {
        slot->worker_pid = MyProcPid;
        slot->worker_latch = MyLatch;
        slot->requests_in_flight = 0;
        my_slot = slot;
        requests_seen = slot->request_count;
        taken = true;
    }
    SpinLockRelease(&state->mutex);
    return taken;
}

// In a transaction: does this database have the extension? Also names the database.
bool extension_installed(char **database_name) {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    bool installed = OidIsValid(get_extension_oid("pg_eventhooks", true));
    *database_name = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
    CommitTransactionCommand();
    return installed;
}

}  // namespace

}  // namespace eventhooks::pg

extern "C" {
PGDLLEXPORT void eventhooks_delivery_worker_main(Datum);

void eventhooks_delivery_worker_main(Datum main_arg) {
    using namespace eventhooks::pg;
    Oid database_oid = DatumGetObjectId(main_arg);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, handle_sigterm);
    BackgroundWorkerUnblockSignals();
    if (!take_slot(database_oid)) proc_exit(0);
    before_shmem_exit(release_slot, (Datum)0);

    BackgroundWorkerInitializeConnectionByOid(database_oid, InvalidOid, 0);
    // The worker runs as a superuser: resolve nothing through schemas users can create in.
    SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
    // The claim reads new events in primary-key order from its cursor and stops after a batch.
    // Before event_log has statistics (a fresh backlog), the planner takes "pending" for rare
    // and prefers reading everything after the cursor through a bitmap and sorting it: 0.4 s a
    // round instead of 1 ms (bench/RESULTS.md). None of the worker's statements wants a sort or
    // a bitmap scan, so it plans without them.
    SetConfigOption("enable_sort", "off", PGC_SUSET, PGC_S_OVERRIDE);
    SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
    char *database_name = nullptr;
    if (!extension_installed(&database_name)) {
        mark_extension_missing();
        proc_exit(0);
    }
    pgstat_report_appname("pg_eventhooks delivery");
    ereport(LOG,
            (errmsg("pg_eventhooks delivery worker started for database \"%s\"", database_name)));
    // SQL runs through call_postgres (errors become PgError and unwind). The few direct calls
    // in the loop (WaitEventSetWait, ProcessConfigFile, ...) have no PG_TRY above them: an
    // ERROR there is promoted to FATAL and ends the process, skipping the loop's destructors.
    // The HTTP thread is stopped by stop_http_thread then; the rest is memory the exit frees.
    // The launcher starts a new worker, which resends what was in flight.
    before_shmem_exit(stop_http_thread, (Datum)0);
    guard_entry([]() -> Datum {
        DeliveryLoop loop;
        loop.run();
        return (Datum)0;
    });
    ereport(LOG,
            (errmsg("pg_eventhooks delivery worker stopped for database \"%s\"", database_name)));
    proc_exit(0);
}
}
