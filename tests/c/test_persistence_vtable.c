/* A host persistence vtable backed by an in-memory map in this test: restart through
 * it, the failure policy for an injected failure of each call, registration errors, and
 * destroy exactly once in every path. */
#include "harness.h"

enum call { SAVE_META, UPDATE_HISTORY, LOAD, DROP, SET_HINT, N_CALLS };

typedef struct row {
    char *id;
    size_t id_len;
    uint8_t *data;
    size_t len;
} row;

typedef struct chan {
    char *id;
    size_t id_len;
    uint8_t *meta; /* NULL: none saved */
    size_t meta_len;
    row *rows;
    size_t n_rows;
    struct chan *next;
} chan;

typedef struct host {
    pthread_mutex_t mu;
    chan *chans;
    int fail_next[N_CALLS]; /* calls of that kind still to fail */
    int calls[N_CALLS];
    int hints;
    int destroyed;
} host;

static void *dup_bytes(const void *data, size_t len) {
    void *copy = malloc(len + 1);
    if (copy == NULL) abort();
    if (len > 0) memcpy(copy, data, len);
    ((char *)copy)[len] = '\0';
    return copy;
}

static bool same(const char *a, size_t a_len, storage_str b) {
    return a_len == b.len && memcmp(a, b.ptr, b.len) == 0;
}

static chan *find(host *h, storage_str id, bool create) {
    for (chan *c = h->chans; c != NULL; c = c->next)
        if (same(c->id, c->id_len, id)) return c;
    if (!create) return NULL;
    chan *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    c->id = dup_bytes(id.ptr, id.len);
    c->id_len = id.len;
    c->next = h->chans;
    h->chans = c;
    return c;
}

static void remove_row(chan *c, storage_str id) {
    for (size_t i = 0; i < c->n_rows; i++) {
        if (same(c->rows[i].id, c->rows[i].id_len, id)) {
            free(c->rows[i].id);
            free(c->rows[i].data);
            memmove(&c->rows[i], &c->rows[i + 1], (c->n_rows - i - 1) * sizeof(row));
            c->n_rows--;
            return;
        }
    }
}

static void free_chan(chan *c) {
    for (size_t i = 0; i < c->n_rows; i++) {
        free(c->rows[i].id);
        free(c->rows[i].data);
    }
    free(c->rows);
    free(c->meta);
    free(c->id);
    free(c);
}

/* Counts the call; returns true (and writes a message) if it must fail. */
static bool injected(host *h, enum call call, char *error, size_t capacity) {
    h->calls[call]++;
    if (h->fail_next[call] > 0) {
        h->fail_next[call]--;
        snprintf(error, capacity, "disk on fire (call %d)", (int)call);
        return true;
    }
    return false;
}

static int32_t h_save_meta(void *user_data, storage_str channel_id, const uint8_t *meta,
                           size_t meta_len, char *error, size_t capacity) {
    host *h = user_data;
    pthread_mutex_lock(&h->mu);
    int32_t status = 0;
    if (injected(h, SAVE_META, error, capacity)) {
        status = 1;
    } else {
        chan *c = find(h, channel_id, true);
        free(c->meta);
        c->meta = dup_bytes(meta, meta_len);
        c->meta_len = meta_len;
    }
    pthread_mutex_unlock(&h->mu);
    return status;
}

static int32_t h_update_history(void *user_data, storage_str channel_id,
                                const storage_history_row *append, size_t append_count,
                                const storage_str *evict, size_t evict_count, char *error,
                                size_t capacity) {
    host *h = user_data;
    pthread_mutex_lock(&h->mu);
    int32_t status = 0;
    if (injected(h, UPDATE_HISTORY, error, capacity)) {
        status = 2;
    } else {
        chan *c = find(h, channel_id, true);
        for (size_t i = 0; i < append_count; i++) {
            CHECK(append[i].message_id.ptr[append[i].message_id.len] == '\0');
            remove_row(c, append[i].message_id);
            c->rows = realloc(c->rows, (c->n_rows + 1) * sizeof(row));
            if (c->rows == NULL) abort();
            c->rows[c->n_rows++] = (row){dup_bytes(append[i].message_id.ptr, append[i].message_id.len),
                                         append[i].message_id.len,
                                         dup_bytes(append[i].data, append[i].len), append[i].len};
        }
        for (size_t i = 0; i < evict_count; i++) remove_row(c, evict[i]);
    }
    pthread_mutex_unlock(&h->mu);
    return status;
}

