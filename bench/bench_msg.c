/*
 * bench_msg.c - in-process throughput and peak memory of ll_msg_seal and
 * ll_msg_open (issue 2, section 6).
 *
 * Identities come from a key directory made by bench/run (or by hand):
 *
 *   KEYS/<kind>/root.pem                 trust anchor (kind: rsa, ec)
 *   KEYS/<kind>/{sender,r1,r2,r3}.key    unencrypted PEM private keys
 *   KEYS/<kind>/{sender,r1,r2,r3}.pem    certificates (first matches key)
 *
 * Addresses are sender@bench.example, r1@bench.example, ...  A message
 * goes from sender to r1, r2, r3 (and, as letterlock always does, to the
 * sender's own certificate); r1 opens it.
 *
 * Modes:
 *   bench_msg --keys DIR [--sizes 4096,...] [--kinds rsa,ec]
 *             [--ops seal-cbc,seal-gcm,open-cbc,open-gcm]
 *             [--min-time S] [--rounds R] [--peak-size N] [--no-peak]
 *       throughput for every (size, kind, op), in messages per CPU
 *       second (process user + system time): R rounds (default 3) of
 *       at least S CPU seconds (default 0.5) and 3 operations each, the
 *       best round reported; then peak memory for the --peak-size message
 *       (default 10 MiB); results as tab-separated lines.
 *   bench_msg --write-msgs OUTDIR [--sizes ...]
 *       write the plaintext test messages (msg-SIZE.eml) for the peers.
 *   bench_msg --keys DIR --profile OP --kind K --size N --iters N
 *       only OP, N times, nothing else (for perf / callgrind).
 *   bench_msg --keys DIR --peak-child OP|input-seal|input-open --kind K
 *             --size N [--input F]
 *       internal: one child of the peak memory measurement (set-up and a
 *       4 KiB warm-up; then, if N > 0, the input and, unless input-*,
 *       the operation once); prints "hwm KIB", its own peak RSS.
 *
 * Output lines (tab-separated):
 *   rate  SIZE KIND OP MSGS_PER_CPU_S ITERS WALL_S SEALED_BYTES MEDIAN
 *         BEST_WALL_MSGS_PER_S
 *   peak  SIZE KIND OP BASE_KIB INPUT_KIB OP_KIB TOTAL_X OP_X
 * where TOTAL_X = (OP_KIB - BASE_KIB) / SIZE (input and output counted)
 * and OP_X = (OP_KIB - INPUT_KIB) / SIZE (what the operation adds on top
 * of the input it was handed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <letterlock/letterlock.h>

#define NRCPT 3
#define MAX_SIZES 16
#define MAX_ITERS 1000000L
#define MAX_ROUNDS 9
#define DOMAIN "bench.example"

enum op {
	OP_SEAL_CBC,
	OP_SEAL_GCM,
	OP_OPEN_CBC,
	OP_OPEN_GCM,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"seal-cbc",
	"seal-gcm",
	"open-cbc",
	"open-gcm",
};

static const char *const kinds[] = { "rsa", "ec" };

/* One key type's world: the sender's context and the reader's. */
struct world {
	const char *kind;
	struct ll_ctx *sender; /* identity sender; contacts r1..r3 */
	struct ll_ctx *reader; /* identity r1; trust root */
	struct ll_cert *rcpt[NRCPT]; /* the sender's contact certificates */
};

struct opts {
	const char *keys;
	size_t sizes[MAX_SIZES];
	size_t nsizes;
	int kind_on[2];
	int op_on[OP_COUNT];
	double min_time;
	int rounds;
	size_t peak_size;
	int peak;
	const char *write_msgs;
	const char *profile;
	const char *peak_child;
	const char *kind;
	const char *input;
	size_t size;
	long iters;
};

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_msg: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void check(int rc, const struct ll_error *err, const char *what)
{
	if (rc >= 0)
		return;
	die("%s: %s (%s)%s%s", what, err->message[0] ? err->message : "?",
	    ll_strerror(rc), err->detail[0] ? ": " : "", err->detail);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		die("%s: cannot size", path);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("%s: short read", path);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void write_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("%s: cannot write", path);
}

