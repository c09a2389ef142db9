/*
 * resp.c — RESP command formatting (see resp.h).
 */
#include "resp.h"

#include <stdlib.h>
#include <string.h>

size_t resp_u64(char *out, uint64_t v)
{
	char digits[RESP_U64_MAX], *end = digits + sizeof digits, *p = end;
	size_t n;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	n = (size_t)(end - p);
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

/* resp_digits returns how many decimal digits v has. */
static size_t resp_digits(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* resp_header writes "<mark><n>\r\n" at p. Returns the byte after it. */
static char *resp_header(char *p, char mark, uint64_t n)
{
	*p++ = mark;
	p += resp_u64(p, n);
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

char *resp_command(int argc, const char *const *argv, const size_t *lens, size_t *len)
{
	size_t total = 1 + resp_digits((uint64_t)argc) + 2;
	char *buf, *p;

	for (int i = 0; i < argc; i++)
		total += 1 + resp_digits(lens[i]) + 2 + lens[i] + 2;
	/* resp_u64's NUL lands where resp_header's '\r' then goes. */
	buf = malloc(total);
	if (buf == NULL)
		return NULL;
	p = resp_header(buf, '*', (uint64_t)argc);
	for (int i = 0; i < argc; i++) {
		p = resp_header(p, '$', lens[i]);
		memcpy(p, argv[i], lens[i]);
		p += lens[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	*len = (size_t)(p - buf);
	return buf;
}
