/* The libsds-compatible API, exactly as /work/shared/fixtures/libsds-abi.md describes
 * nim-sds 0.3.x: return codes, argument checks in order, error strings, result formats and
 * events. Uses libsds.h only (the harness is included without storage.h). */
#define HARNESS_LIBSDS_ONLY
#include "harness.h"

#include "libsds.h"

/* A context that never existed. */
#define BAD_CTX ((void *)(uintptr_t)0x1234)
#define WAIT_MS HARNESS_TIMEOUT_MS

/* ---- Helpers ---------------------------------------------------------------------------- */

typedef struct {
    void *ctx;
    collector events;
} manager;

/* Creates a manager (waiting for its RET_OK) whose events go to m->events. */
static void manager_open(manager *m) {
    waiter w;
    waiter_init(&w);
    m->ctx = SdsNewReliabilityManager(record_sds_cb, &w);
    CHECK(m->ctx != NULL);
    wait_for(&w, 1, WAIT_MS);
    CHECK_EQ_INT(w.status, RET_OK);
    CHECK_EQ_INT(w.len, 0);
    waiter_destroy(&w);
    events_init(&m->events);
    SdsSetEventCallback(m->ctx, record_sds_event_cb, &m->events);
}

static void manager_close(manager *m) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(SdsCleanupReliabilityManager(m->ctx, record_sds_cb, &w), RET_OK);
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK_EQ_INT(w.status, RET_OK);
    waiter_destroy(&w);
    events_destroy(&m->events);
}

/* Checks that `w` got exactly one callback with RET_ERR and exactly `message`. */
static void expect_error_message_at(const char *file, int line, waiter *w, const char *message) {
    if (w->calls != 1) harness_fail(file, line, message, "%d callbacks, expected 1", w->calls);
    if (w->status != RET_ERR)
        harness_fail(file, line, message, "callerRet %d, expected RET_ERR", w->status);
    if (w->len != strlen(message) || memcmp(w->data, message, w->len) != 0)
        harness_fail(file, line, message, "got message \"%s\"", w->data);
}

/* `call` (passing record_sds_cb and &w) returns RET_ERR after calling back with `message`. */
#define EXPECT_SDS_REFUSED(w, call, message)                                         \
    do {                                                                             \
        waiter_reset(w);                                                             \
        int sds_ret_ = (call);                                                       \
        if (sds_ret_ != RET_ERR)                                                     \
            harness_fail(__FILE__, __LINE__, #call, "returned %d, expected RET_ERR", \
                         sds_ret_);                                                  \
        expect_error_message_at(__FILE__, __LINE__, (w), (message));                 \
    } while (0)

/* `call` is accepted (RET_OK) and its callback later fails with `message`. */
#define EXPECT_SDS_FAILS_LATER(w, call, message)                     \
    do {                                                             \
        waiter_reset(w);                                             \
        CHECK_EQ_INT((call), RET_OK);                                \
        wait_for((w), 1, WAIT_MS);                                   \
        expect_error_message_at(__FILE__, __LINE__, (w), (message)); \
    } while (0)

/* `call` returns `code` and never calls back. */
#define EXPECT_SDS_SILENT(w, call, code)  \
    do {                                  \
        waiter_reset(w);                  \
        CHECK_EQ_INT((call), (code));     \
        CHECK_EQ_INT(waiter_calls(w), 0); \
    } while (0)

/* Wraps and returns the wire bytes parsed back from the decimal text. */
static buffer sds_wrap(manager *m, const char *content, const char *id, const char *channel) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(SdsWrapOutgoingMessage(m->ctx, (void *)content, strlen(content), id, channel,
                                        record_sds_cb, &w),
                 RET_OK);
    wait_for(&w, 1, WAIT_MS);
    CHECKF(w.status == RET_OK, "wrap failed: %s", w.data);
    buffer out = {NULL, 0};
    out.data = decimal_list_parse(w.data, w.len, &out.len);
    CHECKF(out.data != NULL, "not a comma-separated decimal list: %.200s", w.data);
    CHECK(out.len > 0);
    waiter_destroy(&w);
    return out;
}

