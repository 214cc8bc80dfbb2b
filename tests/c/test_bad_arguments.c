/* Every bad-argument path of the native API: each returns its own status at once and, when
 * a callback was given, calls it synchronously with that status and a message naming the
 * problem. Problems found only when the request runs arrive later through the callback. */
#include "harness.h"

#define BAD_UTF8 "\xff\xfe"
#define MIB (1024u * 1024u)

/* Handles that are not live contexts: NULL, made up, and one freed in main(). */
static storage_ctx *freed_ctx;
#define MADE_UP ((storage_ctx *)(uintptr_t)0x1234)

static void expect_refused_at(const char *file, int line, const char *call,
                              storage_status returned, waiter *w, storage_status expected,
                              const char *needle) {
    if (returned != expected)
        harness_fail(file, line, call, "returned %d, expected %d", (int)returned,
                     (int)expected);
    /* Reported before the call returned, on the calling thread. */
    if (w->calls != 1)
        harness_fail(file, line, call, "callback called %d times before returning, expected 1",
                     w->calls);
    if (w->status != (int)expected)
        harness_fail(file, line, call, "callback status %d, expected %d", w->status,
                     (int)expected);
    if (!pthread_equal(w->thread, pthread_self()))
        harness_fail(file, line, call, "callback ran on another thread");
    if (w->len == 0 || strlen(w->data) != w->len)
        harness_fail(file, line, call, "empty or malformed message");
    if (strstr(w->data, needle) == NULL)
        harness_fail(file, line, call, "message \"%s\" does not mention \"%s\"", w->data, needle);
}

/* Runs `call` (which passes record_cb and &w) and checks it is refused with `expected`. */
#define EXPECT_REFUSED(w, call, expected, needle)                                      \
    do {                                                                               \
        waiter_reset(w);                                                               \
        storage_status refused_status_ = (call);                                       \
        expect_refused_at(__FILE__, __LINE__, #call, refused_status_, (w), (expected), \
                          (needle));                                                   \
    } while (0)

/* Runs an accepted `call` and checks that its callback later reports `expected`. */
#define EXPECT_ASYNC(w, call, expected)                  \
    do {                                                 \
        waiter_reset(w);                                 \
        CHECK_EQ_INT((call), STORAGE_OK);                \
        expect_answer((w), (expected));                  \
        CHECK((w)->len > 0 || (expected) == STORAGE_OK); \
    } while (0)

static const char HANDLE_MSG[] = "handle";

static void storage_new_bad_arguments(void) {
    waiter w;
    waiter_init(&w);
    storage_ctx *ctx = NULL;
    EXPECT_REFUSED(&w, storage_new(NULL, record_cb, &w, NULL), STORAGE_NULL_ARGUMENT,
                   "out_ctx");
    EXPECT_REFUSED(&w, storage_new("{\"participant_id\":\"" BAD_UTF8 "\"}", record_cb, &w, &ctx),
                   STORAGE_INVALID_UTF8, "config_json");
    CHECK(ctx == NULL);
    EXPECT_REFUSED(&w, storage_new("{\"participant_id\"}", record_cb, &w, &ctx),
                   STORAGE_INVALID_CONFIG, "configuration");
    EXPECT_REFUSED(&w, storage_new("{\"max_channels\":0}", record_cb, &w, &ctx),
                   STORAGE_INVALID_CONFIG, "max_channels");
    CHECK(ctx == NULL);
    waiter_destroy(&w);
}

static void handle_only_functions(void) {
    storage_ctx *bad[] = {NULL, MADE_UP, freed_ctx};
    waiter w;
    waiter_init(&w);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        storage_ctx *ctx = bad[i];
        EXPECT_REFUSED(&w, storage_reset(ctx, record_cb, &w), STORAGE_INVALID_HANDLE,
                       HANDLE_MSG);
        EXPECT_REFUSED(&w, storage_start_periodic_tasks(ctx, record_cb, &w),
                       STORAGE_INVALID_HANDLE, HANDLE_MSG);
        /* Without a callback the status alone says it. */
        CHECK_EQ_INT(storage_reset(ctx, NULL, NULL), STORAGE_INVALID_HANDLE);
        CHECK_EQ_INT(storage_start_periodic_tasks(ctx, NULL, NULL), STORAGE_INVALID_HANDLE);

        /* Setters have no request callback; the one they are given is not called. */
        waiter_reset(&w);
        CHECK_EQ_INT(storage_set_event_callback(ctx, record_cb, &w), STORAGE_INVALID_HANDLE);
        CHECK_EQ_INT(storage_set_retrieval_hint_provider(ctx, NULL, &w), STORAGE_INVALID_HANDLE);
        CHECK_EQ_INT(waiter_calls(&w), 0);
        if (ctx != NULL) CHECK_EQ_INT(storage_free(ctx), STORAGE_INVALID_HANDLE);
    }
    waiter_destroy(&w);
}

