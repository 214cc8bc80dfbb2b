/* Library logs reach the host through storage_set_log_callback: level, target and
 * message of each record, from the thread that logged; records above the level of
 * storage_set_log_level never arrive; without a callback nothing arrives; the callback
 * cannot replace itself. A context whose recording.autostart starts logs one INFO record
 * ("recording `auto-...` started"), which these tests use as the library's log line. */
#include "harness.h"

#include <unistd.h>

static char root[64];

typedef struct {
    pthread_mutex_t mu;
    int records;           /* records received */
    int info_autostart;    /* of which INFO records about the autostarted recording */
    int bad_target;        /* records whose target is not a storage:: module */
    int nested_status;     /* what storage_set_log_callback answered inside the callback */
} log_seen;

static log_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .nested_status = -1};

static void reset_seen(void) {
    pthread_mutex_lock(&seen.mu);
    seen.records = seen.info_autostart = seen.bad_target = 0;
    seen.nested_status = -1;
    pthread_mutex_unlock(&seen.mu);
}

static void on_log(storage_log_level level, const char *target, const char *message,
                   void *user_data) {
    log_seen *s = user_data;
    pthread_mutex_lock(&s->mu);
    s->records++;
    if (strncmp(target, "storage::", 9) != 0) s->bad_target++;
    if (level == STORAGE_LOG_INFO && strstr(message, "recording `auto-") != NULL &&
        strstr(message, "started (recording.autostart)") != NULL)
        s->info_autostart++;
    pthread_mutex_unlock(&s->mu);
}

static void on_log_nested(storage_log_level level, const char *target, const char *message,
                          void *user_data) {
    on_log(level, target, message, user_data);
    int status = storage_set_log_callback(NULL, NULL);
    pthread_mutex_lock(&seen.mu);
    seen.nested_status = status;
    pthread_mutex_unlock(&seen.mu);
}

static char *autostart_config(void) {
    static char config[256];
    snprintf(config, sizeof config,
             "{\"recording\":{\"root\":\"%s\",\"autostart\":{\"name\":\"auto\"}}}", root);
    return config;
}

/* Creates a context that autostarts a recording, makes one request after start-up (so
 * the start-up log line, if any, was handed over before the answer), and frees it. */
static void run_autostarting_context(void) {
    storage_ctx *ctx = new_ctx(autostart_config(), NULL);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_recordings_list(ctx, record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    waiter_destroy(&w);
    free_ctx(ctx);
}

static void records_at_the_level_reach_the_callback(void) {
    reset_seen();
    CHECK_EQ_INT(storage_set_log_level(STORAGE_LOG_INFO), STORAGE_OK);
    CHECK_EQ_INT(storage_set_log_callback(on_log, &seen), STORAGE_OK);
    run_autostarting_context();
    pthread_mutex_lock(&seen.mu);
    CHECKF(seen.info_autostart == 1, "%d autostart records of %d", seen.info_autostart,
           seen.records);
    CHECK_EQ_INT(seen.bad_target, 0);
    pthread_mutex_unlock(&seen.mu);
}

static void records_above_the_level_are_filtered(void) {
    reset_seen();
    CHECK_EQ_INT(storage_set_log_callback(on_log, &seen), STORAGE_OK);
    CHECK_EQ_INT(storage_set_log_level(STORAGE_LOG_WARN), STORAGE_OK);
    run_autostarting_context();
    CHECK_EQ_INT(storage_set_log_level(STORAGE_LOG_OFF), STORAGE_OK);
    run_autostarting_context();
    pthread_mutex_lock(&seen.mu);
    CHECK_EQ_INT(seen.info_autostart, 0);
    pthread_mutex_unlock(&seen.mu);
    /* Any int32 value is a valid level argument. */
    CHECK_EQ_INT(storage_set_log_level(-7), STORAGE_OK);
    CHECK_EQ_INT(storage_set_log_level(1000), STORAGE_OK);
}

static void no_callback_no_records(void) {
    reset_seen();
    CHECK_EQ_INT(storage_set_log_level(STORAGE_LOG_TRACE), STORAGE_OK);
    CHECK_EQ_INT(storage_set_log_callback(on_log, &seen), STORAGE_OK);
    CHECK_EQ_INT(storage_set_log_callback(NULL, NULL), STORAGE_OK);
    run_autostarting_context();
    pthread_mutex_lock(&seen.mu);
    CHECK_EQ_INT(seen.records, 0);
    pthread_mutex_unlock(&seen.mu);
}

static void the_callback_cannot_replace_itself(void) {
    reset_seen();
    CHECK_EQ_INT(storage_set_log_level(STORAGE_LOG_INFO), STORAGE_OK);
    CHECK_EQ_INT(storage_set_log_callback(on_log_nested, &seen), STORAGE_OK);
    run_autostarting_context();
    pthread_mutex_lock(&seen.mu);
    CHECK(seen.records >= 1);
    CHECK_EQ_INT(seen.nested_status, STORAGE_MISUSE);
    pthread_mutex_unlock(&seen.mu);
    CHECK_EQ_INT(storage_set_log_callback(NULL, NULL), STORAGE_OK);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/storage-c-logging-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    RUN_TEST(records_at_the_level_reach_the_callback);
    RUN_TEST(records_above_the_level_are_filtered);
    RUN_TEST(no_callback_no_records);
    RUN_TEST(the_callback_cannot_replace_itself);
    char command[96];
    snprintf(command, sizeof command, "rm -rf '%s'", root);
    CHECK_EQ_INT(system(command), 0);
    return harness_report();
}
