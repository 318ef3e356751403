/*
 * keyholder.c - the process holding letterlockd's signing keys
 * (keyholder.h): its start, its loop over the front's requests, its
 * end; and the front's side of its socket.  The frames are described
 * in kh_internal.h.
 *
 * The keyholder exits on the first frame out of shape (STYLE.md 7).
 * The front treats a reply out of shape, or none within KH_TIMEOUT_MS,
 * as the keyholder gone: it kills it, and every later call fails with
 * LL_EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#if defined(__SANITIZE_ADDRESS__)
#define KH_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KH_LSAN 1
#endif
#endif
#ifdef KH_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "kh_internal.h"

#define KH_TIMEOUT_MS (120 * 1000) /* a call, CRLs of 10^5 entries too */
#define KH_STOP_GRACE_MS 10000
#define KH_FD 3 /* the socket in the keyholder */
/* the front's verdict on a call: the reply is out of shape, or none came */
#define KH_BROKEN 2

struct lld_kh {
	pthread_mutex_t mu;
	int fd; /* -1 once the keyholder is gone */
	pid_t pid; /* 0 once reaped */
};

/* ===================================================== the keyholder */

static const struct kh_op {
	unsigned type;
	enum lld_kh_role role; /* which keyholder serves it */
	size_t max; /* payload octets */
	int (*run)(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
		   struct ll_error *err);
} kh_ops[] = {
	{ KH_ISSUE, LLD_KH_CA, KH_ISSUE_REQ_MAX, kh_op_issue },
	{ KH_CRL, LLD_KH_CA, KH_CRL_REQ_MAX, kh_op_crl },
	{ KH_OCSP, LLD_KH_CA, KH_OCSP_REQ_MAX, kh_op_ocsp },
	{ KH_MAIL, LLD_KH_CA, KH_MAIL_REQ_MAX, kh_op_mail },
	{ KH_TSA, LLD_KH_TSA, KH_TSA_REQ_MAX, kh_op_tsa },
};

static const struct kh_op *kh_op_find(unsigned type, enum lld_kh_role role)
{
	for (size_t i = 0; i < sizeof(kh_ops) / sizeof(kh_ops[0]); i++)
		if (kh_ops[i].type == type && kh_ops[i].role == role)
			return &kh_ops[i];
	return NULL;
}

static void say_malformed(const struct kh_hdr *h)
{
	fprintf(stderr,
		LLD_PROG " keyholder: a request out of shape (type %u, %zu "
			 "octets): exiting\n",
		h->type, h->len);
}

/* Serve the front until it closes the socket (0) or a frame is out of
 * shape (-1). */
static int serve(struct keyholder *k)
{
	struct kh_wbuf w = { 0 };
	int rc;

	for (;;) {
		struct ll_error err = { 0 };
		const struct kh_op *op;
		unsigned char *payload = NULL;
		struct kh_rbuf r = { 0 };
		struct kh_hdr h = { 0 };

		rc = kh_recv_hdr(k->fd, &h, -1);
		if (rc == 1) { /* the front closed its end */
			rc = 0;
			break;
		}
		if (rc == -2)
			fprintf(stderr, LLD_PROG " keyholder: a frame header "
						 "out of shape: exiting\n");
		if (rc < 0) {
			rc = -1;
			break;
		}
		op = kh_op_find(h.type, k->role);
		if (op == NULL || h.len > op->max ||
		    kh_recv_payload(k->fd, &h, &payload, -1) < 0) {
			say_malformed(&h);
			rc = -1;
			break;
		}
		r.p = payload;
		r.len = h.len;
		ERR_clear_error();
		kh_w_begin(&w, op->type | KH_REPLY);
		rc = op->run(k, &r, &w, &err);
		free(payload);
		if (rc == KH_MALFORMED) {
			say_malformed(&h);
			rc = -1;
			break;
		}
		if (rc < 0)
			kh_w_error(&w, rc, &err);
		if (kh_w_end(&w) < 0) {
			struct ll_error oom = { 0 };

			kh_w_error(&w, LL_ENOMEM, &oom);
			if (kh_w_end(&w) < 0) {
				rc = -1;
				break;
			}
		}
		if (kh_send_all(k->fd, w.p, w.len, -1) < 0) {
			rc = -1;
			break;
		}
	}
	kh_w_free(&w);
	return rc;
}

