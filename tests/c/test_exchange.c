/* Two participants exchanging messages through the native API: wrap, unwrap, events,
 * acknowledgements, statistics, the pull API, ephemeral and sync messages. */
#include "harness.h"

#define ALICE "{\"participant_id\":\"alice\"}"
#define BOB "{\"participant_id\":\"bob\"}"

/* Checks an unwrap result: its status, sender and base64 content. */
static void check_unwrap_result(const char *json, const char *status, const char *message_id,
                                const char *sender, const char *content) {
    char *got_status = json_string(json, "status");
    char *got_id = json_string(json, "messageId");
    char *got_sender = json_string(json, "senderId");
    char *got_content = json_string(json, "content");
    char *want_content = b64_encode(content, strlen(content));
    CHECK_STR_EQ(got_status, status);
    CHECK_STR_EQ(got_id, message_id);
    CHECK_STR_EQ(got_sender, sender);
    CHECK_STR_EQ(got_content, want_content);
    CHECK_CONTAINS(json, "\"channelId\":\"room\"");
    CHECK_CONTAINS(json, "\"missingDeps\":[]");
    free(got_status);
    free(got_id);
    free(got_sender);
    free(got_content);
    free(want_content);
}

static void alice_and_bob_exchange_and_acknowledge(void) {
    collector alice_events, bob_events;
    events_init(&alice_events);
    events_init(&bob_events);
    storage_ctx *alice = new_ctx(ALICE, &alice_events);
    storage_ctx *bob = new_ctx(BOB, &bob_events);

    /* Alice wraps: her callback receives raw wire bytes (protobuf, not JSON). */
    buffer m1 = wrap_msg(alice, "room", "m1", "hello bob");
    CHECK(m1.data[0] != '{');

    /* Bob unwraps them. */
    char *result = unwrap_msg(bob, m1);
    check_unwrap_result(result, "delivered", "m1", "alice", "hello bob");
    free(result);
    long ready = events_wait_match(&bob_events, 0, "\"eventType\":\"message_ready\"",
                                   "\"messageId\":\"m1\"", HARNESS_TIMEOUT_MS);
    char *content = b64_encode("hello bob", 9);
    CHECK_CONTAINS(events_get(&bob_events, (size_t)ready), content);
    CHECK_CONTAINS(events_get(&bob_events, (size_t)ready), "\"senderId\":\"alice\"");
    free(content);

    /* Bob replies; his causal history acknowledges m1 to Alice. */
    buffer r1 = wrap_msg(bob, "room", "r1", "hi alice");
    CHECK_EQ_INT(events_count_matching(&alice_events, "message_sent", NULL), 0);
    result = unwrap_msg(alice, r1);
    check_unwrap_result(result, "delivered", "r1", "bob", "hi alice");
    free(result);
    events_wait_match(&alice_events, 0, "\"eventType\":\"message_sent\"", "\"messageId\":\"m1\"",
                      HARNESS_TIMEOUT_MS);
    events_wait_match(&alice_events, 0, "\"eventType\":\"message_ready\"",
                      "\"messageId\":\"r1\"", HARNESS_TIMEOUT_MS);

    /* Receiving the same bytes again is a duplicate, with no new event. */
    size_t before = events_count(&bob_events);
    result = unwrap_msg(bob, m1);
    CHECK_CONTAINS(result, "\"status\":\"duplicate\"");
    free(result);
    CHECK_EQ_INT(events_count(&bob_events), before);

    /* Both histories hold m1 and r1. */
    char *stats = stats_json(alice, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":2");
    CHECK_CONTAINS(stats, "\"channelId\":\"room\"");
    free(stats);
    stats = stats_json(bob, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":2");
    free(stats);

    buffer_free(&m1);
    buffer_free(&r1);
    free_ctx(alice);
    free_ctx(bob);
    events_destroy(&alice_events);
    events_destroy(&bob_events);
}

static void stats_of_unknown_channel(void) {
    storage_ctx *ctx = new_ctx(ALICE, NULL);
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_channel_stats(ctx, "nowhere", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_UNKNOWN_CHANNEL);
    CHECK_CONTAINS(w.data, "nowhere");
    waiter_destroy(&w);
    free_ctx(ctx);
}

static void expect_no_event(storage_ctx *ctx) {
    uint8_t *data = (uint8_t *)"sentinel";
    size_t len = 99;
    CHECK_EQ_INT(storage_next_event(ctx, 10, &data, &len), STORAGE_TIMEOUT);
    CHECK(data == NULL);
    CHECK_EQ_INT(len, 0);
}

