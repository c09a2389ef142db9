/*
 * auth.c — parsing the auth file, constant-time token lookup, and the
 * shared table swapped on reload (see auth.h).
 */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest auth file read: thousands of keys, more than anyone keeps in one
 * file, and a bound on what a table costs. */
#define AUTH_FILE_MAX (1024 * 1024)

/* ---- Parsing ------------------------------------------------------------ */

/* auth_word_next splits the next space- or tab-separated word off *line
 * (which it advances). Returns the word's length, 0 at the end. */
static size_t auth_word_next(const char **line, const char *end, const char **word)
{
	const char *p = *line;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	*word = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	*line = p;
	return (size_t)(p - *word);
}

static bool auth_token_sane(const char *w, size_t len)
{
	if (len < AUTH_TOKEN_MIN || len > AUTH_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)w[i] <= 0x20 || (unsigned char)w[i] >= 0x7f)
			return false;
	return true;
}

static bool auth_tenant_sane(const char *w, size_t len)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

	/* "-" names the no-auth submissions' idempotency keys (keys_idem). */
	if (len == 0 || len > AUTH_TENANT_MAX || (len == 1 && w[0] == '-'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (w[i] == '\0' || strchr(ok, w[i]) == NULL)
			return false;
	return true;
}

/* auth_line_parse reads one line (no newline) into *e. Returns 1 for a key,
 * 0 for a blank or comment line, -1 with *why set (never naming the token)
 * when malformed. */
static int auth_line_parse(const char *line, const char *end, struct auth_entry *e,
			   const char **why)
{
	const char *w[4];
	size_t n[4];

	for (int i = 0; i < 4; i++)
		n[i] = auth_word_next(&line, end, &w[i]);
	if (n[0] == 0 || w[0][0] == '#')
		return 0;
	*why = "expected \"token tenant\" or \"token tenant operator\"";
	if (n[1] == 0 || n[3] != 0)
		return -1;
	if (n[2] != 0 && (n[2] != 8 || memcmp(w[2], "operator", 8) != 0))
		return -1;
	*why = "the token must be 16 to 128 printable ASCII characters";
	if (!auth_token_sane(w[0], n[0]))
		return -1;
	*why = "the tenant must be 1 to 64 of A-Z a-z 0-9 _ . -";
	if (!auth_tenant_sane(w[1], n[1]))
		return -1;
	memset(e, 0, sizeof *e);
	memcpy(e->token, w[0], n[0]);
	e->token_len = n[0];
	memcpy(e->tenant, w[1], n[1]);
	e->operator_ = n[2] != 0;
	return 1;
}

/* A key of a table being parsed and the file line it came from, so that
 * duplicates are found by sorting (n log n) rather than by comparing each
 * key with every earlier one, yet still reported by line. */
struct auth_line_key {
	const struct auth_entry *e;  /* not owned: an entry of the table */
	size_t lineno;
};

/* auth_same_token returns true when a and b hold the same token (tokens
 * are zero-padded and hold no NUL, so the padded bytes and the length
 * decide). */
static bool auth_same_token(const struct auth_entry *a, const struct auth_entry *b)
{
	return a->token_len == b->token_len && memcmp(a->token, b->token, AUTH_TOKEN_MAX) == 0;
}

/* auth_line_key_cmp orders keys by token, then by line (a qsort
 * comparator). */
static int auth_line_key_cmp(const void *pa, const void *pb)
{
	const struct auth_line_key *a = pa, *b = pb;
	int c = memcmp(a->e->token, b->e->token, AUTH_TOKEN_MAX);

	if (c == 0 && a->e->token_len != b->e->token_len)
		c = a->e->token_len < b->e->token_len ? -1 : 1;
	if (c == 0)
		c = (a->lineno > b->lineno) - (a->lineno < b->lineno);
	return c;
}

/* auth_first_duplicate sorts the n keys and returns the first line (in
 * file order) whose token is on an earlier line too, or 0 when no token
 * repeats. */
static size_t auth_first_duplicate(struct auth_line_key *keys, size_t n)
{
	size_t first = 0;

	if (n > 1)
		qsort(keys, n, sizeof keys[0], auth_line_key_cmp);
	for (size_t i = 1; i < n; i++)
		if (auth_same_token(keys[i - 1].e, keys[i].e) &&
		    (first == 0 || keys[i].lineno < first))
			first = keys[i].lineno;
	return first;
}

/* auth_count_keys returns an upper bound of the keys in text: its lines
 * long enough to hold one ("token tenant" is at least AUTH_TOKEN_MIN + 2
 * bytes), so that blank lines cost nothing. */
static size_t auth_count_keys(const char *text, size_t len)
{
	size_t keys = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n')
			continue;
		keys += i - start >= AUTH_TOKEN_MIN + 2;
		start = i + 1;
	}
	return keys;
}