/* Default dispositions and no blocked signals (the front's handlers
 * and masks are not ours), but the front alone handles SIGINT and
 * SIGHUP, and a closed socket is an error, not a signal. */
static void kh_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL); /* reserved ones refuse */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The socket onto KH_FD, every descriptor above it closed, standard
 * input from /dev/null (the front's may be a network socket); standard
 * output and error stay, for the log. */
static int kh_fds(int fd)
{
	int null;

	if (fd != KH_FD) {
		if (dup2(fd, KH_FD) < 0)
			return -1;
		close(fd);
	}
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || (null != STDIN_FILENO &&
			 (dup2(null, STDIN_FILENO) < 0 || close(null) < 0)))
		return -1;
	if (close_range(KH_FD + 1, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (long i = KH_FD + 1; i < (max > 0 ? max : 1024); i++)
			close((int)i);
	}
	return KH_FD;
}

static void kh_send_error(int fd, int code, const struct ll_error *err)
{
	struct kh_wbuf w = { 0 };

	kh_w_error(&w, code, err);
	if (kh_w_end(&w) == 0)
		kh_send_all(fd, w.p, w.len, -1);
	kh_w_free(&w);
}

static void kh_main(int fd, pid_t front, const char *dir,
		    const struct lld_conf *conf, enum lld_kh_role role)
	__attribute__((noreturn));
static void kh_main(int fd, pid_t front, const char *dir,
		    const struct lld_conf *conf, enum lld_kh_role role)
{
	struct keyholder k = { 0 };
	struct ll_error err = { 0 };
	struct kh_wbuf w = { 0 };
	int rc, status = 1;

	/* die with the front (strictly: with the thread that forked, so
	 * `run` forks from its main thread); it may be gone already */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != front)
		_exit(1);
	kh_signals();
	fd = kh_fds(fd);
	if (fd < 0)
		_exit(1);
	umask(077); /* the journal */
	k.fd = fd;
	k.role = role;
	k.conf = conf;
	rc = kh_load(&k, dir, &err);
	if (rc < 0) {
		kh_send_error(fd, rc, &err);
		goto out;
	}
	kh_w_begin(&w, KH_READY | KH_REPLY);
	if (kh_w_end(&w) < 0 || kh_send_all(fd, w.p, w.len, -1) < 0)
		goto out;
	status = serve(&k) < 0 ? 1 : 0;
out:
	kh_w_free(&w);
	kh_unload(&k);
	close(fd);
#ifdef KH_LSAN
	__lsan_do_leak_check(); /* what _exit would skip */
#endif
	/* not exit(): the front's atexit handlers are not ours to run */
	_exit(status);
}

/* ========================================================= the front */

/* The keyholder is gone or broken: make sure it is gone and reaped. */
static void kh_kill(struct lld_kh *kh)
{
	if (kh->fd >= 0) {
		close(kh->fd);
		kh->fd = -1;
	}
	if (kh->pid > 0) {
		kill(kh->pid, SIGKILL);
		while (waitpid(kh->pid, NULL, 0) < 0 && errno == EINTR)
			;
		kh->pid = 0;
	}
}

static int kh_gone(struct ll_error *err)
{
	return kh_err(err, LL_EIO, "the keyholder is gone");
}

/* Read a reply of type WANT (KH_REPLY is added) within DEADLINE into
 * *out (malloc'd, *len octets): 0; the keyholder's error: its code;
 * no reply in time, or one out of shape: KH_BROKEN (the caller kills
 * the keyholder). */