/* Unwraps and returns the result JSON (malloc'ed). */
static char *sds_unwrap(manager *m, buffer bytes) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(m->ctx, bytes.data, bytes.len, record_sds_cb, &w),
                 RET_OK);
    wait_for(&w, 1, WAIT_MS);
    CHECKF(w.status == RET_OK, "unwrap failed: %s", w.data);
    char *json = w.data;
    w.data = NULL;
    waiter_destroy(&w);
    return json;
}

/* The bytes of the "message":[...] array of an unwrap result. */
static buffer message_array(const char *json) {
    const char *start = strstr(json, "\"message\":[");
    CHECK(start != NULL);
    start += strlen("\"message\":[");
    const char *end = strchr(start, ']');
    CHECK(end != NULL);
    buffer out = {NULL, 0};
    out.data = decimal_list_parse(start, (size_t)(end - start), &out.len);
    CHECK(out.data != NULL);
    return out;
}

/* Waits for the event exactly equal to `expected`. */
static void expect_event(manager *m, const char *expected) {
    long i = events_wait_for_substring(&m->events, expected, WAIT_MS);
    CHECK_STR_EQ(events_get(&m->events, (size_t)i), expected);
}

/* ---- Cases ------------------------------------------------------------------------------ */

static void new_manager_needs_a_callback(void) {
    CHECK(SdsNewReliabilityManager(NULL, NULL) == NULL);
    manager m;
    manager_open(&m); /* later callback(RET_OK, "", 0) */
    manager_close(&m);
}

static void wrap_unwrap_and_events(void) {
    manager a, b;
    manager_open(&a);
    manager_open(&b);

    /* The wrap result is "b0,b1,..." with no spaces; sds_wrap parses it strictly. */
    buffer m1 = sds_wrap(&a, "hello", "m1", "ch");
    char *json = sds_unwrap(&b, m1);
    CHECK_CONTAINS(json, "\"message\":[104,101,108,108,111]");
    CHECK_CONTAINS(json, "\"channelId\":\"ch\"");
    CHECK_CONTAINS(json, "\"missingDeps\":[]");
    buffer content = message_array(json);
    CHECK_EQ_INT(content.len, 5);
    CHECK(memcmp(content.data, "hello", 5) == 0);
    buffer_free(&content);
    free(json);
    expect_event(&b, "{\"messageId\":\"m1\",\"channelId\":\"ch\",\"eventType\":\"message_ready\"}");

    /* B's reply acknowledges m1 to A. */
    buffer r1 = sds_wrap(&b, "re", "r1", "ch");
    free(sds_unwrap(&a, r1));
    expect_event(&a, "{\"messageId\":\"m1\",\"channelId\":\"ch\",\"eventType\":\"message_sent\"}");
    expect_event(&a, "{\"messageId\":\"r1\",\"channelId\":\"ch\",\"eventType\":\"message_ready\"}");

    buffer_free(&m1);
    buffer_free(&r1);
    manager_close(&a);
    manager_close(&b);
}

static void hint_provider(const char *message_id, char **hint, size_t *hint_len,
                          void *user_data) {
    (void)user_data;
    size_t len = strlen("hint-") + strlen(message_id);
    *hint = malloc(len + 1);
    CHECK(*hint != NULL);
    snprintf(*hint, len + 1, "hint-%s", message_id);
    *hint_len = len;
}

