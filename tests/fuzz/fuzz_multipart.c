/*
 * fuzz_multipart.c — a multipart/form-data submission as jobq reads it:
 * libmicrohttpd's request parser and post processor, driving jobq's form
 * reader (api/form.h) and option parser, with the file part checked by
 * csv_check — everything of POST /v1/jobs but Redis.
 *
 * Input: the boundary up to the first newline (at most 100 bytes), then
 * the body. Each input is sent as one HTTP request over a socketpair to a
 * daemon in this process, run by hand (MHD_run, no threads), and the
 * target reads the reply.
 *
 * Invariants: the request gets exactly one reply, 202 when the form was
 * whole, had its file and the CSV was good, otherwise 400 or 422 with a
 * code; a form reader that refused something has the error set.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "csv_check.h"
#include "form.h"
#include "fuzz.h"

#define FUZZ_PP_BUFFER (64 * 1024)
#define FUZZ_MAX_RUNS 100000

/* One request: the form, its options and error, the CSV checker. */
struct fz_request {
	struct options opts;
	struct reply_error error;
	struct form form;
	struct MHD_PostProcessor *pp;   /* owned */
	struct csv_check *check;        /* owned; from the file part on */
};

static int fz_file_begin(void *cls)
{
	struct fz_request *r = cls;

	r->check = csv_check_new(r->opts.delimiter, r->opts.header, 1024);
	FUZZ_ASSERT(r->check != NULL);
	return 0;
}

static int fz_file_data(void *cls, const char *data, size_t len)
{
	struct fz_request *r = cls;

	if (csv_check_feed(r->check, data, len) == 0)
		return 0;
	reply_error_set(&r->error, 422, csv_check_problem(r->check)->code, "bad CSV");
	return -1;
}

/* fz_reply queues status with an empty body. */
static enum MHD_Result fz_reply(struct MHD_Connection *conn, unsigned status)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);

	MHD_destroy_response(resp);
	return ret;
}

/* fz_end decides the reply once the body has ended: the form's decision
 * is submit.c's own (form_close); then the CSV, which upload.c finishes
 * the same way. */
static enum MHD_Result fz_end(struct MHD_Connection *conn, struct fz_request *r)
{
	if (form_close(&r->form, &r->pp) == 0 && csv_check_finish(r->check) != 0)
		reply_error_set(&r->error, 422, csv_check_problem(r->check)->code, "bad CSV");
	if (r->error.status != 0)
		FUZZ_ASSERT(r->error.code != NULL);
	return fz_reply(conn, r->error.status != 0 ? r->error.status : 202);
}

/* fz_start makes the request's state and post processor (cls: none). */
static enum MHD_Result fz_start(struct MHD_Connection *conn, void **con_cls)
{
	struct fz_request *r = calloc(1, sizeof *r);
	const struct form_sink sink = { fz_file_begin, fz_file_data, r };

	FUZZ_ASSERT(r != NULL);
	*con_cls = r;
	options_default(&r->opts);
	form_init(&r->form, &r->opts, &r->error, &sink);
	r->pp = MHD_create_post_processor(conn, FUZZ_PP_BUFFER, form_piece, &r->form);
	if (r->pp == NULL)
		return fz_reply(conn, 400); /* a boundary libmicrohttpd refuses */
	return MHD_YES;
}

static enum MHD_Result fz_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct fz_request *r = *con_cls;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (r == NULL)
		return fz_start(conn, con_cls);
	if (*upload_data_size == 0)
		return fz_end(conn, r);
	if (r->pp != NULL && form_feed(&r->form, r->pp, upload_data, *upload_data_size) != 0) {
		MHD_destroy_post_processor(r->pp); /* as submit_reject: the rest is dropped */
		r->pp = NULL;
	}
	*upload_data_size = 0;
	return MHD_YES;
}

static void fz_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct fz_request *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	csv_check_free(r->check);
	reply_error_clear(&r->error);
	free(r);
	*con_cls = NULL;
}

static struct MHD_Daemon *fz_daemon(void)
{
	static struct MHD_Daemon *d;

	if (d == NULL)
		d = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, fz_access, NULL,
				     MHD_OPTION_NOTIFY_COMPLETED, fz_completed, NULL,
				     MHD_OPTION_END);
	FUZZ_ASSERT(d != NULL);
	return d;
}

/* fz_exchange sends req (len bytes) to the daemon over a fresh socketpair,
 * runs the daemon until it closes the connection, and returns the number
 * of replies read (their status lines counted). */
static int fz_exchange(const char *req, size_t len, int *status)
{
	struct MHD_Daemon *d = fz_daemon();
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[4096];
	size_t sent = 0;
	int sv[2], replies = 0;
	bool closed = false;

	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	FUZZ_ASSERT(MHD_add_connection(d, sv[0], (struct sockaddr *)&peer, sizeof peer) == MHD_YES);
	for (int i = 0; i < FUZZ_MAX_RUNS && !closed; i++) {
		ssize_t n = sent < len ? send(sv[1], req + sent, len - sent, MSG_NOSIGNAL) : 0;
		sent += n > 0 ? (size_t)n : 0;
		MHD_run(d);
		while ((n = recv(sv[1], buf, sizeof buf - 1, 0)) > 0) {
			buf[n] = '\0';
			if (strncmp(buf, "HTTP/1.1 ", 9) == 0) {
				*status = atoi(buf + 9);
				replies++;
			}
		}
		closed = n == 0;
	}
	close(sv[1]);
	FUZZ_ASSERT(closed);
	return replies;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 101 ? size : 101);
	size_t blen, body;
	char *req;
	int n, status = 0;

	if (nl == NULL)
		return 0;
	blen = (size_t)(nl - data);
	/* A CR or NUL would break the request's own header, which is
	 * libmicrohttpd's request parser, not the form: left out. */
	if (memchr(data, '\r', blen) != NULL || memchr(data, '\0', blen) != NULL)
		return 0;
	body = size - blen - 1;
	req = malloc(256 + size);
	FUZZ_ASSERT(req != NULL);
	n = snprintf(req, 256 + blen, "POST /v1/jobs HTTP/1.1\r\nHost: f\r\nConnection: close\r\n"
		     "Content-Type: multipart/form-data; boundary=%.*s\r\n"
		     "Content-Length: %zu\r\n\r\n", (int)blen, (const char *)data, body);
	memcpy(req + n, nl + 1, body);
	int replies = fz_exchange(req, (size_t)n + body, &status);
	free(req);
	FUZZ_ASSERT(replies == 1);
	FUZZ_ASSERT(status == 202 || status == 400 || status == 422);
	return 0;
}
