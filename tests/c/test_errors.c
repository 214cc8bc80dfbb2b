/* Errors that come back with the call: storage_new_ex's out_error (owned by the caller,
 * released with storage_string_free), and every status's name and description. */
#include "harness.h"

/* A handle and a message no call ever made: a call must overwrite both. */
#define STALE_CTX ((storage_ctx *)(uintptr_t)0x1234)
#define STALE_ERROR ((char *)(uintptr_t)0x5678)

/* storage_new_ex refuses `config` with `expected`: *out_ctx is NULL, *out_error a message
 * containing `needle`, the same text the event callback was given. Returns the message
 * (the caller frees it with storage_string_free). */
static char *expect_refused_at(const char *file, int line, const char *config,
                               storage_status expected, const char *needle) {
    waiter w;
    waiter_init(&w);
    storage_ctx *ctx = STALE_CTX;
    char *error = STALE_ERROR;
    storage_status st = storage_new_ex(config, record_cb, &w, &ctx, &error);
    if (st != expected)
        harness_fail(file, line, config, "returned %d, expected %d", (int)st, (int)expected);
    if (ctx != NULL) harness_fail(file, line, config, "*out_ctx was not cleared");
    if (error == NULL || error == STALE_ERROR)
        harness_fail(file, line, config, "no message through out_error");
    if (strstr(error, needle) == NULL)
        harness_fail(file, line, config, "message \"%s\" does not mention \"%s\"", error, needle);
    if (waiter_calls(&w) != 1 || w.status != (int)expected || strcmp(w.data, error) != 0)
        harness_fail(file, line, config, "the callback got \"%s\" (%d call(s)), out_error \"%s\"",
                     w.data ? w.data : "", waiter_calls(&w), error);
    waiter_destroy(&w);
    return error;
}
#define expect_refused(config, expected, needle) \
    expect_refused_at(__FILE__, __LINE__, (config), (expected), (needle))

/* The same without an event callback: the message still comes back through out_error. */
static void expect_refused_without_callback(const char *config, storage_status expected,
                                            const char *needle) {
    storage_ctx *ctx = STALE_CTX;
    char *error = NULL;
    CHECK_EQ_INT(storage_new_ex(config, NULL, NULL, &ctx, &error), expected);
    CHECK(ctx == NULL);
    CHECK_CONTAINS(error, needle);
    storage_string_free(error);
}