static void missing_dependencies_in_libsds_form(void) {
    manager a, b;
    manager_open(&a);
    manager_open(&b);
    SdsSetRetrievalHintProvider(a.ctx, hint_provider, NULL);
    buffer m1 = sds_wrap(&a, "one", "m1", "ch");
    buffer m2 = sds_wrap(&a, "two", "m2", "ch");
    buffer m3 = sds_wrap(&a, "three", "m3", "ch");
    free(sds_unwrap(&b, m1));

    /* m3 without m2: buffered, its content still reported, m2 missing with A's hint. */
    char *json = sds_unwrap(&b, m3);
    CHECK_STR_EQ(json, "{\"message\":[116,104,114,101,101],\"channelId\":\"ch\","
                       "\"missingDeps\":[{\"messageId\":\"m2\","
                       "\"retrievalHint\":\"aGludC1tMg==\"}]}");
    free(json);
    expect_event(&b, "{\"eventType\":\"missing_dependencies\",\"messageId\":\"m3\",\"channelId\":"
                     "\"ch\",\"missingDeps\":[{\"messageId\":\"m2\",\"retrievalHint\":"
                     "\"aGludC1tMg==\"}]}");
    free(sds_unwrap(&b, m2));
    expect_event(&b, "{\"messageId\":\"m3\",\"channelId\":\"ch\",\"eventType\":\"message_ready\"}");

    buffer_free(&m1);
    buffer_free(&m2);
    buffer_free(&m3);
    manager_close(&a);
    manager_close(&b);
}

static void argument_checks_in_order(void) {
    manager m;
    manager_open(&m);
    waiter w;
    waiter_init(&w);
    char *ids[] = {"a", "b"};
    void *bad_ctxs[] = {NULL, BAD_CTX};

    /* 1. An invalid ctx: RET_ERR and no callback, whatever else is wrong. */
    for (size_t i = 0; i < 2; i++) {
        void *bad = bad_ctxs[i];
        EXPECT_SDS_SILENT(&w, SdsWrapOutgoingMessage(bad, "x", 1, "m", "ch", record_sds_cb, &w),
                          RET_ERR);
        EXPECT_SDS_SILENT(&w, SdsWrapOutgoingMessage(bad, NULL, 9, NULL, NULL, NULL, NULL),
                          RET_ERR);
        EXPECT_SDS_SILENT(&w, SdsUnwrapReceivedMessage(bad, "x", 1, record_sds_cb, &w), RET_ERR);
        EXPECT_SDS_SILENT(&w, SdsMarkDependenciesMet(bad, ids, 2, "ch", record_sds_cb, &w),
                          RET_ERR);
        EXPECT_SDS_SILENT(&w, SdsStartPeriodicTasks(bad, record_sds_cb, &w), RET_ERR);
        EXPECT_SDS_SILENT(&w, SdsResetReliabilityManager(bad, record_sds_cb, &w), RET_ERR);
        EXPECT_SDS_SILENT(&w, SdsCleanupReliabilityManager(bad, record_sds_cb, &w), RET_ERR);
        /* Setters ignore it. */
        SdsSetEventCallback(bad, record_sds_cb, &w);
        SdsSetRetrievalHintProvider(bad, hint_provider, NULL);
        CHECK_EQ_INT(waiter_calls(&w), 0);
    }

    /* 2. A NULL callback: RET_MISSING_CALLBACK, before any other argument is looked at. */
    CHECK_EQ_INT(SdsWrapOutgoingMessage(m.ctx, NULL, 9, NULL, NULL, NULL, NULL),
                 RET_MISSING_CALLBACK);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(m.ctx, NULL, 9, NULL, NULL), RET_MISSING_CALLBACK);
    CHECK_EQ_INT(SdsMarkDependenciesMet(m.ctx, NULL, 2, NULL, NULL, NULL), RET_MISSING_CALLBACK);
    CHECK_EQ_INT(SdsStartPeriodicTasks(m.ctx, NULL, NULL), RET_MISSING_CALLBACK);
    CHECK_EQ_INT(SdsResetReliabilityManager(m.ctx, NULL, NULL), RET_MISSING_CALLBACK);
    CHECK_EQ_INT(SdsCleanupReliabilityManager(m.ctx, NULL, NULL), RET_MISSING_CALLBACK);

    /* 3. Wrap: message pointer, message ID, channel ID NULL, channel ID empty. Each case
     *    also breaks every later argument, to show which check comes first. */
    EXPECT_SDS_REFUSED(&w, SdsWrapOutgoingMessage(m.ctx, NULL, 3, NULL, NULL, record_sds_cb, &w),
                       "libsds error: message pointer is NULL but length > 0");
    EXPECT_SDS_REFUSED(&w, SdsWrapOutgoingMessage(m.ctx, "x", 1, NULL, NULL, record_sds_cb, &w),
                       "libsds error: message ID pointer is NULL");
    EXPECT_SDS_REFUSED(&w, SdsWrapOutgoingMessage(m.ctx, "x", 1, "m", NULL, record_sds_cb, &w),
                       "libsds error: channel ID pointer is NULL");
    EXPECT_SDS_REFUSED(&w, SdsWrapOutgoingMessage(m.ctx, "x", 1, "m", "", record_sds_cb, &w),
                       "libsds error: channel ID is empty string");

    /* 4. Unwrap: message pointer. */
    EXPECT_SDS_REFUSED(&w, SdsUnwrapReceivedMessage(m.ctx, NULL, 3, record_sds_cb, &w),
                       "libsds error: message pointer is NULL but length > 0");

    /* 5. Mark dependencies met: ids pointer, then the channel checks. */
    EXPECT_SDS_REFUSED(&w, SdsMarkDependenciesMet(m.ctx, NULL, 2, NULL, record_sds_cb, &w),
                       "libsds error: MessageIDs pointer is NULL but count > 0");
    EXPECT_SDS_REFUSED(&w, SdsMarkDependenciesMet(m.ctx, ids, 2, NULL, record_sds_cb, &w),
                       "libsds error: channel ID pointer is NULL");
    EXPECT_SDS_REFUSED(&w, SdsMarkDependenciesMet(m.ctx, ids, 2, "", record_sds_cb, &w),
                       "libsds error: channel ID is empty string");

    /* The manager is untouched by all this (the refused cleanup did not free it). */
    buffer wire = sds_wrap(&m, "still here", "m1", "ch");
    buffer_free(&wire);
    CHECK_EQ_INT(events_count(&m.events), 0);
    waiter_destroy(&w);
    manager_close(&m);
}

