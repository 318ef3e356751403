/*
 * test_keystore.c - keys at rest (src/lib/keystore.c,
 * keystore_master.c): the passphrase-wrapped master key round-trips,
 * refuses a wrong passphrase, a changed byte anywhere and hostile KDF
 * parameters (without deriving); a home switches key file <->
 * passphrase with its sealed keys and secrets still opening; nothing
 * that only lists asks for the passphrase; the callback is asked again
 * after a wrong one; the key history says which key is current, as
 * ll_ctx_identity_for picks it, and every old key still decrypts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <letterlock/letterlock.h>
#include <letterlock/revocation.h>

#include "internal.h"
#include "keystore_master.h"

/* cheap parameters: the format, not the cost, is under test */
static const struct ll_keystore_kdf cheap = { LL_KEYSTORE_KDF_VERSION, 10, 8,
					      1 };

static char home[64];

static void fresh_home(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	assert_int_equal(system(cmd), 0);
}

static struct ll_keystore *open_ks(void)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };

	if (ll_keystore_open(&ks, home, &err) < 0)
		fail_msg("open: %s", err.message);
	return ks;
}

static size_t master_size(mode_t *mode)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/master.key", home);
	assert_int_equal(stat(path, &st), 0);
	*mode = st.st_mode & 07777;
	return (size_t)st.st_size;
}

/* Nothing but letterlock.db* and master.key: no temporary file left. */
static void assert_no_leftovers(void)
{
	DIR *d = opendir(home);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' || strstr(e->d_name, "master") != NULL)
			if (strcmp(e->d_name, "master.key") != 0 &&
			    strncmp(e->d_name, "letterlock.db", 13) != 0)
				fail_msg("left in the home: %s", e->d_name);
	closedir(d);
}

static struct ll_identity *new_identity(const char *email, int days)
{
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };

	if (ll_identity_generate(&id, email, LL_KEY_EC_P256, days, &err) < 0)
		fail_msg("generate: %s", err.message);
	return id;
}

/* ---- the wrapped form ---- */

static void wrap(unsigned char *out, const unsigned char *master,
		 const char *pass)
{
	struct ll_error err = { 0 };

	if (ll_master_wrap(out, master, pass, &cheap, &err) < 0)
		fail_msg("wrap: %s", err.message);
}

static void test_round_trip(void **state)
{
	unsigned char master[LL_MASTER_LEN], back[LL_MASTER_LEN];
	unsigned char w[LL_MASTER_WRAPPED_LEN], w2[LL_MASTER_WRAPPED_LEN];
	struct ll_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(master); i++)
		master[i] = (unsigned char)(i * 7 + 1);
	wrap(w, master, "correct horse");
	assert_memory_equal(w, "LLMK", 4);
	assert_int_equal(
		ll_master_unwrap(back, w, sizeof(w), "correct horse", &err), 0);
	assert_memory_equal(back, master, sizeof(master));
	/* a fresh salt and nonce each time */
	wrap(w2, master, "correct horse");
	assert_memory_not_equal(w + 17, w2 + 17, 16 + 12);
	/* the default parameters are within the bounds the reader takes */
	assert_int_equal(ll_master_wrap(w, master, "pw", NULL, &err), 0);
	assert_int_equal(ll_master_check(w, sizeof(w), NULL, &err), 0);
}

static void test_wrong_passphrase(void **state)
{
	unsigned char master[LL_MASTER_LEN] = { 1, 2, 3 };
	unsigned char back[LL_MASTER_LEN], zero[LL_MASTER_LEN] = { 0 };
	unsigned char w[LL_MASTER_WRAPPED_LEN];
	struct ll_error err = { 0 };

	(void)state;
	wrap(w, master, "right");
	memset(back, 0xaa, sizeof(back));
	assert_int_equal(ll_master_unwrap(back, w, sizeof(w), "wrong", &err),
			 LL_EPASSPHRASE);
	assert_string_equal(err.message, "wrong passphrase");
	assert_memory_equal(back, zero, sizeof(zero));
	assert_int_equal(ll_master_unwrap(back, w, sizeof(w), "righ", NULL),
			 LL_EPASSPHRASE);
	assert_int_equal(ll_master_unwrap(back, w, sizeof(w), "right ", NULL),
			 LL_EPASSPHRASE);
	/* empty or too long passphrases are not written */
	assert_int_equal(ll_master_wrap(w, master, "", &cheap, NULL),
			 LL_EINVAL);
	{
		char longpw[LL_KEYSTORE_PASS_MAX + 2];

		memset(longpw, 'x', sizeof(longpw) - 1);
		longpw[sizeof(longpw) - 1] = '\0';
		assert_int_equal(ll_master_wrap(w, master, longpw, &cheap,
						NULL),
				 LL_EINVAL);
	}
}

