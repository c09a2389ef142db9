/*
 * log — one JSON object per line on stderr.
 *
 * Every line has "time" (RFC 3339 UTC, ms), "level", "component" ("api" or
 * "worker"), "msg", and whatever fields the caller adds — "request_id" and
 * "job_id" wherever there is one. A line is written with a single write(2)
 * so that lines from several threads never interleave.
 *
 * The component and minimum level are set once by log_init before any
 * thread starts; they are the module's only state.
 */
#ifndef JOBQ_LOG_H
#define JOBQ_LOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_init sets the component name (static storage) and the minimum level. */
void log_init(const char *component, enum log_level min);

/* log_event writes one line with msg and the fields of the object fields,
 * which it steals (NULL is allowed). */
void log_event(enum log_level level, const char *msg, json_t *fields);

/* log_job writes one line about a job: msg plus request_id and job_id (each
 * left out when NULL or empty), plus fields (stolen, may be NULL). */
void log_job(enum log_level level, const char *msg, const char *request_id,
	     const char *job_id, json_t *fields);

/* One member of a flat log line: the string str, or the integer when str
 * is NULL. name and str are borrowed. */
struct log_field {
	const char *name;
	const char *str;
	int64_t integer;
};

/* log_null, as a log_field's str, writes the member as JSON null. */
extern const char log_null[];

/* log_job_flat writes the line log_job would write with the n fields as a
 * JSON object in this order, but straight into one buffer, without a
 * jansson tree: it is for the lines every job writes. Field names must be
 * distinct; one that names a standard member the line has is left out, as
 * log_job leaves it out. */
void log_job_flat(enum log_level level, const char *msg, const char *request_id,
		  const char *job_id, const struct log_field *fields, size_t n);

#endif