static void accepted_then_failed_requests(void) {
    manager m;
    manager_open(&m);
    waiter w;
    waiter_init(&w);

    /* An empty message ID is accepted. */
    buffer wire = sds_wrap(&m, "anonymous", "", "ch");
    buffer_free(&wire);

    EXPECT_SDS_FAILS_LATER(&w, SdsWrapOutgoingMessage(m.ctx, NULL, 0, "m", "ch", record_sds_cb, &w),
                           "error processing WRAP_MESSAGE request: reInvalidArgument");
    EXPECT_SDS_FAILS_LATER(&w, SdsWrapOutgoingMessage(m.ctx, "x", 0, "m", "ch", record_sds_cb, &w),
                           "error processing WRAP_MESSAGE request: reInvalidArgument");
    size_t big_len = 1048576 + 1;
    char *big = calloc(big_len, 1);
    CHECK(big != NULL);
    EXPECT_SDS_FAILS_LATER(
        &w, SdsWrapOutgoingMessage(m.ctx, big, big_len, "m", "ch", record_sds_cb, &w),
        "error processing WRAP_MESSAGE request: reMessageTooLarge");
    free(big);
    EXPECT_SDS_FAILS_LATER(&w, SdsUnwrapReceivedMessage(m.ctx, "\xff\xff garbage", 10,
                                                        record_sds_cb, &w),
                           "error processing UNWRAP_MESSAGE request: reDeserializationError");
    char *ids[] = {"a", NULL};
    EXPECT_SDS_FAILS_LATER(&w, SdsMarkDependenciesMet(m.ctx, ids, 1, "unknown", record_sds_cb, &w),
                           "error processing MARK_DEPENDENCIES_MET request: reInvalidArgument");

    /* On a known channel; a NULL entry counts as "". Later callback(RET_OK, "", 0). */
    waiter_reset(&w);
    CHECK_EQ_INT(SdsMarkDependenciesMet(m.ctx, ids, 2, "ch", record_sds_cb, &w), RET_OK);
    wait_for(&w, 1, WAIT_MS);
    CHECK_EQ_INT(w.status, RET_OK);
    CHECK_EQ_INT(w.len, 0);
    waiter_reset(&w);
    CHECK_EQ_INT(SdsMarkDependenciesMet(m.ctx, NULL, 0, "ch", record_sds_cb, &w), RET_OK);
    wait_for(&w, 1, WAIT_MS);
    CHECK_EQ_INT(w.status, RET_OK);

    waiter_destroy(&w);
    manager_close(&m);
}