static int kh_recv(int fd, unsigned want, size_t max, unsigned char **out,
		   size_t *len, int64_t deadline, struct ll_error *err)
{
	unsigned char *p = NULL;
	struct kh_rbuf r = { 0 };
	struct kh_hdr h;
	char msg[LL_ERROR_MSG_MAX], detail[LL_ERROR_DETAIL_MAX];
	int32_t code;

	if (kh_recv_hdr(fd, &h, deadline) != 0)
		return KH_BROKEN;
	if (h.type != (want | KH_REPLY) && h.type != KH_ERROR)
		return KH_BROKEN;
	if (h.len > (h.type == KH_ERROR ? KH_ERROR_MAX : max) ||
	    kh_recv_payload(fd, &h, &p, deadline) < 0)
		return KH_BROKEN;
	if (h.type != KH_ERROR) {
		*out = p;
		*len = h.len;
		return 0;
	}
	r.p = p;
	r.len = h.len;
	code = kh_r_i32(&r);
	kh_r_text(&r, msg, sizeof(msg), 0, kh_c_any);
	kh_r_text(&r, detail, sizeof(detail), 0, kh_c_any);
	free(p);
	if (!kh_r_done(&r) || code >= 0)
		return KH_BROKEN;
	kh_printable(msg);
	kh_printable(detail);
	kh_err(err, code, "%s", msg);
	if (err != NULL)
		snprintf(err->detail, sizeof(err->detail), "%s", detail);
	return code;
}

/*
 * One call: send the frame in W (NULL: only read, the READY at start)
 * and read the reply of type WANT, at most MAX octets, into *out.
 * Serialised by the mutex.  LL_EIO, the keyholder killed, when it is
 * gone, silent for KH_TIMEOUT_MS, or out of shape.
 */
static int kh_call(struct lld_kh *kh, struct kh_wbuf *w, unsigned want,
		   size_t max, unsigned char **out, size_t *len,
		   struct ll_error *err)
{
	int64_t deadline = kh_mono_ms() + KH_TIMEOUT_MS;
	int rc;

