/* Recordings through the C API: start, stop, list, verify, replay, seal, delete, the
 * refusals (bad names, no root configured, unknown recordings, bad handles), and what a
 * context does with its recordings as it starts: crash recovery reported as
 * recording_recovered events, and the recording.autostart recording announced by
 * recording_started (pulled, or handed to the callback given at creation). */
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
    CHECK_CONTAINS(manifest, "\"head\":\"");
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

/* Leaves recording `name` as a crashed writer would: a manifest, and a chunk file still
 * `.active` that holds no complete MCAP chunk (recovery quarantines it). */
static void plant_crashed_recording(const char *name) {
    storage_ctx *ctx = new_ctx(bob_config(), NULL);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_recording_start(ctx, name, NULL, record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_OK);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(ctx, name, record_cb, &w), STORAGE_OK);
    ask(&w, STORAGE_OK);
    waiter_destroy(&w);
    free_ctx(ctx);
    char path[256];
    snprintf(path, sizeof path, "%s/%s/chunks/.chunk-000005.mcap.active", root, name);
    FILE *file = fopen(path, "wb");
    CHECK(file != NULL);
    CHECK(fputs("\x89MCAP0\r\ncut short", file) >= 0);
    CHECK_EQ_INT(fclose(file), 0);
}

/* bob's configuration with recording.autostart = {"name": "auto", "channels": ["room"]}. */
static char *autostart_config(void) {
    static char config[320];
    snprintf(config, sizeof config,
             "{\"participant_id\":\"bob\",\"recording\":{\"root\":\"%s\","
             "\"autostart\":{\"name\":\"auto\",\"channels\":[\"room\"]}}}",
             root);
    return config;
}

/* The autostarted recording records the room, stops by its generated name, and is then
 * deleted with the crashed one, so the root ends empty. */
static void record_stop_and_clean_up(storage_ctx *bob, const char *autostarted) {
    storage_ctx *alice = new_ctx("{\"participant_id\":\"alice\"}", NULL);
    buffer m = wrap_msg(alice, "room", "a1", "recorded");
    free(unwrap_msg(bob, m));
    buffer_free(&m);
    buffer other = wrap_msg(alice, "elsewhere", "o1", "not recorded");
    free(unwrap_msg(bob, other));
    buffer_free(&other);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_recordings_list(bob, record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(ask(&w, STORAGE_OK), autostarted);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(bob, autostarted, record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(ask(&w, STORAGE_OK), "\"written\":1");
    const char *names[] = {autostarted, "crashed"};
    for (size_t i = 0; i < 2; i++) {
        waiter_reset(&w);
        CHECK_EQ_INT(storage_recording_delete(bob, names[i], record_cb, &w), STORAGE_OK);
        ask(&w, STORAGE_OK);
    }
    waiter_destroy(&w);
    free_ctx(alice);
}

/* As the Go and Python bindings create a context: storage_new_ex, no event callback. */
static void startup_events_wait_to_be_pulled(void) {
    plant_crashed_recording("crashed");
    storage_ctx *bob = NULL;
    char *error = NULL;
    CHECK_EQ_INT(storage_new_ex(autostart_config(), NULL, NULL, &bob, &error), STORAGE_OK);
    CHECK(error == NULL);
    /* Pulled after creation: nothing was lost while no one was listening. */
    char *recovered = pull_event(bob);
    CHECK_CONTAINS(recovered, "\"eventType\":\"recording_recovered\"");
    CHECK_CONTAINS(recovered, "\"name\":\"crashed\"");
    CHECK_CONTAINS(recovered, "\"file\":\".chunk-000005.mcap.active\"");
    CHECK_CONTAINS(recovered, "\"action\":\"quarantined\"");
    CHECK_CONTAINS(recovered, "\"messages\":0");
    CHECK_CONTAINS(recovered, "\"detail\":\"");
    char *started = pull_event(bob);
    CHECK_CONTAINS(started, "\"eventType\":\"recording_started\"");
    char *name = json_string(started, "name");
    CHECK(name != NULL);
    CHECKF(strncmp(name, "auto-", 5) == 0 && strlen(name) > 5 &&
               strspn(name + 5, "0123456789") == strlen(name + 5),
           "generated name %s", name);
    record_stop_and_clean_up(bob, name);
    free(name);
    free(started);
    free(recovered);
    free_ctx(bob);
}

static void startup_events_reach_the_creation_callback(void) {
    plant_crashed_recording("crashed");
    collector events;
    events_init(&events);
    storage_ctx *bob = new_ctx(autostart_config(), &events);
    long recovered = events_wait_match(&events, 0, "\"eventType\":\"recording_recovered\"",
                                       "\"action\":\"quarantined\"", HARNESS_TIMEOUT_MS);
    long started = events_wait_match(&events, 0, "\"eventType\":\"recording_started\"",
                                     "\"name\":\"auto-", HARNESS_TIMEOUT_MS);
    CHECK(recovered < started); /* recovery runs first */
    char *name = json_string(events_get(&events, (size_t)started), "name");
    CHECK(name != NULL);
    record_stop_and_clean_up(bob, name);
    free(name);
    free_ctx(bob);
    events_destroy(&events);
}

/* The refusal reaches the event callback given to storage_new. */
static void autostart_refusals(void) {
    waiter w;
    waiter_init(&w);
    storage_ctx *ctx = NULL;
    /* Nowhere to record: the configuration is refused. */
    CHECK_EQ_INT(storage_new("{\"recording\":{\"autostart\":{\"name\":\"r\"}}}", record_cb,
                             &w, &ctx),
                 STORAGE_INVALID_CONFIG);
    CHECK(ctx == NULL);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_INVALID_CONFIG), "recording.autostart");
    waiter_destroy(&w);
}