static void pull_api_without_event_callback(void) {
    storage_ctx *alice = new_ctx(ALICE, NULL);
    storage_ctx *carol = new_ctx("{\"participant_id\":\"carol\"}", NULL);
    expect_no_event(carol);

    buffer m1 = wrap_msg(alice, "room", "m1", "for carol");
    buffer m2 = wrap_msg(alice, "room", "m2", "again");
    free(unwrap_msg(carol, m1));
    free(unwrap_msg(carol, m2));
    char *event = pull_event(carol);
    CHECK_CONTAINS(event, "\"eventType\":\"message_ready\"");
    CHECK_CONTAINS(event, "\"messageId\":\"m1\"");
    free(event);
    event = pull_event(carol);
    CHECK_CONTAINS(event, "\"messageId\":\"m2\"");
    free(event);
    expect_no_event(carol);

    /* Carol's reply acknowledges both; Alice pulls the message_sent events. */
    buffer r1 = wrap_msg(carol, "room", "r1", "got them");
    free(unwrap_msg(alice, r1));
    int sent = 0, ready = 0;
    for (int i = 0; i < 3; i++) {
        event = pull_event(alice);
        if (strstr(event, "\"eventType\":\"message_sent\"") != NULL) sent++;
        if (strstr(event, "\"eventType\":\"message_ready\"") != NULL) ready++;
        free(event);
    }
    CHECK_EQ_INT(sent, 2);
    CHECK_EQ_INT(ready, 1);
    expect_no_event(alice);

    storage_bytes_free(NULL, 0); /* a no-op */
    buffer_free(&m1);
    buffer_free(&m2);
    buffer_free(&r1);
    free_ctx(alice);
    free_ctx(carol);
}

static void pull_queue_overflow_is_reported(void) {
    storage_ctx *alice = new_ctx(ALICE, NULL);
    storage_ctx *bob = new_ctx("{\"participant_id\":\"bob\",\"event_queue_capacity\":2}", NULL);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        buffer wire = wrap_msg(alice, "room", id, "x");
        free(unwrap_msg(bob, wire));
        buffer_free(&wire);
    }
    /* Two events fit; the three dropped are reported first, then the two kept. */
    char *event = pull_event(bob);
    CHECK_CONTAINS(event, "\"eventType\":\"event_queue_overflow\"");
    CHECK_CONTAINS(event, "\"dropped\":3");
    free(event);
    event = pull_event(bob);
    CHECK_CONTAINS(event, "\"messageId\":\"m0\"");
    free(event);
    event = pull_event(bob);
    CHECK_CONTAINS(event, "\"messageId\":\"m1\"");
    free(event);
    expect_no_event(bob);
    free_ctx(alice);
    free_ctx(bob);
}

static void ephemeral_and_sync_messages(void) {
    collector bob_events;
    events_init(&bob_events);
    storage_ctx *alice = new_ctx(ALICE, NULL);
    storage_ctx *bob = new_ctx(BOB, &bob_events);

    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_wrap_ephemeral(alice, "room", "e1", (const uint8_t *)"typing", 6,
                                        record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    buffer e1 = {(uint8_t *)w.data, w.len};
    w.data = NULL;
    char *result = unwrap_msg(bob, e1);
    check_unwrap_result(result, "ephemeral", "e1", "alice", "typing");
    free(result);
    /* Events come before the reply: had there been a message_ready, it would be here. */
    CHECK_EQ_INT(events_count_matching(&bob_events, "\"messageId\":\"e1\"", NULL), 0);

    /* Ephemeral messages change no state: only m1 enters the history. */
    buffer m1 = wrap_msg(alice, "room", "m1", "real");
    char *stats = stats_json(alice, "room");
    CHECK_CONTAINS(stats, "\"historyLen\":1");
    free(stats);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_build_sync_message(alice, "room", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    buffer sync = {(uint8_t *)w.data, w.len};
    w.data = NULL;
    result = unwrap_msg(bob, sync);
    CHECK_CONTAINS(result, "\"status\":\"sync\"");
    free(result);
    CHECK_EQ_INT(events_count_matching(&bob_events, "message_ready", NULL), 0);

    waiter_destroy(&w);
    buffer_free(&e1);
    buffer_free(&m1);
    buffer_free(&sync);
    free_ctx(alice);
    free_ctx(bob);
    events_destroy(&bob_events);
}

int main(void) {
    RUN_TEST(alice_and_bob_exchange_and_acknowledge);
    RUN_TEST(stats_of_unknown_channel);
    RUN_TEST(pull_api_without_event_callback);
    RUN_TEST(pull_queue_overflow_is_reported);
    RUN_TEST(ephemeral_and_sync_messages);
    return harness_report();
}
