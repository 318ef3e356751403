/*
 * bench_open.c - what ll_msg_open of given messages costs in-process,
 * with a letterlock home's keys: the "crypto cost" bench/bridge holds
 * the bridge's FETCH against.
 *
 *   bench_open HOME FILE...
 *
 * The home is opened as the bridge's IMAP side opens it (keystore,
 * certificates and keys, revocation judged with the keystore as the
 * cache); every message is opened once untimed (each must decrypt and
 * verify as valid), then all of them again, timed.  Prints
 *   open N messages WALL_S s wall CPU_S s cpu
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <letterlock/letterlock.h>

static void die(const char *what, const struct ll_error *err)
{
	fprintf(stderr, "bench_open: %s%s%s\n", what, err ? ": " : "",
		err ? err->message : "");
	exit(1);
}

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n = -1;

	if (f != NULL && fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
		p = malloc((size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
		die(path, NULL);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void open_one(struct ll_ctx *ctx, const char *msg, size_t len, int check)
{
	struct ll_opened *o = NULL;
	struct ll_error err = { 0 };
	const struct ll_open_status *st;

	if (ll_msg_open(&o, ctx, msg, len, &err) < 0)
		die("ll_msg_open", &err);
	st = ll_opened_status(o);
	if (check && (!st->decrypted || st->signature != LL_SIG_VALID))
		die("a message did not decrypt and verify as valid", NULL);
	ll_opened_free(&o);
}

int main(int argc, char **argv)
{
	struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;
	struct ll_keystore *ks = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };
	size_t n = (size_t)(argc > 2 ? argc - 2 : 0), *lens;
	char **msgs;
	double w0, c0;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_open HOME FILE...\n");
		return 2;
	}
	msgs = calloc(n, sizeof(*msgs));
	lens = calloc(n, sizeof(*lens));
	if (msgs == NULL || lens == NULL)
		die("out of memory", NULL);
	for (size_t i = 0; i < n; i++)
		msgs[i] = slurp(argv[i + 2], &lens[i]);
	if (ll_keystore_open(&ks, argv[1], &err) < 0 ||
	    ll_ctx_new(&ctx, &err) < 0 || ll_keystore_load(ks, ctx, &err) < 0)
		die(argv[1], &err);
	ro.network = 1;
	ro.cache = ks;
	if (ll_ctx_set_revocation(ctx, &ro, &err) < 0)
		die("revocation", &err);
	for (size_t i = 0; i < n; i++)
		open_one(ctx, msgs[i], lens[i], 1);
	w0 = wall_now();
	c0 = cpu_now();
	for (size_t i = 0; i < n; i++)
		open_one(ctx, msgs[i], lens[i], 0);
	printf("open %zu messages %.3f s wall %.3f s cpu\n", n, wall_now() - w0,
	       cpu_now() - c0);
	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	free(msgs);
	free(lens);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
	return 0;
}
