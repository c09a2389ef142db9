/*
 * idem — Idempotency-Key on POST /v1/jobs: the key's syntax and the
 * fingerprint of a submission.
 *
 * A client that may send the same submission twice (a retry after a lost
 * reply) names it with an Idempotency-Key header. The key is recorded with
 * the job, atomically with its enqueue (enqueue.lua), as
 * {p}:idem:{tenant}:{key} holding the job id and the submission's
 * fingerprint, for IDEM_TTL_S. A later submission with the same key and
 * fingerprint gets the recorded job back (200, nothing stored); one with
 * the same key and another fingerprint is refused (422
 * idempotency_mismatch).
 *
 * The fingerprint is SHA-256 (OpenSSL's EVP interface) over the options
 * as the client gave them, in a fixed text form, followed by the CSV bytes
 * in the order they arrive. The CSV, not the HTTP body: a form's boundary
 * differs from one send to the next, its CSV does not.
 *
 * An idem_hash is owned by whoever made it (an upload) and used by the one
 * thread driving that upload.
 */
#ifndef JOBQ_API_IDEM_H
#define JOBQ_API_IDEM_H

#include <stdbool.h>
#include <stddef.h>

/* Longest Idempotency-Key, in bytes. */
#define IDEM_KEY_MAX 128

/* How long a key is remembered: 24 hours from the job's enqueue. */
#define IDEM_TTL_S (24 * 60 * 60)

/* Length of a fingerprint in hex, without the NUL. */
#define IDEM_HASH_HEX 64

/* idem_key_valid returns true when the len bytes at key are a usable
 * Idempotency-Key: 1 to IDEM_KEY_MAX bytes of A-Z a-z 0-9 . _ : -. */
bool idem_key_valid(const char *key, size_t len);

struct idem_hash;

/* idem_hash_new returns a fresh SHA-256 computation (free with
 * idem_hash_free), or NULL when out of memory. */
struct idem_hash *idem_hash_new(void);

/* idem_hash_update adds len bytes. Returns 0, or -1 when OpenSSL failed
 * (then the hash is unusable). */
int idem_hash_update(struct idem_hash *h, const void *buf, size_t len);

/* idem_hash_final writes the digest of everything added, as lower-case hex,
 * to hex (IDEM_HASH_HEX + 1 bytes). Returns 0, or -1 when OpenSSL failed.
 * The hash takes no more bytes afterwards. */
int idem_hash_final(struct idem_hash *h, char hex[IDEM_HASH_HEX + 1]);

/* idem_hash_free frees h. NULL is allowed. */
void idem_hash_free(struct idem_hash *h);

#endif