static int32_t h_load(void *user_data, storage_str channel_id, storage_load_sink *sink,
                      char *error, size_t capacity) {
    host *h = user_data;
    pthread_mutex_lock(&h->mu);
    int32_t status = 0;
    if (injected(h, LOAD, error, capacity)) {
        status = 3;
    } else {
        /* Misuse is refused, not crashed on. */
        CHECK_EQ_INT(storage_load_sink_push_meta(NULL, NULL, 0), STORAGE_NULL_ARGUMENT);
        CHECK_EQ_INT(storage_load_sink_push_history(sink, NULL, 5), STORAGE_NULL_ARGUMENT);
        chan *c = find(h, channel_id, false);
        if (c != NULL) {
            if (c->meta != NULL)
                CHECK_EQ_INT(storage_load_sink_push_meta(sink, c->meta, c->meta_len), STORAGE_OK);
            for (size_t i = 0; i < c->n_rows; i++)
                CHECK_EQ_INT(storage_load_sink_push_history(sink, c->rows[i].data, c->rows[i].len),
                             STORAGE_OK);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return status;
}

static int32_t h_drop(void *user_data, storage_str channel_id, char *error, size_t capacity) {
    host *h = user_data;
    pthread_mutex_lock(&h->mu);
    int32_t status = 0;
    if (injected(h, DROP, error, capacity)) {
        status = 4;
    } else {
        for (chan **p = &h->chans; *p != NULL; p = &(*p)->next) {
            if (same((*p)->id, (*p)->id_len, channel_id)) {
                chan *gone = *p;
                *p = gone->next;
                free_chan(gone);
                break;
            }
        }
    }
    pthread_mutex_unlock(&h->mu);
    return status;
}

static int32_t h_set_hint(void *user_data, storage_str channel_id, storage_str message_id,
                          const uint8_t *hint, size_t hint_len, char *error, size_t capacity) {
    (void)channel_id, (void)message_id, (void)hint, (void)hint_len;
    host *h = user_data;
    pthread_mutex_lock(&h->mu);
    int32_t status = injected(h, SET_HINT, error, capacity) ? 5 : 0;
    if (status == 0) h->hints++;
    pthread_mutex_unlock(&h->mu);
    return status;
}

static void h_destroy(void *user_data) {
    host *h = user_data;
    pthread_mutex_lock(&h->mu);
    h->destroyed++;
    pthread_mutex_unlock(&h->mu);
}

static void host_init(host *h) {
    memset(h, 0, sizeof *h);
    CHECK(pthread_mutex_init(&h->mu, NULL) == 0);
}

static void host_free(host *h) {
    while (h->chans != NULL) {
        chan *next = h->chans->next;
        free_chan(h->chans);
        h->chans = next;
    }
    pthread_mutex_destroy(&h->mu);
}

static int host_get(host *h, const int *field) {
    pthread_mutex_lock(&h->mu);
    int value = *field;
    pthread_mutex_unlock(&h->mu);
    return value;
}

static void host_fail_next(host *h, enum call call, int times) {
    pthread_mutex_lock(&h->mu);
    h->fail_next[call] = times;
    pthread_mutex_unlock(&h->mu);
}

static size_t host_rows(host *h, const char *channel) {
    pthread_mutex_lock(&h->mu);
    storage_str id = {channel, strlen(channel)};
    chan *c = find(h, id, false);
    size_t n = c ? c->n_rows : 0;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static storage_persistence_vtable vtable_for(host *h) {
    storage_persistence_vtable v = {
        .abi_version = STORAGE_PERSISTENCE_ABI_VERSION,
        .user_data = h,
        .save_channel_meta = h_save_meta,
        .update_history = h_update_history,
        .load_channel = h_load,
        .drop_channel = h_drop,
        .set_retrieval_hint = h_set_hint,
        .destroy = h_destroy,
    };
    return v;
}

static storage_ctx *new_hosted(const char *config, host *h, collector *events) {
    storage_persistence_vtable v = vtable_for(h);
    storage_ctx *ctx = NULL;
    CHECK_EQ_INT(storage_new_with_persistence(config, &v, events ? record_event_cb : NULL, events,
                                              &ctx),
                 STORAGE_OK);
    CHECK(ctx != NULL);
    return ctx;
}

static void ensure(storage_ctx *ctx, const char *channel, storage_status expected) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_ensure_channel(ctx, channel, record_cb, &w), STORAGE_OK);
    expect_answer(&w, expected);
    waiter_destroy(&w);
}

static void state_survives_a_restart_through_the_vtable(void) {
    host h;
    host_init(&h);
    storage_ctx *alice = new_ctx("{\"participant_id\":\"alice\"}", NULL);
    storage_ctx *bob = new_hosted("{\"participant_id\":\"bob\"}", &h, NULL);
    buffer a1 = wrap_msg(alice, "room", "a1", "one");
    buffer a2 = wrap_msg(alice, "room", "a2", "two");
    free(unwrap_msg(bob, a2)); /* buffered: a1 is missing */
    buffer b1 = wrap_msg(bob, "room", "b1", "mine");
    char *before = stats_json(bob, "room");
    CHECK_CONTAINS(before, "\"incomingLen\":1");
    free_ctx(bob);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 1);
    CHECK(host_rows(&h, "room") == 1); /* b1; the buffered a2 is not in history yet */

    bob = new_hosted("{\"participant_id\":\"bob\"}", &h, NULL);
    ensure(bob, "room", STORAGE_OK);
    char *after = stats_json(bob, "room");
    CHECK_STR_EQ(after, before);
    char *released = unwrap_msg(bob, a1);
    CHECK_CONTAINS(released, "a1");
    char *now = stats_json(bob, "room");
    CHECK_CONTAINS(now, "\"incomingLen\":0");
    free_ctx(bob);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 2);

    free(before), free(after), free(released), free(now);
    buffer_free(&a1), buffer_free(&a2), buffer_free(&b1);
    free_ctx(alice);
    host_free(&h);
}