static void next_event_bad_arguments(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(storage_next_event(ctx, 0, NULL, &len), STORAGE_NULL_ARGUMENT);
    CHECK_EQ_INT(storage_next_event(ctx, 0, &data, NULL), STORAGE_NULL_ARGUMENT);
    CHECK_EQ_INT(storage_next_event(ctx, 0, NULL, NULL), STORAGE_NULL_ARGUMENT);
    CHECK_EQ_INT(storage_next_event(NULL, 0, &data, &len), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_next_event(MADE_UP, 0, &data, &len), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_next_event(freed_ctx, 0, &data, &len), STORAGE_INVALID_HANDLE);
    CHECK(data == NULL);
    CHECK_EQ_INT(storage_next_event(ctx, 0, &data, &len), STORAGE_TIMEOUT);
    free_ctx(ctx);
}

/* Functions taking (ctx, channel_id, callback, user_data). */
typedef storage_status (*channel_fn)(storage_ctx *, const char *, storage_callback, void *);

static const struct {
    const char *name;
    channel_fn fn;
} CHANNEL_FNS[] = {
    {"storage_build_sync_message", storage_build_sync_message},
    {"storage_ensure_channel", storage_ensure_channel},
    {"storage_remove_channel", storage_remove_channel},
    {"storage_channel_stats", storage_channel_stats},
};

static void channel_functions(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    waiter w;
    waiter_init(&w);
    for (size_t i = 0; i < sizeof CHANNEL_FNS / sizeof CHANNEL_FNS[0]; i++) {
        channel_fn fn = CHANNEL_FNS[i].fn;
        printf("   %s\n", CHANNEL_FNS[i].name);
        EXPECT_REFUSED(&w, fn(NULL, "room", record_cb, &w), STORAGE_INVALID_HANDLE, HANDLE_MSG);
        EXPECT_REFUSED(&w, fn(freed_ctx, "room", record_cb, &w), STORAGE_INVALID_HANDLE,
                       HANDLE_MSG);
        /* The handle is checked first. */
        EXPECT_REFUSED(&w, fn(MADE_UP, NULL, record_cb, &w), STORAGE_INVALID_HANDLE,
                       HANDLE_MSG);
        EXPECT_REFUSED(&w, fn(ctx, NULL, record_cb, &w), STORAGE_NULL_ARGUMENT, "channel_id");
        EXPECT_REFUSED(&w, fn(ctx, "", record_cb, &w), STORAGE_EMPTY_CHANNEL_ID, "channel_id");
        EXPECT_REFUSED(&w, fn(ctx, BAD_UTF8, record_cb, &w), STORAGE_INVALID_UTF8,
                       "channel_id");
        CHECK_EQ_INT(fn(ctx, NULL, NULL, NULL), STORAGE_NULL_ARGUMENT);
        CHECK_EQ_INT(fn(ctx, "", NULL, NULL), STORAGE_EMPTY_CHANNEL_ID);
    }
    /* Nothing refused reached the worker: no channel was created. */
    EXPECT_ASYNC(&w, storage_channel_stats(ctx, "room", record_cb, &w), STORAGE_UNKNOWN_CHANNEL);
    waiter_destroy(&w);
    free_ctx(ctx);
}

/* storage_wrap and storage_wrap_ephemeral share their signature and checks. */
typedef storage_status (*wrap_fn)(storage_ctx *, const char *, const char *, const uint8_t *,
                                  size_t, storage_callback, void *);

