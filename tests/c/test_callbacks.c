/* Callbacks and what may happen inside them: re-entrant requests, storage_free from a
 * callback, retrieval-hint providers, freeing with requests queued, periodic tasks. */
#include "harness.h"

#define ALICE "{\"participant_id\":\"alice\"}"
#define BOB "{\"participant_id\":\"bob\"}"

/* ---- Requests made from inside an event callback -------------------------------------- */

typedef struct {
    storage_ctx *ctx;
    collector events;
    bool triggered;
    storage_status stats_call; /* what storage_channel_stats returned inside the callback */
    storage_status wrap_call;  /* what storage_wrap returned inside the callback */
    waiter stats;              /* their answers */
    waiter wrap;
} reentry;

static void reentrant_event_cb(storage_status status, const uint8_t *data, size_t len,
                               void *user_data) {
    (void)status;
    reentry *r = user_data;
    events_push(&r->events, data, len);
    const char *event = events_get(&r->events, events_count(&r->events) - 1);
    if (!r->triggered && strstr(event, "\"eventType\":\"message_ready\"") != NULL) {
        r->triggered = true;
        r->stats_call = storage_channel_stats(r->ctx, "room", record_cb, &r->stats);
        r->wrap_call = storage_wrap(r->ctx, "room", "pong", (const uint8_t *)"pong", 4,
                                    record_cb, &r->wrap);
    }
}

static void requests_from_inside_an_event_callback(void) {
    reentry r = {.triggered = false};
    events_init(&r.events);
    waiter_init(&r.stats);
    waiter_init(&r.wrap);
    CHECK_EQ_INT(storage_new(BOB, reentrant_event_cb, &r, &r.ctx), STORAGE_OK);
    storage_ctx *alice = new_ctx(ALICE, NULL);

    buffer ping = wrap_msg(alice, "room", "ping", "ping");
    free(unwrap_msg(r.ctx, ping));
    /* No deadlock: both nested requests are answered, on the worker thread. */
    expect_answer(&r.stats, STORAGE_OK);
    expect_answer(&r.wrap, STORAGE_OK);
    CHECK_EQ_INT(r.stats_call, STORAGE_OK);
    CHECK_EQ_INT(r.wrap_call, STORAGE_OK);
    CHECK(!pthread_equal(r.stats.thread, pthread_self()));
    CHECK(pthread_equal(r.stats.thread, r.wrap.thread));
    /* The stats ran after the unwrap that delivered "ping", before the wrap of "pong". */
    CHECK_CONTAINS(r.stats.data, "\"historyLen\":1");
    CHECK(r.wrap.len > 0);
    char *stats = stats_json(r.ctx, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":2");
    free(stats);

    /* The reply wrapped inside the callback reaches Alice. */
    buffer pong = {(uint8_t *)r.wrap.data, r.wrap.len};
    char *result = unwrap_msg(alice, pong);
    CHECK_CONTAINS(result, "\"status\":\"delivered\"");
    free(result);

    buffer_free(&ping);
    free_ctx(r.ctx);
    free_ctx(alice);
    waiter_destroy(&r.stats);
    waiter_destroy(&r.wrap);
    events_destroy(&r.events);
}

/* ---- storage_free from inside a callback ---------------------------------------------- */

typedef struct {
    storage_ctx *ctx;
    storage_status free_status;
    waiter done;
} self_free;

static void free_self_cb(storage_status status, const uint8_t *data, size_t len,
                         void *user_data) {
    self_free *s = user_data;
    s->free_status = storage_free(s->ctx);
    waiter_record(&s->done, status, data, len);
}

static void free_inside_own_callback_is_misuse(void) {
    self_free s = {.free_status = STORAGE_OK};
    waiter_init(&s.done);

    /* From a request callback. */
    s.ctx = new_ctx(NULL, NULL);
    CHECK_EQ_INT(storage_ensure_channel(s.ctx, "room", free_self_cb, &s), STORAGE_OK);
    expect_answer(&s.done, STORAGE_OK);
    CHECK_EQ_INT(s.free_status, STORAGE_MISUSE);
    /* The context survived and still works. */
    buffer wire = wrap_msg(s.ctx, "room", "m1", "still alive");
    buffer_free(&wire);
    free_ctx(s.ctx);

    /* From an event callback. */
    waiter_reset(&s.done);
    s.free_status = STORAGE_OK;
    storage_ctx *alice = new_ctx(ALICE, NULL);
    CHECK_EQ_INT(storage_new(BOB, free_self_cb, &s, &s.ctx), STORAGE_OK);
    wire = wrap_msg(alice, "room", "m1", "hello");
    free(unwrap_msg(s.ctx, wire));
    wait_for(&s.done, 1, HARNESS_TIMEOUT_MS);
    CHECK_EQ_INT(s.free_status, STORAGE_MISUSE);
    free_ctx(s.ctx);
    CHECK_EQ_INT(storage_free(s.ctx), STORAGE_INVALID_HANDLE);

    buffer_free(&wire);
    free_ctx(alice);
    waiter_destroy(&s.done);
}

