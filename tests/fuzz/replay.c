/*
 * replay.c — runs a fuzz target's LLVMFuzzerTestOneInput once on each file
 * of the corpus directories (or files) named on the command line, without
 * libFuzzer (see fuzz.h). Exits 0 when every input ran, 1 when an argument
 * cannot be read or holds no input at all (an empty corpus proves
 * nothing); a broken invariant aborts.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* replay_file runs the target on the file at path. Returns 0, or -1 when
 * it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return -1;
	do {
		if (len == cap) {
			uint8_t *grown = realloc(buf, cap = cap * 2 + 4096);
			if (grown == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

/* replay_dir runs the target on every regular file in dir and returns how
 * many, or -1 when dir or one of its files cannot be read. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long count = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path) != 0) {
			count = -1;
			break;
		}
		count++;
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) != 0)
			n = -1;
		else if (S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n <= 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], n < 0 ? "cannot be read" : "no inputs");
			return 1;
		}
		printf("replay: %s: %ld inputs\n", argv[i], n);
	}
	return 0;
}