static struct ll_identity *load_identity(const char *keys, const char *kind,
					 const char *who)
{
	char kp[4096], cp[4096];
	struct ll_identity *id = NULL;
	struct ll_error err = { 0 };
	size_t kl, cl;
	char *k, *c;

	snprintf(kp, sizeof(kp), "%s/%s/%s.key", keys, kind, who);
	snprintf(cp, sizeof(cp), "%s/%s/%s.pem", keys, kind, who);
	k = read_file(kp, &kl);
	c = read_file(cp, &cl);
	check(ll_identity_parse_pem(&id, k, kl, c, cl, &err), &err, kp);
	ll_wipe_free(k, kl);
	free(c);
	return id;
}

static struct ll_cert *load_cert(const char *keys, const char *kind,
				 const char *who)
{
	char path[4096];
	struct ll_cert *c = NULL;
	struct ll_error err = { 0 };
	size_t n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s/%s.pem", keys, kind, who);
	buf = read_file(path, &n);
	check(ll_cert_parse(&c, buf, n, &err), &err, path);
	free(buf);
	return c;
}

static void world_init(struct world *w, const char *keys, const char *kind)
{
	struct ll_error err = { 0 };
	struct ll_identity *id;
	struct ll_cert *root;
	char who[8];

	memset(w, 0, sizeof(*w));
	w->kind = kind;
	check(ll_ctx_new(&w->sender, &err), &err, "ll_ctx_new");
	check(ll_ctx_new(&w->reader, &err), &err, "ll_ctx_new");
	root = load_cert(keys, kind, "root");
	check(ll_ctx_add_trust(w->sender, root, &err), &err, "trust");
	check(ll_ctx_add_trust(w->reader, root, &err), &err, "trust");
	ll_cert_free(&root);

	id = load_identity(keys, kind, "sender");
	check(ll_ctx_add_identity(w->sender, &id, &err), &err, "identity");
	id = load_identity(keys, kind, "r1");
	check(ll_ctx_add_identity(w->reader, &id, &err), &err, "identity");
	for (int i = 0; i < NRCPT; i++) {
		snprintf(who, sizeof(who), "r%d", i + 1);
		w->rcpt[i] = load_cert(keys, kind, who);
		check(ll_ctx_add_contact(w->sender, w->rcpt[i], &err), &err,
		      "contact");
	}
}

static void world_free(struct world *w)
{
	for (int i = 0; i < NRCPT; i++)
		ll_cert_free(&w->rcpt[i]);
	ll_ctx_free(&w->sender);
	ll_ctx_free(&w->reader);
}

/* GCM when every recipient advertises it, else the default (CBC). */
static void world_set_gcm(struct world *w, int gcm)
{
	for (int i = 0; i < NRCPT; i++)
		ll_cert_set_caps(w->rcpt[i],
				 gcm ? LL_CAP_AES256_GCM | LL_CAP_AES256_CBC :
				       0);
}

/*
 * A plain-text message of exactly SIZE bytes (CRLF line ends, lines of
 * at most 76 characters of pseudo-random words), deterministic.
 */
