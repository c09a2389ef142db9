/*
 * form.c — reading the parts of a multipart form (see form.h).
 */
#include "form.h"

#include <stdio.h>
#include <string.h>

void form_init(struct form *f, struct options *opts, struct reply_error *error,
	       const struct form_sink *sink)
{
	memset(f, 0, sizeof *f);
	f->opts = opts;
	f->error = error;
	f->sink = *sink;
}

/* form_part_continues returns true when a piece for key at off belongs
 * to the part being read. libmicrohttpd may announce a part with an empty
 * piece at offset 0 and then give its first bytes at offset 0 again, so
 * offset 0 alone does not mean a new part. (The cost: an empty `file` part
 * directly followed by another `file` part reads as one part.) */
static bool form_part_continues(const struct form *f, const char *key, uint64_t off)
{
	const struct form_part *p = &f->part;

	if (off != 0)
		return true;
	return p->kind != FORM_PART_NONE && p->len == 0 &&
	       strncmp(key, p->key, sizeof p->key - 1) == 0;
}

/* form_part_end finishes the part being read: a field becomes its
 * option. Returns 0, or -1 with f->error set. */
static int form_part_end(struct form *f)
{
	struct form_part *p = &f->part;
	enum form_part_kind kind = p->kind;
	size_t len = p->len < sizeof p->value ? (size_t)p->len : sizeof p->value;

	p->kind = FORM_PART_NONE;
	if (kind != FORM_PART_FIELD)
		return 0;
	return options_set(f->opts, p->option, p->value, len, f->error);
}

/* form_file_begin starts the file part. Returns 0, or -1 with f->error
 * set (400 duplicate_file, or the upload's error). */
static int form_file_begin(struct form *f)
{
	if (f->file_seen) {
		reply_error_set(f->error, MHD_HTTP_BAD_REQUEST, "duplicate_file",
				"The form has more than one part named file.");
		return -1;
	}
	f->file_seen = true;
	f->part.kind = FORM_PART_FILE;
	return f->sink.file_begin(f->sink.cls);
}

/* form_part_begin ends the previous part and starts the one named key.
 * Returns 0, or -1 with f->error set. */
static int form_part_begin(struct form *f, const char *key)
{
	struct form_part *p = &f->part;
	int option;

	if (form_part_end(f) != 0)
		return -1;
	memset(p, 0, sizeof *p);
	snprintf(p->key, sizeof p->key, "%s", key);
	if (strcmp(key, "file") == 0)
		return form_file_begin(f);
	option = options_find(key, strlen(key));
	if (option < 0) {
		options_unknown(f->error, key, strlen(key));
		return -1;
	}
	if (f->file_seen) {
		/* The job was fixed when the file began: a later option would
		 * have to be ignored, and silently ignoring it is worse. */
		reply_error_set(f->error, MHD_HTTP_BAD_REQUEST, "parameter_after_file",
				"The form field %s comes after the file part; options must come before it.",
				options_name(option));
		reply_error_detail_text(f->error, "parameter", key, strlen(key));
		return -1;
	}
	p->kind = FORM_PART_FIELD;
	p->option = option;
	return 0;
}

/* form_part_data takes size bytes of the part being read. Returns 0, or
 * -1 with f->error set. */
static int form_part_data(struct form *f, const char *data, size_t size)
{
	struct form_part *p = &f->part;

	if (p->kind == FORM_PART_FILE) {
		p->len += size;
		return f->sink.file_data(f->sink.cls, data, size);
	}
	if (p->len < sizeof p->value) {
		size_t room = sizeof p->value - (size_t)p->len;
		memcpy(p->value + p->len, data, size < room ? size : room);
	}
	p->len += size;
	return 0;
}

/* form_piece is the post processor's iterator: one piece of one
 * part. Returns MHD_NO (stopping the post processor) once f->error is
 * set. */
enum MHD_Result form_piece(void *cls, enum MHD_ValueKind kind, const char *key,
			   const char *filename, const char *content_type,
			   const char *transfer_encoding, const char *data, uint64_t off,
			   size_t size)
{
	struct form *f = cls;

	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	if (f->stopped) /* see struct form */
		return MHD_NO;
	if (key == NULL)
		key = "";
	if (!form_part_continues(f, key, off) && form_part_begin(f, key) != 0)
		return MHD_NO;
	return form_part_data(f, data, size) == 0 ? MHD_YES : MHD_NO;
}

int form_end(struct form *f, bool complete)
{
	if (f->error->status != 0)
		return -1;
	if (!complete) {
		reply_error_set(f->error, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
				"The multipart/form-data body ends before its closing boundary.");
		return -1;
	}
	if (form_part_end(f) != 0)
		return -1;
	if (!f->file_seen) {
		reply_error_set(f->error, MHD_HTTP_BAD_REQUEST, "missing_file",
				"The form has no part named file.");
		return -1;
	}
	return 0;
}

int form_feed(struct form *f, struct MHD_PostProcessor *pp, const char *data, size_t size)
{
	if (MHD_post_process(pp, data, size) == MHD_YES)
		return 0;
	f->stopped = true; /* before the caller destroys pp: see struct form */
	if (f->error->status == 0)
		reply_error_set(f->error, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
				"The multipart/form-data body is malformed.");
	return -1;
}

int form_close(struct form *f, struct MHD_PostProcessor **pp)
{
	bool complete = *pp != NULL && MHD_destroy_post_processor(*pp) == MHD_YES;

	*pp = NULL;
	return form_end(f, complete);
}
