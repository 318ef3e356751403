/* fuzz.h - shared by the libFuzzer targets. */
#ifndef LL_FUZZ_H
#define LL_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: a violation is a finding. */
#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

#ifdef LL_FUZZ_FIXTURES
/* The fixture NAME of tests/fuzz/fixtures/ (README there), malloc'd and
 * NUL-terminated; its length in *len.  A missing fixture aborts. */
static inline char *fuzz_fixture(const char *name, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", LL_FUZZ_FIXTURES, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		abort();
	}
	CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	CHECK(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	CHECK(buf != NULL);
	CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}
#endif

#endif