static char *make_message(size_t size, size_t *len)
{
	/* clang-format off */
	static const char *const words[] = {
		"the", "letter", "lock", "seal", "open", "mail", "message",
		"certificate", "recipient", "sender", "signature", "quarterly",
		"report", "attached", "please", "review", "before", "Friday",
		"meeting", "budget", "draft", "contract", "and", "of", "to",
		"a", "in", "is", "for", "with", "on", "we", "will",
	};
	/* clang-format on */
	char hdr[1024];
	int hl = snprintf(hdr, sizeof(hdr),
			  "From: Sender <sender@" DOMAIN ">\r\n"
			  "To: r1@" DOMAIN ", r2@" DOMAIN ", r3@" DOMAIN "\r\n"
			  "Subject: letterlock benchmark, %zu bytes\r\n"
			  "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
			  "Message-ID: <bench-%zu@" DOMAIN ">\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: text/plain; charset=us-ascii\r\n"
			  "Content-Transfer-Encoding: 7bit\r\n"
			  "\r\n",
			  size, size);
	char *m;
	size_t pos, col = 0;
	unsigned long rng = 0x2545F491UL;

	if (hl < 0 || (size_t)hl + 2 > size)
		die("message size %zu too small", size);
	m = xmalloc(size + 1);
	memcpy(m, hdr, (size_t)hl);
	pos = (size_t)hl;
	while (pos < size - 2) {
		const char *w;
		size_t wl, room = size - 2 - pos;

		rng = rng * 6364136223846793005UL + 1442695040888963407UL;
		w = words[(rng >> 33) % (sizeof(words) / sizeof(words[0]))];
		wl = strlen(w);
		if (col > 0 && col + 1 + wl > 76) {
			if (room < 2)
				break;
			memcpy(m + pos, "\r\n", 2);
			pos += 2;
			col = 0;
			continue;
		}
		if (col > 0) {
			m[pos++] = ' ';
			col++;
			room--;
		}
		if (wl > room)
			wl = room;
		memcpy(m + pos, w, wl);
		pos += wl;
		col += wl;
	}
	while (pos < size - 2)
		m[pos++] = '.';
	memcpy(m + pos, "\r\n", 2);
	pos += 2;
	m[pos] = '\0';
	*len = pos;
	return m;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/*
 * CPU time (user + system) of this process: the per-core figure, and
 * the same measure `openssl speed` divides by (it reports per CPU
 * second unless -elapsed).  Other work sharing the core does not count.
 */
static double cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int is_seal(enum op op)
{
	return op == OP_SEAL_CBC || op == OP_SEAL_GCM;
}

static int is_gcm(enum op op)
{
	return op == OP_SEAL_GCM || op == OP_OPEN_GCM;
}

static struct ll_sealed *seal_once(struct world *w, const char *msg, size_t len,
				   int gcm)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_error err = { 0 };
	struct ll_sealed *s = NULL;
	const char *cipher;

	check(ll_msg_seal(&s, w->sender, msg, len, &so, &err), &err,
	      "ll_msg_seal");
	if (ll_sealed_count(s) != 1)
		die("seal: %zu copies (expected 1)", ll_sealed_count(s));
	cipher = ll_sealed_cipher(s, 0);
	if (cipher == NULL ||
	    strcmp(cipher, gcm ? "aes-256-gcm" : "aes-256-cbc") != 0)
		die("seal: cipher %s, expected %s", cipher ? cipher : "none",
		    gcm ? "aes-256-gcm" : "aes-256-cbc");
	return s;
}

/* Open and insist that it decrypted and verified. */
static void open_checked(struct world *w, const char *sealed, size_t len,
			 int gcm, size_t plain_len)
{
	struct ll_error err = { 0 };
	struct ll_opened *o = NULL;
	const struct ll_open_status *st;
	size_t n;

	check(ll_msg_open(&o, w->reader, sealed, len, &err), &err,
	      "ll_msg_open");
	st = ll_opened_status(o);
	ll_opened_data(o, &n);
	if (!st->decrypted || st->signature != LL_SIG_VALID ||
	    st->cipher == NULL ||
	    strcmp(st->cipher, gcm ? "aes-256-gcm" : "aes-256-cbc") != 0 ||
	    n + 64 < plain_len)
		die("open: decrypted=%d signature=%s cipher=%s len=%zu (%s)",
		    st->decrypted, ll_sig_state_name(st->signature),
		    st->cipher ? st->cipher : "none", n,
		    st->nerrors ? st->errors[0] : "no error recorded");
	ll_opened_free(&o);
}

/* One round: at least MIN_TIME CPU seconds and 3 operations; msg/s
 * per CPU second. */
static double run_round(struct world *w, enum op op, const char *msg,
			size_t mlen, const char *sealed, size_t slen,
			double min_time, long *iters, double *wall_rate)
{
	struct ll_seal_options so = LL_SEAL_OPTIONS_INIT;
	struct ll_error err = { 0 };
	double t0 = cpu_s(), w0 = now_s(), t;
	long n = 0;

	do {
		int rc;

		if (is_seal(op)) {
			struct ll_sealed *x = NULL;

			rc = ll_msg_seal(&x, w->sender, msg, mlen, &so, &err);
			ll_sealed_free(&x);
		} else {
			struct ll_opened *o = NULL;

			rc = ll_msg_open(&o, w->reader, sealed, slen, &err);
			ll_opened_free(&o);
		}
		check(rc, &err, op_names[op]);
		n++;
		t = cpu_s() - t0;
	} while ((t < min_time || n < 3) && n < MAX_ITERS);
	*iters += n;
	*wall_rate = (double)n / (now_s() - w0);
	return (double)n / t;
}

/*
 * One timed case: ROUNDS rounds of at least MIN_TIME CPU seconds each;
 * the best round is the figure (what other work on a shared machine
 * still costs us, cache misses and the like, only ever slows a round
 * down), the median is printed next to it.
 */
