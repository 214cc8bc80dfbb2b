/* Creating and freeing contexts: configuration, handles, double frees, churn. */
#include "harness.h"

/* A handle no context ever had (tokens are multiples of 16; this one is not). */
#define MADE_UP_HANDLE ((storage_ctx *)(uintptr_t)0x1234)

static void version_is_not_empty(void) {
    const char *version = storage_version();
    CHECK(version != NULL);
    CHECK(strlen(version) > 0);
    CHECK(version == storage_version()); /* a static string */
}

static void null_config_gives_defaults(void) {
    storage_ctx *ctx = NULL;
    CHECK_EQ_INT(storage_new(NULL, NULL, NULL, &ctx), STORAGE_OK);
    CHECK(ctx != NULL);
    /* The context works: a wrap goes through. */
    buffer wire = wrap_msg(ctx, "room", "m1", "hello");
    buffer_free(&wire);
    free_ctx(ctx);

    /* An empty document and {} are the defaults too. */
    free_ctx(new_ctx("", NULL));
    free_ctx(new_ctx("{}", NULL));
}

static void valid_config_is_accepted(void) {
    waiter w;
    waiter_init(&w);
    storage_ctx *ctx = NULL;
    CHECK_EQ_INT(storage_new("{\"participant_id\":\"alice\",\"resend_interval_ms\":1000}",
                             record_cb, &w, &ctx),
                 STORAGE_OK);
    CHECK(ctx != NULL);
    CHECK_EQ_INT(waiter_calls(&w), 0); /* no complaint through the event callback */
    free_ctx(ctx);
    waiter_destroy(&w);
}

/* storage_new refuses `config` with `expected`; the event callback hears about it at once
 * with a message containing `needle`, and *out_ctx is left NULL. */
static void expect_config_refused(const char *config, storage_status expected,
                                  const char *needle) {
    waiter w;
    waiter_init(&w);
    storage_ctx *ctx = MADE_UP_HANDLE;
    CHECK_EQ_INT(storage_new(config, record_cb, &w, &ctx), expected);
    CHECK(ctx == NULL);
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK_EQ_INT(w.status, expected);
    CHECK(w.len > 0);
    CHECK_CONTAINS(w.data, needle);
    waiter_destroy(&w);
}

static void malformed_config_is_refused_with_a_message(void) {
    expect_config_refused("{\"participant_id\": ", STORAGE_INVALID_CONFIG, "configuration");
    expect_config_refused("[1, 2]", STORAGE_INVALID_CONFIG, "expected a JSON object");
    expect_config_refused("{\"resend_interval_ms\": -5}", STORAGE_INVALID_CONFIG,
                          "resend_interval_ms");
    expect_config_refused("{\"participant_id\": 5}", STORAGE_INVALID_CONFIG, "participant_id");
    /* Without an event callback the status alone reports it. */
    storage_ctx *ctx = NULL;
    CHECK_EQ_INT(storage_new("{", NULL, NULL, &ctx), STORAGE_INVALID_CONFIG);
    CHECK(ctx == NULL);
}

static void unknown_key_is_named(void) {
    expect_config_refused("{\"participant_id\":\"a\",\"bloom_capasity\":10}",
                          STORAGE_INVALID_CONFIG, "bloom_capasity");
}

static void null_out_ctx_is_refused(void) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_new(NULL, record_cb, &w, NULL), STORAGE_NULL_ARGUMENT);
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK_EQ_INT(w.status, STORAGE_NULL_ARGUMENT);
    CHECK_CONTAINS(w.data, "out_ctx");
    CHECK_EQ_INT(storage_new(NULL, NULL, NULL, NULL), STORAGE_NULL_ARGUMENT);
    waiter_destroy(&w);
}

static void free_null_and_double_free(void) {
    CHECK_EQ_INT(storage_free(NULL), STORAGE_OK);
    storage_ctx *ctx = new_ctx(NULL, NULL);
    CHECK_EQ_INT(storage_free(ctx), STORAGE_OK);
    CHECK_EQ_INT(storage_free(ctx), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_free(ctx), STORAGE_INVALID_HANDLE);
}