/* auth_lines_parse reads the lines of text into t's entries (room for
 * every key: auth_count_keys), with each one's line in keys. Returns 0, or
 * the number of the first malformed line with *why set; the keys before it
 * are in t. Duplicates are left to the caller. */
static size_t auth_lines_parse(struct auth_table *t, struct auth_line_key *keys, const char *text,
			       size_t len, const char **why)
{
	const char *p = text, *end = text + len;
	size_t lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		struct auth_entry e;
		int r;

		lineno++;
		r = auth_line_parse(p, eol > p && eol[-1] == '\r' ? eol - 1 : eol, &e, why);
		if (r > 0) { /* fits: auth_count_keys counted this line */
			keys[t->len] = (struct auth_line_key){ &t->entries[t->len], lineno };
			t->entries[t->len++] = e;
		}
		explicit_bzero(&e, sizeof e);
		if (r < 0)
			return lineno;
		p = eol + (nl != NULL);
	}
	return 0;
}

/* A duplicate before a malformed line is reported, as the first error in
 * file order. */
struct auth_table *auth_table_parse(const char *text, size_t len, char *err, size_t errlen)
{
	size_t cap = auth_count_keys(text, len), bad, dup;
	struct auth_table *t = malloc(sizeof *t + cap * sizeof t->entries[0]);
	struct auth_line_key *keys = malloc((cap > 0 ? cap : 1) * sizeof *keys);
	const char *why = NULL;

	if (t == NULL || keys == NULL) {
		free(t);
		free(keys);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->len = 0;
	bad = auth_lines_parse(t, keys, text, len, &why);
	dup = auth_first_duplicate(keys, t->len);
	free(keys);
	if (dup != 0) {
		why = "this token is already on an earlier line";
		bad = dup;
	}
	if (bad == 0)
		return t;
	snprintf(err, errlen, "line %zu: %s", bad, why);
	auth_table_free(t);
	return NULL;
}

/* auth_file_read reads path whole into a new buffer (*len bytes; the
 * caller frees it). Returns NULL with err set on failure. */
static char *auth_file_read(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = f != NULL ? malloc(AUTH_FILE_MAX + 1) : NULL;

	if (buf != NULL) {
		*len = fread(buf, 1, AUTH_FILE_MAX + 1, f);
		if (!ferror(f) && *len <= AUTH_FILE_MAX) {
			fclose(f);
			return buf;
		}
		snprintf(err, errlen, "%s: %s", path, ferror(f) ? "read error" : "larger than 1 MiB");
	} else {
		snprintf(err, errlen, "%s: %s", path, f == NULL ? strerror(errno) : "out of memory");
	}
	free(buf);
	if (f != NULL)
		fclose(f);
	return NULL;
}

struct auth_table *auth_table_load(const char *path, char *err, size_t errlen)
{
	char why[200];
	size_t len = 0;
	char *text = auth_file_read(path, &len, err, errlen);
	struct auth_table *t;