/* ---- storage_next_event from inside a callback ---------------------------------------- */

typedef struct {
    storage_ctx *ctx;
    storage_status pull_status;
    waiter done;
} self_pull;

static void pull_self_cb(storage_status status, const uint8_t *data, size_t len,
                         void *user_data) {
    self_pull *s = user_data;
    uint8_t *event = NULL;
    size_t event_len = 0;
    /* A long timeout: returning at once is the point. */
    s->pull_status = storage_next_event(s->ctx, 60000, &event, &event_len);
    storage_bytes_free(event, event_len);
    waiter_record(&s->done, status, data, len);
}

static void next_event_inside_own_callback_is_misuse(void) {
    self_pull s = {.pull_status = STORAGE_OK};
    waiter_init(&s.done);
    s.ctx = new_ctx(NULL, NULL);
    CHECK_EQ_INT(storage_ensure_channel(s.ctx, "room", pull_self_cb, &s), STORAGE_OK);
    expect_answer(&s.done, STORAGE_OK);
    CHECK_EQ_INT(s.pull_status, STORAGE_MISUSE);
    /* The context still works and its events can be pulled from a host thread. */
    buffer wire = wrap_msg(s.ctx, "room", "m1", "still alive");
    buffer_free(&wire);
    free_ctx(s.ctx);
    waiter_destroy(&s.done);
}

/* ---- Retrieval-hint provider ---------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int calls;
    bool asked_m1;
    bool on_worker; /* every call came from a thread other than the test's */
    pthread_t test_thread;
} hints;

static void hint_provider(const char *message_id, char **hint, size_t *hint_len,
                          void *user_data) {
    hints *h = user_data;
    pthread_mutex_lock(&h->mu);
    h->calls++;
    if (strcmp(message_id, "m1") == 0) h->asked_m1 = true;
    if (pthread_equal(pthread_self(), h->test_thread)) h->on_worker = false;
    pthread_mutex_unlock(&h->mu);
    size_t len = strlen("hint-") + strlen(message_id);
    *hint = malloc(len + 1); /* released by the library with free() */
    CHECK(*hint != NULL);
    snprintf(*hint, len + 1, "hint-%s", message_id);
    *hint_len = len;
}

static int hint_calls(hints *h) {
    pthread_mutex_lock(&h->mu);
    int calls = h->calls;
    pthread_mutex_unlock(&h->mu);
    return calls;
}

static void retrieval_hints_reach_the_peer(void) {
    hints h = {.calls = 0, .asked_m1 = false, .on_worker = true, .test_thread = pthread_self()};
    CHECK(pthread_mutex_init(&h.mu, NULL) == 0);
    collector bob_events;
    events_init(&bob_events);
    storage_ctx *alice = new_ctx(ALICE, NULL);
    storage_ctx *bob = new_ctx(BOB, &bob_events);

    CHECK_EQ_INT(storage_set_retrieval_hint_provider(alice, hint_provider, &h), STORAGE_OK);
    buffer m1 = wrap_msg(alice, "room", "m1", "one");
    buffer m2 = wrap_msg(alice, "room", "m2", "two");
    CHECK(hint_calls(&h) >= 1);
    CHECK(h.asked_m1);
    CHECK(h.on_worker);

    /* Bob gets m2 without m1: the missing m1 comes with Alice's hint, base64. */
    char *hint = b64_encode("hint-m1", 7);
    char needle[64];
    snprintf(needle, sizeof needle, "\"retrievalHint\":\"%s\"", hint);
    char *result = unwrap_msg(bob, m2);
    CHECK_CONTAINS(result, "\"status\":\"buffered\"");
    CHECK_CONTAINS(result, "\"messageId\":\"m1\"");
    CHECK_CONTAINS(result, needle);
    free(result);
    events_wait_match(&bob_events, 0, "\"eventType\":\"missing_dependencies\"", needle,
                      HARNESS_TIMEOUT_MS);
    free(hint);

    /* Cleared: later wraps no longer call it. */
    CHECK_EQ_INT(storage_set_retrieval_hint_provider(alice, NULL, NULL), STORAGE_OK);
    int before = hint_calls(&h);
    buffer m3 = wrap_msg(alice, "room", "m3", "three");
    CHECK_EQ_INT(hint_calls(&h), before);

    buffer_free(&m1);
    buffer_free(&m2);
    buffer_free(&m3);
    free_ctx(alice);
    free_ctx(bob);
    events_destroy(&bob_events);
    pthread_mutex_destroy(&h.mu);
}

