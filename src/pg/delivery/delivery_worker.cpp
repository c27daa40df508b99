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
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "core/background_http_client.hpp"
#include "core/http_client.hpp"
#include "core/fair_dispatch.hpp"
#include "core/request_builder.hpp"
#include "core/request_signing.hpp"
#include "core/retry_policy.hpp"
#include "core/trigger_config.hpp"
#include "core/url_redaction.hpp"
#include "pg/delivery/delivery_queue.hpp"
#include "pg/delivery/delivery_source.hpp"
#include "pg/delivery/retention.hpp"
#include "pg/delivery/stats_flush.hpp"
#include "pg/guc.hpp"
#include "pg/pg_guard.hpp"
#include "pg/delivery/shared_state.hpp"

namespace eventhooks::pg {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kShutdownGrace = milliseconds(1500);  // for requests in flight at SIGTERM
constexpr auto kCountRefresh = milliseconds(1000);   // pending/due counts for worker_status
// Once the worker goes idle, the counts are refreshed after this much, so that worker_status
// does not show a drained queue as pending for up to a second.
constexpr auto kIdleCountDelay = milliseconds(50);
constexpr auto kWarningInterval = std::chrono::seconds(10);
const std::vector<std::string> kNone;
// A count costs a scan of what is pending: it takes at most 1/kCountCostShare of the time.
constexpr int kCountCostShare = 50;
// After a round that could not record its results or claim, the worker waits this long, doubled
// at each failure in a row up to kMaxRoundWait, before it tries again.
constexpr auto kFirstRoundWait = milliseconds(1000);
constexpr auto kMaxRoundWait = milliseconds(10000);
// Results kept in memory because they could not be recorded: beyond this many, no new event is
// sent until they can be (memory stays bounded; they are never sent again meanwhile).
constexpr size_t kKeptResultsLimit = 100;
// Added to retry deadlines so that the claim's now() is past next_retry_at when they fire.
constexpr auto kClockMargin = milliseconds(5);
constexpr size_t kMaxRememberedWebhooks = 10000;
// An event whose trigger is not in event_triggers is archived only once its trigger's name has
// been missing this long: a restore loads event_log's rows before event_triggers' (each table's
// data commits on its own, pg_restore -j may run others between them), and a worker running
// meanwhile must not archive the restored events of triggers about to be loaded. Until then
// such an event is looked at again after the time its name has been missing so far (within
// these bounds): quickly right after a restore, rarely for a trigger deleted by hand.
constexpr auto kMissingTriggerGrace = milliseconds(3600 * 1000);
constexpr auto kMissingTriggerFirstLook = milliseconds(1000);
constexpr auto kMissingTriggerMaxLook = milliseconds(60 * 1000);
// Cron triggers have their events planned two hours ahead (cron_planning.cpp); planning again
// this often keeps that horizon.
constexpr auto kPrepareInterval = milliseconds(60000);

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

// The response part of an invocation-log row. What the receiver sent is kept as close to its
// bytes as jsonb allows: jsonb cannot hold \u0000, so NULs become spaces, and bytes that are
// not UTF-8 become U+FFFD (the dump's replace handler); otherwise the row could not be stored.
std::string response_log(const core::HttpResponse &response) {
    auto without_nul = [](std::string text) {
        for (char &c : text)
            if (c == '\0') c = ' ';
        return text;
    };
    nlohmann::json log;
    if (response.got_response) {
        log["status"] = response.status;
        log["body"] = without_nul(response.body);
        log["body_truncated"] = response.body_truncated;
        if (response.retry_after) log["retry_after"] = without_nul(*response.retry_after);
    } else {
        log["error"] = without_nul(response.error);
    }
    log["elapsed_ms"] = response.elapsed_ms;
    return log.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parsed delivery settings of one trigger, re-parsed only when its stored text changes.
struct TriggerSettings {
    std::string headers_text;
    std::string retry_text;
    std::string signing_text;
    std::vector<core::HeaderConf> headers;
    core::RetryConf retry;
    std::optional<core::SigningConf> signing;  // nullopt: unsigned
    std::string problem;  // stored configuration unreadable (hand-edited): every attempt fails
};

struct TriggerActivity {
    int consecutive_failures = 0;
    Clock::time_point last_warning{};
};

struct InFlight {
    SourceKind source = SourceKind::EventTrigger;
    std::string event_id;
    std::string trigger_name;
    std::string queue_key;  // ClaimedEvent::queue_key: its webhook's request slots
    int tries_before = 0;
    core::RetryConf retry;
    std::string request_log;
    Clock::time_point started;
    std::string row_version;  // ClaimedEvent::row_version
    size_t payload_at = 0;    // request_log up to its "payload" member
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
    DeliveryLoop() : http_(client_options()), shares_(guc_max_concurrent_deliveries) {
        running_http_client = &http_;
        resume_cursor(cursor_);
    }
    ~DeliveryLoop() { running_http_client = nullptr; }

    void run() {
        WaitEventSet *wait_set = nullptr;
        int completion_fd = http_.wait_fd();
        call_postgres([&]() {
            wait_set = CreateWaitEventSet(TopMemoryContext, 3);
            AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
            AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
            AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, completion_fd, nullptr, nullptr);
        });

        bool want_claim = true;
        auto next_poll = Clock::now() + poll_interval();
        auto next_count = Clock::now();
        while (!shutdown_requested) {
            collect_responses();
            if (take_configuration_change()) give_back_waiting_events();
            if (prepare_sources_if_due()) want_claim = timed_poke_ = true;
            start_waiting_requests();
            if (room_for_passed_over_webhooks() || claim_again_) want_claim = timed_poke_ = true;
            claim_again_ = false;
            auto now = Clock::now();
            while (!retry_deadlines_.empty() && retry_deadlines_.top() <= now) {
                retry_deadlines_.pop();
                want_claim = true;
            }
            if (now >= timed_due_at_) want_claim = true;
            // After a failed round, nothing happens until the wait is over (responses are
            // still collected); results kept back are then recorded in a round that claims
            // nothing, so that a result that still cannot be written takes no claim down with it.
            bool holding = now < hold_until_;
            bool recording_kept = false;
            if (!holding && !unrecorded_.empty() && now >= unrecorded_retry_at_) {
                finished_.insert(finished_.begin(), std::make_move_iterator(unrecorded_.begin()),
                                 std::make_move_iterator(unrecorded_.end()));
                unrecorded_.clear();
                recording_kept = true;
            }
            int capacity = guc_max_concurrent_deliveries - static_cast<int>(http_.in_flight());
            int limit = want_claim && !holding && !recording_kept
                            ? std::min(guc_fetch_batch_size, capacity)
                            : 0;
            bool refresh = now >= next_count && !holding;
            if (limit > 0 || (!finished_.empty() && !holding) || refresh) {
                if (limit > 0 || !finished_.empty()) counts_outdated_ = true;
                if (limit > 0) excluded_at_claim_ = webhooks_without_room();
                bool check_timed = timed_poke_ || now >= timed_due_at_;
                RoundResult round = run_round(finished_, std::max(limit, 0),
                                              limit > 0 ? excluded_at_claim_ : kNone, held_ids(),
                                              cursor_, trigger_cursors_, refresh, check_timed);
                // The database computed next_retry_at during the round; a deadline taken now
                // (after its commit) is never earlier than that, so the claim finds it due.
                auto recorded_at = Clock::now();
                auto timed_retry_at = Clock::time_point::max();
                for (const auto &record : finished_)
                    if (record.retry_in_ms >= 0) {
                        auto due = recorded_at + milliseconds(record.retry_in_ms) + kClockMargin;
                        retry_deadlines_.push(due);
                        if (record.source != SourceKind::EventTrigger)
                            timed_retry_at = std::min(timed_retry_at, due);
                    }
                finished_.clear();
                if (!round.extension_present) {
                    report_extension_missing();
                    break;
                }
                if (!round.failure.empty())
                    round_failed(round);
                else if (unrecorded_.empty())
                    round_failures_ = 0;
                if (round.event_log_replaced) {
                    (void)ready_.take_all();  // events of the dropped event_log
                    want_claim = true;
                }
                // The round saw configuration changes committed before it (its transaction
                // took them in): what waits from earlier claims may carry an old webhook.
                if (take_configuration_change()) give_back_waiting_events();
                if (round.next_retry_in_ms >= 0) expect_retry_in(round.next_retry_in_ms);
                note_timed_check(round, recorded_at);
                // After the check's next due time: that one may not see these retries.
                timed_due_at_ = std::min(timed_due_at_, timed_retry_at);
                for (auto &event : round.claimed) take_claimed(std::move(event));
                start_waiting_requests();
                if (limit > 0 && !round.more_due && !round.timed_more_due && round.failure.empty())
                    want_claim = false;
                if (round.requeued > 0) want_claim = true;  // requeued during their attempt
                // Paused or resumed triggers (read by the round): a resumed one's events wait
                // behind its cursor; claim again for them.
                if (round.paused_changed) claim_again_ = true;
                if (claim_again_) want_claim = true;  // events given back
                claim_again_ = false;
                if (round.counts_refreshed) {
                    auto spacing = std::chrono::microseconds(round.count_cost_us * kCountCostShare);
                    counts_expensive_ = spacing > kCountRefresh;
                    next_count = now + std::max<Clock::duration>(kCountRefresh, spacing);
                    counts_outdated_ = false;
                    publish_counts(round.counts);
                }
                // The resume point to keep in its table (resume_point.cpp): a claim then keeps it.
                if (round.keep_point_in_ms >= 0)
                    retry_deadlines_.push(Clock::now() + milliseconds(round.keep_point_in_ms));
                // The HTTP thread may have finished requests during the round: take them now.
                collect_responses();
                start_waiting_requests();
                publish_in_flight();
                if (!finished_.empty() && Clock::now() >= hold_until_) continue;  // record them now
            }
            if (counts_outdated_ && http_.in_flight() == 0 && !want_claim && !counts_expensive_)
                next_count = std::min(next_count, Clock::now() + kIdleCountDelay);
            if (Clock::now() >= hold_until_) retention_.step(want_claim);  // one batch at most
            long timeout = std::min(wait_timeout_ms(want_claim, next_poll, next_count),
                                    retention_.wait_ms(want_claim));
            publish_state();
            stats_.flush_if_due();  // at most once a second
            if (wait_for_work(wait_set, timeout)) want_claim = true;
            publish_wakeup(my_slot);
            if (ConfigReloadPending) reload_settings();
            if (Clock::now() >= next_poll) {
                want_claim = true;
                next_poll = Clock::now() + poll_interval();
                timed_poke_ = true;  // the fallback covers the timed sources too
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
        const char *allowed = guc_allowed_destinations ? guc_allowed_destinations : "";
        const char *denied = guc_denied_destinations ? guc_denied_destinations : "";
        std::string unreadable;
        try {
            options.destinations = std::make_shared<const core::DestinationPolicy>(allowed, denied);
        } catch (const core::ConfigError &e) {
            // A list in postgresql.conf that did not parse at server start (the check hook lets
            // it through then, see guc.cpp): send nowhere rather than anywhere.
            unreadable = e.what();
            options.destinations =
                std::make_shared<const core::DestinationPolicy>("", "0.0.0.0/0, ::/0");
        }
        if (!unreadable.empty())
            call_postgres([&]() {
                // NOLINTNEXTLINE(bugprone-lambda-function-name): the message says what is wrong
                ereport(WARNING,
                        (errmsg("%s", unreadable.c_str()),
                         errdetail("No webhook is sent until the setting is fixed and reloaded.")));
            });
        return options;
    }

    // Plans upcoming cron events (the cron source's prepare step): at the start, every
    // kPrepareInterval, and when cron triggers changed. True if it ran: claim, so that the next
    // due time is known.
    bool prepare_sources_if_due() {
        auto now = Clock::now();
        if (now < hold_until_) return false;  // the change, if any, is taken after the hold
        bool changed = take_cron_configuration_change();
        if (!changed && now < next_prepare_) return false;
        next_prepare_ = now + kPrepareInterval;
        std::string failure = prepare_timed_sources();
        if (!failure.empty())
            ereport(WARNING, (errmsg("pg_eventhooks: could not plan upcoming events: %s",
                                     failure.c_str()),
                              errdetail("What was planned before is still sent; the worker tries "
                                        "again in %ld s.",
                                        static_cast<long>(kPrepareInterval.count() / 1000))));
        return true;
    }

    // What a round learnt of the timed sources: when to look at them next. A round that failed
    // or did not look leaves the need to look as it was.
    // timed_due_at_ is also a deadline of the wait (wait_timeout_ms).
    void note_timed_check(const RoundResult &round, Clock::time_point at) {
        if (!round.failure.empty() || round.timed_check_skipped) timed_poke_ = true;
        if (!round.timed_checked) return;
        timed_poke_ = round.timed_more_due;
        timed_due_at_ = Clock::time_point::max();
        if (round.timed_next_due_in_ms >= 0)
            timed_due_at_ = at + milliseconds(round.timed_next_due_in_ms) + kClockMargin;
    }

    static Clock::duration poll_interval() { return milliseconds(guc_poll_interval_ms); }

    // Waits on the latch, the HTTP thread's completions and postmaster death; true if the latch
    // was set. Through call_postgres like every other call into Postgres from the loop: an
    // ERROR in it (from CHECK_FOR_INTERRUPTS, say) becomes PgError and unwinds the loop's C++
    // objects (the HTTP thread is stopped and joined) instead of longjmp-ing over them.
    static bool wait_for_work(WaitEventSet *wait_set, long timeout) {
        bool latch_set = false;
        call_postgres([&]() {
            WaitEvent event;
            int fired = WaitEventSetWait(wait_set, timeout, &event, 1, PG_WAIT_EXTENSION);
            if (fired > 0 && (event.events & WL_LATCH_SET)) {
                ResetLatch(MyLatch);
                latch_set = true;
            }
            CHECK_FOR_INTERRUPTS();
            // Configuration changes (relcache callbacks) are seen before waiting requests
            // start, not only at the next round's transaction.
            AcceptInvalidationMessages();
        });
        return latch_set;
    }

    void reload_settings() {
        ConfigReloadPending = false;
        // The reload may call setlocale() and setenv(), which must not race the HTTP thread.
        http_.pause();
        try {
            call_postgres([]() { ProcessConfigFile(PGC_SIGHUP); });
        } catch (...) {
            http_.resume();
            throw;
        }
        http_.resume();
        http_.set_options(client_options());
        shares_.set_slots(guc_max_concurrent_deliveries);
    }

    long wait_timeout_ms(bool want_claim, Clock::time_point next_poll,
                         Clock::time_point next_count) {
        int capacity = guc_max_concurrent_deliveries - static_cast<int>(http_.in_flight());
        auto now = Clock::now();
        if (want_claim && capacity > 0 && now >= hold_until_) return 0;
        auto deadline = next_poll;
        if (!unrecorded_.empty()) deadline = std::min(deadline, unrecorded_retry_at_);
        if (!retry_deadlines_.empty()) deadline = std::min(deadline, retry_deadlines_.top());
        // A timed event's time; once past, want_claim covers it (while there is no room for
        // a claim, the completions wake the worker: no spin on a past deadline).
        if (timed_due_at_ > now) deadline = std::min(deadline, timed_due_at_);
        // Counts are refreshed while work goes on, and once more when it ends; an idle
        // worker does not wake up for them.
        if (http_.in_flight() > 0 || counts_outdated_) deadline = std::min(deadline, next_count);
        // Holding after a failed round: nothing to do before the wait is over.
        deadline = std::max(deadline, hold_until_);
        // curl's timers are the HTTP thread's business: nothing else to wake up for.
        return std::max<long>(0,
                              std::chrono::duration_cast<milliseconds>(deadline - now).count() + 1);
    }

    // Events this worker holds (in flight or waiting for a slot): the claim skips them.
    HeldIds held_ids() const {
        HeldIds ids;
        auto add = [&ids](SourceKind source, const std::string &id) {
            (source == SourceKind::EventTrigger ? ids.event_log : ids.timed).push_back(id);
        };
        for (const auto &[tag, request] : in_flight_) add(request.source, request.event_id);
        ready_.for_each([&](const ClaimedEvent &event) { add(event.source, event.id); });
        // Sent, result not yet recorded: not to be claimed (sent) again either.
        for (const auto &record : unrecorded_) add(record.source, record.event_id);
        return ids;
    }

    // A claimed event waits in its webhook's queue until the shares let it start.
    void take_claimed(ClaimedEvent event) {
        if (!event.trigger_exists) {
            AttemptRecord record;  // to event_log (the timed sources claim only with a trigger)
            record.event_id = event.id;
            record.trigger_name = event.trigger_name;
            record.row_version = event.row_version;
            auto missing_for = event.source == SourceKind::EventTrigger
                                   ? time_trigger_missing(event.trigger_name)
                                   : kMissingTriggerGrace;
            if (missing_for >= kMissingTriggerGrace) {
                record.archive = true;
            } else {
                record.hold = true;
                record.retry_in_ms =
                    std::clamp(missing_for, kMissingTriggerFirstLook, kMissingTriggerMaxLook)
                        .count();
            }
            finished_.push_back(std::move(record));
            return;
        }
        if (!trigger_missing_since_.empty()) trigger_missing_since_.erase(event.trigger_name);
        std::string webhook = event.queue_key;
        ready_.push(webhook, std::move(event));
    }

    // How long events of this trigger name have been claimed without their trigger (0: first).
    // A name not met for longer than its events are held between looks starts again: a name
    // missing an hour ago, then back, must not have today's restored events archived at once.
    milliseconds time_trigger_missing(const std::string &trigger_name) {
        if (trigger_missing_since_.size() > kMaxRememberedWebhooks) trigger_missing_since_.clear();
        auto now = Clock::now();
        auto it = trigger_missing_since_.try_emplace(trigger_name, MissingTrigger{now, now}).first;
        MissingTrigger &missing = it->second;
        if (now - missing.last_seen > 2 * kMissingTriggerMaxLook) missing.first_seen = now;
        missing.last_seen = now;
        return std::chrono::duration_cast<milliseconds>(now - missing.first_seen);
    }

    // A trigger was created, replaced or deleted: the events waiting for a slot were claimed with
    // the configuration of then. They go back (nothing is written: they are pending) and are
    // claimed again with the current one (or archived, if their trigger is gone).
    void give_back_waiting_events() {
        if (ready_.size() == 0) return;
        for (auto &event : ready_.take_all())
            give_back(trigger_cursors_, event);
        claim_again_ = timed_poke_ = true;
    }

    // Starts waiting requests, one webhook at a time in turn, while the shares allow.
    // Not while results cannot be recorded (round_failed holds the worker): nothing new is
    // sent whose result could not be written either.
    void start_waiting_requests() {
        if (ready_.size() == 0 || Clock::now() < hold_until_) return;
        ready_.drain([&](const std::string &webhook) { return shares_.may_start(webhook); },
                     [&](const std::string &, const ClaimedEvent &event) { dispatch(event); });
    }

    // Webhooks that get no more events for now: their claimed events still wait for a slot,
    // or they may start no more requests. (A claimed event thus waits in memory only until its
    // webhook's next free slots, at most a claim's worth of events per webhook.)
    std::vector<std::string> webhooks_without_room() const {
        std::vector<std::string> names = ready_.webhooks();
        for (auto &name : shares_.webhooks_without_room())
            if (!ready_.waiting(name)) names.push_back(std::move(name));
        return names;
    }

    // A webhook left out of the last claim (its events waited for a slot) has room now: claim
    // again, for its events the cursor passed by and its due retries.
    bool room_for_passed_over_webhooks() const {
        for (const auto &name : excluded_at_claim_)
            if (!ready_.waiting(name) && shares_.may_start(name)) return true;
        return false;
    }

    TriggerSettings &settings_for(const ClaimedEvent &event) {
        // One-off events key their queue by webhook: keep these maps from growing without end
        // (a map cleared costs a parse per webhook and forgets failure streaks, nothing else).
        if (settings_.size() > kMaxRememberedWebhooks) settings_.clear();
        if (activity_.size() > kMaxRememberedWebhooks) activity_.clear();
        TriggerSettings &settings = settings_[event.queue_key];
        if (settings.headers_text == event.headers && settings.retry_text == event.retry_conf &&
            settings.signing_text == event.signing && !settings.headers_text.empty())
            return settings;
        settings = TriggerSettings{};
        settings.headers_text = event.headers;
        settings.retry_text = event.retry_conf;
        settings.signing_text = event.signing;
        try {
            settings.headers = core::parse_headers(event.headers.empty() ? "[]" : event.headers);
            // Cron triggers and scheduled events have a tolerance_sec too (their source
            // applies it at claim).
            settings.retry =
                core::parse_retry_conf(event.retry_conf.empty() ? "{}" : event.retry_conf,
                                       event.source != SourceKind::EventTrigger);
            settings.signing = core::parse_signing(event.signing);
        } catch (const std::exception &e) {
            settings.problem = std::string("stored configuration is invalid: ") + e.what();
        }
        return settings;
    }

    void dispatch(const ClaimedEvent &event) {
        TriggerSettings &settings = settings_for(event);
        std::string body = request_body(event, settings.retry.num_retries);
        std::string problem = settings.problem;
        std::string url = core::resolve_webhook_url(event.webhook, event.webhook_from_env,
                                                    getenv_at_send_time, problem);
        core::BuiltHeaders headers =
            core::build_request_headers(settings.headers, event.id, getenv_at_send_time);
        // Signed at each attempt's send time: a retry carries a fresh timestamp.
        if (settings.signing)
            core::add_signature(headers, core::sign_request(*settings.signing, getenv_at_send_time,
                                                            event.id, std::time(nullptr), body));
        if (problem.empty()) problem = headers.error;

        nlohmann::json request_log;
        request_log["url"] = event.webhook.empty() ? "$" + event.webhook_from_env
                                                    : core::redact_url(event.webhook);
        request_log["headers"] = headers.logged;
        std::string request_text =
            request_log.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        // Splice the body in as JSON without parsing it again.
        request_text.pop_back();
        size_t payload_at = request_text.size();
        request_text += ",\"payload\":" + body + "}";

        InFlight request{event.source,   event.id,     event.trigger_name,
                         event.queue_key, event.tries, settings.retry,
                         std::move(request_text), Clock::now()};
        request.row_version = event.row_version;
        request.payload_at = payload_at;
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
        shares_.started(event.queue_key);
        in_flight_.emplace(tag, std::move(request));
        http_.submit(std::move(http_request));
    }

    void collect_responses() {
        for (auto &response : http_.take_completed()) {
            auto it = in_flight_.find(response.tag);
            if (it == in_flight_.end()) continue;
            shares_.finished(it->second.queue_key);
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
        record.source = request.source;
        record.trigger_name = request.trigger_name;
        record.tries = request.tries_before + 1;
        record.delivered = decision.result == core::AttemptResult::Delivered;
        record.error = decision.result == core::AttemptResult::Failed;
        if (decision.result == core::AttemptResult::RetryLater)
            record.retry_in_ms = decision.delay_ms;
        record.status = response.got_response ? static_cast<int>(response.status) : 0;
        // eventhooks.log_successful_request_bodies off: a delivered attempt's body is the
        // event's payload, which its row holds; "payload": null (a body is never JSON null).
        if (success && !guc_log_successful_request_bodies)
            record.request =
                request.request_log.substr(0, request.payload_at) + ",\"payload\":null}";
        else
            record.request = request.request_log;
        record.response = response_log(response);
        record.row_version = request.row_version;
        finished_.push_back(std::move(record));
        note_outcome(request, success, response);
    }

    void note_outcome(const InFlight &request, bool success, const core::HttpResponse &response) {
        TriggerActivity &activity = activity_[request.queue_key];
        SharedState *state = shared_state();
        bool event_trigger = request.source == SourceKind::EventTrigger;
        if (success) {
            if (event_trigger) stats_.delivered(request.trigger_name, request.event_id);
            activity.consecutive_failures = 0;
            SpinLockAcquire(&state->mutex);
            my_slot->events_sent++;
            SpinLockRelease(&state->mutex);
            return;
        }
        activity.consecutive_failures++;
        std::string what = response.got_response ? "HTTP status " + std::to_string(response.status)
                                                 : response.error;
        std::string who = source_label(request.source, request.trigger_name);
        std::string message = who + ": " + what;
        if (event_trigger) stats_.failed(request.trigger_name, what);
        SpinLockAcquire(&state->mutex);
        my_slot->events_failed++;
        strlcpy(my_slot->last_error, message.c_str(), kLastErrorLength);
        my_slot->last_error_at = GetCurrentTimestamp();
        SpinLockRelease(&state->mutex);
        auto now = Clock::now();
        if (activity.consecutive_failures >= 3 && now - activity.last_warning >= kWarningInterval) {
            activity.last_warning = now;
            ereport(WARNING, (errmsg("pg_eventhooks: webhook of %s failed %d times in a row, last: %s",
                                     who.c_str(), activity.consecutive_failures, what.c_str())));
        }
    }

    // A round failed (run_round). Its results that could not be written at all are kept, not
    // dropped (their events would be claimed and sent again), and written after a growing wait.
    // If the claim failed, or kKeptResultsLimit results are kept, the database refuses the
    // worker's work (read-only, disk full, a trigger on the log that raises): nothing new is
    // sent either until the wait is over. Never a tight loop, never a resend.
    void round_failed(RoundResult &round) {
        auto now = Clock::now();
        round_failures_++;
        milliseconds wait =
            std::min(kFirstRoundWait * (1 << std::min(round_failures_ - 1, 4)), kMaxRoundWait);
        long wait_ms = static_cast<long>(wait.count());
        // Results that cannot be written are kept, and the worker goes on with other events
        // (one event's result may be what cannot be stored); but once kKeptResultsLimit are
        // kept, the database is taken to refuse the worker's writes altogether.
        bool refused = round.claim_failed ||
                       unrecorded_.size() + round.unrecorded.size() >= kKeptResultsLimit;
        if (refused) hold_until_ = now + wait;
        if (round.claim_failed) {
            ereport(WARNING,
                    (errmsg("pg_eventhooks: could not claim events: %s", round.failure.c_str()),
                     errdetail("The delivery worker tries again in %ld ms.", wait_ms)));
        } else if (!round.unrecorded.empty()) {
            unrecorded_retry_at_ = now + wait;
            ereport(WARNING,
                    (errmsg("pg_eventhooks: could not record the results of %zu attempts "
                            "(event %s, ...): %s",
                            round.unrecorded.size(), round.unrecorded.front().event_id.c_str(),
                            round.failure.c_str()),
                     errdetail("They are kept and recorded in %ld ms; their events are not sent "
                               "again%s.",
                               wait_ms, refused ? ", and no new event is sent until then" : "")));
            for (auto &record : round.unrecorded) unrecorded_.push_back(std::move(record));
        }
        SharedState *state = shared_state();
        std::string message = "delivery worker: " + round.failure;
        SpinLockAcquire(&state->mutex);
        strlcpy(my_slot->last_error, message.c_str(), kLastErrorLength);
        my_slot->last_error_at = GetCurrentTimestamp();
        SpinLockRelease(&state->mutex);
    }

    void publish_in_flight() {
        std::unordered_map<std::string, int> by_trigger;  // trigger_stats.in_flight
        for (const auto &[tag, request] : in_flight_)
            if (request.source == SourceKind::EventTrigger) by_trigger[request.trigger_name]++;
        eventhooks::pg::publish_in_flight(my_slot, static_cast<int>(http_.in_flight()), by_trigger);
    }

    // worker_status.state and connections_open, before each wait.
    void publish_state() {
        WorkerState state = WorkerState::Idle;
        if (Clock::now() < hold_until_)
            state = WorkerState::Holding;
        else if (http_.in_flight() > 0 || ready_.size() > 0)
            state = WorkerState::Delivering;
        publish_worker_state(my_slot, state, core::open_connection_count());
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

    // Each claim names the next retry due after it; its deadline leads to the claim that
    // names the one after. A later deadline than the earliest one held adds nothing: that one
    // fires first and its claim names this one again (so the heap does not grow per round).
    void expect_retry_in(int64_t ms) {
        auto at = Clock::now() + milliseconds(ms) + kClockMargin;
        if (retry_deadlines_.empty() || at < retry_deadlines_.top()) retry_deadlines_.push(at);
    }

    void report_extension_missing() {
        mark_extension_missing();
        ereport(LOG, (errmsg("pg_eventhooks: extension dropped, delivery worker exits")));
    }

    // SIGTERM: take no new events, give requests in flight a short grace period, record what
    // finished. The rest stays claimed and is released by the next worker.
    void finish_in_flight(WaitEventSet *wait_set) {
        publish_worker_state(my_slot, WorkerState::Stopping, core::open_connection_count());
        auto deadline = Clock::now() + kShutdownGrace;
        while (http_.in_flight() > 0 && Clock::now() < deadline) {
            long ms = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
            (void)wait_for_work(wait_set, std::max(ms, 0L));
            collect_responses();
        }
        collect_responses();
        // Requests still in flight stay pending; the published resume point stays below them.
        for (auto &record : unrecorded_) finished_.push_back(std::move(record));
        unrecorded_.clear();
        if (!finished_.empty())
            run_round(finished_, 0, {}, held_ids(), cursor_, trigger_cursors_, false, false);
        finished_.clear();
        stats_.flush_if_due(true);
    }

    core::BackgroundHttpClient http_;  // sends from its own thread while this one runs SQL
    DeliveryStatsWriter stats_;        // trigger_stats' per minute figures (stats_flush.cpp)
    RetentionPass retention_{my_slot};  // eventhooks.retention
    EventCursor cursor_{};             // where the scan for new events stands (delivery_queue)
    bool counts_outdated_ = false;     // events recorded or claimed since the last count
    bool counts_expensive_ = false;    // the last count was spaced out by its cost
    uint64_t next_tag_ = 1;
    std::unordered_map<uint64_t, InFlight> in_flight_;
    core::SlotShares shares_;                  // request slots per webhook
    core::FairQueues<ClaimedEvent> ready_;     // claimed events waiting for a slot, per webhook
    std::vector<TriggerCursor> trigger_cursors_;    // webhooks' events the cursor passed by
    std::vector<std::string> excluded_at_claim_;    // webhooks left out of the last claim
    bool claim_again_ = false;                      // waiting events were given back
    std::unordered_map<std::string, TriggerSettings> settings_;
    std::unordered_map<std::string, TriggerActivity> activity_;
    // Trigger names whose events were claimed without their trigger, since when (take_claimed).
    struct MissingTrigger {
        Clock::time_point first_seen, last_seen;
    };
    std::unordered_map<std::string, MissingTrigger> trigger_missing_since_;
    std::vector<AttemptRecord> finished_;
    // Results that could not be recorded (round_failed): retried at unrecorded_retry_at_.
    std::vector<AttemptRecord> unrecorded_;
    Clock::time_point unrecorded_retry_at_{};
    Clock::time_point hold_until_{};  // no round before this (round_failed)
    Clock::time_point next_prepare_{};  // prepare_sources_if_due
    // The timed sources (cron, scheduled events) are looked at by a claim only when one of
    // theirs is due (timed_due_at_), or when something may have changed (timed_poke_: the
    // start, a poll, events given back, room again, a claim that filled its limit, a failed
    // round); writes by other transactions come as a flag in shared memory (run_round).
    Clock::time_point timed_due_at_ = Clock::time_point::min();
    bool timed_poke_ = true;
    int round_failures_ = 0;          // failed rounds in a row
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
        slot->in_flight_trigger_count = 0;
        slot->state = WorkerState::Starting;
        slot->started_at = GetCurrentTimestamp();
        slot->last_wakeup_at = 0;
        slot->connections_open = 0;
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
    // A cancel (pg_cancel_backend) is ignored, as by Postgres's own long-lived workers: there
    // is no statement of a client to cancel, and a half-done round would only be resent.
    // pg_terminate_backend stops the worker cleanly (SIGTERM); the launcher starts a new one.
    pqsignal(SIGINT, SIG_IGN);
    BackgroundWorkerUnblockSignals();
    am_delivery_worker = true;
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
    // Settings of the database or role (ALTER DATABASE/ROLE ... SET) that would stop the worker
    // from recording what it sent, which it would then send again:
    // - a read-only default: every round's UPDATE and INSERT fail;
    SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
    // - repeatable read or serializable: an attempt's result recorded while the event is
    //   requeued fails with a serialization error instead of seeing the requeue (kRecordSql);
    SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
    // - timeouts: a lock_timeout set for users would fail a round whenever it waits a moment
    //   for a row lock (behind a redeliver_event); the worker waits like any writer.
    //   statement_timeout is armed only for client statements in 15, and so are the idle
    //   timeouts; it is set to 0 all the same, in case that changes.
    SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
    SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
    // - replica: the worker's writes would skip the log tables' ordinary triggers and foreign
    //   keys (a user's audit trigger, a constraint); they are ordinary writes.
    SetConfigOption("session_replication_role", "origin", PGC_SUSET, PGC_S_OVERRIDE);
    // Left as set: synchronous_commit (how durable the records must be is the owner's choice;
    // a record lost in a crash only means its event is sent again), DateStyle, TimeZone,
    // IntervalStyle, extra_float_digits, bytea_output (the worker's SQL reads no value whose
    // text depends on them: created_at is formatted in UTC by to_char, the rest is jsonb,
    // uuid, integers and booleans).
    char *database_name = nullptr;
    if (!extension_installed(&database_name)) {
        mark_extension_missing();
        proc_exit(0);
    }
    if (!take_delivery_place(my_slot)) {
        ereport(WARNING,
                (errmsg("pg_eventhooks: no delivery worker for database \"%s\": all %d places "
                        "(eventhooks.max_databases) are held by other databases with the "
                        "extension",
                        database_name, guc_max_databases),
                 errdetail("Its events are recorded and wait until it gets a place."),
                 errhint("Raise eventhooks.max_databases (takes effect at server restart).")));
        proc_exit(0);
    }
    pgstat_report_appname("pg_eventhooks delivery");
    ereport(LOG,
            (errmsg("pg_eventhooks delivery worker started for database \"%s\"", database_name)));
    // Every call into Postgres from the loop (SQL rounds, the wait, interrupts, the config
    // reload) runs through call_postgres: an ERROR becomes PgError, unwinds the loop (its
    // destructor stops and joins the HTTP thread) and is raised again by guard_entry, promoted
    // to FATAL in a background worker. Exits that skip C++ unwinding (proc_exit from FATAL
    // inside Postgres, postmaster death) stop the thread in stop_http_thread. The launcher
    // starts a new worker, which resends what was in flight.
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
