/*
 * ids.c — random hex ids from getrandom(2) and the character-class checks
 * for job ids, request ids and queue names.
 *
 * The checks spell out their character classes instead of using <ctype.h>:
 * ctype answers depend on the locale and are undefined for negative chars,
 * and these strings come from the network.
 */
#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

/* ids_fill_random fills buf with len bytes from getrandom(2), retrying on
 * EINTR and short reads. Returns 0, or -1 with errno set. */
static int ids_fill_random(unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Each thread reads IDS_POOL_SIZE bytes from getrandom(2) at a time and
 * hands each byte out once, wiping it as it goes: an id costs one syscall
 * per IDS_POOL_SIZE / 16 ids instead of one each, and its bytes are still
 * getrandom's own. A child made by fork starts with an empty pool (see
 * ids_pool_forget), so that parent and child never hand out the same
 * bytes. */
#define IDS_POOL_SIZE 1024

struct ids_pool {
	unsigned char buf[IDS_POOL_SIZE];
	size_t left;  /* the last left bytes of buf are unused */
};

static _Thread_local struct ids_pool ids_pool;
static pthread_once_t ids_atfork_once = PTHREAD_ONCE_INIT;

/* ids_pool_forget is the fork child handler: the child's one thread (the
 * one that forked) drops the bytes it shares with its parent. */
static void ids_pool_forget(void)
{
	explicit_bzero(ids_pool.buf, sizeof ids_pool.buf);
	ids_pool.left = 0;
}

static void ids_atfork_register(void)
{
	pthread_atfork(NULL, NULL, ids_pool_forget);
}

/* ids_take fills buf with len (at most IDS_POOL_SIZE) random bytes from
 * this thread's pool, refilling it when it holds fewer. Returns 0, or -1
 * when getrandom fails. */
static int ids_take(unsigned char *buf, size_t len)
{
	struct ids_pool *p = &ids_pool;
	unsigned char *from;

	pthread_once(&ids_atfork_once, ids_atfork_register);
	if (p->left < len) {
		if (ids_fill_random(p->buf, sizeof p->buf) != 0)
			return -1;
		p->left = sizeof p->buf;
	}
	from = p->buf + sizeof p->buf - p->left;
	memcpy(buf, from, len);
	explicit_bzero(from, len);
	p->left -= len;
	return 0;
}

int ids_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char chunk[64];
	size_t done = 0;

	out[0] = '\0';
	while (done < nbytes) {
		size_t n = nbytes - done < sizeof chunk ? nbytes - done : sizeof chunk;
		if (ids_take(chunk, n) != 0) {
			out[0] = '\0';
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			out[2 * (done + i)] = hex[chunk[i] >> 4];
			out[2 * (done + i) + 1] = hex[chunk[i] & 0x0f];
		}
		done += n;
	}
	out[2 * nbytes] = '\0';
	return 0;
}

static bool ids_is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool ids_is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool ids_job_id_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < 32; i++)
		if (!ids_is_lower_hex(s[i]))
			return false; /* also stops at the NUL of a short id */
	return s[32] == '\0';
}

/* ids_all_in returns true when s is 1..max bytes, each alphanumeric or one
 * of the punctuation characters in extra. */
static bool ids_all_in(const char *s, size_t max, const char *extra)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == max)
			return false;
		if (!ids_is_alnum(s[i]) && strchr(extra, s[i]) == NULL)
			return false;
	}
	return true;
}

bool ids_request_id_sane(const char *s)
{
	return ids_all_in(s, 128, "._:-");
}

bool ids_queue_name_valid(const char *s)
{
	return ids_all_in(s, 64, "_.-");
}