	if (text == NULL)
		return NULL;
	t = auth_table_parse(text, len, why, sizeof why);
	if (t == NULL)
		snprintf(err, errlen, "%s: %s", path, why);
	/* The file holds secrets: do not leave them in freed memory. */
	explicit_bzero(text, len);
	free(text);
	return t;
}

void auth_table_free(struct auth_table *t)
{
	if (t == NULL)
		return;
	explicit_bzero(t->entries, t->len * sizeof t->entries[0]);
	free(t);
}

/* ---- Lookup ------------------------------------------------------------- */

/* Both sides are compared over all AUTH_TOKEN_MAX bytes, zero-padded, and
 * the lengths folded in, so neither a differing byte nor a differing
 * length ends the comparison early. */
bool auth_token_equal(const struct auth_entry *e, const char *given, size_t len)
{
	volatile unsigned char diff = 0;

	if (len > AUTH_TOKEN_MAX) { /* no stored token is that long; still compare */
		len = 0;
		diff = 1;
	}
	for (size_t i = 0; i < AUTH_TOKEN_MAX; i++) {
		unsigned char g = i < len ? (unsigned char)given[i] : 0;
		diff |= (unsigned char)(g ^ e->token[i]);
	}
	diff |= (unsigned char)(len != e->token_len);
	return diff == 0;
}

bool auth_table_find(const struct auth_table *t, const char *token, struct auth_identity *who)
{
	size_t len = strlen(token);
	const struct auth_entry *found = NULL;

	for (size_t i = 0; i < t->len; i++) /* every entry: no early exit */
		if (auth_token_equal(&t->entries[i], token, len))
			found = &t->entries[i];
	if (found == NULL)
		return false;
	memcpy(who->tenant, found->tenant, sizeof who->tenant);
	who->operator_ = found->operator_;
	return true;
}

/* ---- The shared keys ---------------------------------------------------- */

int auth_keys_init(struct auth_keys *k, const char *path, char *err, size_t errlen)
{
	memset(k, 0, sizeof *k);
	if (path == NULL || path[0] == '\0')
		return 0;
	snprintf(k->path, sizeof k->path, "%s", path);
	errno = 0; /* malloc sets ENOMEM; nothing else here does */
	k->table = auth_table_load(k->path, err, errlen);
	if (k->table == NULL)
		return errno == ENOMEM ? AUTH_ERESOURCE : -1;
	if (pthread_rwlock_init(&k->lock, NULL) != 0) {
		snprintf(err, errlen, "the auth table's lock could not be made");
		auth_table_free(k->table);
		k->table = NULL;
		return AUTH_ERESOURCE;
	}
	k->lock_made = true;
	return 0;
}

bool auth_keys_enabled(const struct auth_keys *k)
{
	return k->path[0] != '\0';
}

long auth_keys_reload(struct auth_keys *k, char *err, size_t errlen)
{
	struct auth_table *fresh, *old;

	if (!auth_keys_enabled(k)) {
		snprintf(err, errlen, "no --auth-file is set");
		return -1;
	}
	fresh = auth_table_load(k->path, err, errlen);
	if (fresh == NULL)
		return -1;
	pthread_rwlock_wrlock(&k->lock);
	old = k->table;
	k->table = fresh;
	pthread_rwlock_unlock(&k->lock);
	auth_table_free(old);
	return (long)fresh->len;
}

bool auth_keys_check(struct auth_keys *k, const char *authorization, struct auth_identity *who)
{
	bool ok;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	pthread_rwlock_rdlock(&k->lock);
	ok = k->table != NULL && auth_table_find(k->table, authorization, who);
	pthread_rwlock_unlock(&k->lock);
	return ok;
}

void auth_keys_destroy(struct auth_keys *k)
{
	auth_table_free(k->table);
	k->table = NULL;
	if (k->lock_made)
		pthread_rwlock_destroy(&k->lock);
	k->lock_made = false;
}