	*out = NULL;
	*len = 0;
	if (w != NULL && kh_w_end(w) < 0) {
		kh_w_free(w);
		return kh_err(err, LL_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&kh->mu);
	if (kh->fd < 0) {
		rc = kh_gone(err);
		goto out;
	}
	if (w != NULL && kh_send_all(kh->fd, w->p, w->len, deadline) < 0) {
		kh_kill(kh);
		rc = kh_gone(err);
		goto out;
	}
	rc = kh_recv(kh->fd, want, max, out, len, deadline, err);
	if (rc == KH_BROKEN) {
		kh_kill(kh);
		rc = kh_gone(err);
	}
out:
	pthread_mutex_unlock(&kh->mu);
	if (w != NULL)
		kh_w_free(w);
	return rc;
}

/* A reply that parsed out of shape: the keyholder is broken. */
static int kh_bad_reply(struct lld_kh *kh, struct ll_error *err)
{
	pthread_mutex_lock(&kh->mu);
	kh_kill(kh);
	pthread_mutex_unlock(&kh->mu);
	return kh_gone(err);
}

/* Wait for the keyholder to exit, GRACE_MS at most, then kill it. */
static void kh_reap(pid_t pid, int grace_ms)
{
	int64_t end = kh_mono_ms() + grace_ms;

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (r == 0 && kh_mono_ms() >= end)
			break;
		if (r == 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void lld_kh_stop(struct lld_kh **pp)
{
	struct lld_kh *kh;

	if (pp == NULL || *pp == NULL)
		return;
	kh = *pp;
	*pp = NULL;
	pthread_mutex_lock(&kh->mu); /* a call in flight ends first */
	if (kh->fd >= 0)
		close(kh->fd); /* the keyholder reads the end and exits */
	kh->fd = -1;
	pthread_mutex_unlock(&kh->mu);
	if (kh->pid > 0)
		kh_reap(kh->pid, KH_STOP_GRACE_MS);
	pthread_mutex_destroy(&kh->mu);
	free(kh);
}

int lld_kh_start(struct lld_kh **out, const char *dir,
		 const struct lld_conf *conf, enum lld_kh_role role,
		 struct ll_error *err)
{
	struct lld_kh *kh = NULL;
	unsigned char *p = NULL;
	size_t n = 0;
	int sv[2] = { -1, -1 };
	pid_t front = getpid(), pid;
	int rc;

	if (dir == NULL || conf == NULL)
		return kh_err(err, LL_EINVAL, "lld_kh_start: no directory");
	kh = calloc(1, sizeof(*kh));
	if (kh == NULL)
		return kh_err(err, LL_ENOMEM, "out of memory");
	kh->fd = -1;
	if (pthread_mutex_init(&kh->mu, NULL) != 0) {
		free(kh);
		return kh_err(err, LL_ENOMEM, "pthread_mutex_init");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = kh_err(err, LL_EIO, "socketpair: %s", strerror(errno));
		goto out;
	}
	fflush(NULL); /* what stdio holds is the front's to write */
	pid = fork();
	if (pid < 0) {
		rc = kh_err(err, LL_EIO, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* the front's handle is no use here, and kh_main never
		 * returns to free it (LeakSanitizer would say so) */
		pthread_mutex_destroy(&kh->mu);
		free(kh);
		close(sv[0]);
		kh_main(sv[1], front, dir, conf, role);
	}
	kh->pid = pid;
	kh->fd = sv[0];
	sv[0] = -1;
	close(sv[1]);
	sv[1] = -1;
	rc = kh_call(kh, NULL, KH_READY, 0, &p, &n, err);
	if (rc < 0)
		goto out;
	*out = kh;
	kh = NULL;
out:
	free(p);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	lld_kh_stop(&kh);
	return rc;
}

/* The ISSUE frame into W, its fields checked as the keyholder will. */
static int issue_frame(struct kh_wbuf *w, int64_t order, const char *email,
		       const unsigned char *spki, size_t spkilen,
		       unsigned usage, int days, struct ll_error *err)
{
	if (order < 1)
		return kh_err(err, LL_EINVAL, "order id %" PRId64, order);
	if (!kh_mailbox_ok(email))
		return kh_err(err, LL_EINVAL,
			      "not a mailbox address the keyholder takes");
	if (spki == NULL || spkilen == 0 || spkilen > LL_CA_SPKI_MAX)
		return kh_err(err, LL_ETOOBIG,
			      "a SubjectPublicKeyInfo is 1 to %d octets",
			      LL_CA_SPKI_MAX);
	if ((usage & ~(unsigned)LL_CA_USAGE_BOTH) != 0)
		return kh_err(err, LL_EINVAL, "unknown key usage 0x%x", usage);
	if (days < 0 || days > LL_CA_MAX_DAYS)
		return kh_err(err, LL_EPOLICY,
			      "validity of %d days: 1 to %d allowed", days,
			      LL_CA_MAX_DAYS);
	kh_w_begin(w, KH_ISSUE);
	kh_w_i64(w, order);
	kh_w_str(w, email);
	kh_w_bytes(w, spki, spkilen);
	kh_w_u32(w, (uint32_t)usage);
	kh_w_i32(w, days);
	return 0;
}

/* Read the answer to an ISSUE frame sent before. */
static int issue_answer(struct lld_kh *kh, unsigned char **der, size_t *derlen,
			char serial[LLD_SERIAL_MAX + 1], struct ll_error *err)
{
	struct kh_rbuf r = { 0 };
	char s[LLD_SERIAL_MAX + 1];
	unsigned char *rep = NULL, *copy;
	const unsigned char *d;
	size_t replen = 0, n = 0;
	int rc;

	rc = kh_call(kh, NULL, KH_ISSUE,
		     F_STR(LLD_SERIAL_MAX) + F_STR(KH_CERT_MAX), &rep, &replen,
		     err);
	if (rc < 0)
		return rc;
	r.p = rep;
	r.len = replen;
	kh_r_text(&r, s, sizeof(s), 1, kh_c_hex);
	d = kh_r_bytes(&r, KH_CERT_MAX, &n);
	if (!kh_r_done(&r) || n == 0) {
		rc = kh_bad_reply(kh, err);
		goto out;
	}
	copy = malloc(n);
	if (copy == NULL) {
		rc = kh_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, d, n);
	*der = copy;
	*derlen = n;
	memcpy(serial, s, strlen(s) + 1);
out:
	free(rep);
	return rc;
}

/* Send the frame begun in W (RC: 0, or how building it failed) and
 * do not wait for the answer; W is freed. */
static int kh_send_only(struct lld_kh *kh, struct kh_wbuf *w, int rc,
			struct ll_error *err)
{
	if (rc == 0 && kh_w_end(w) < 0)
		rc = kh_err(err, LL_ENOMEM, "out of memory");
	if (rc == 0) {
		pthread_mutex_lock(&kh->mu);
		if (kh->fd < 0) {
			rc = kh_gone(err);
		} else if (kh_send_all(kh->fd, w->p, w->len,
				       kh_mono_ms() + KH_TIMEOUT_MS) < 0) {
			kh_kill(kh);
			rc = kh_gone(err);
		}
		pthread_mutex_unlock(&kh->mu);
	}
	kh_w_free(w);
	return rc;
}

int lld_kh_issue_send(struct lld_kh *kh, int64_t order, const char *email,
		      const unsigned char *spki, size_t spkilen, unsigned usage,
		      int days, struct ll_error *err)
{
	struct kh_wbuf w = { 0 };
	int rc = issue_frame(&w, order, email, spki, spkilen, usage, days, err);

	return kh_send_only(kh, &w, rc, err);
}

int lld_kh_issue_recv(struct lld_kh *kh, unsigned char **der, size_t *derlen,
		      char serial[LLD_SERIAL_MAX + 1], struct ll_error *err)
{
	return issue_answer(kh, der, derlen, serial, err);
}

int lld_kh_fd(const struct lld_kh *kh)
{
	return kh->fd;
}

int lld_kh_issue(struct lld_kh *kh, int64_t order, const char *email,
		 const unsigned char *spki, size_t spkilen, unsigned usage,
		 int days, unsigned char **der, size_t *derlen,
		 char serial[LLD_SERIAL_MAX + 1], struct ll_error *err)
{
	int rc;

	/* one caller at a time from send to answer: the mutex is taken
	 * around each half, so other threads must not share this handle
	 * with a pipelined user (cmd_run.c gives the pipeline its own) */
	rc = lld_kh_issue_send(kh, order, email, spki, spkilen, usage, days,
			       err);
	if (rc == 0)
		rc = issue_answer(kh, der, derlen, serial, err);
	return rc;
}

/* One call (kh_call; W NULL: only the answer to a frame sent before)
 * whose reply is one field, a DER or text of at most MAX octets: into
 * *out (malloc'd, NUL-terminated). */
static int kh_call_one(struct lld_kh *kh, struct kh_wbuf *w, unsigned want,
		       size_t max, unsigned char **out, size_t *len,
		       struct ll_error *err)
{
	unsigned char *rep = NULL, *copy;
	size_t replen = 0;
	struct kh_rbuf r = { 0 };
	const unsigned char *d;
	int rc;

	rc = kh_call(kh, w, want, F_STR(max), &rep, &replen, err);
	if (rc < 0)
		return rc;
	r.p = rep;
	r.len = replen;
	d = kh_r_bytes(&r, max, len);
	if (!kh_r_done(&r) || *len == 0) {
		rc = kh_bad_reply(kh, err);
		goto out;
	}
	copy = malloc(*len + 1);
	if (copy == NULL) {
		rc = kh_err(err, LL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, d, *len);
	copy[*len] = '\0';
	*out = copy;
out:
	free(rep);
	return rc;
}

int lld_kh_crl(struct lld_kh *kh, const struct lld_revoked *list, size_t n,
	       time_t now, unsigned char **der, size_t *derlen,
	       struct ll_error *err)
{
	struct kh_wbuf w = { 0 };

	if (n > 0 && list == NULL)
		return kh_err(err, LL_EINVAL, "no list of %zu entries", n);
	if (n > LLD_KH_CRL_MAX)
		return kh_err(err, LL_ETOOBIG, "a CRL lists at most %d",
			      LLD_KH_CRL_MAX);
	if (!kh_time_ok(now))
		return kh_err(err, LL_EINVAL, "CRL time out of range");
	for (size_t i = 0; i < n; i++)
		if (!kh_text_ok(list[i].serial, 1, LLD_SERIAL_MAX, kh_c_hex) ||
		    !kh_time_ok(list[i].when) || !kh_reason_ok(list[i].reason))
			return kh_err(err, LL_EINVAL,
				      "CRL entry %zu: serial, time or "
				      "reason out of range",
				      i);
	kh_w_begin(&w, KH_CRL);
	kh_w_i64(&w, now);
	kh_w_u32(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		kh_w_str(&w, list[i].serial);
		kh_w_i64(&w, list[i].when);
		kh_w_i32(&w, list[i].reason);
	}
	return kh_call_one(kh, &w, KH_CRL, KH_CRL_DER_MAX, der, derlen, err);
}

int lld_kh_ocsp(struct lld_kh *kh, const struct lld_ocsp_item *item,
		const unsigned char *nonce, size_t noncelen, time_t now,
		unsigned char **der, size_t *derlen, struct ll_error *err)
{
	struct kh_wbuf w = { 0 };
	int revoked;

	if (item == NULL || (item->sha256 != 0 && item->sha256 != 1) ||
	    !kh_text_ok(item->serial, 1, LLD_SERIAL_MAX, kh_c_hex) ||
	    (unsigned)item->status > LLD_OCSP_UNKNOWN || !kh_time_ok(now))
		return kh_err(err, LL_EINVAL,
			      "OCSP item: hash, serial, status or time out "
			      "of range");
	revoked = item->status == LLD_OCSP_REVOKED;
	if (revoked &&
	    (!kh_time_ok(item->revoked) || !kh_reason_ok(item->reason)))
		return kh_err(err, LL_EINVAL,
			      "OCSP item: revocation time or reason out of "
			      "range");
	if (noncelen > LLD_OCSP_NONCE_MAX || (noncelen > 0 && nonce == NULL))
		return kh_err(err, LL_EINVAL, "an OCSP nonce is 1 to %d octets",
			      LLD_OCSP_NONCE_MAX);
	kh_w_begin(&w, KH_OCSP);
	kh_w_u8(&w, (unsigned)item->sha256);
	kh_w_str(&w, item->serial);
	kh_w_u8(&w, (unsigned)item->status);
	kh_w_i64(&w, revoked ? (int64_t)item->revoked : 0);
	kh_w_i32(&w, revoked ? item->reason : -1);
	kh_w_bytes(&w, nonce, noncelen);
	kh_w_i64(&w, now);
	return kh_call_one(kh, &w, KH_OCSP, KH_OCSP_MAX, der, derlen, err);
}

int lld_kh_challenge_mail(struct lld_kh *kh, const char *to, const char *token1,
			  const char *msgid, time_t now, char **msg,
			  size_t *len, struct ll_error *err)
{
	struct kh_wbuf w = { 0 };
	unsigned char *text = NULL;
	int rc;

	if (!kh_mailbox_ok(to) ||
	    !kh_text_ok(token1, 1, LLD_TOKEN_MAX, kh_c_token) ||
	    !kh_msgid_ok(msgid) || !kh_time_ok(now))
		return kh_err(err, LL_EINVAL,
			      "challenge mail: address, token, Message-ID "
			      "or time out of shape");
	kh_w_begin(&w, KH_MAIL);
	kh_w_str(&w, to);
	kh_w_str(&w, token1);
	kh_w_str(&w, msgid);
	kh_w_i64(&w, now);
	rc = kh_call_one(kh, &w, KH_MAIL, KH_MAIL_MAX, &text, len, err);
	if (rc == 0)
		*msg = (char *)text;
	return rc;
}

int lld_kh_tsa_send(struct lld_kh *kh, const struct lld_tsa_req *req,
		    struct ll_error *err)
{
	struct kh_wbuf w = { 0 };
	int rc = 0;

	/* the keyholder's checks, made here first */
	if (lld_tsa_hash_len(req->hash) == 0 ||
	    req->imprint_len != lld_tsa_hash_len(req->hash) ||
	    (req->nonce_len && !lld_tsa_nonce_ok(req->nonce, req->nonce_len)))
		rc = kh_err(err, LL_EINVAL,
			    "a time-stamp request out of range");
	kh_w_begin(&w, KH_TSA);
	kh_w_u8(&w, (unsigned)req->hash);
	kh_w_u8(&w, req->null_params ? 1 : 0);
	kh_w_bytes(&w, req->imprint, req->imprint_len);
	kh_w_bytes(&w, req->nonce, req->nonce_len);
	kh_w_u8(&w, req->cert_req ? 1 : 0);
	return kh_send_only(kh, &w, rc, err);
}

int lld_kh_tsa_recv(struct lld_kh *kh, unsigned char **der, size_t *len,
		    struct ll_error *err)
{
	return kh_call_one(kh, NULL, KH_TSA, LLD_TSA_REPLY_MAX, der, len, err);
}