static int host_channels(host *h) {
    pthread_mutex_lock(&h->mu);
    int n = 0;
    for (chan *c = h->chans; c != NULL; c = c->next) n++;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* After a restart, storage_channel_stats loads a stored channel as any request does: its
 * load failing is STORAGE_PERSISTENCE_ERROR with the host's message; a channel stored
 * nowhere is STORAGE_UNKNOWN_CHANNEL and is not created (with max_channels 1 it would
 * leave no room for the stored one), and nothing is written. */
static void stats_load_a_stored_channel_after_a_restart(void) {
    host h;
    host_init(&h);
    storage_ctx *bob = new_hosted("{\"participant_id\":\"bob\"}", &h, NULL);
    buffer b1 = wrap_msg(bob, "room", "b1", "mine");
    char *before = stats_json(bob, "room");
    free_ctx(bob);

    bob = new_hosted("{\"participant_id\":\"bob\",\"max_channels\":1}", &h, NULL);
    int saves = host_get(&h, &h.calls[SAVE_META]) + host_get(&h, &h.calls[UPDATE_HISTORY]);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_channel_stats(bob, "elsewhere", record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_UNKNOWN_CHANNEL), "unknown channel");
    waiter_reset(&w);
    CHECK_EQ_INT(host_channels(&h), 1);

    host_fail_next(&h, LOAD, 1);
    CHECK_EQ_INT(storage_channel_stats(bob, "room", record_cb, &w), STORAGE_OK);
    const char *message = expect_answer(&w, STORAGE_PERSISTENCE_ERROR);
    CHECK_CONTAINS(message, "disk on fire");
    waiter_destroy(&w);

    char *after = stats_json(bob, "room");
    CHECK_STR_EQ(after, before);
    CHECK_EQ_INT(host_get(&h, &h.calls[SAVE_META]) + host_get(&h, &h.calls[UPDATE_HISTORY]),
                 saves);
    free_ctx(bob);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 2);
    free(before), free(after);
    buffer_free(&b1);
    host_free(&h);
}

