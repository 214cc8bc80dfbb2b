/* Causal ordering through the native API: buffering on missing dependencies, release in
 * causal order, and storage_mark_dependencies_met. */
#include "harness.h"

#define READY "\"eventType\":\"message_ready\""

typedef struct {
    collector alice_events;
    collector bob_events;
    storage_ctx *alice;
    storage_ctx *bob;
} pair;

static void pair_open(pair *p) {
    events_init(&p->alice_events);
    events_init(&p->bob_events);
    p->alice = new_ctx("{\"participant_id\":\"alice\"}", &p->alice_events);
    p->bob = new_ctx("{\"participant_id\":\"bob\"}", &p->bob_events);
}

static void pair_close(pair *p) {
    free_ctx(p->alice);
    free_ctx(p->bob);
    events_destroy(&p->alice_events);
    events_destroy(&p->bob_events);
}

/* Index of Bob's message_ready event for `id`, waiting for it. */
static long ready_index(pair *p, const char *id) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"messageId\":\"%s\"", id);
    return events_wait_match(&p->bob_events, 0, READY, needle, HARNESS_TIMEOUT_MS);
}

static void late_messages_release_the_chain_in_order(void) {
    pair p;
    pair_open(&p);
    buffer m1 = wrap_msg(p.alice, "room", "m1", "first");
    buffer m2 = wrap_msg(p.alice, "room", "m2", "second");
    buffer m3 = wrap_msg(p.alice, "room", "m3", "third");

    /* m3 first: buffered, missing m1 and m2. */
    char *result = unwrap_msg(p.bob, m3);
    CHECK_CONTAINS(result, "\"status\":\"buffered\"");
    CHECK_CONTAINS(result, "\"messageId\":\"m1\"");
    CHECK_CONTAINS(result, "\"messageId\":\"m2\"");
    CHECK_CONTAINS(result, "\"senderId\":\"alice\"");
    free(result);
    long missing = events_wait_match(&p.bob_events, 0, "\"eventType\":\"missing_dependencies\"",
                                     "\"messageId\":\"m3\"", HARNESS_TIMEOUT_MS);
    const char *event = events_get(&p.bob_events, (size_t)missing);
    CHECK_CONTAINS(event, "\"missingDeps\":[");
    CHECK_CONTAINS(event, "\"messageId\":\"m1\"");
    CHECK_CONTAINS(event, "\"messageId\":\"m2\"");

    /* m2: still waiting for m1. */
    result = unwrap_msg(p.bob, m2);
    CHECK_CONTAINS(result, "\"status\":\"buffered\"");
    CHECK_CONTAINS(result, "\"messageId\":\"m1\"");
    free(result);
    CHECK_EQ_INT(events_count_matching(&p.bob_events, READY, NULL), 0);

    /* m1 releases everything, in causal order. */
    result = unwrap_msg(p.bob, m1);
    CHECK_CONTAINS(result, "\"status\":\"delivered\"");
    free(result);
    long i1 = ready_index(&p, "m1");
    long i2 = ready_index(&p, "m2");
    long i3 = ready_index(&p, "m3");
    CHECKF(i1 < i2 && i2 < i3, "message_ready order: m1 at %ld, m2 at %ld, m3 at %ld", i1, i2,
           i3);
    CHECK_EQ_INT(events_count_matching(&p.bob_events, READY, NULL), 3);
    /* The released messages carry their own content. */
    char *third = b64_encode("third", 5);
    CHECK_CONTAINS(events_get(&p.bob_events, (size_t)i3), third);
    free(third);

    char *stats = stats_json(p.bob, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":3");
    CHECK_CONTAINS(stats, "\"incomingLen\":0");
    free(stats);

    buffer_free(&m1);
    buffer_free(&m2);
    buffer_free(&m3);
    pair_close(&p);
}

static void mark_dependencies_met_releases_a_buffered_message(void) {
    pair p;
    pair_open(&p);
    buffer m4 = wrap_msg(p.alice, "room", "m4", "never arrives");
    buffer m5 = wrap_msg(p.alice, "room", "m5", "depends on m4");
    char *result = unwrap_msg(p.bob, m5);
    CHECK_CONTAINS(result, "\"status\":\"buffered\"");
    CHECK_CONTAINS(result, "\"messageId\":\"m4\"");
    free(result);
    CHECK_EQ_INT(events_count_matching(&p.bob_events, READY, NULL), 0);

    /* Bob got m4 some other way. */
    waiter w;
    waiter_init(&w);
    const char *ids[] = {"m4"};
    CHECK_EQ_INT(storage_mark_dependencies_met(p.bob, ids, 1, "room", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    ready_index(&p, "m5");
    /* m4 itself is not delivered by the library: the host has it already. */
    CHECK_EQ_INT(events_count_matching(&p.bob_events, READY, "\"messageId\":\"m4\""), 0);
    CHECK_EQ_INT(events_count_matching(&p.bob_events, READY, NULL), 1);

    /* An empty list is fine. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_mark_dependencies_met(p.bob, NULL, 0, "room", record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_OK);

    waiter_destroy(&w);
    buffer_free(&m4);
    buffer_free(&m5);
    pair_close(&p);
}

static void mark_dependencies_met_on_unknown_channel(void) {
    storage_ctx *ctx = new_ctx(NULL, NULL);
    waiter w;
    waiter_init(&w);
    const char *ids[] = {"x", "y"};
    CHECK_EQ_INT(storage_mark_dependencies_met(ctx, ids, 2, "never-used", record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_UNKNOWN_CHANNEL);
    CHECK(w.len > 0);
    CHECK_CONTAINS(w.data, "never-used");
    waiter_destroy(&w);
    free_ctx(ctx);
}

int main(void) {
    RUN_TEST(late_messages_release_the_chain_in_order);
    RUN_TEST(mark_dependencies_met_releases_a_buffered_message);
    RUN_TEST(mark_dependencies_met_on_unknown_channel);
    return harness_report();
}
