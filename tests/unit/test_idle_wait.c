/* Unit tests: api_server_idle_wait_ms — how long jobq-api's main thread
 * sleeps under --exit-when-idle. Beside the cases, a model of connections
 * opening and closing checks that waking when it says exits exactly when
 * a 1 ms poll would, with far fewer wake-ups. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "server.h"

Test(idle_wait, the_exit_is_due_once_the_span_has_passed_unused)
{
	cr_assert_eq(api_server_idle_wait_ms(30000, 30000), 0);
	cr_assert_eq(api_server_idle_wait_ms(30001, 30000), 0);
}

Test(idle_wait, unused_the_rest_of_the_span_is_slept)
{
	cr_assert_eq(api_server_idle_wait_ms(1, 30000), 29999);
	cr_assert_eq(api_server_idle_wait_ms(12000, 30000), 18000);
}

Test(idle_wait, in_use_the_whole_span_is_slept)
{
	cr_assert_eq(api_server_idle_wait_ms(0, 30000), 30000);
	cr_assert_eq(api_server_idle_wait_ms(0, 1000), 1000);
}

/* Connections open over [open, close) ms, the server started at 0. */
struct idle_conn {
	int64_t open, close;
};

static const struct idle_conn idle_conns[] = {
	{ 100, 400 }, { 300, 2500 }, { 3400, 3401 }, { 4300, 9000 }, { 8999, 9100 },
};
#define IDLE_CONNS (sizeof idle_conns / sizeof idle_conns[0])

/* idle_unused_ms is api_server_unused_ms of the model at now. */
static int64_t idle_unused_ms(int64_t now)
{
	int64_t last = 0;

	for (size_t i = 0; i < IDLE_CONNS; i++) {
		if (idle_conns[i].open <= now && now < idle_conns[i].close)
			return 0;
		if (idle_conns[i].close <= now && idle_conns[i].close > last)
			last = idle_conns[i].close;
	}
	return now - last > 0 ? now - last : 1;
}

Test(idle_wait, waking_when_it_says_exits_when_a_fine_poll_would)
{
	const int64_t idle = 1000;
	int64_t polled = 0, now = 0, w;
	int wakes = 0;

	while (idle_unused_ms(polled) < idle)
		polled++;
	while ((w = api_server_idle_wait_ms(idle_unused_ms(now), idle)) > 0) {
		now += w;
		wakes++;
		cr_assert_leq(now, polled, "slept past the exit (%lld > %lld)", (long long)now,
			      (long long)polled);
	}
	cr_assert_eq(now, polled);
	cr_assert_eq(polled, 10100);
	cr_assert_leq(wakes, 20, "%d wake-ups", wakes);
}
