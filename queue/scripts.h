/*
 * scripts — the Lua scripts of queue/scripts/, embedded at build time by
 * embed.sh. job_store.c loads them with SCRIPT LOAD and calls them by SHA1.
 */
#ifndef JOBQ_SCRIPTS_H
#define JOBQ_SCRIPTS_H

struct script_source {
	const char *name;   /* file base name: "enqueue" */
	const char *source; /* the Lua text */
};

extern const struct script_source scripts_embedded[];
extern const unsigned scripts_embedded_len;

#endif
