// The registry of timed sources and the request body of a claimed event (delivery_source.hpp).
#include "pg/delivery/delivery_source.hpp"

#include "core/request_builder.hpp"
#include "pg/delivery/delivery_queue.hpp"

namespace eventhooks::pg {

extern const TimedSource kCronSource;       // cron_source.cpp
extern const TimedSource kScheduledSource;  // scheduled_source.cpp

const std::vector<const TimedSource *> &timed_sources() {
    static const std::vector<const TimedSource *> sources = {&kCronSource, &kScheduledSource};
    return sources;
}

std::string request_body(const ClaimedEvent &event, int max_retries) {
    if (event.source != SourceKind::EventTrigger) return event.payload;  // made by its claim
    core::EventForDelivery delivery{event.id,      event.trigger_name, event.schema_name,
                                    event.table_name, event.payload, event.created_at,
                                    max_retries,   event.tries};
    return core::build_event_body(delivery);
}

std::string source_label(SourceKind source, const std::string &name) {
    switch (source) {
        case SourceKind::EventTrigger:
            return "event trigger \"" + name + "\"";
        case SourceKind::CronTrigger:
            return "cron trigger \"" + name + "\"";
        case SourceKind::ScheduledEvent:
            break;
    }
    return name;  // already "scheduled event <id>"
}

}  // namespace eventhooks::pg
