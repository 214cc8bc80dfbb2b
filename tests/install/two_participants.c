/* Two participants, the way a new user writes them against the installed library only:
 * alice wraps a message, bob unwraps it and receives it as a message_ready event. Each
 * request's callback is waited for before the next step and before the contexts are
 * freed (storage_free cancels what is still queued). Compiles as C11 and as C++17;
 * exits 0 once bob has the message. Build: cc app.c $(pkg-config --cflags --libs storage) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <storage.h>

/* One request's outcome, handed over from the worker thread. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    storage_status status;
    uint8_t *bytes; /* a copy: callback data is borrowed for the callback only */
    size_t len;
} outcome;

static void outcome_init(outcome *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
}

static void on_done(storage_status st, const uint8_t *data, size_t len, void *user_data) {
    outcome *o = (outcome *)user_data;
    pthread_mutex_lock(&o->mu);
    o->status = st;
    o->bytes = (uint8_t *)malloc(len + 1);
    if (o->bytes != NULL) {
        if (len > 0) memcpy(o->bytes, data, len);
        o->bytes[len] = 0;
        o->len = len;
    }
    o->done = 1;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

static storage_status wait_outcome(outcome *o) {
    pthread_mutex_lock(&o->mu);
    while (!o->done) pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
    return o->status;
}

/* Whether the len bytes at data (not NUL-terminated) contain needle. */
static int contains(const uint8_t *data, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(data + i, needle, n) == 0) return 1;
    return 0;
}

static storage_ctx *create(const char *config) {
    storage_ctx *ctx = NULL;
    char *error = NULL; /* a refusal's message, yours to free */
    if (storage_new_ex(config, NULL, NULL, &ctx, &error) != STORAGE_OK) {
        fprintf(stderr, "refused: %s\n", error);
        storage_string_free(error);
        exit(1);
    }
    return ctx;
}

int main(void) {
    printf("libstorage %s (header %s)\n", storage_version(), STORAGE_VERSION);
    storage_ctx *alice = create("{\"participant_id\": \"alice\"}");
    storage_ctx *bob = create("{\"participant_id\": \"bob\"}");

    outcome wrapped;
    outcome_init(&wrapped);
    storage_wrap(alice, "fleet", "msg-1", (const uint8_t *)"hello", 5, on_done, &wrapped);
    if (wait_outcome(&wrapped) != STORAGE_OK) return 1;

    /* wrapped.bytes is what the transport would broadcast; bob receives it. */
    outcome unwrapped;
    outcome_init(&unwrapped);
    storage_unwrap(bob, wrapped.bytes, wrapped.len, on_done, &unwrapped);
    if (wait_outcome(&unwrapped) != STORAGE_OK) return 1;

    /* Events were not given a callback: they queue, and are pulled here. */
    int delivered = 0;
    uint8_t *event = NULL;
    size_t len = 0;
    while (!delivered && storage_next_event(bob, 5000, &event, &len) == STORAGE_OK) {
        if (contains(event, len, "\"message_ready\"")) {
            printf("bob: %.*s\n", (int)len, (const char *)event);
            delivered = 1;
        }
        storage_bytes_free(event, len);
    }
    free(wrapped.bytes);
    free(unwrapped.bytes);
    storage_free(alice);
    storage_free(bob);
    return delivered ? 0 : 1;
}