/* Any changed bit, header, ciphertext or tag: no key comes out. */
static void test_tampered(void **state)
{
	unsigned char master[LL_MASTER_LEN] = { 9, 8, 7 };
	unsigned char back[LL_MASTER_LEN], w[LL_MASTER_WRAPPED_LEN];
	unsigned char t[LL_MASTER_WRAPPED_LEN + 1];
	static const unsigned char bits[] = { 0x01, 0x80 };

	(void)state;
	wrap(w, master, "pw");
	for (size_t i = 0; i < sizeof(w); i++) {
		for (size_t b = 0; b < sizeof(bits); b++) {
			int rc;

			memcpy(t, w, sizeof(w));
			t[i] ^= bits[b];
			rc = ll_master_unwrap(back, t, sizeof(w), "pw", NULL);
			if (i < LL_MASTER_HEADER_LEN)
				assert_true(rc == LL_ESTORE ||
					    rc == LL_EPASSPHRASE);
			else
				assert_int_equal(rc, LL_EPASSPHRASE);
		}
	}
	/* truncated, or one byte more */
	memcpy(t, w, sizeof(w));
	t[sizeof(w)] = 0;
	assert_int_equal(ll_master_unwrap(back, t, sizeof(w) - 1, "pw", NULL),
			 LL_ESTORE);
	assert_int_equal(ll_master_unwrap(back, t, sizeof(w) + 1, "pw", NULL),
			 LL_ESTORE);
	/* another version, KDF or cipher */
	for (size_t i = 4; i <= 6; i++) {
		memcpy(t, w, sizeof(w));
		t[i] = 2;
		assert_int_equal(ll_master_check(t, sizeof(w), NULL, NULL),
				 LL_ESTORE);
	}
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Parameters that would take GiBs or minutes: refused before scrypt. */
static void test_hostile_kdf(void **state)
{
	static const struct {
		unsigned log2_n, r, p;
	} bad[] = {
		{ 40, 8, 1 }, /* N = 2^40 */
		{ 255, 8, 1 },
		{ 20, 32, 1 }, /* 4 GiB */
		{ 21, 1, 1 }, /* above the largest N */
		{ 18, 16, 1 }, /* 512 MiB */
		{ 20, 2, 16 }, /* 256 MiB but 2^25 work */
		{ 17, 8, 100 }, /* p */
		{ 14, 0xffffffffu, 1 },
		{ 14, 8, 0xffffffffu },
		{ 14, 0, 1 },
		{ 14, 8, 0 },
		{ 9, 8, 1 }, /* too weak to be ours */
	};
	unsigned char master[LL_MASTER_LEN] = { 0 }, back[LL_MASTER_LEN];
	unsigned char w[LL_MASTER_WRAPPED_LEN];
	struct timespec t0, t1;
	struct ll_error err = { 0 };

	(void)state;
	wrap(w, master, "pw");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ll_keystore_kdf k = { LL_KEYSTORE_KDF_VERSION,
					     bad[i].log2_n, bad[i].r,
					     bad[i].p };

		w[7] = (unsigned char)bad[i].log2_n;
		put32(w + 8, bad[i].r);
		put32(w + 12, bad[i].p);
		assert_int_equal(ll_master_unwrap(back, w, sizeof(w), "pw",
						  &err),
				 LL_ESTORE);
		assert_non_null(strstr(err.message, "out of bounds"));
		/* and they are not written either */
		assert_int_equal(ll_master_wrap(w, master, "pw", &k, NULL),
				 LL_EINVAL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* nothing was derived: well under a second for all of them */
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	/* an options struct of another version is refused */
	{
		struct ll_keystore_kdf k = cheap;

		k.version = 99;
		assert_int_equal(ll_master_wrap(w, master, "pw", &k, NULL),
				 LL_EINVAL);
	}
}

/* ---- a home ---- */

static void test_damaged_file(void **state)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	char path[128];
	FILE *f;

	(void)state;
	fresh_home();
	ks = open_ks();
	ll_keystore_close(&ks);
	snprintf(path, sizeof(path), "%s/master.key", home);
	/* a large file: read bounded, refused */
	f = fopen(path, "wb");
	assert_non_null(f);
	for (int i = 0; i < 100000; i++)
		fputs("LLMK garbage ", f);
	fclose(f);
	assert_int_equal(ll_keystore_open(&ks, home, &err), LL_ESTORE);
	assert_null(ks);
	assert_non_null(strstr(err.message, "damaged"));
	/* one byte short of a key file */
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite("0123456789abcdef0123456789abcde", 1, 31, f);
	fclose(f);
	assert_int_equal(ll_keystore_open(&ks, home, &err), LL_ESTORE);
	/* a file that exists is never replaced by a new key */
	{
		unsigned char raw[LL_MASTER_LEN] = { 0 };

		assert_int_equal(ll_master_write_file(home, raw, sizeof(raw), 0,
						      NULL),
				 LL_EEXIST);
		assert_no_leftovers();
	}
}

/* ---- what a crash leaves ---- */

/*
 * The build links this test with --wrap=fsync: fsync of a directory
 * fails while fail_dir_fsync is set, as on a disk that went away
 * between the rename and the directory's sync.
 */
int __real_fsync(int fd);
int __wrap_fsync(int fd);
static int fail_dir_fsync;

int __wrap_fsync(int fd)
{
	struct stat st;

	if (fail_dir_fsync && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

/* A temporary file of an interrupted write, AGE seconds old. */
static void leftover(const char *name, time_t age)
{
	char path[128];
	struct timespec ts[2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", home, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite("0123456789abcdef0123456789abcdef", 1, 32, f);
	fclose(f);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", home, name);
	return access(path, F_OK) == 0;
}

/* A raw master key left under a temporary name by a crash between the
 * link or rename and the unlink is removed when the home opens; one a
 * writer may be working on (fresh) is left alone. */
static void test_stale_temp_swept(void **state)
{
	struct ll_keystore *ks = NULL;

	(void)state;
	fresh_home();
	ks = open_ks();
	ll_keystore_close(&ks);
	leftover(".master.key.a1B2c3", 3600);
	leftover(".master.key.x9Y8z7", 0);
	leftover(".master.key.notmine", 3600);
	ks = open_ks();
	assert_false(exists(".master.key.a1B2c3"));
	assert_true(exists(".master.key.x9Y8z7"));
	assert_true(exists(".master.key.notmine"));
	ll_keystore_close(&ks);
}

/* The directory's fsync failing after the rename: the change is made,
 * said as LL_ENOTSYNCED, and the home opens with the new passphrase. */
static void test_dir_fsync_fails(void **state)
{
	struct ll_keystore *ks = NULL;
	struct ll_error err = { 0 };
	int rc;

	(void)state;
	fresh_home();
	ks = open_ks();
	fail_dir_fsync = 1;
	rc = ll_keystore_set_passphrase(ks, "new pass", &cheap, &err);
	fail_dir_fsync = 0;
	assert_int_equal(rc, LL_ENOTSYNCED);
	assert_non_null(strstr(err.message, "change is made"));
	assert_int_equal(ll_keystore_protection(ks), LL_KS_PASSPHRASE);
	ll_keystore_close(&ks);
	assert_no_leftovers();
	ks = open_ks();
	assert_int_equal(ll_keystore_protection(ks), LL_KS_PASSPHRASE);
	assert_int_equal(ll_keystore_unlock(ks, "new pass", &err), 0);
	fail_dir_fsync = 1;
	rc = ll_keystore_set_key_file(ks, &err);
	fail_dir_fsync = 0;
	assert_int_equal(rc, LL_ENOTSYNCED);
	assert_int_equal(ll_keystore_protection(ks), LL_KS_KEY_FILE);
	ll_keystore_close(&ks);
	ks = open_ks();
	assert_int_equal(ll_keystore_protection(ks), LL_KS_KEY_FILE);
	ll_keystore_close(&ks);
}

/* Processes that open a home without master.key at the same moment
 * all end up with the one master key that was made first. */
static void test_create_race(void **state)
{
	enum {
		KIDS = 6
	};
	struct ll_keystore *ks;
	pid_t pid[KIDS];
	int go[2];
	char name[16];

	(void)state;
	fresh_home();
	/* the store made first: only master.key is raced for */
	ks = open_ks();
	ll_keystore_close(&ks);
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/master.key", home);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < KIDS; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			char c;
			struct ll_keystore *k = NULL;

			close(go[1]);
			/* all start when the parent closes the pipe */
			if (read(go[0], &c, 1) != 0 ||
			    ll_keystore_open(&k, home, NULL) < 0)
				_exit(1);
			snprintf(name, sizeof(name), "kid%d", i);
			if (ll_keystore_put_secret(k, name, name, strlen(name),
						   NULL) < 0)
				_exit(2);
			ll_keystore_close(&k);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < KIDS; i++) {
		int st;

		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	ks = open_ks();
	for (int i = 0; i < KIDS; i++) {
		unsigned char *sec = NULL;
		size_t len = 0;
		struct ll_error err = { 0 };

		snprintf(name, sizeof(name), "kid%d", i);
		if (ll_keystore_get_secret(&sec, &len, ks, name, &err) < 0)
			fail_msg("%s: %s", name, err.message);
		assert_memory_equal(sec, name, len);
		ll_wipe_free(sec, len);
	}
	ll_keystore_close(&ks);
	assert_no_leftovers();
}

/* Key file -> passphrase -> other passphrase -> key file, with an
 * identity and a secret stored before, opening at every step. */
static void test_passwd_switch(void **state)
{
	struct ll_keystore *ks;
	struct ll_identity *id = new_identity("a@example.test", 30);
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };
	char fpr[65];
	unsigned char *sec = NULL;
	size_t seclen = 0;
	mode_t mode;

	(void)state;
	fresh_home();
	ks = open_ks();
	assert_int_equal(ll_keystore_protection(ks), LL_KS_KEY_FILE);
	assert_int_equal(ll_keystore_is_locked(ks), 0);
	assert_int_equal(master_size(&mode), LL_MASTER_LEN);
	assert_int_equal(mode, 0600);
	snprintf(fpr, sizeof(fpr), "%s",
		 ll_cert_fingerprint(ll_identity_cert(id)));
	assert_int_equal(ll_keystore_add_identity(ks, id, &err), 0);
	assert_int_equal(ll_keystore_put_secret(ks, "acme", "s3cret", 6, &err),
			 0);
	ll_identity_free(&id);

	/* to a passphrase */
	assert_int_equal(ll_keystore_set_passphrase(ks, "pw1", &cheap, &err),
			 0);
	assert_int_equal(ll_keystore_protection(ks), LL_KS_PASSPHRASE);
	assert_int_equal(master_size(&mode), LL_MASTER_WRAPPED_LEN);
	assert_int_equal(mode, 0600);
	assert_no_leftovers();
	ll_keystore_close(&ks);

	ks = open_ks();
	assert_int_equal(ll_keystore_protection(ks), LL_KS_PASSPHRASE);
	assert_int_equal(ll_keystore_is_locked(ks), 1);
	/* locked: no passphrase, no callback */
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, &err), LL_ELOCKED);
	assert_int_equal(ll_keystore_get_secret(&sec, &seclen, ks, "acme",
						&err),
			 LL_ELOCKED);
	/* a secret that is not there needs no passphrase to say so */
	assert_int_equal(ll_keystore_get_secret(&sec, &seclen, ks, "none",
						&err),
			 LL_ENOTFOUND);
	assert_int_equal(ll_keystore_unlock(ks, "pw2", &err), LL_EPASSPHRASE);
	assert_string_equal(err.message, "wrong passphrase");
	assert_int_equal(ll_keystore_is_locked(ks), 1);
	assert_int_equal(ll_keystore_unlock(ks, "pw1", &err), 0);
	assert_int_equal(ll_keystore_is_locked(ks), 0);
	ll_ctx_free(&ctx);
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, &err), 0);
	assert_non_null(ll_ctx_identity_for(ctx, "a@example.test"));
	assert_int_equal(
		ll_keystore_get_secret(&sec, &seclen, ks, "acme", &err), 0);
	assert_int_equal(seclen, 6);
	assert_memory_equal(sec, "s3cret", 6);
	ll_wipe_free(sec, seclen);
	sec = NULL;
	ll_ctx_free(&ctx);

	/* another passphrase: the old one no longer opens */
	assert_int_equal(ll_keystore_set_passphrase(ks, "pw2", &cheap, &err),
			 0);
	ll_keystore_close(&ks);
	ks = open_ks();
	assert_int_equal(ll_keystore_unlock(ks, "pw1", &err), LL_EPASSPHRASE);
	assert_int_equal(ll_keystore_unlock(ks, "pw2", &err), 0);

	/* back to a key file */
	assert_int_equal(ll_keystore_set_key_file(ks, &err), 0);
	assert_int_equal(master_size(&mode), LL_MASTER_LEN);
	assert_int_equal(mode, 0600);
	assert_no_leftovers();
	ll_keystore_close(&ks);
	ks = open_ks();
	assert_int_equal(ll_keystore_protection(ks), LL_KS_KEY_FILE);
	assert_int_equal(ll_keystore_is_locked(ks), 0);
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, &err), 0);
	id = ll_ctx_identity_for(ctx, "a@example.test");
	assert_non_null(id);
	assert_string_equal(ll_cert_fingerprint(ll_identity_cert(id)), fpr);
	assert_int_equal(
		ll_keystore_get_secret(&sec, &seclen, ks, "acme", &err), 0);
	assert_memory_equal(sec, "s3cret", 6);
	ll_wipe_free(sec, seclen);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
}