static void check_wrap_function(wrap_fn wrap, storage_ctx *ctx) {
    const uint8_t *x = (const uint8_t *)"x";
    waiter w;
    waiter_init(&w);
    EXPECT_REFUSED(&w, wrap(NULL, "room", "m", x, 1, record_cb, &w), STORAGE_INVALID_HANDLE,
                   HANDLE_MSG);
    EXPECT_REFUSED(&w, wrap(MADE_UP, NULL, NULL, NULL, 9, record_cb, &w),
                   STORAGE_INVALID_HANDLE, HANDLE_MSG);
    EXPECT_REFUSED(&w, wrap(ctx, NULL, "m", x, 1, record_cb, &w), STORAGE_NULL_ARGUMENT,
                   "channel_id");
    EXPECT_REFUSED(&w, wrap(ctx, "", "m", x, 1, record_cb, &w), STORAGE_EMPTY_CHANNEL_ID,
                   "channel_id");
    EXPECT_REFUSED(&w, wrap(ctx, BAD_UTF8, "m", x, 1, record_cb, &w), STORAGE_INVALID_UTF8,
                   "channel_id");
    EXPECT_REFUSED(&w, wrap(ctx, "room", NULL, x, 1, record_cb, &w), STORAGE_NULL_ARGUMENT,
                   "message_id");
    EXPECT_REFUSED(&w, wrap(ctx, "room", BAD_UTF8, x, 1, record_cb, &w), STORAGE_INVALID_UTF8,
                   "message_id");
    EXPECT_REFUSED(&w, wrap(ctx, "room", "m", NULL, 5, record_cb, &w), STORAGE_NULL_ARGUMENT,
                   "content");

    /* Content over 1 MiB is refused at once; exactly 1 MiB is fine. */
    uint8_t *big = calloc(MIB + 1, 1);
    CHECK(big != NULL);
    EXPECT_REFUSED(&w, wrap(ctx, "room", "big", big, MIB + 1, record_cb, &w), STORAGE_TOO_LARGE,
                   "content");
    EXPECT_ASYNC(&w, wrap(ctx, "room", "big", big, MIB, record_cb, &w), STORAGE_OK);
    CHECK(w.len > MIB);
    free(big);

    /* Empty content passes the argument checks and fails when the request runs. */
    EXPECT_ASYNC(&w, wrap(ctx, "room", "m", NULL, 0, record_cb, &w), STORAGE_EMPTY_CONTENT);
    EXPECT_ASYNC(&w, wrap(ctx, "room", "m", x, 0, record_cb, &w), STORAGE_EMPTY_CONTENT);

    /* Refusals without a callback just return the status. */
    CHECK_EQ_INT(wrap(ctx, NULL, "m", x, 1, NULL, NULL), STORAGE_NULL_ARGUMENT);
    CHECK_EQ_INT(wrap(ctx, "room", "m", NULL, 1, NULL, NULL), STORAGE_NULL_ARGUMENT);
    waiter_destroy(&w);
}

static void wrap_functions(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    printf("   storage_wrap\n");
    check_wrap_function(storage_wrap, ctx);
    printf("   storage_wrap_ephemeral\n");
    check_wrap_function(storage_wrap_ephemeral, ctx);
    free_ctx(ctx);
}

static void unwrap_bad_arguments(void) {
    storage_ctx *ctx = new_ctx("{\"max_wire_message_size\":64}", NULL);
    uint8_t bytes[65];
    memset(bytes, 0xA5, sizeof bytes);
    waiter w;
    waiter_init(&w);
    EXPECT_REFUSED(&w, storage_unwrap(NULL, bytes, 4, record_cb, &w), STORAGE_INVALID_HANDLE,
                   HANDLE_MSG);
    EXPECT_REFUSED(&w, storage_unwrap(freed_ctx, bytes, 4, record_cb, &w),
                   STORAGE_INVALID_HANDLE, HANDLE_MSG);
    EXPECT_REFUSED(&w, storage_unwrap(ctx, NULL, 4, record_cb, &w), STORAGE_NULL_ARGUMENT,
                   "data");
    /* Over the configured max_wire_message_size: refused before it is copied. */
    EXPECT_REFUSED(&w, storage_unwrap(ctx, bytes, 65, record_cb, &w), STORAGE_TOO_LARGE, "data");
    /* Garbage, and nothing at all, fail to decode when the request runs. */
    EXPECT_ASYNC(&w, storage_unwrap(ctx, bytes, 64, record_cb, &w), STORAGE_DECODE_ERROR);
    EXPECT_ASYNC(&w, storage_unwrap(ctx, NULL, 0, record_cb, &w), STORAGE_DECODE_ERROR);
    CHECK_EQ_INT(storage_unwrap(ctx, NULL, 4, NULL, NULL), STORAGE_NULL_ARGUMENT);
    waiter_destroy(&w);
    free_ctx(ctx);
}