static void run_case(struct world *w, enum op op, size_t size, double min_time,
		     int rounds)
{
	int gcm = is_gcm(op);
	size_t mlen, slen;
	char *msg = make_message(size, &mlen);
	struct ll_sealed *s;
	const char *sealed;
	double r[MAX_ROUNDS], t0 = now_s(), best = 0, wr, best_wall = 0;
	long n = 0;

	world_set_gcm(w, gcm);
	/* warm-up, and the proof that the work is real */
	s = seal_once(w, msg, mlen, gcm);
	sealed = ll_sealed_data(s, 0, &slen);
	open_checked(w, sealed, slen, gcm, mlen);

	for (int i = 0; i < rounds; i++) {
		r[i] = run_round(w, op, msg, mlen, sealed, slen, min_time, &n,
				 &wr);
		if (r[i] > best)
			best = r[i];
		if (wr > best_wall)
			best_wall = wr;
	}
	/* insertion sort for the median; ROUNDS is small */
	for (int i = 1; i < rounds; i++)
		for (int j = i; j > 0 && r[j - 1] > r[j]; j--) {
			double x = r[j];

			r[j] = r[j - 1];
			r[j - 1] = x;
		}
	printf("rate\t%zu\t%s\t%s\t%.1f\t%ld\t%.3f\t%zu\t%.1f\t%.1f\n", size,
	       w->kind, op_names[op], best, n, now_s() - t0, slen,
	       r[rounds / 2], best_wall);
	fflush(stdout);
	ll_sealed_free(&s);
	free(msg);
}

/* ---- peak memory: one fresh process per measurement ---- */

/*
 * Peak resident set of this process (VmHWM, KiB).  An exec'd child
 * starts a fresh address space, so this is its own peak.  (The
 * parent's wait4() / RUSAGE_CHILDREN ru_maxrss is no use here: Linux
 * carries the pre-exec high-water mark, i.e. this big parent's, over
 * into the child's ru_maxrss.)
 */
static long self_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		die("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = atol(line + 6);
	fclose(f);
	if (kib < 0)
		die("no VmHWM in /proc/self/status");
	return kib;
}

/* Run bench_msg ARGV in a fresh process; its peak RSS in KiB. */
static long child_hwm(char *const argv[])
{
	char buf[64] = "";
	int fd[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (pipe(fd) != 0)
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fd[0]);
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(fd[1]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fd[1]);
	while (got < sizeof(buf) - 1 &&
	       (n = read(fd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    strncmp(buf, "hwm ", 4) != 0)
		die("peak child %s %s failed (status %d)", argv[6], argv[4],
		    status);
	return atol(buf + 4);
}

static void run_peak(const struct opts *o, struct world *w, enum op op)
{
	char sizebuf[32], input[4096] = "";
	char *av[12];
	long base, in, peak;
	int gcm = is_gcm(op);

	snprintf(sizebuf, sizeof(sizebuf), "%zu", o->peak_size);
	if (!is_seal(op)) {
		/* the sealed input, made here, read by the children */
		size_t mlen, slen;
		char *msg = make_message(o->peak_size, &mlen);
		struct ll_sealed *s;
		const char *sealed;
		const char *tmp = getenv("TMPDIR");

		world_set_gcm(w, gcm);
		s = seal_once(w, msg, mlen, gcm);
		sealed = ll_sealed_data(s, 0, &slen);
		snprintf(input, sizeof(input), "%s/bench_msg.%ld.%s.p7m",
			 tmp ? tmp : "/tmp", (long)getpid(), op_names[op]);
		write_file(input, sealed, slen);
		ll_sealed_free(&s);
		free(msg);
	}
	av[0] = "bench_msg";
	av[1] = "--keys";
	av[2] = (char *)o->keys;
	av[3] = "--kind";
	av[4] = (char *)w->kind;
	av[5] = "--peak-child";
	av[6] = (char *)op_names[op];
	av[7] = "--size";
	av[8] = "0";
	av[9] = "--input";
	av[10] = input[0] ? input : "-";
	av[11] = NULL;
	/* the same set-up and warm-up, no message at all */
	base = child_hwm(av);
	/* ... with the input in memory but no operation */
	av[8] = sizebuf;
	av[6] = is_seal(op) ? "input-seal" : "input-open";
	in = child_hwm(av);
	/* ... and the operation */
	av[6] = (char *)op_names[op];
	peak = child_hwm(av);
	if (input[0])
		unlink(input);
	printf("peak\t%zu\t%s\t%s\t%ld\t%ld\t%ld\t%.2f\t%.2f\n", o->peak_size,
	       w->kind, op_names[op], base, in, peak,
	       (double)(peak - base) * 1024.0 / (double)o->peak_size,
	       (double)(peak - in) * 1024.0 / (double)o->peak_size);
	fflush(stdout);
}

static enum op op_by_name(const char *s)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(s, op_names[i]) == 0)
			return (enum op)i;
	die("unknown operation %s", s);
}