static void echo_of_own_message_has_no_event(void) {
    manager m;
    manager_open(&m);
    buffer m1 = sds_wrap(&m, "mine", "m1", "ch");
    char *json = sds_unwrap(&m, m1);
    /* A duplicate still reports its content. */
    CHECK_CONTAINS(json, "\"message\":[109,105,110,101]");
    CHECK_CONTAINS(json, "\"missingDeps\":[]");
    free(json);
    /* Events are delivered before the answer: none came. */
    CHECK_EQ_INT(events_count(&m.events), 0);
    buffer_free(&m1);
    manager_close(&m);
}

static void periodic_tasks_emit_periodic_sync(void) {
    manager m;
    manager_open(&m);
    buffer wire = sds_wrap(&m, "x", "m1", "ch"); /* a channel exists */
    buffer_free(&wire);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(SdsStartPeriodicTasks(m.ctx, record_sds_cb, &w), RET_OK);
    wait_for(&w, 1, WAIT_MS);
    CHECK_EQ_INT(w.status, RET_OK);
    CHECK_EQ_INT(w.len, 0);
    expect_event(&m, "{\"eventType\":\"periodic_sync\"}");
    /* Exactly libsds's channel-less form, once per tick. */
    CHECK_EQ_INT(events_count_matching(&m.events, "periodic_sync", NULL), 1);
    waiter_destroy(&w);
    manager_close(&m);
}

static void reset_forgets_channels(void) {
    manager m;
    manager_open(&m);
    buffer wire = sds_wrap(&m, "x", "m1", "ch");
    buffer_free(&wire);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(SdsResetReliabilityManager(m.ctx, record_sds_cb, &w), RET_OK);
    wait_for(&w, 1, WAIT_MS);
    CHECK_EQ_INT(w.status, RET_OK);
    CHECK_EQ_INT(w.len, 0);
    char *ids[] = {"m1"};
    EXPECT_SDS_FAILS_LATER(&w, SdsMarkDependenciesMet(m.ctx, ids, 1, "ch", record_sds_cb, &w),
                           "error processing MARK_DEPENDENCIES_MET request: reInvalidArgument");
    waiter_destroy(&w);
    manager_close(&m);
}

static void cleanup_is_synchronous(void) {
    manager m;
    manager_open(&m);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(SdsCleanupReliabilityManager(m.ctx, record_sds_cb, &w), RET_OK);
    /* Called before it returned, on this thread. */
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK(pthread_equal(w.thread, pthread_self()));
    CHECK_EQ_INT(w.status, RET_OK);
    CHECK_EQ_INT(w.len, 0);
    bool msg_was_null = w.data_null;

    /* The context is gone. */
    EXPECT_SDS_SILENT(&w, SdsCleanupReliabilityManager(m.ctx, record_sds_cb, &w), RET_ERR);
    EXPECT_SDS_SILENT(&w, SdsWrapOutgoingMessage(m.ctx, "x", 1, "m", "ch", record_sds_cb, &w),
                      RET_ERR);
    waiter_destroy(&w);
    events_destroy(&m.events);

    /* libsds-abi.md: cleanup answers cb(RET_OK, NULL, 0, ud). */
    CHECKF(msg_was_null, "cleanup callback msg must be NULL (libsds-abi.md)");
}

int main(void) {
    RUN_TEST(new_manager_needs_a_callback);
    RUN_TEST(wrap_unwrap_and_events);
    RUN_TEST(missing_dependencies_in_libsds_form);
    RUN_TEST(argument_checks_in_order);
    RUN_TEST(accepted_then_failed_requests);
    RUN_TEST(echo_of_own_message_has_no_event);
    RUN_TEST(periodic_tasks_emit_periodic_sync);
    RUN_TEST(reset_forgets_channels);
    RUN_TEST(cleanup_is_synchronous); /* last: ends with the check of a known library bug */
    return harness_report();
}