/* Listing, the current certificate and the public certificates never
 * ask for the passphrase. */
static int count_key(void *arg, const struct ll_keystore_key *k)
{
	(void)k;
	(*(int *)arg)++;
	return 0;
}

struct script {
	const char *answers[4];
	unsigned calls;
	int give_up; /* returned once the answers run out */
};

static int scripted(void *arg, char *buf, size_t size, unsigned attempt,
		    struct ll_error *err)
{
	struct script *s = arg;

	assert_int_equal(attempt, s->calls);
	assert_int_equal(size, LL_KEYSTORE_PASS_MAX + 1);
	if (s->calls >= 4 || s->answers[s->calls] == NULL) {
		s->calls++;
		if (err != NULL && s->give_up == LL_ELOCKED)
			snprintf(err->message, sizeof(err->message),
				 "nobody to ask");
		return s->give_up;
	}
	snprintf(buf, size, "%s", s->answers[s->calls++]);
	return 0;
}

static void test_lazy_unlock(void **state)
{
	struct ll_keystore *ks;
	struct ll_identity *id = new_identity("b@example.test", 30);
	struct ll_cert *cur = NULL;
	struct ll_ctx *ctx = NULL;
	struct ll_error err = { 0 };
	struct script never = { { NULL }, 0, LL_ELOCKED };
	int n = 0;

	(void)state;
	fresh_home();
	ks = open_ks();
	assert_int_equal(ll_keystore_add_identity(ks, id, &err), 0);
	ll_identity_free(&id);
	assert_int_equal(ll_keystore_set_passphrase(ks, "pw", &cheap, &err), 0);
	ll_keystore_close(&ks);

	ks = open_ks();
	/* a callback that fails the test if it is asked */
	ll_keystore_set_passphrase_cb(ks, scripted, &never);
	assert_int_equal(ll_keystore_foreach_key(ks, 0, count_key, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(ll_keystore_current_cert(&cur, ks, "b@example.test", 0,
						  &err),
			 0);
	ll_cert_free(&cur);
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load_certs(ks, ctx, &err), 0);
	assert_int_equal(never.calls, 0);
	assert_int_equal(ll_keystore_is_locked(ks), 1);
	/* the identities need it: asked once, gives up */
	assert_int_equal(ll_keystore_load_identities(ks, ctx, &err),
			 LL_ELOCKED);
	assert_string_equal(err.message, "nobody to ask");
	assert_int_equal(never.calls, 1);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
}

static void test_callback_retries(void **state)
{
	struct ll_keystore *ks;
	struct ll_error err = { 0 };
	struct script typo = { { "pw ", "pw" }, 0, LL_EPASSPHRASE };
	struct script wrong = { { "a", "b", "c", "d" }, 0, LL_EPASSPHRASE };
	struct script file = { { "a" }, 0, LL_EPASSPHRASE };

	(void)state;
	fresh_home();
	ks = open_ks();
	assert_int_equal(ll_keystore_set_passphrase(ks, "pw", &cheap, &err), 0);
	ll_keystore_close(&ks);

	/* a typo, then the right one */
	ks = open_ks();
	ll_keystore_set_passphrase_cb(ks, scripted, &typo);
	assert_int_equal(ll_keystore_unlock(ks, NULL, &err), 0);
	assert_int_equal(typo.calls, 2);
	ll_keystore_close(&ks);

	/* wrong every time: asked LL_KEYSTORE_PASS_TRIES times */
	ks = open_ks();
	ll_keystore_set_passphrase_cb(ks, scripted, &wrong);
	assert_int_equal(ll_keystore_unlock(ks, NULL, &err), LL_EPASSPHRASE);
	assert_string_equal(err.message, "wrong passphrase");
	assert_int_equal(wrong.calls, LL_KEYSTORE_PASS_TRIES);
	ll_keystore_close(&ks);

	/* one answer (a file), then gives up: "wrong passphrase" */
	ks = open_ks();
	ll_keystore_set_passphrase_cb(ks, scripted, &file);
	err.message[0] = '\0';
	assert_int_equal(ll_keystore_unlock(ks, NULL, &err), LL_EPASSPHRASE);
	assert_string_equal(err.message, "wrong passphrase");
	assert_int_equal(file.calls, 2);
	assert_int_equal(ll_keystore_is_locked(ks), 1);
	ll_keystore_close(&ks);
}

/* ---- key history ---- */

struct seen {
	int n;
	char fpr[4][65];
	enum ll_key_state state[4];
};

static int remember(void *arg, const struct ll_keystore_key *k)
{
	struct seen *s = arg;

	assert_true(s->n < 4);
	snprintf(s->fpr[s->n], sizeof(s->fpr[0]), "%s",
		 ll_cert_fingerprint(k->cert));
	s->state[s->n++] = k->state;
	return 0;
}

static struct seen history(struct ll_keystore *ks, time_t now)
{
	struct seen s = { 0 };
	struct ll_error err = { 0 };

	assert_int_equal(ll_keystore_foreach_key(ks, now, remember, &s, &err),
			 0);
	return s;
}

static void test_history(void **state)
{
	static const char msg[] = "From: c@example.test\r\n"
				  "To: c@example.test\r\n"
				  "Subject: to the old key\r\n\r\nold\r\n";
	struct ll_keystore *ks;
	struct ll_identity *old = new_identity("c@example.test", 1), *neu;
	struct ll_identity *other = new_identity("d@example.test", 30);
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_ctx *ctx = NULL;
	struct ll_sealed *sealed = NULL;
	struct ll_opened *o = NULL;
	struct ll_cert *cur = NULL;
	struct ll_error err = { 0 };
	char f_old[65], f_new[65];
	const char *data;
	size_t len;
	time_t now = time(NULL);
	struct seen s;

	(void)state;
	fresh_home();
	ks = open_ks();
	snprintf(f_old, sizeof(f_old), "%s",
		 ll_cert_fingerprint(ll_identity_cert(old)));
	assert_int_equal(ll_keystore_add_identity(ks, old, &err), 0);
	assert_int_equal(ll_keystore_add_identity(ks, other, &err), 0);
	ll_identity_free(&old);
	ll_identity_free(&other);
	/* mail sealed while the old key was the only one */
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, &err), 0);
	if (ll_msg_seal(&sealed, ctx, msg, strlen(msg), &so, &err) < 0)
		fail_msg("seal: %s", err.message);
	ll_ctx_free(&ctx);

	/* a later key for the same address (a later notBefore) */
	sleep(1);
	neu = new_identity("c@example.test", 30);
	snprintf(f_new, sizeof(f_new), "%s",
		 ll_cert_fingerprint(ll_identity_cert(neu)));
	assert_int_equal(ll_keystore_add_identity(ks, neu, &err), 0);
	ll_identity_free(&neu);

	/* now: new current, old superseded; by address */
	s = history(ks, now + 10);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.fpr[0], f_new);
	assert_int_equal(s.state[0], LL_KEY_CURRENT);
	assert_string_equal(s.fpr[1], f_old);
	assert_int_equal(s.state[1], LL_KEY_SUPERSEDED);
	assert_int_equal(s.state[2], LL_KEY_CURRENT); /* d@ */
	/* two days on, the one-day key has expired */
	s = history(ks, now + 2 * 86400);
	assert_string_equal(s.fpr[0], f_new);
	assert_string_equal(s.fpr[1], f_old);
	assert_int_equal(s.state[1], LL_KEY_EXPIRED);
	/* a day before: none valid yet, none current */
	s = history(ks, now - 86400);
	assert_int_equal(s.state[0], LL_KEY_NOT_YET_VALID);
	assert_int_equal(s.state[1], LL_KEY_NOT_YET_VALID);
	assert_int_equal(ll_keystore_current_cert(&cur, ks, "c@example.test",
						  now - 86400, &err),
			 LL_ENOTFOUND);

	/* behind a passphrase, the same picks as the context's */
	assert_int_equal(ll_keystore_set_passphrase(ks, "pw", &cheap, &err), 0);
	ll_keystore_close(&ks);
	ks = open_ks();
	assert_int_equal(ll_keystore_current_cert(&cur, ks, "c@example.test", 0,
						  &err),
			 0);
	assert_string_equal(ll_cert_fingerprint(cur), f_new);
	{
		char type[32];

		assert_string_equal(ll_cert_key_name(cur, type, sizeof(type)),
				    "ec-p256");
	}
	ll_cert_free(&cur);
	assert_int_equal(ll_keystore_unlock(ks, "pw", &err), 0);
	assert_int_equal(ll_ctx_new(&ctx, &err), 0);
	assert_int_equal(ll_keystore_load(ks, ctx, &err), 0);
	assert_string_equal(
		ll_cert_fingerprint(ll_identity_cert(
			ll_ctx_identity_for(ctx, "c@example.test"))),
		f_new);
	/* and the mail sealed to the old key still opens */
	data = ll_sealed_data(sealed, 0, &len);
	if (ll_msg_open(&o, ctx, data, len, &err) < 0)
		fail_msg("open: %s", err.message);
	assert_true(ll_opened_status(o)->decrypted);
	ll_opened_free(&o);

	/* the new one revoked (letterlock revoke): the old one is current
	 * again, in the history as in a context with the home's marks */
	assert_int_equal(ll_keystore_current_cert(&cur, ks, "c@example.test", 0,
						  &err),
			 0);
	assert_int_equal(ll_revocation_mark(ks, cur, now, 1, &err), 0);
	ll_cert_free(&cur);
	s = history(ks, now + 10);
	assert_string_equal(s.fpr[0], f_old);
	assert_int_equal(s.state[0], LL_KEY_CURRENT);
	assert_string_equal(s.fpr[1], f_new);
	assert_int_equal(s.state[1], LL_KEY_REVOKED);
	assert_string_equal(ll_key_state_name(LL_KEY_REVOKED), "revoked");
	assert_int_equal(ll_keystore_current_cert(&cur, ks, "c@example.test", 0,
						  &err),
			 0);
	assert_string_equal(ll_cert_fingerprint(cur), f_old);
	ll_cert_free(&cur);
	{
		struct ll_revocation_options ro = LL_REVOCATION_OPTIONS_INIT;

		ro.cache = ks;
		assert_int_equal(ll_ctx_set_revocation(ctx, &ro, &err), 0);
	}
	assert_string_equal(
		ll_cert_fingerprint(ll_identity_cert(
			ll_ctx_identity_for(ctx, "c@example.test"))),
		f_old);
	ll_sealed_free(&sealed);
	ll_ctx_free(&ctx);
	ll_keystore_close(&ks);
}

static void test_key_name(void **state)
{
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	char type[32];

	(void)state;
	assert_int_equal(ll_identity_generate(&id, "r@example.test",
					      LL_KEY_RSA2048, 1, &err),
			 0);
	assert_string_equal(ll_cert_key_name(ll_identity_cert(id), type,
					     sizeof(type)),
			    "rsa-2048");
	ll_identity_free(&id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_hostile_kdf),
		cmocka_unit_test(test_damaged_file),
		cmocka_unit_test(test_stale_temp_swept),
		cmocka_unit_test(test_dir_fsync_fails),
		cmocka_unit_test(test_create_race),
		cmocka_unit_test(test_passwd_switch),
		cmocka_unit_test(test_lazy_unlock),
		cmocka_unit_test(test_callback_retries),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_key_name),
	};
	int rc;

	snprintf(home, sizeof(home), "/tmp/ll-test-keystore.%d", (int)getpid());
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fresh_home();
	return rc;
}