/*
 * The child: set up the world, warm up with a 4 KiB operation of the
 * same kind (so lazily initialised state is in the baseline), then,
 * with SIZE > 0, take the input and (unless input-only) do the
 * operation once.
 */
static int peak_child(const struct opts *o)
{
	struct world w;
	int input_only = strncmp(o->peak_child, "input-", 6) == 0;
	enum op op = input_only ? (strcmp(o->peak_child, "input-seal") == 0 ?
					   OP_SEAL_CBC :
					   OP_OPEN_CBC) :
				  op_by_name(o->peak_child);
	int gcm = is_gcm(op);
	size_t mlen, slen;
	char *msg;
	struct ll_sealed *s;

	world_init(&w, o->keys, o->kind);
	world_set_gcm(&w, gcm);
	msg = make_message(4096, &mlen);
	s = seal_once(&w, msg, mlen, gcm);
	if (!is_seal(op)) {
		const char *sealed = ll_sealed_data(s, 0, &slen);

		open_checked(&w, sealed, slen, gcm, mlen);
	}
	ll_sealed_free(&s);
	free(msg);
	if (o->size == 0)
		goto out;
	if (is_seal(op)) {
		msg = make_message(o->size, &mlen);
		if (!input_only) {
			s = seal_once(&w, msg, mlen, gcm);
			ll_sealed_free(&s);
		}
	} else {
		msg = read_file(o->input, &mlen);
		if (!input_only)
			open_checked(&w, msg, mlen, gcm, o->size);
	}
	free(msg);
out:
	world_free(&w);
	printf("hwm %ld\n", self_hwm_kib());
	return 0;
}

static int profile(const struct opts *o)
{
	struct world w;
	enum op op = op_by_name(o->profile);
	int gcm = is_gcm(op);
	size_t mlen, slen;
	char *msg = make_message(o->size, &mlen);
	struct ll_sealed *s;
	const char *sealed;
	double t0, t;

	world_init(&w, o->keys, o->kind);
	world_set_gcm(&w, gcm);
	s = seal_once(&w, msg, mlen, gcm);
	sealed = ll_sealed_data(s, 0, &slen);
	open_checked(&w, sealed, slen, gcm, mlen);
	t0 = now_s();
	for (long i = 0; i < o->iters; i++) {
		if (is_seal(op)) {
			struct ll_sealed *x = seal_once(&w, msg, mlen, gcm);

			ll_sealed_free(&x);
		} else {
			open_checked(&w, sealed, slen, gcm, mlen);
		}
	}
	t = now_s() - t0;
	fprintf(stderr, "profile %s %s %zu: %ld in %.3f s, %.1f msg/s\n",
		o->kind, o->profile, o->size, o->iters, t,
		(double)o->iters / t);
	ll_sealed_free(&s);
	free(msg);
	world_free(&w);
	return 0;
}

static int write_msgs(const struct opts *o)
{
	char path[4096];

	for (size_t i = 0; i < o->nsizes; i++) {
		size_t len;
		char *m = make_message(o->sizes[i], &len);

		snprintf(path, sizeof(path), "%s/msg-%zu.eml", o->write_msgs,
			 o->sizes[i]);
		write_file(path, m, len);
		free(m);
	}
	return 0;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		die("bad size %s", s);
	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (*end != '\0' || v > 64ull * 1024 * 1024)
		die("bad size %s", s);
	return (size_t)v;
}

static void parse_list(const char *arg, void (*fn)(struct opts *, const char *),
		       struct opts *o)
{
	char *copy = strdup(arg), *save = NULL;

	if (copy == NULL)
		die("out of memory");
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save))
		fn(o, t);
	free(copy);
}

static void add_size(struct opts *o, const char *s)
{
	if (o->nsizes >= MAX_SIZES)
		die("too many sizes");
	o->sizes[o->nsizes++] = parse_size(s);
}

static void add_kind(struct opts *o, const char *s)
{
	for (int i = 0; i < 2; i++)
		if (strcmp(s, kinds[i]) == 0) {
			o->kind_on[i] = 1;
			return;
		}
	die("unknown key kind %s (rsa, ec)", s);
}