/* ---- Callbacks arrive one at a time, in request order ---------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int next;        /* the sequence number expected next */
    int out_of_order;
    int running;     /* callbacks currently running */
    int overlapped;  /* times two callbacks ran at once */
    waiter all;
} sequence;

typedef struct {
    sequence *seq;
    int number;
} ticket;

static void sequence_cb(storage_status status, const uint8_t *data, size_t len,
                        void *user_data) {
    ticket *t = user_data;
    sequence *s = t->seq;
    pthread_mutex_lock(&s->mu);
    if (t->number != s->next) s->out_of_order++;
    s->next++;
    if (++s->running > 1) s->overlapped++;
    pthread_mutex_unlock(&s->mu);
    sleep_ms(t->number % 7 == 0 ? 1 : 0);
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_mutex_unlock(&s->mu);
    waiter_record(&s->all, status, data, len);
}

static void callbacks_run_in_request_order(void) {
    enum { N = 60 };
    sequence s = {.next = 0};
    CHECK(pthread_mutex_init(&s.mu, NULL) == 0);
    waiter_init(&s.all);
    ticket tickets[N];
    storage_ctx *ctx = new_ctx(NULL, NULL);
    for (int i = 0; i < N; i++) {
        tickets[i] = (ticket){&s, i};
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        storage_status st;
        switch (i % 3) {
        case 0:
            st = storage_wrap(ctx, "room", id, (const uint8_t *)"x", 1, sequence_cb, &tickets[i]);
            break;
        case 1:
            st = storage_channel_stats(ctx, "room", sequence_cb, &tickets[i]);
            break;
        default:
            st = storage_unwrap(ctx, (const uint8_t *)"junk", 4, sequence_cb, &tickets[i]);
            break;
        }
        CHECK_EQ_INT(st, STORAGE_OK);
    }
    wait_for(&s.all, N, HARNESS_TIMEOUT_MS);
    CHECK_EQ_INT(s.out_of_order, 0);
    CHECK_EQ_INT(s.overlapped, 0);
    free_ctx(ctx);
    waiter_destroy(&s.all);
    pthread_mutex_destroy(&s.mu);
}

/* ---- storage_free with requests still queued ------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int ok;
    int shutting_down;
    int other;
    int after_free; /* callbacks after storage_free returned: must stay 0 */
    bool freed;
    int first_sleep_ms; /* the first callback sleeps this long, so the queue fills */
    waiter *started;    /* told when that first callback starts sleeping (or NULL) */
} tally;

static void tally_cb(storage_status status, const uint8_t *data, size_t len, void *user_data) {
    (void)data;
    (void)len;
    tally *t = user_data;
    pthread_mutex_lock(&t->mu);
    int sleep_for = t->first_sleep_ms;
    t->first_sleep_ms = 0;
    if (t->freed) t->after_free++;
    if (status == STORAGE_OK)
        t->ok++;
    else if (status == STORAGE_SHUTTING_DOWN)
        t->shutting_down++;
    else
        t->other++;
    pthread_mutex_unlock(&t->mu);
    if (sleep_for > 0) {
        if (t->started != NULL) waiter_record(t->started, status, NULL, 0);
        sleep_ms(sleep_for);
    }
}

static storage_status submit_tallied(storage_ctx *ctx, int i, tally *t) {
    char id[16];
    snprintf(id, sizeof id, "m%d", i);
    if (i % 2 == 0) return storage_wrap(ctx, "room", id, (const uint8_t *)"x", 1, tally_cb, t);
    return storage_channel_stats(ctx, "room", tally_cb, t);
}

