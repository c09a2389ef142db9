/*
 * form — the parts of a multipart/form-data submission, as libmicrohttpd's
 * post processor hands them over.
 *
 * A form holds option fields (options.h) and one part named `file`, the
 * CSV. Fields must come before the file: the job is fixed when the file
 * begins. Parts arrive as pieces (form_piece is the post processor's
 * iterator); a field's value is kept (only as much as any valid value can
 * be, plus one byte so that a longer one is refused) and applied when its
 * part ends; the file's bytes go straight to the sink.
 *
 * Refusals (400 with codes unknown_parameter, duplicate_parameter, the
 * options' own, duplicate_file, parameter_after_file, missing_file,
 * invalid_multipart) are written to the caller's reply_error, and the
 * piece that caused one returns MHD_NO, which stops the post processor.
 *
 * The form owns nothing: options, error and the sink's cls belong to the
 * caller and must outlive it.
 */
#ifndef JOBQ_API_FORM_H
#define JOBQ_API_FORM_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "reply.h"

/* Where the file part goes. Each returns 0, or -1 with the form's error
 * set (by the callee). */
struct form_sink {
	int (*file_begin)(void *cls);  /* the file part starts: the options are final */
	int (*file_data)(void *cls, const char *data, size_t len);
	void *cls;
};

enum form_part_kind { FORM_PART_NONE, FORM_PART_FIELD, FORM_PART_FILE };

/* The part being read. */
struct form_part {
	enum form_part_kind kind;
	char key[JOB_NAME_MAX + 1];       /* its name (cut to fit) */
	int option;                       /* FIELD: which option */
	uint64_t len;                     /* bytes so far */
	char value[JOB_NAME_MAX + 2];     /* FIELD: first bytes (one more than any valid value) */
};

struct form {
	struct options *opts;             /* not owned: fields are applied to it */
	struct reply_error *error;        /* not owned: the first refusal */
	struct form_sink sink;
	struct form_part part;
	bool file_seen;
	/* Set by the caller once it gives the submission up: every later
	 * piece is refused, so that destroying the post processor (which may
	 * flush a last piece) cannot feed a dead upload. */
	bool stopped;
};

/* form_init prepares f to read a form into opts, with refusals in *error
 * and the file to sink. */
void form_init(struct form *f, struct options *opts, struct reply_error *error,
	       const struct form_sink *sink);

/* form_piece is an MHD_PostDataIterator (cls: the struct form): one piece
 * of one part. Returns MHD_YES, or MHD_NO once a refusal is set (or the
 * form is stopped). */
enum MHD_Result form_piece(void *cls, enum MHD_ValueKind kind, const char *key,
			   const char *filename, const char *content_type,
			   const char *transfer_encoding, const char *data, uint64_t off,
			   size_t size);

/* form_end finishes the form once the body has ended; complete is whether
 * the post processor saw the closing boundary (MHD_destroy_post_processor
 * said MHD_YES). Returns 0 when the form was whole and had its file, or -1
 * with the error set. */
int form_end(struct form *f, bool complete);

/* form_feed hands size body bytes to pp, the post processor reading f
 * (form_piece with f as its cls). Returns 0, or -1 once the body is
 * refused: f is stopped and its error set (invalid_multipart when the
 * post processor gave up without a reason of the form's). The caller then
 * destroys pp and drops the rest of the body. */
int form_feed(struct form *f, struct MHD_PostProcessor *pp, const char *data, size_t size);

/* form_close ends f at the end of the body: destroys *pp (which may hand
 * over a last piece; NULL after a refusal) and sets it to NULL, then
 * form_end with whether it saw the closing boundary. Returns 0 when the
 * form was whole and had its file, or -1 with the error set. This is the
 * whole of the form's end-of-body decision: POST /v1/jobs and the
 * multipart fuzz target both make it here. */
int form_close(struct form *f, struct MHD_PostProcessor **pp);

#endif