static void add_op(struct opts *o, const char *s)
{
	o->op_on[op_by_name(s)] = 1;
}

static void usage(void)
{
	fputs("usage: bench_msg --keys DIR [--sizes 4k,64k,1m,10m] "
	      "[--kinds rsa,ec]\n"
	      "         [--ops seal-cbc,seal-gcm,open-cbc,open-gcm] "
	      "[--min-time S] [--rounds R]\n"
	      "         [--peak-size N] [--no-peak]\n"
	      "       bench_msg --keys DIR --write-msgs OUTDIR [--sizes ...]\n"
	      "       bench_msg --keys DIR --profile OP --kind K --size N "
	      "--iters N\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int any_kind = 0, any_op = 0;

	o.min_time = 0.5;
	o.rounds = 3;
	o.peak = 1;
	o.peak_size = 10u * 1024 * 1024;
	o.iters = 100;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-peak") == 0) {
			o.peak = 0;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--keys") == 0)
			o.keys = v;
		else if (strcmp(a, "--sizes") == 0)
			parse_list(v, add_size, &o);
		else if (strcmp(a, "--kinds") == 0)
			parse_list(v, add_kind, &o);
		else if (strcmp(a, "--ops") == 0)
			parse_list(v, add_op, &o);
		else if (strcmp(a, "--min-time") == 0)
			o.min_time = atof(v);
		else if (strcmp(a, "--rounds") == 0)
			o.rounds = atoi(v);
		else if (strcmp(a, "--peak-size") == 0)
			o.peak_size = parse_size(v);
		else if (strcmp(a, "--write-msgs") == 0)
			o.write_msgs = v;
		else if (strcmp(a, "--profile") == 0)
			o.profile = v;
		else if (strcmp(a, "--peak-child") == 0)
			o.peak_child = v;
		else if (strcmp(a, "--kind") == 0)
			o.kind = v;
		else if (strcmp(a, "--size") == 0)
			o.size = parse_size(v);
		else if (strcmp(a, "--input") == 0)
			o.input = v;
		else if (strcmp(a, "--iters") == 0)
			o.iters = atol(v);
		else
			usage();
	}
	if (o.nsizes == 0)
		parse_list("4k,64k,1m,10m", add_size, &o);
	if (o.write_msgs != NULL)
		return write_msgs(&o);
	if (o.keys == NULL)
		usage();
	if (o.peak_child != NULL || o.profile != NULL) {
		if (o.kind == NULL || (o.profile != NULL && o.size == 0))
			usage();
		if (o.iters < 1 || o.iters > MAX_ITERS)
			die("--iters must be 1..%ld", MAX_ITERS);
		return o.profile != NULL ? profile(&o) : peak_child(&o);
	}
	for (int i = 0; i < 2; i++)
		any_kind |= o.kind_on[i];
	for (int i = 0; i < OP_COUNT; i++)
		any_op |= o.op_on[i];
	if (!any_kind)
		o.kind_on[0] = o.kind_on[1] = 1;
	if (!any_op)
		for (int i = 0; i < OP_COUNT; i++)
			o.op_on[i] = 1;
	if (o.min_time <= 0 || o.min_time > 60)
		die("--min-time must be in (0, 60]");
	if (o.rounds < 1 || o.rounds > MAX_ROUNDS)
		die("--rounds must be 1..%d", MAX_ROUNDS);

	printf("# rate\tsize\tkind\top\tmsgs_per_cpu_s\titers\twall_s\t"
	       "sealed_bytes\tmedian_msgs_per_cpu_s\tmsgs_per_wall_s\n"
	       "# peak\tsize\tkind\top\tbase_kib\tinput_kib\top_kib\t"
	       "total_x\top_x\n");
	for (int k = 0; k < 2; k++) {
		struct world w;

		if (!o.kind_on[k])
			continue;
		world_init(&w, o.keys, kinds[k]);
		for (size_t i = 0; i < o.nsizes; i++)
			for (int op = 0; op < OP_COUNT; op++)
				if (o.op_on[op])
					run_case(&w, (enum op)op, o.sizes[i],
						 o.min_time, o.rounds);
		if (o.peak)
			for (int op = 0; op < OP_COUNT; op++)
				if (o.op_on[op])
					run_peak(&o, &w, (enum op)op);
		world_free(&w);
	}
	return 0;
}
