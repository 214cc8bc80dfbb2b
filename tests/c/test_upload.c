/* Uploads through the C API, where no S3 server is needed (tests/upload_*.rs cover the
 * real server): the four requests without an `upload` section fail with
 * STORAGE_UPLOAD_FAILED; a bad section is refused at creation naming the key and never
 * the secret; bad arguments are refused; and against a bucket that cannot be reached, a
 * pass reports each chunk failed, the status says they are pending, no event or answer
 * carries the secret, and storage_free returns. */
#include "harness.h"

#include <unistd.h>

static char root[64];

#define SECRET "c-test-secret-never-shown-4242"

typedef storage_status (*upload_fn)(storage_ctx *, const char *, storage_callback, void *);

static const struct {
    const char *name;
    upload_fn fn;
} UPLOAD_FNS[] = {
    {"storage_upload_recording", storage_upload_recording},
    {"storage_upload_status", storage_upload_status},
    {"storage_upload_reconcile", storage_upload_reconcile},
    {"storage_upload_restore", storage_upload_restore},
};
#define N_UPLOAD_FNS (sizeof UPLOAD_FNS / sizeof UPLOAD_FNS[0])

static void requests_without_an_upload_section_fail_clearly(void) {
    char config[256];
    snprintf(config, sizeof config, "{\"participant_id\":\"bob\",\"recording\":{\"root\":\"%s\"}}",
             root);
    storage_ctx *ctx = new_ctx(config, NULL);
    waiter w;
    waiter_init(&w);
    for (size_t i = 0; i < N_UPLOAD_FNS; i++) {
        printf("   %s\n", UPLOAD_FNS[i].name);
        waiter_reset(&w);
        CHECK_EQ_INT(UPLOAD_FNS[i].fn(ctx, "run", record_cb, &w), STORAGE_OK);
        CHECK_CONTAINS(expect_answer(&w, STORAGE_UPLOAD_FAILED), "upload");
    }
    waiter_destroy(&w);
    free_ctx(ctx);
}

static void bad_arguments_are_refused(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    waiter w;
    waiter_init(&w);
    for (size_t i = 0; i < N_UPLOAD_FNS; i++) {
        printf("   %s\n", UPLOAD_FNS[i].name);
        waiter_reset(&w);
        CHECK_EQ_INT(UPLOAD_FNS[i].fn(NULL, "run", record_cb, &w), STORAGE_INVALID_HANDLE);
        waiter_reset(&w);
        CHECK_EQ_INT(UPLOAD_FNS[i].fn(ctx, NULL, record_cb, &w), STORAGE_NULL_ARGUMENT);
        CHECK_CONTAINS(expect_answer(&w, STORAGE_NULL_ARGUMENT), "name");
        waiter_reset(&w);
        CHECK_EQ_INT(UPLOAD_FNS[i].fn(ctx, "\xff", record_cb, &w), STORAGE_INVALID_UTF8);
        CHECK_CONTAINS(expect_answer(&w, STORAGE_INVALID_UTF8), "name");
    }
    waiter_destroy(&w);
    free_ctx(ctx);
}

/* storage_new_ex refuses `config` with STORAGE_INVALID_CONFIG, naming `needle`, and the
 * secret appears nowhere in the message. */
static void expect_refused(const char *config, const char *needle) {
    storage_ctx *ctx = NULL;
    char *error = NULL;
    CHECK_EQ_INT(storage_new_ex(config, NULL, NULL, &ctx, &error), STORAGE_INVALID_CONFIG);
    CHECK(ctx == NULL);
    CHECK_CONTAINS(error, needle);
    CHECKF(strstr(error, SECRET) == NULL, "the secret is in \"%s\"", error);
    storage_string_free(error);
}