static void failing_saves_do_not_fail_the_op_and_history_is_retried(void) {
    host h;
    host_init(&h);
    collector events;
    events_init(&events);
    storage_ctx *ctx = new_hosted(NULL, &h, &events);
    host_fail_next(&h, SAVE_META, 1);
    host_fail_next(&h, UPDATE_HISTORY, 1);
    buffer m1 = wrap_msg(ctx, "room", "m1", "x");
    events_wait_match(&events, 0, "persistence_warning", "disk on fire", HARNESS_TIMEOUT_MS);
    CHECK(host_rows(&h, "room") == 0);
    buffer m2 = wrap_msg(ctx, "room", "m2", "y");
    CHECK(host_rows(&h, "room") == 2); /* the failed batch came along */
    free_ctx(ctx);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 1);
    buffer_free(&m1), buffer_free(&m2);
    events_destroy(&events);
    host_free(&h);
}

static void hint_provider(const char *message_id, char **hint, size_t *hint_len, void *user_data) {
    (void)user_data;
    *hint = strdup(message_id);
    *hint_len = strlen(message_id);
}

static void a_failing_hint_save_is_a_warning(void) {
    host h;
    host_init(&h);
    collector events;
    events_init(&events);
    storage_ctx *ctx = new_hosted(NULL, &h, &events);
    CHECK_EQ_INT(storage_set_retrieval_hint_provider(ctx, hint_provider, NULL), STORAGE_OK);
    host_fail_next(&h, SET_HINT, 1);
    buffer m1 = wrap_msg(ctx, "room", "m1", "x");
    buffer m2 = wrap_msg(ctx, "room", "m2", "x");
    buffer m3 = wrap_msg(ctx, "room", "m3", "x");
    events_wait_match(&events, 0, "persistence_warning", "set_retrieval_hint", HARNESS_TIMEOUT_MS);
    CHECK(host_get(&h, &h.calls[SET_HINT]) >= 2);
    CHECK(host_get(&h, &h.hints) >= 1);
    free_ctx(ctx);
    buffer_free(&m1), buffer_free(&m2), buffer_free(&m3);
    events_destroy(&events);
    host_free(&h);
}

static void failing_load_and_drop_fail_the_op_with_the_hosts_message(void) {
    host h;
    host_init(&h);
    storage_ctx *ctx = new_hosted(NULL, &h, NULL);
    host_fail_next(&h, LOAD, 1);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_wrap(ctx, "room", "m1", (const uint8_t *)"x", 1, record_cb, &w),
                 STORAGE_OK);
    const char *message = expect_answer(&w, STORAGE_PERSISTENCE_ERROR);
    CHECK_CONTAINS(message, "disk on fire");
    CHECK_CONTAINS(message, "load_channel");
    waiter_reset(&w);
    buffer m1 = wrap_msg(ctx, "room", "m1", "x"); /* the next load works */

    host_fail_next(&h, DROP, 1);
    CHECK_EQ_INT(storage_remove_channel(ctx, "room", record_cb, &w), STORAGE_OK);
    message = expect_answer(&w, STORAGE_PERSISTENCE_ERROR);
    CHECK_CONTAINS(message, "disk on fire");
    waiter_reset(&w);
    CHECK(host_rows(&h, "room") == 1);
    CHECK_EQ_INT(storage_remove_channel(ctx, "room", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    CHECK(host_rows(&h, "room") == 0);
    waiter_destroy(&w);
    free_ctx(ctx);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 1);
    buffer_free(&m1);
    host_free(&h);
}

/* Which creation function expect_refused and the registration test use. */
static bool with_out_error;

/* Refused with `expected`; destroy ran `destroyed` times; *out_ctx stays NULL. The event
 * callback hears the message, and so does *out_error with storage_new_with_persistence_ex. */