static void freed_handle_is_invalid_everywhere(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    free_ctx(ctx);

    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_wrap(ctx, "room", "m1", (const uint8_t *)"x", 1, record_cb, &w),
                 STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(waiter_calls(&w), 1); /* reported at once, before the call returns */
    CHECK_EQ_INT(w.status, STORAGE_INVALID_HANDLE);
    CHECK(w.len > 0);
    CHECK_CONTAINS(w.data, "handle");

    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(storage_next_event(ctx, 0, &data, &len), STORAGE_INVALID_HANDLE);
    CHECK(data == NULL);
    CHECK_EQ_INT(storage_set_event_callback(ctx, NULL, NULL), STORAGE_INVALID_HANDLE);
    waiter_destroy(&w);
}

static void made_up_handle_is_invalid(void) {
    storage_ctx *bogus = MADE_UP_HANDLE;
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_wrap(bogus, "room", "m1", (const uint8_t *)"x", 1, record_cb, &w),
                 STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK_EQ_INT(w.status, STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_unwrap(bogus, (const uint8_t *)"x", 1, NULL, NULL),
                 STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_channel_stats(bogus, "room", NULL, NULL), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_reset(bogus, NULL, NULL), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_free(bogus), STORAGE_INVALID_HANDLE);
    /* A pointer to real memory that is not a context, and the largest address. */
    int not_a_context = 0;
    CHECK_EQ_INT(storage_free((storage_ctx *)(void *)&not_a_context), STORAGE_INVALID_HANDLE);
    CHECK_EQ_INT(storage_free((storage_ctx *)UINTPTR_MAX), STORAGE_INVALID_HANDLE);
    waiter_destroy(&w);
}

/* Counts the callbacks of wraps left in flight when their context is freed. */
typedef struct {
    pthread_mutex_t mu;
    int calls;
    int bad_status;
} tally;

static void tally_cb(storage_status status, const uint8_t *data, size_t len, void *user_data) {
    (void)data;
    (void)len;
    tally *t = user_data;
    pthread_mutex_lock(&t->mu);
    t->calls++;
    if (status != STORAGE_OK && status != STORAGE_SHUTTING_DOWN) t->bad_status++;
    pthread_mutex_unlock(&t->mu);
}

static void create_and_free_many_times(void) {
    tally t = {.calls = 0, .bad_status = 0};
    CHECK(pthread_mutex_init(&t.mu, NULL) == 0);
    int in_flight = 0;
    for (int i = 0; i < 1000; i++) {
        storage_ctx *ctx = new_ctx(i % 2 ? "{\"participant_id\":\"p\"}" : NULL, NULL);
        if (i % 10 == 0) {
            /* A wrap that completes before the free. */
            buffer wire = wrap_msg(ctx, "room", "m", "payload");
            buffer_free(&wire);
        } else if (i % 10 == 5) {
            /* A wrap still queued or running when the free starts. */
            CHECK_EQ_INT(storage_wrap(ctx, "room", "m", (const uint8_t *)"p", 1, tally_cb, &t),
                         STORAGE_OK);
            in_flight++;
        }
        free_ctx(ctx);
        /* Its callback ran exactly once before storage_free returned. */
        pthread_mutex_lock(&t.mu);
        CHECK_EQ_INT(t.calls, in_flight);
        pthread_mutex_unlock(&t.mu);
    }
    CHECK_EQ_INT(t.bad_status, 0);
    pthread_mutex_destroy(&t.mu);
}

int main(void) {
    RUN_TEST(version_is_not_empty);
    RUN_TEST(null_config_gives_defaults);
    RUN_TEST(valid_config_is_accepted);
    RUN_TEST(malformed_config_is_refused_with_a_message);
    RUN_TEST(unknown_key_is_named);
    RUN_TEST(null_out_ctx_is_refused);
    RUN_TEST(free_null_and_double_free);
    RUN_TEST(freed_handle_is_invalid_everywhere);
    RUN_TEST(made_up_handle_is_invalid);
    RUN_TEST(create_and_free_many_times);
    return harness_report();
}
