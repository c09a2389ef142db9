/*
 * resp — a Redis command in the Redis protocol (RESP), written straight
 * into one buffer.
 *
 * hiredis formats a command given as an argument vector with sdscatfmt,
 * an allocation and a printf-like pass per argument; for the committer's
 * enqueue.lua call, 18 arguments per job, that was about a ninth of
 * jobq-api's user-space instructions per submission. resp writes the same
 * bytes (redisFormatCommandArgv's: "*<argc>\r\n", then "$<len>\r\n<bytes>\r\n"
 * per argument) after sizing them once, for redisAppendFormattedCommand.
 *
 * Memory: resp_command returns one heap block the caller frees with free();
 * nothing else allocates.
 */
#ifndef JOBQ_RESP_H
#define JOBQ_RESP_H

#include <stddef.h>
#include <stdint.h>

/* RESP_U64_MAX is the room resp_u64 needs: 20 digits and the NUL. */
#define RESP_U64_MAX 21

/* resp_u64 writes v in decimal, NUL-terminated, into out (at least
 * RESP_U64_MAX bytes). Returns the number of digits. */
size_t resp_u64(char *out, uint64_t v);

/* resp_command formats the argc arguments (argv[i] of lens[i] bytes, any
 * bytes) as one RESP command. Returns the buffer, which the caller frees,
 * with its length in *len; NULL when out of memory. */
char *resp_command(int argc, const char *const *argv, const size_t *lens, size_t *len);

#endif
