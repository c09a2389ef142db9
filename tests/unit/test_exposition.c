/* Unit tests: exposition — the Prometheus text format writer — and
 * metrics, the API's bounded counter tables written through it. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition.h"
#include "metrics.h"

/* count_lines returns how many lines of text start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
		line = strchr(line, '\n');
		line = line != NULL ? line + 1 : NULL;
	}
	return n;
}

/* take_page returns b's page (expo_take; caller frees), asserting that no
 * write ran out of memory; b is left empty. */
static char *take_page(struct expo_buf *b)
{
	size_t len;
	char *page = expo_take(b, &len);

	cr_assert_not_null(page, "the page failed");
	cr_assert_eq(strlen(page), len);
	return page;
}

Test(exposition, a_family_has_help_and_type_lines_and_samples_follow)
{
	struct expo_buf b;
	struct expo_label l[] = { { "queue", "default" }, { "state", "queued" } };

	expo_init(&b);
	expo_family(&b, "jobq_queue_jobs", "gauge", "Jobs per queue.");
	expo_sample_u64(&b, "jobq_queue_jobs", l, 2, 42);
	expo_sample_u64(&b, "jobq_jobs_running", NULL, 0, 7);
	char *page = take_page(&b);
	cr_assert_str_eq(page, "# HELP jobq_queue_jobs Jobs per queue.\n"
				 "# TYPE jobq_queue_jobs gauge\n"
				 "jobq_queue_jobs{queue=\"default\",state=\"queued\"} 42\n"
				 "jobq_jobs_running 7\n");
	free(page);
}

Test(exposition, label_values_escape_backslash_quote_and_newline)
{
	struct expo_buf b;
	struct expo_label l[] = { { "task", "a\\b\"c\nd" } };

	expo_init(&b);
	expo_sample_u64(&b, "x", l, 1, 1);
	char *page = take_page(&b);
	cr_assert_str_eq(page, "x{task=\"a\\\\b\\\"c\\nd\"} 1\n");
	free(page);
}

Test(exposition, help_text_escapes_backslash_and_newline_but_not_quotes)
{
	struct expo_buf b;

	expo_init(&b);
	expo_family(&b, "x", "counter", "say \"hi\"\\\nbye");
	char *page = take_page(&b);
	cr_assert_str_eq(page, "# HELP x say \"hi\"\\\\\\nbye\n# TYPE x counter\n");
	free(page);
}

Test(exposition, histogram_buckets_are_cumulative_and_inf_equals_count)
{
	static const double bounds[] = { 0.5, 1, 2.5 };
	static const uint64_t counts[] = { 1, 0, 2, 3 };
	struct expo_histogram h = { bounds, 3, counts, 12.5 };
	struct expo_label l[] = { { "task", "profile" } };
	struct expo_buf b;

	expo_init(&b);
	expo_histogram(&b, "d", l, 1, &h);
	char *page = take_page(&b);
	cr_assert_str_eq(page, "d_bucket{task=\"profile\",le=\"0.5\"} 1\n"
				 "d_bucket{task=\"profile\",le=\"1\"} 1\n"
				 "d_bucket{task=\"profile\",le=\"2.5\"} 3\n"
				 "d_bucket{task=\"profile\",le=\"+Inf\"} 6\n"
				 "d_sum{task=\"profile\"} 12.5\n"
				 "d_count{task=\"profile\"} 6\n");
	free(page);
}

Test(metrics, requests_are_counted_by_route_method_and_status)
{
	struct metrics *m = metrics_new();
	struct expo_buf b;

	cr_assert_not_null(m);
	metrics_http_request(m, "/v1/jobs/{id}", "GET", 200, 0.002);
	metrics_http_request(m, "/v1/jobs/{id}", "GET", 200, 0.3);
	metrics_http_request(m, NULL, "BREW", 404, 0.0001);
	expo_init(&b);
	metrics_write(m, &b);
	char *page = take_page(&b);
	cr_assert_not_null(strstr(page, "jobq_http_requests_total{route=\"/v1/jobs/{id}\",method=\"GET\",code=\"200\"} 2\n"), "%s", page);
	cr_assert_not_null(strstr(page, "jobq_http_requests_total{route=\"unmatched\",method=\"other\",code=\"404\"} 1\n"), "%s", page);
	cr_assert_not_null(strstr(page, "jobq_http_request_duration_seconds_bucket{route=\"/v1/jobs/{id}\",le=\"0.0025\"} 1\n"), "%s", page);
	cr_assert_not_null(strstr(page, "jobq_http_request_duration_seconds_bucket{route=\"/v1/jobs/{id}\",le=\"0.5\"} 2\n"), "%s", page);
	free(page);
	metrics_free(m);
}

Test(metrics, many_distinct_queues_fold_into_other_and_nothing_is_lost)
{
	struct metrics *m = metrics_new();
	struct expo_buf b;
	char queue[32];
	int n = 1000;

	cr_assert_not_null(m);
	for (int i = 0; i < n; i++) {
		snprintf(queue, sizeof queue, "q%d", i);
		metrics_job_submitted(m, queue, "profile");
	}
	expo_init(&b);
	metrics_write(m, &b);
	char *page = take_page(&b);
	int series = count_lines(page, "jobq_jobs_submitted_total{");
	cr_assert(series > 1 && series <= 128, "series %d", series);
	cr_assert_eq(count_lines(page, "jobq_jobs_submitted_total{queue=\"q0\",task=\"profile\"} 1"), 1);
	const char *other = strstr(page, "jobq_jobs_submitted_total{queue=\"other\",task=\"other\"} ");
	cr_assert_not_null(other, "%s", page);
	long folded = strtol(other + strlen("jobq_jobs_submitted_total{queue=\"other\",task=\"other\"} "), NULL, 10);
	cr_assert_eq(folded + series - 1, n, "every submission is counted once: %ld folded, %d series", folded, series);
	free(page);
	metrics_free(m);
}

/* sum_family returns the sum of the values of family's samples in text. */
static long sum_family(const char *text, const char *family)
{
	long sum = 0;
	size_t len = strlen(family);

	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, family, len) == 0 && line[len] == '{')
			sum += strtol(strchr(line, ' ') + 1, NULL, 10);
		line = strchr(line, '\n');
		line = line != NULL ? line + 1 : NULL;
	}
	return sum;
}

#define HAMMER_THREADS 4
#define HAMMER_EACH 2000

/* hammer counts HAMMER_EACH submissions over 300 queue names. */
static void *hammer(void *m)
{
	char queue[32];

	for (int i = 0; i < HAMMER_EACH; i++) {
		snprintf(queue, sizeof queue, "q%d", i % 300);
		metrics_job_submitted(m, queue, "profile");
	}
	return NULL;
}

Test(metrics, threads_adding_series_at_once_lose_no_count)
{
	struct metrics *m = metrics_new();
	pthread_t t[HAMMER_THREADS];
	struct expo_buf b;

	cr_assert_not_null(m);
	for (int i = 0; i < HAMMER_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hammer, m), 0);
	for (int i = 0; i < HAMMER_THREADS; i++)
		pthread_join(t[i], NULL);
	expo_init(&b);
	metrics_write(m, &b);
	char *page = take_page(&b);
	cr_assert_eq(sum_family(page, "jobq_jobs_submitted_total"), HAMMER_THREADS * HAMMER_EACH);
	cr_assert_eq(count_lines(page, "jobq_jobs_submitted_total{queue=\"other\""), 1,
		     "one series takes the overflow");
	free(page);
	metrics_free(m);
}