static void free_answers_every_queued_request_once(void) {
    enum { N = 300 };
    waiter started;
    waiter_init(&started);
    tally t = {.first_sleep_ms = 300, .started = &started};
    CHECK(pthread_mutex_init(&t.mu, NULL) == 0);
    storage_ctx *ctx = new_ctx(NULL, NULL);

    /* The first request runs; its callback sleeps while the others queue up behind it. */
    CHECK_EQ_INT(submit_tallied(ctx, 0, &t), STORAGE_OK);
    wait_for(&started, 1, HARNESS_TIMEOUT_MS);
    for (int i = 1; i < N; i++) CHECK_EQ_INT(submit_tallied(ctx, i, &t), STORAGE_OK);
    free_ctx(ctx);

    pthread_mutex_lock(&t.mu);
    t.freed = true;
    int ok = t.ok, shutting_down = t.shutting_down, other = t.other;
    pthread_mutex_unlock(&t.mu);
    /* Every callback ran exactly once before storage_free returned: the one running with
     * its result, the queued ones with STORAGE_SHUTTING_DOWN. */
    CHECK_EQ_INT(ok, 1);
    CHECK_EQ_INT(shutting_down, N - 1);
    CHECK_EQ_INT(other, 0);

    /* And none after. */
    sleep_ms(200);
    pthread_mutex_lock(&t.mu);
    CHECK_EQ_INT(t.after_free, 0);
    CHECK_EQ_INT(t.ok + t.shutting_down + t.other, N);
    pthread_mutex_unlock(&t.mu);
    pthread_mutex_destroy(&t.mu);
    waiter_destroy(&started);
}

/* ---- Periodic tasks ------------------------------------------------------------------- */

static void periodic_tasks_start_twice_and_sync_at_once(void) {
    collector events;
    events_init(&events);
    storage_ctx *ctx = new_ctx(ALICE, &events);
    waiter first, second, ensured;
    waiter_init(&first);
    waiter_init(&second);
    waiter_init(&ensured);
    CHECK_EQ_INT(storage_ensure_channel(ctx, "room", record_cb, &ensured), STORAGE_OK);
    expect_answer(&ensured, STORAGE_OK);

    CHECK_EQ_INT(storage_start_periodic_tasks(ctx, record_cb, &first), STORAGE_OK);
    CHECK_EQ_INT(storage_start_periodic_tasks(ctx, record_cb, &second), STORAGE_OK);
    expect_answer(&first, STORAGE_OK);
    expect_answer(&second, STORAGE_OK);
    /* The first sync ran right away, naming the channel; starting again did not repeat it
     * (the next one is sync_interval_ms = 30 s away). */
    events_wait_match(&events, 0, "\"eventType\":\"periodic_sync\"", "\"channelId\":\"room\"",
                      HARNESS_TIMEOUT_MS);
    CHECK_EQ_INT(events_count_matching(&events, "periodic_sync", NULL), 1);

    free_ctx(ctx);
    waiter_destroy(&first);
    waiter_destroy(&second);
    waiter_destroy(&ensured);
    events_destroy(&events);
}

/* ---- Replacing the event callback ----------------------------------------------------- */

static void event_callback_can_be_replaced(void) {
    collector events;
    events_init(&events);
    storage_ctx *alice = new_ctx(ALICE, NULL);
    storage_ctx *bob = new_ctx(BOB, &events);
    buffer m1 = wrap_msg(alice, "room", "m1", "one");
    buffer m2 = wrap_msg(alice, "room", "m2", "two");

    /* Cleared: events queue for storage_next_event. */
    CHECK_EQ_INT(storage_set_event_callback(bob, NULL, NULL), STORAGE_OK);
    free(unwrap_msg(bob, m1));
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(storage_next_event(bob, HARNESS_TIMEOUT_MS, &data, &len), STORAGE_OK);
    CHECK(len > 0);
    storage_bytes_free(data, len);
    CHECK_EQ_INT(events_count(&events), 0);

    /* Set again: events go to the callback. */
    CHECK_EQ_INT(storage_set_event_callback(bob, record_event_cb, &events), STORAGE_OK);
    free(unwrap_msg(bob, m2));
    events_wait_match(&events, 0, "message_ready", "\"messageId\":\"m2\"", HARNESS_TIMEOUT_MS);
    CHECK_EQ_INT(storage_next_event(bob, 10, &data, &len), STORAGE_TIMEOUT);

    buffer_free(&m1);
    buffer_free(&m2);
    free_ctx(alice);
    free_ctx(bob);
    events_destroy(&events);
}