/* A recordings root that does not exist, or is a file, is refused as the context is
 * created (not at the first recording request), naming recording.root. */
static void a_root_that_is_not_a_folder_is_refused(void) {
    char file[sizeof root + 16];
    snprintf(file, sizeof file, "%s/a-file", root);
    FILE *made = fopen(file, "w");
    CHECK(made != NULL && fclose(made) == 0);
    const char *roots[][2] = {
        {"/nonexistent/storage-c-test", "does not exist"},
        {file, "is not a directory"},
    };
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        char config[256];
        snprintf(config, sizeof config, "{\"recording\":{\"root\":\"%s\"}}", roots[i][0]);
        waiter w;
        waiter_init(&w);
        storage_ctx *ctx = NULL;
        CHECK_EQ_INT(storage_new(config, record_cb, &w, &ctx), STORAGE_START_FAILED);
        CHECK(ctx == NULL);
        const char *message = expect_answer(&w, STORAGE_START_FAILED);
        CHECK_CONTAINS(message, "recording.root: ");
        CHECK_CONTAINS(message, roots[i][1]);
        waiter_destroy(&w);
    }
    CHECK_EQ_INT(unlink(file), 0);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/storage-c-recording-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    RUN_TEST(record_verify_replay_delete);
    RUN_TEST(ring_seal);
    RUN_TEST(refusals);
    RUN_TEST(startup_events_wait_to_be_pulled);
    RUN_TEST(startup_events_reach_the_creation_callback);
    RUN_TEST(autostart_refusals);
    RUN_TEST(a_root_that_is_not_a_folder_is_refused);
    /* Every recording was deleted through the API; what remains is the audit log that
     * records each supersession and erasure (deletion never erases that). */
    char audit[sizeof root + 16];
    snprintf(audit, sizeof audit, "%s/audit.log", root);
    CHECK_EQ_INT(unlink(audit), 0);
    snprintf(audit, sizeof audit, "%s/audit.head", root);
    CHECK_EQ_INT(unlink(audit), 0);
    CHECK_EQ_INT(rmdir(root), 0);
    return harness_report();
}
