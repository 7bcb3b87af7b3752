/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The replay driver: a main() for a fuzzer's LLVMFuzzerTestOneInput that feeds it every
 * file named on the command line, and every file of every directory named there (in name
 * order, dot files skipped). It turns a corpus into a regression test that any compiler
 * builds, so the normal suite and its ASan/UBSan pass run the corpora. It does not fuzz:
 * that is libFuzzer's job (-Dfuzzers=true). No input at all is a failure, never a pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(path, "rbe");

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		fclose(f);
		free(buf);
		return -EIO;
	}
	fclose(f);

	/* Named before it runs: a crash leaves its input as the last line of the log. */
	fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
	{
		/* Exactly @len bytes, as libFuzzer passes them, so ASan sees any overread. */
		uint8_t *data = (uint8_t *)fuzz_dup(buf, len);

		free(buf);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
	}
	return 0;
}

static int skip_dots(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/* Return: the number of inputs replayed, or a negative errno. */
static int replay_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, count = 0, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) < 0 ? -EIO : 1;

	n = scandir(path, &names, skip_dots, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		char file[4096];

		if (r == 0) {
			if ((size_t)snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name) >=
			    sizeof(file))
				r = -ENAMETOOLONG;
			else if (stat(file, &st) == 0 && !S_ISREG(st.st_mode))
				;	/* subdirectories (libFuzzer's own state) are not inputs */
			else if (replay_file(file) < 0)
				r = -EIO;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : count;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int r = replay_path(argv[i]);

		if (r < 0)
			return 1;
		total += r;
	}
	if (total == 0) {
		fprintf(stderr, "no inputs found: an empty corpus proves nothing\n");
		return 1;
	}
	printf("%d inputs replayed, all invariants held\n", total);
	return 0;
}
