/*
 * auth — API keys: the token table read from --auth-file, and the lookup of
 * a request's bearer token in it.
 *
 * The file. One key per line: `token tenant` or `token tenant operator`;
 * `#` starts a comment line, blank lines are skipped. A token is 16 to
 * AUTH_TOKEN_MAX printable ASCII bytes without spaces, a tenant 1 to
 * AUTH_TENANT_MAX bytes of [A-Za-z0-9_.-]. A token may appear once (the
 * check sorts the keys: n log n for a file of n keys). Any other line
 * makes the whole file malformed: the error names the first such line in
 * file order and what is wrong with it, never the token.
 *
 * The table. A struct auth_table is immutable once parsed. Lookups compare
 * the presented token with every token of the table, each over the same
 * fixed number of bytes, and never stop early: how long a lookup takes does
 * not depend on where (or whether) the token differs from a stored one.
 *
 * Sharing. struct auth_keys holds the table in use, shared by every HTTP
 * thread; its rwlock guards the pointer. A lookup copies what it needs (the
 * tenant, the operator flag) out under the read lock, so a reload (write
 * lock, swap, free the old table after unlocking) never frees a table a
 * lookup is reading. A keys object with no file is "auth off".
 */
#ifndef JOBQ_API_AUTH_H
#define JOBQ_API_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define AUTH_TOKEN_MIN 16
#define AUTH_TOKEN_MAX 128
#define AUTH_TENANT_MAX 64

struct auth_entry {
	unsigned char token[AUTH_TOKEN_MAX]; /* zero-padded */
	size_t token_len;
	char tenant[AUTH_TENANT_MAX + 1];
	bool operator_;
};

/* An immutable table of keys. Owned by whoever parsed it (freed with
 * auth_table_free); auth_keys takes ownership when it is swapped in. */
struct auth_table {
	size_t len;
	struct auth_entry entries[];
};

/* Who a token belongs to. */
struct auth_identity {
	char tenant[AUTH_TENANT_MAX + 1];
	bool operator_;
};

/* auth_table_parse parses the text of an auth file (len bytes at text).
 * Returns a new table (the caller frees it with auth_table_free), or NULL
 * with a sentence in err ("line 3: ..." for a malformed line, or out of
 * memory). */
struct auth_table *auth_table_parse(const char *text, size_t len, char *err, size_t errlen);

/* auth_table_load reads and parses the file at path. Returns a new table
 * (freed with auth_table_free), or NULL with a sentence in err naming the
 * path. */
struct auth_table *auth_table_load(const char *path, char *err, size_t errlen);

/* auth_table_free wipes t's tokens and frees it; NULL is fine. */
void auth_table_free(struct auth_table *t);

/* auth_token_equal compares the token of len bytes at given with e's token
 * in time that depends only on AUTH_TOKEN_MAX: returns true when equal. */
bool auth_token_equal(const struct auth_entry *e, const char *given, size_t len);

/* auth_table_find looks token (NUL-terminated) up in t, comparing it with
 * every entry. Returns true and fills *who when a key matches. */
bool auth_table_find(const struct auth_table *t, const char *token, struct auth_identity *who);

/* The keys in use: shared by all HTTP threads (see the top). */
struct auth_keys {
	char path[256];            /* "" when auth is off; read-only after init */
	pthread_rwlock_t lock;     /* guards table */
	struct auth_table *table;  /* owned */
	bool lock_made;
};

/* auth_keys_init's answer when what failed may pass: memory (malloc's
 * ENOMEM while the file was read or parsed) or the lock. */
#define AUTH_ERESOURCE (-2)

/* auth_keys_init loads path into k ("" or NULL: auth off). Returns 0, or
 * with a sentence in err (k then needs no destroy) -1 when the file is
 * missing, unreadable or malformed, or AUTH_ERESOURCE. */
int auth_keys_init(struct auth_keys *k, const char *path, char *err, size_t errlen);

/* auth_keys_enabled returns true when k was made with a file. */
bool auth_keys_enabled(const struct auth_keys *k);

/* auth_keys_reload reads k's file again and swaps the new table in.
 * Returns the number of keys now in use, or -1 with a sentence in err when
 * the file cannot be read or is malformed: the old table stays in use. */
long auth_keys_reload(struct auth_keys *k, char *err, size_t errlen);

/* auth_keys_check looks the Authorization header value (may be NULL) up:
 * it must be "Bearer <token>". Returns true and fills *who when a key
 * matches. Safe from any thread. */
bool auth_keys_check(struct auth_keys *k, const char *authorization, struct auth_identity *who);

/* auth_keys_destroy frees k's table and lock. */
void auth_keys_destroy(struct auth_keys *k);

#endif
