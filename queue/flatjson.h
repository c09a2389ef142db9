/*
 * flatjson — JSON text of a fixed shape, written straight into a buffer.
 *
 * The worker writes two log lines and, for a profile, one result document
 * per job. Building them as jansson trees costs an allocation per member
 * and a hash-table insert per key, which for a small job was more than the
 * job itself. A flatjson buffer appends the text directly instead, and
 * writes exactly the bytes json_dumps(..., JSON_COMPACT |
 * JSON_REAL_PRECISION(17)) writes for the same values in the same order
 * (keys are the caller's literals, written as given):
 *   integers   as "%lld";
 *   reals      as jansson does: "%.17g", ".0" added when neither '.' nor
 *              'e' appears, the exponent's '+' and leading zeros removed;
 *              a value that is not finite is an error (json_real refuses it);
 *   strings    printable ASCII other than '"' and '\' is copied as is, and
 *              those two get a backslash; any other string (control bytes,
 *              UTF-8 beyond ASCII) is handed to jansson whole, so its
 *              escaping and its refusal of invalid UTF-8 stay jansson's.
 *
 * flatjson_object appends a whole jansson object of strings and integers
 * (a log line), as json_dumpb(o, ..., JSON_COMPACT) writes it, and declines
 * an object holding anything else, for the caller to hand to jansson.
 *
 * The first error (out of memory, a real that is not finite, a string
 * that is not UTF-8) sticks: later appends do nothing and flatjson_ok
 * returns false, so a caller checks once at the end.
 *
 * Memory: the buffer starts in storage the caller lends (a stack array, or
 * none) and moves to one heap block when it outgrows it; flatjson_free
 * frees that block, and flatjson_take hands the text over as a heap block
 * instead. Not shared between threads.
 *
 * The buffer is also jobq's one growable text buffer for text that is not
 * JSON: flatjson_raw appends any bytes, flatjson_text NUL-terminates them.
 * The Prometheus page (api/exposition.c) is written into one.
 */
#ifndef JOBQ_FLATJSON_H
#define JOBQ_FLATJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flatjson {
	char *data;      /* the text so far (not NUL-terminated) */
	size_t len, cap;
	char *heap;      /* data when it is on the heap, else NULL */
	bool failed;
};

/* flatjson_init starts an empty text in the cap bytes at buf, which the
 * caller keeps alive until flatjson_free (buf may be NULL with cap 0). */
void flatjson_init(struct flatjson *j, char *buf, size_t cap);

/* flatjson_free frees j's heap block, if any. */
void flatjson_free(struct flatjson *j);

/* flatjson_ok returns whether every append so far succeeded. */
bool flatjson_ok(const struct flatjson *j);

/* flatjson_text returns j's text NUL-terminated (the NUL is not counted in
 * j->len and the next append writes over it), or NULL when j has failed
 * or the NUL found no memory (then j has failed). The text stays j's. */
const char *flatjson_text(struct flatjson *j);

/* flatjson_take returns j's text as one malloc'd, NUL-terminated block
 * the caller frees, its length in *len; j is left empty, as after
 * flatjson_free. Returns NULL, with j freed all the same, when j has failed
 * or out of memory. */
char *flatjson_take(struct flatjson *j, size_t *len);

/* flatjson_raw appends len bytes of text that is already JSON (punctuation,
 * a quoted literal key such as "\"rows\":"). */
void flatjson_raw(struct flatjson *j, const char *text, size_t len);

/* flatjson_lit appends the literal text lit (a string constant). */
#define flatjson_lit(j, lit) flatjson_raw((j), (lit), sizeof(lit) - 1)

/* flatjson_int appends v as a JSON integer. */
void flatjson_int(struct flatjson *j, int64_t v);

/* flatjson_real appends v as jansson writes a real at precision 17; fails
 * when v is not finite. */
void flatjson_real(struct flatjson *j, double v);

/* flatjson_string appends the len bytes at s as a JSON string; fails when
 * they are not valid UTF-8. */
void flatjson_string(struct flatjson *j, const char *s, size_t len);

/* flatjson_object appends o, a jansson object whose members are all
 * strings or integers, in its own order. Returns true when it did; false,
 * with j's text as before the call, when o is anything else (then use
 * jansson) or when j failed (flatjson_ok says so). Only reads o. */
bool flatjson_object(struct flatjson *j, const json_t *o);

#endif
