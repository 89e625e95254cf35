// Streams and events. Every op and copy of this plugin runs synchronously at enqueue, so a
// stream is only a handle: synchronize and wait return at once, and an event records the
// steady-clock time at which everything enqueued before it had already finished.
#include <chrono>

#include "api_functions.h"
#include "cpu_internal.h"

namespace tsr::cpu {

tsr_stream_s* check_stream(tsr_stream_t stream, const char* what) {
  TSR_PLUGIN_CHECK_ARG(stream != nullptr && stream->magic == kStreamMagic,
                       "%s: not a valid cpu stream handle", what);
  return stream;
}

tsr_event_s* check_event(tsr_event_t event, const char* what) {
  TSR_PLUGIN_CHECK_ARG(event != nullptr && event->magic == kEventMagic,
                       "%s: not a valid cpu event handle", what);
  return event;
}

namespace api {

tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out) {
  return tsr::sdk::guard([&] {
    tsr_device_s* d = check_device(device, "stream_create");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "stream_create: out is NULL");
    auto* s = new tsr_stream_s();
    s->device = d;
    d->live.fetch_add(1);
    *out = s;
  });
}

tsr_error* stream_destroy(tsr_stream_t stream) {
  return tsr::sdk::guard([&] {
    tsr_stream_s* s = check_stream(stream, "stream_destroy");
    // An unfinished capture dies with its stream.
    delete s->capturing;
    s->device->live.fetch_sub(1);
    s->magic = kDeadMagic;
    delete s;
  });
}

tsr_error* stream_synchronize(tsr_stream_t stream) {
  return tsr::sdk::guard([&] {
    refuse_during_capture(check_stream(stream, "stream_synchronize"), "stream_synchronize");
  });
}

tsr_error* event_create(tsr_device_t device, tsr_event_t* out) {
  return tsr::sdk::guard([&] {
    tsr_device_s* d = check_device(device, "event_create");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "event_create: out is NULL");
    auto* e = new tsr_event_s();
    e->device = d;
    d->live.fetch_add(1);
    *out = e;
  });
}

tsr_error* event_destroy(tsr_event_t event) {
  return tsr::sdk::guard([&] {
    tsr_event_s* e = check_event(event, "event_destroy");
    e->device->live.fetch_sub(1);
    e->magic = kDeadMagic;
    delete e;
  });
}

tsr_error* event_record(tsr_event_t event, tsr_stream_t stream) {
  return tsr::sdk::guard([&] {
    tsr_event_s* e = check_event(event, "event_record");
    check_stream(stream, "event_record: stream");
    e->when = std::chrono::steady_clock::now();
    e->recorded = true;
  });
}

tsr_error* event_synchronize(tsr_event_t event) {
  return tsr::sdk::guard([&] { check_event(event, "event_synchronize"); });
}

tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event) {
  return tsr::sdk::guard([&] {
    check_stream(stream, "stream_wait_event: stream");
    check_event(event, "stream_wait_event: event");
  });
}

tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms) {
  return tsr::sdk::guard([&] {
    tsr_event_s* a = check_event(start, "event_elapsed_ms: start");
    tsr_event_s* b = check_event(end, "event_elapsed_ms: end");
    TSR_PLUGIN_CHECK_ARG(ms != nullptr, "event_elapsed_ms: ms is NULL");
    TSR_PLUGIN_CHECK(a->recorded && b->recorded, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "event_elapsed_ms: both events must have been recorded");
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  });
}

}  // namespace api
}  // namespace tsr::cpu