static void a_bad_configuration_returns_a_message_naming_the_key(void) {
    const char *cases[][2] = {
        {"{\"participant_id\":\"a\",\"bloom_capasity\":10}", "bloom_capasity"},
        {"{\"resend_interval_ms\": -5}", "resend_interval_ms"},
        {"{\"participant_id\": 5}", "participant_id"},
        {"{\"max_channels\":0}", "max_channels"},
        {"{\"participant_id\": ", "configuration"},
        {"[1, 2]", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        storage_string_free(expect_refused(cases[i][0], STORAGE_INVALID_CONFIG, cases[i][1]));
    expect_refused_without_callback("{\"bloom_capasity\":1}", STORAGE_INVALID_CONFIG,
                                    "bloom_capasity");
}

/* A NUL echoed from the caller's input does not cut the message short. */
static void a_nul_in_the_message_is_escaped(void) {
    expect_refused_without_callback("{\"bad\\u0000key\":1}", STORAGE_INVALID_CONFIG,
                                    "`bad\\0key`");
}

static void bad_arguments_come_back_through_out_error(void) {
    char *error = STALE_ERROR;
    CHECK_EQ_INT(storage_new_ex(NULL, NULL, NULL, NULL, &error), STORAGE_NULL_ARGUMENT);
    CHECK_CONTAINS(error, "out_ctx");
    storage_string_free(error);
    storage_string_free(expect_refused("{\"participant_id\":\"\xff\"}", STORAGE_INVALID_UTF8,
                                       "config_json"));
}

static void a_start_failure_returns_its_message(void) {
    char *error = expect_refused("{\"recording\":{\"root\":\"/nonexistent/storage-c-test\","
                                 "\"autostart\":{\"name\":\"lost\"}}}",
                                 STORAGE_START_FAILED, "recording.root: ");
    CHECK_CONTAINS(error, "does not exist");
    storage_string_free(error);
}

static void success_sets_out_error_to_null(void) {
    waiter w;
    waiter_init(&w);
    storage_ctx *ctx = STALE_CTX;
    char *error = STALE_ERROR;
    CHECK_EQ_INT(storage_new_ex("{\"participant_id\":\"alice\"}", record_cb, &w, &ctx, &error),
                 STORAGE_OK);
    CHECK(ctx != NULL);
    CHECK(error == NULL);
    CHECK_EQ_INT(waiter_calls(&w), 0);
    buffer wire = wrap_msg(ctx, "room", "m1", "hello");
    buffer_free(&wire);
    free_ctx(ctx);
    waiter_destroy(&w);
}

static void a_null_out_error_is_allowed(void) {
    storage_ctx *ctx = STALE_CTX;
    CHECK_EQ_INT(storage_new_ex("{\"bloom_capasity\":1}", NULL, NULL, &ctx, NULL),
                 STORAGE_INVALID_CONFIG);
    CHECK(ctx == NULL);
    CHECK_EQ_INT(storage_new_ex(NULL, NULL, NULL, &ctx, NULL), STORAGE_OK);
    CHECK(ctx != NULL);
    free_ctx(ctx);
    storage_string_free(NULL); /* a no-op */
}

/* Every constant of the header's enum, with its spelling. */
#define STATUS(x) {x, #x}
static const struct {
    storage_status status;
    const char *name;
} STATUSES[] = {
    STATUS(STORAGE_OK),
    STATUS(STORAGE_INVALID_HANDLE),
    STATUS(STORAGE_NULL_ARGUMENT),
    STATUS(STORAGE_INVALID_UTF8),
    STATUS(STORAGE_EMPTY_CHANNEL_ID),
    STATUS(STORAGE_INVALID_CONFIG),
    STATUS(STORAGE_MISUSE),
    STATUS(STORAGE_PANIC),
    STATUS(STORAGE_SHUTTING_DOWN),
    STATUS(STORAGE_TIMEOUT),
    STATUS(STORAGE_EMPTY_CONTENT),
    STATUS(STORAGE_TOO_LARGE),
    STATUS(STORAGE_DECODE_ERROR),
    STATUS(STORAGE_UNKNOWN_CHANNEL),
    STATUS(STORAGE_LIMIT_REACHED),
    STATUS(STORAGE_PERSISTENCE_ERROR),
    STATUS(STORAGE_START_FAILED),
    STATUS(STORAGE_RECORDING_INVALID),
    STATUS(STORAGE_RECORDING_NOT_FOUND),
    STATUS(STORAGE_RECORDING_EXISTS),
    STATUS(STORAGE_RECORDING_IO),
    STATUS(STORAGE_UPLOAD_FAILED),
};
#define N_STATUSES (sizeof STATUSES / sizeof STATUSES[0])

static void every_status_has_its_name_and_a_description(void) {
    const char *unknown = storage_status_description(-1);
    for (size_t i = 0; i < N_STATUSES; i++) {
        CHECK_EQ_INT(STATUSES[i].status, (int32_t)i); /* values are 0, 1, 2, ... */
        CHECK_STR_EQ(storage_status_name(STATUSES[i].status), STATUSES[i].name);
        const char *description = storage_status_description(STATUSES[i].status);
        CHECKF(description != NULL && strlen(description) > 0 && strchr(description, '\n') == NULL,
               "description of %s", STATUSES[i].name);
        CHECK(strcmp(description, unknown) != 0);
        CHECK(storage_status_name(STATUSES[i].status) == storage_status_name(STATUSES[i].status));
    }
    /* Past the last one (so this list is the header's whole enum) and below 0. */
    int32_t unknowns[] = {(int32_t)N_STATUSES, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknowns / sizeof unknowns[0]; i++) {
        CHECK_STR_EQ(storage_status_name(unknowns[i]), "STORAGE_UNKNOWN_STATUS");
        CHECK_STR_EQ(storage_status_description(unknowns[i]), unknown);
    }
    CHECK_STR_EQ(storage_status_description(STORAGE_TIMEOUT),
                 "`storage_next_event` found no event before its timeout.");
    CHECK_STR_EQ(storage_status_description(STORAGE_PANIC),
                 "The library hit an internal error (a bug) while running the request; the "
                 "message holds the panic's. The worker restarts from the persisted state under "
                 "the restart policy (`worker_restarted` event); once its budget is spent the "
                 "context fails and later requests get `STORAGE_SHUTTING_DOWN`, saying so.");
}

int main(void) {
    RUN_TEST(a_bad_configuration_returns_a_message_naming_the_key);
    RUN_TEST(a_nul_in_the_message_is_escaped);
    RUN_TEST(bad_arguments_come_back_through_out_error);
    RUN_TEST(a_start_failure_returns_its_message);
    RUN_TEST(success_sets_out_error_to_null);
    RUN_TEST(a_null_out_error_is_allowed);
    RUN_TEST(every_status_has_its_name_and_a_description);
    return harness_report();
}