static void expect_refused(const char *config, storage_persistence_vtable *v, storage_ctx **out,
                           storage_status expected, int destroyed, host *h) {
    waiter w;
    waiter_init(&w);
    char *error = (char *)(uintptr_t)0x5678;
    storage_status st = with_out_error
                            ? storage_new_with_persistence_ex(config, v, record_cb, &w, out, &error)
                            : storage_new_with_persistence(config, v, record_cb, &w, out);
    CHECK_EQ_INT(st, expected);
    if (out != NULL) CHECK(*out == NULL);
    CHECK_EQ_INT(waiter_calls(&w), 1);
    CHECK(w.len > 0);
    if (with_out_error) {
        CHECK_STR_EQ(error, w.data);
        storage_string_free(error);
    }
    CHECK_EQ_INT(host_get(h, &h->destroyed), destroyed);
    waiter_destroy(&w);
}

static void registration_errors_and_destroy_exactly_once(void) {
    host h;
    host_init(&h);
    storage_ctx *ctx = (storage_ctx *)(uintptr_t)0x10;
    expect_refused(NULL, NULL, &ctx, STORAGE_NULL_ARGUMENT, 0, &h);

    /* Unknown layout: nothing else is read and destroy is not called. */
    storage_persistence_vtable v = vtable_for(&h);
    v.abi_version = STORAGE_PERSISTENCE_ABI_VERSION + 1;
    expect_refused(NULL, &v, &ctx, STORAGE_INVALID_CONFIG, 0, &h);

    /* Known layout: owned from then on, so every refusal destroys it once. */
    v = vtable_for(&h);
    v.load_channel = NULL;
    expect_refused(NULL, &v, &ctx, STORAGE_INVALID_CONFIG, 1, &h);
    v = vtable_for(&h);
    expect_refused("{\"persistence\":{\"kind\":\"memory\"}}", &v, &ctx, STORAGE_INVALID_CONFIG, 2,
                   &h);
    expect_refused("{\"participant_id\": ", &v, &ctx, STORAGE_INVALID_CONFIG, 3, &h);
    expect_refused(NULL, &v, NULL, STORAGE_NULL_ARGUMENT, 4, &h);

    /* "none" is the same as no persistence section. */
    ctx = NULL;
    char *error = (char *)(uintptr_t)0x5678;
    CHECK_EQ_INT(with_out_error ? storage_new_with_persistence_ex(
                                      "{\"persistence\":{\"kind\":\"none\"}}", &v, NULL, NULL,
                                      &ctx, &error)
                                : storage_new_with_persistence(
                                      "{\"persistence\":{\"kind\":\"none\"}}", &v, NULL, NULL,
                                      &ctx),
                 STORAGE_OK);
    if (with_out_error) CHECK(error == NULL);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 4);
    free_ctx(ctx);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 5);
    host_free(&h);
}

/* The same rules, and each message also through out_error, with the _ex variant; a NULL
 * out_error is allowed. */
static void registration_errors_with_out_error(void) {
    with_out_error = true;
    registration_errors_and_destroy_exactly_once();
    with_out_error = false;

    host h;
    host_init(&h);
    storage_persistence_vtable v = vtable_for(&h);
    storage_ctx *ctx = NULL;
    CHECK_EQ_INT(storage_new_with_persistence_ex("{", &v, NULL, NULL, &ctx, NULL),
                 STORAGE_INVALID_CONFIG);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 1);
    /* The unknown layout's message names the version. */
    v.abi_version = 77;
    char *error = NULL;
    CHECK_EQ_INT(storage_new_with_persistence_ex(NULL, &v, NULL, NULL, &ctx, &error),
                 STORAGE_INVALID_CONFIG);
    CHECK_CONTAINS(error, "77");
    storage_string_free(error);
    CHECK_EQ_INT(host_get(&h, &h.destroyed), 1);
    host_free(&h);
}

int main(void) {
    RUN_TEST(state_survives_a_restart_through_the_vtable);
    RUN_TEST(stats_load_a_stored_channel_after_a_restart);
    RUN_TEST(failing_saves_do_not_fail_the_op_and_history_is_retried);
    RUN_TEST(a_failing_hint_save_is_a_warning);
    RUN_TEST(failing_load_and_drop_fail_the_op_with_the_hosts_message);
    RUN_TEST(registration_errors_and_destroy_exactly_once);
    RUN_TEST(registration_errors_with_out_error);
    return harness_report();
}
