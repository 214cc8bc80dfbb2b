/* Recordings through the C API: start, stop, list, verify, replay, seal, delete, and the
 * refusals (bad names, no root configured, unknown recordings, bad handles). */
#include "harness.h"

#include <unistd.h>

static char root[64];

static const char *ask(waiter *w, storage_status expected) {
    return expect_answer(w, expected);
}

static char *bob_config(void) {
    static char config[256];
    snprintf(config, sizeof config,
             "{\"participant_id\":\"bob\",\"recording\":{\"root\":\"%s\"}}", root);
    return config;
}

static void record_verify_replay_delete(void) {
    collector bob_events;
    events_init(&bob_events);
    storage_ctx *alice = new_ctx("{\"participant_id\":\"alice\"}", NULL);
    storage_ctx *bob = new_ctx(bob_config(), &bob_events);
    waiter w;
    waiter_init(&w);

    CHECK_EQ_INT(storage_recording_start(bob, "c-rec", "{\"channels\":[\"room\"]}", record_cb, &w),
                 STORAGE_OK);
    ask(&w, STORAGE_OK);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        buffer m = wrap_msg(alice, "room", id, "payload");
        free(unwrap_msg(bob, m));
        buffer_free(&m);
    }
    buffer other = wrap_msg(alice, "elsewhere", "o1", "not recorded");
    free(unwrap_msg(bob, other));
    buffer_free(&other);

    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(bob, "c-rec", record_cb, &w), STORAGE_OK);
    const char *summary = ask(&w, STORAGE_OK);
    CHECK_CONTAINS(summary, "\"written\":5");
    CHECK_CONTAINS(summary, "\"dropped\":0");
    CHECK_CONTAINS(summary, "\"manifest\":{");

    waiter_reset(&w);
    CHECK_EQ_INT(storage_recordings_list(bob, record_cb, &w), STORAGE_OK);
    const char *list = ask(&w, STORAGE_OK);
    CHECK_CONTAINS(list, "\"recordings\":[");
    CHECK_CONTAINS(list, "\"name\":\"c-rec\"");

    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_verify(bob, "c-rec", record_cb, &w), STORAGE_OK);
    const char *report = ask(&w, STORAGE_OK);
    CHECK_CONTAINS(report, "\"ok\":true");
    CHECK_CONTAINS(report, "\"status\":\"ok\"");

    waiter_reset(&w);
    CHECK_EQ_INT(storage_replay_start(bob, "c-rec", "{\"rate\":0,\"remap\":{\"room\":\"sim\"}}",
                                      record_cb, &w),
                 STORAGE_OK);
    CHECK_CONTAINS(ask(&w, STORAGE_OK), "\"replayId\":1");
    events_wait_match(&bob_events, 0, "\"eventType\":\"replay_finished\"", "\"messages\":5",
                      HARNESS_TIMEOUT_MS);
    CHECK_EQ_INT(events_count_matching(&bob_events, "\"eventType\":\"replay_message\"",
                                       "\"channelId\":\"sim\""),
                 5);
    char *content = b64_encode("payload", 7);
    long first = events_find(&bob_events, 0, "replay_message", "\"messageId\":\"m0\"");
    CHECK(first >= 0);
    CHECK_CONTAINS(events_get(&bob_events, (size_t)first), content);
    CHECK_CONTAINS(events_get(&bob_events, (size_t)first), "\"senderId\":\"alice\"");
    free(content);

    waiter_reset(&w);
    CHECK_EQ_INT(storage_replay_stop(bob, 99, record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_RECORDING_NOT_FOUND);

    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_delete(bob, "c-rec", record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_OK);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_verify(bob, "c-rec", record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_RECORDING_NOT_FOUND);

    waiter_destroy(&w);
    free_ctx(alice);
    free_ctx(bob);
    events_destroy(&bob_events);
}

static void ring_seal(void) {
    storage_ctx *alice = new_ctx("{\"participant_id\":\"alice\"}", NULL);
    storage_ctx *bob = new_ctx(bob_config(), NULL);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_recording_start(bob, "ring", "{\"mode\":\"ring\",\"window_secs\":60}",
                                         record_cb, &w),
                 STORAGE_OK);
    ask(&w, STORAGE_OK);
    buffer m = wrap_msg(alice, "room", "r1", "in the window");
    free(unwrap_msg(bob, m));
    buffer_free(&m);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_seal(bob, "ring", "ring-copy", record_cb, &w), STORAGE_OK);
    const char *manifest = ask(&w, STORAGE_OK);
    CHECK_CONTAINS(manifest, "\"mode\":\"ring\"");
    CHECK_CONTAINS(manifest, "\"message_count\":1");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_seal(bob, "ring", "ring-copy", record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_RECORDING_EXISTS);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(bob, "ring", record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_OK);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_delete(bob, "ring-copy", record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_OK);
    waiter_destroy(&w);
    free_ctx(alice);
    free_ctx(bob);
}

static void refusals(void) {
    storage_ctx *bob = new_ctx(bob_config(), NULL);
    storage_ctx *off = new_ctx("{}", NULL);
    waiter w;
    waiter_init(&w);
    const char *bad_names[] = {"../escape", "", "..", "a/b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        waiter_reset(&w);
        CHECK_EQ_INT(storage_recording_start(bob, bad_names[i], NULL, record_cb, &w), STORAGE_OK);
        CHECK_CONTAINS(ask(&w, STORAGE_RECORDING_INVALID), "invalid recording name");
    }
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_start(bob, "r", "{\"mode\":1}", record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(ask(&w, STORAGE_RECORDING_INVALID), "`mode`");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_start(off, "r", NULL, record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(ask(&w, STORAGE_RECORDING_INVALID), "recording.root");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(bob, "never", record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_RECORDING_NOT_FOUND);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_replay_start(bob, "never", NULL, record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_RECORDING_NOT_FOUND);
    /* Argument errors are returned at once and reported to the callback. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_start(bob, NULL, NULL, record_cb, &w), STORAGE_NULL_ARGUMENT);
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK_EQ_INT(storage_recording_verify(NULL, "r", NULL, NULL), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_recordings_list(NULL, NULL, NULL), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_replay_stop(NULL, 1, NULL, NULL), STORAGE_INVALID_HANDLE);
    const char bad_utf8[] = {(char)0xff, 0};
    CHECK_EQ_INT(storage_recording_delete(bob, bad_utf8, NULL, NULL), STORAGE_INVALID_UTF8);
    waiter_destroy(&w);
    free_ctx(bob);
    free_ctx(off);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/storage-c-recording-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    RUN_TEST(record_verify_replay_delete);
    RUN_TEST(ring_seal);
    RUN_TEST(refusals);
    CHECK_EQ_INT(rmdir(root), 0); /* every recording was deleted through the API */
    return harness_report();
}