static void mark_dependencies_met_bad_arguments(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    const char *ids[] = {"a", "b"};
    const char *with_null[] = {"a", NULL};
    const char *with_bad_utf8[] = {BAD_UTF8, "b"};
    waiter w;
    waiter_init(&w);
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(NULL, ids, 2, "room", record_cb, &w),
                   STORAGE_INVALID_HANDLE, HANDLE_MSG);
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(freed_ctx, ids, 2, "room", record_cb, &w),
                   STORAGE_INVALID_HANDLE, HANDLE_MSG);
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(ctx, ids, 2, NULL, record_cb, &w),
                   STORAGE_NULL_ARGUMENT, "channel_id");
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(ctx, ids, 2, "", record_cb, &w),
                   STORAGE_EMPTY_CHANNEL_ID, "channel_id");
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(ctx, ids, 2, BAD_UTF8, record_cb, &w),
                   STORAGE_INVALID_UTF8, "channel_id");
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(ctx, NULL, 2, "room", record_cb, &w),
                   STORAGE_NULL_ARGUMENT, "message_ids");
    EXPECT_REFUSED(&w, storage_mark_dependencies_met(ctx, with_null, 2, "room", record_cb, &w),
                   STORAGE_NULL_ARGUMENT, "message_ids[1]");
    EXPECT_REFUSED(&w,
                   storage_mark_dependencies_met(ctx, with_bad_utf8, 2, "room", record_cb, &w),
                   STORAGE_INVALID_UTF8, "message_ids[0]");
    CHECK_EQ_INT(storage_mark_dependencies_met(ctx, NULL, 2, "room", NULL, NULL),
                 STORAGE_NULL_ARGUMENT);
    /* Only the first `count` entries are read: the NULL after them does not matter. */
    EXPECT_ASYNC(&w, storage_mark_dependencies_met(ctx, with_null, 1, "room", record_cb, &w),
                 STORAGE_UNKNOWN_CHANNEL);
    waiter_destroy(&w);
    free_ctx(ctx);
}

static void null_request_callback_is_fire_and_forget(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    CHECK_EQ_INT(storage_wrap(ctx, "room", "m1", (const uint8_t *)"fire", 4, NULL, NULL),
                 STORAGE_OK);
    /* Failing requests without a callback are fine too. */
    CHECK_EQ_INT(storage_wrap(ctx, "room", "m2", NULL, 0, NULL, NULL), STORAGE_OK);
    CHECK_EQ_INT(storage_unwrap(ctx, (const uint8_t *)"junk", 4, NULL, NULL), STORAGE_OK);
    CHECK_EQ_INT(storage_channel_stats(ctx, "elsewhere", NULL, NULL), STORAGE_OK);
    CHECK_EQ_INT(storage_start_periodic_tasks(ctx, NULL, NULL), STORAGE_OK);
    /* Requests run in order, so the wrap is in history when the stats are read. */
    char *stats = stats_json(ctx, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":1");
    free(stats);
    free_ctx(ctx);
}

int main(void) {
    freed_ctx = new_ctx(NULL, NULL);
    free_ctx(freed_ctx);

    RUN_TEST(storage_new_bad_arguments);
    RUN_TEST(handle_only_functions);
    RUN_TEST(next_event_bad_arguments);
    RUN_TEST(channel_functions);
    RUN_TEST(wrap_functions);
    RUN_TEST(unwrap_bad_arguments);
    RUN_TEST(mark_dependencies_met_bad_arguments);
    RUN_TEST(null_request_callback_is_fire_and_forget);
    return harness_report();
}