static void a_bad_upload_section_is_refused_without_showing_the_secret(void) {
    char config[512];
    const char *cases[][2] = {
        /* An upload section needs a recordings root to upload from. */
        {"{\"upload\":{\"endpoint\":\"http://127.0.0.1:9\",\"bucket\":\"b\","
         "\"secret_access_key\":\"" SECRET "\"}}",
         "recording"},
        {"{\"recording\":{\"root\":\"%s\"},\"upload\":{\"endpoint\":\"http://127.0.0.1:9\","
         "\"secret_access_key\":\"" SECRET "\"}}",
         "bucket"},
        {"{\"recording\":{\"root\":\"%s\"},\"upload\":{\"endpoint\":\"http://127.0.0.1:9\","
         "\"bucket\":\"b\",\"concurrency\":0,\"secret_access_key\":\"" SECRET "\"}}",
         "concurrency"},
        {"{\"recording\":{\"root\":\"%s\"},\"upload\":{\"endpoint\":\"http://127.0.0.1:9\","
         "\"bucket\":\"b\",\"secret_acces_key\":\"" SECRET "\"}}",
         "secret_acces_key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(config, sizeof config, cases[i][0], root);
        expect_refused(config, cases[i][1]);
    }
}

static void an_unreachable_bucket_leaves_the_chunks_pending(void) {
    char config[512];
    /* Port 9 (discard) on loopback: nothing listens, every request is refused at once. */
    snprintf(config, sizeof config,
             "{\"participant_id\":\"bob\",\"recording\":{\"root\":\"%s\"},"
             "\"upload\":{\"endpoint\":\"http://127.0.0.1:9\",\"bucket\":\"fleet\","
             "\"access_key_id\":\"c-test\",\"secret_access_key\":\"" SECRET "\","
             "\"retry_initial_ms\":600000,\"retry_max_ms\":600000}}",
             root);
    collector events;
    events_init(&events);
    storage_ctx *alice = new_ctx("{\"participant_id\":\"alice\"}", NULL);
    storage_ctx *bob = new_ctx(config, &events);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_recording_start(bob, "c-up", "{}", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        buffer m = wrap_msg(alice, "room", id, "payload");
        free(unwrap_msg(bob, m));
        buffer_free(&m);
    }
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(bob, "c-up", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);

    waiter_reset(&w);
    CHECK_EQ_INT(storage_upload_recording(bob, "c-up", record_cb, &w), STORAGE_OK);
    const char *report = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(report, "\"recording\":\"c-up\"");
    CHECK_CONTAINS(report, "\"action\":\"failed\"");
    CHECK_CONTAINS(report, "\"manifest\":\"withheld\"");
    CHECKF(strstr(report, SECRET) == NULL, "the secret is in the report: %s", report);

    waiter_reset(&w);
    CHECK_EQ_INT(storage_upload_status(bob, "c-up", record_cb, &w), STORAGE_OK);
    const char *status = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(status, "\"uploaded\":0");
    CHECK_CONTAINS(status, "\"uploadedAtNs\":null");
    CHECK_CONTAINS(status, "\"manifestKey\":\"bob/c-up/manifest.json\"");

    waiter_reset(&w);
    CHECK_EQ_INT(storage_upload_reconcile(bob, "c-up", record_cb, &w), STORAGE_OK);
    CHECKF(strstr(expect_answer(&w, STORAGE_UPLOAD_FAILED), SECRET) == NULL, "secret shown");

    waiter_destroy(&w);
    free_ctx(bob);
    free_ctx(alice);
    for (size_t i = 0; i < events_count(&events); i++)
        CHECKF(strstr(events_get(&events, i), SECRET) == NULL, "the secret is in an event: %s",
               events_get(&events, i));
    events_destroy(&events);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/storage-c-upload-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    RUN_TEST(requests_without_an_upload_section_fail_clearly);
    RUN_TEST(bad_arguments_are_refused);
    RUN_TEST(a_bad_upload_section_is_refused_without_showing_the_secret);
    RUN_TEST(an_unreachable_bucket_leaves_the_chunks_pending);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", root);
    CHECK_EQ_INT(system(command), 0);
    return harness_report();
}
