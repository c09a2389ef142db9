/*
 * ids — job ids and request ids.
 *
 * A job id is 128 bits from getrandom(2) written as 32 lowercase hex
 * characters: unguessable, so knowing one id tells nothing of another.
 * The bytes are read in bulk (1 KiB per thread at a time) and each is used
 * once, so an id rarely costs a syscall; a forked child never reuses its
 * parent's bytes.
 * A request id is the client's X-Request-ID when it is sane (1 to 128 bytes
 * of [A-Za-z0-9._:-]), else one we make the same way as a job id.
 */
#ifndef JOBQ_IDS_H
#define JOBQ_IDS_H

#include <stdbool.h>
#include <stddef.h>

/* ids_random_hex fills out with 2*nbytes lowercase hex characters from
 * nbytes random bytes, plus a NUL. Returns 0, or -1 when getrandom fails. */
int ids_random_hex(char *out, size_t nbytes);

/* ids_job_id_valid returns true when s is exactly 32 lowercase hex chars. */
bool ids_job_id_valid(const char *s);

/* ids_request_id_sane returns true when s may be echoed and stored as a
 * request id. */
bool ids_request_id_sane(const char *s);

/* ids_queue_name_valid returns true for [A-Za-z0-9_.-]{1,64}. */
bool ids_queue_name_valid(const char *s);

#endif