/* ---- A full request queue makes the host wait; nothing is dropped ------------------- */

static void full_request_queue_drops_nothing(void) {
    enum { N = 200 };
    tally t = {.first_sleep_ms = 0};
    CHECK(pthread_mutex_init(&t.mu, NULL) == 0);
    storage_ctx *ctx = new_ctx("{\"request_queue_capacity\":1}", NULL);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        CHECK_EQ_INT(storage_wrap(ctx, "room", id, (const uint8_t *)"x", 1, tally_cb, &t),
                     STORAGE_OK);
    }
    char *stats = stats_json(ctx, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":200");
    free(stats);
    pthread_mutex_lock(&t.mu);
    CHECK_EQ_INT(t.ok, N);
    pthread_mutex_unlock(&t.mu);
    free_ctx(ctx);
    pthread_mutex_destroy(&t.mu);
}

/* ---- Requests made inside a callback keep call order ---------------------------------- */

typedef struct {
    storage_ctx *ctx;
    pthread_mutex_t mu;
    int answered; /* answers so far */
    int inner_rank, outer_rank;
    waiter inner, outer;
} call_order;

static void record_rank(call_order *o, int *rank) {
    pthread_mutex_lock(&o->mu);
    *rank = o->answered++;
    pthread_mutex_unlock(&o->mu);
}

static void inner_cb(storage_status status, const uint8_t *data, size_t len, void *user_data) {
    call_order *o = user_data;
    record_rank(o, &o->inner_rank);
    waiter_record(&o->inner, status, data, len);
}

static void outer_cb(storage_status status, const uint8_t *data, size_t len, void *user_data) {
    call_order *o = user_data;
    record_rank(o, &o->outer_rank);
    waiter_record(&o->outer, status, data, len);
}

/* Sleeps, then makes the inner request: it is called well after the outer one. */
static void slow_nesting_cb(storage_status status, const uint8_t *data, size_t len,
                            void *user_data) {
    (void)status;
    (void)data;
    (void)len;
    call_order *o = user_data;
    sleep_ms(300);
    CHECK_EQ_INT(storage_channel_stats(o->ctx, "room", inner_cb, o), STORAGE_OK);
}

static void requests_from_callbacks_keep_call_order(void) {
    call_order o = {.answered = 0};
    CHECK(pthread_mutex_init(&o.mu, NULL) == 0);
    waiter_init(&o.inner);
    waiter_init(&o.outer);
    o.ctx = new_ctx(NULL, NULL);
    CHECK_EQ_INT(storage_ensure_channel(o.ctx, "room", slow_nesting_cb, &o), STORAGE_OK);
    sleep_ms(50); /* the worker is now inside slow_nesting_cb */
    CHECK_EQ_INT(storage_channel_stats(o.ctx, "room", outer_cb, &o), STORAGE_OK);
    expect_answer(&o.outer, STORAGE_OK);
    expect_answer(&o.inner, STORAGE_OK);
    free_ctx(o.ctx);
    waiter_destroy(&o.inner);
    waiter_destroy(&o.outer);
    pthread_mutex_destroy(&o.mu);

    /* storage.h: requests are queued in call order, also when one is made from inside a
     * callback while a host request already waits in the queue. */
    CHECKF(o.outer_rank < o.inner_rank,
           "outer request (called first) answered #%d, inner request answered #%d",
           o.outer_rank, o.inner_rank);
}

int main(void) {
    RUN_TEST(requests_from_inside_an_event_callback);
    RUN_TEST(free_inside_own_callback_is_misuse);
    RUN_TEST(next_event_inside_own_callback_is_misuse);
    RUN_TEST(retrieval_hints_reach_the_peer);
    RUN_TEST(callbacks_run_in_request_order);
    RUN_TEST(free_answers_every_queued_request_once);
    RUN_TEST(periodic_tasks_start_twice_and_sync_at_once);
    RUN_TEST(event_callback_can_be_replaced);
    RUN_TEST(full_request_queue_drops_nothing);
    RUN_TEST(requests_from_callbacks_keep_call_order); /* last: checks a known library bug */
    return harness_report();
}
