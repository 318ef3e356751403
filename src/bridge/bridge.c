/*
 * bridge.c - `letterlock bridge`: the process, its listeners, its
 * child processes and the shared authentication (bridge.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bridge.h"

#define SAID_MAX 4096 /* what a child said, kept for its callback */
#define DEFAULT_MAX_SIZE (25u * 1024 * 1024)
#define DEFAULT_RETRY 60
#define DEFAULT_RENEW_INTERVAL (12 * 3600) /* renew runs, seconds apart */
#define STOP_WAIT 60 /* seconds the children get at a stop */

static const char bridge_usage[] =
	"usage: letterlock bridge [--daemon] [--config FILE]\n"
	"       letterlock bridge --show-password\n"
	"\n"
	"Run the local mail proxy: mail clients submit to 127.0.0.1:1025\n"
	"(SMTP, STARTTLS) and log in as one of the accounts of `letterlock\n"
	"account` with the bridge password; each message is sealed as by\n"
	"`letterlock send` and relayed to the account's server.  Mail\n"
	"clients read through 127.0.0.1:1143 (IMAP, STARTTLS): S/MIME\n"
	"messages are opened, with an X-Letterlock-Status header.  Stops\n"
	"on SIGTERM or SIGINT.\n"
	"\n"
	"  --daemon          run in the background (log HOME/bridge/bridge.log,\n"
	"                    pid HOME/bridge/bridge.pid)\n"
	"  --config FILE     settings (default HOME/letterlock.conf): [bridge]\n"
	"                    smtp_port, imap_port, allow_plain (yes: AUTH\n"
	"                    without STARTTLS on 127.0.0.1), retry (first\n"
	"                    retry delay, s), max_size (bytes); [send] as for\n"
	"                    `letterlock send`\n"
	"  --show-password   print the bridge password (made if missing)\n"
	"\n"
	"Exit: 0 stopped by a signal; 2 usage; 6 failure.\n";

/* The protocol modules (bridge.h); the IMAP module goes here. */
static const struct bridge_module *const modules[] = {
	&bridge_smtp_module,
	&bridge_imap_module,
};

#define NMODULES (sizeof(modules) / sizeof(modules[0]))

struct listener {
	const struct bridge_module *m;
	struct evconnlistener *l;
	void *state;
	struct bridge *b;
};

struct bridge_job {
	struct bridge *b;
	pid_t pid;
	int session; /* a client's session (bridge_spawn_fd): a stop does
			not wait for it */
	int fd;
	struct event *ev;
	char said[SAID_MAX];
	size_t nsaid;
	char line[512]; /* a line being written, logged once complete */
	size_t nline;
	void (*done)(void *cbarg, int code, const char *said);
	void *cbarg;
	struct bridge_job *next;
};

void bridge_log(const char *fmt, ...)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s letterlock bridge: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

struct bridge_account *bridge_account_find(struct bridge *b, const char *user)
{
	for (size_t i = 0; i < b->naccounts; i++)
		if (strcasecmp(b->accounts[i].address, user) == 0)
			return &b->accounts[i];
	return NULL;
}

struct bridge_account *bridge_login(struct bridge *b, const char *user,
				    const char *pass)
{
	unsigned char want[32], got[32];
	struct bridge_account *a = bridge_account_find(b, user);
	int same;

	if (EVP_Digest(b->password, strlen(b->password), want, NULL,
		       EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(pass, strlen(pass), got, NULL, EVP_sha256(), NULL) != 1)
		return NULL;
	same = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	return same ? a : NULL;
}

struct bufferevent *bridge_starttls(struct bridge *b, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct bufferevent *tls;
	SSL *ssl = SSL_new(b->tls);

	evbuffer_drain(in, evbuffer_get_length(in));
	if (ssl == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	tls = bufferevent_openssl_filter_new(
		b->base, bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL) {
		SSL_free(ssl);
		bufferevent_free(bev);
	}
	return tls;
}

/* ------------------------------------------------------------ children */

static void job_free(struct bridge_job *j)
{
	struct bridge_job **pp = &j->b->jobs;

	while (*pp != NULL && *pp != j)
		pp = &(*pp)->next;
	if (*pp == j)
		*pp = j->next;
	event_free(j->ev);
	close(j->fd);
	free(j);
}

/* The children at work a stop waits for (not the sessions'). */
static size_t njobs(const struct bridge *b)
{
	size_t n = 0;

	for (const struct bridge_job *j = b->jobs; j != NULL; j = j->next)
		n += !j->session;
	return n;
}

/* Log what a child said, line by line (a line longer than the buffer
 * in pieces). */
static void log_said(struct bridge_job *j, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			j->line[j->nline++] = p[i];
		if (p[i] == '\n' || j->nline == sizeof(j->line) - 1) {
			if (j->nline > 0)
				bridge_log("[%ld] %.*s", (long)j->pid,
					   (int)j->nline, j->line);
			j->nline = 0;
		}
	}
}

static void job_read(evutil_socket_t fd, short what, void *arg)
{
	struct bridge_job *j = arg;
	struct bridge *b;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	int st = 0, code;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		log_said(j, buf, (size_t)n);
		if ((size_t)n >= SAID_MAX) {
			memcpy(j->said, buf + n - (SAID_MAX - 1), SAID_MAX - 1);
			j->nsaid = SAID_MAX - 1;
		} else {
			if (j->nsaid + (size_t)n >= SAID_MAX) {
				size_t drop =
					j->nsaid + (size_t)n - (SAID_MAX - 1);

				memmove(j->said, j->said + drop,
					j->nsaid - drop);
				j->nsaid -= drop;
			}
			memcpy(j->said + j->nsaid, buf, (size_t)n);
			j->nsaid += (size_t)n;
		}
		return;
	}
	/* end of its output: it is exiting */
	log_said(j, "\n", 1);
	while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
		;
	code = WIFEXITED(st)   ? WEXITSTATUS(st) :
	       WIFSIGNALED(st) ? 128 + WTERMSIG(st) :
				 255;
	j->said[j->nsaid] = '\0';
	if (j->done != NULL)
		j->done(j->cbarg, code, j->said);
	b = j->b;
	job_free(j);
	if (b->stopping && njobs(b) == 0)
		event_base_loopexit(b->base, NULL);
}

int bridge_spawn(struct bridge *b, int (*run)(void *arg), void *arg,
		 void (*done)(void *cbarg, int code, const char *said),
		 void *cbarg, struct bridge_job **out)
{
	return bridge_spawn_fd(b, -1, run, arg, done, cbarg, out);
}

int bridge_spawn_fd(struct bridge *b, int keep,
		    int (*run)(void *arg), void *arg,
		    void (*done)(void *cbarg, int code, const char *said),
		    void *cbarg, struct bridge_job **out)
{
	struct bridge_job *j = calloc(1, sizeof(*j));
	int p[2];

	if (out != NULL)
		*out = NULL;
	if (j == NULL)
		return -1;
	if (pipe2(p, O_CLOEXEC) != 0) {
		free(j);
		return -1;
	}
	fflush(NULL);
	j->pid = fork();
	if (j->pid < 0) {
		close(p[0]);
		close(p[1]);
		free(j);
		return -1;
	}
	if (j->pid == 0) {
		/* the child: none of the loop's descriptors, its own
		 * signals; it returns through _exit only */
		int null = open("/dev/null", O_RDONLY);

		/* a stop lets the work in progress finish (on_signal) */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGPIPE, SIG_DFL);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 ||
		    dup2(p[1], 2) < 0 ||
		    (keep >= 0 && dup2(keep, BRIDGE_CHILD_FD) < 0))
			_exit(EXIT_FAIL);
		close_range(keep >= 0 ? BRIDGE_CHILD_FD + 1 : 3, ~0U, 0);
		setvbuf(stderr, NULL, _IOLBF, 0);
		int rc = run(arg);
		fflush(NULL);
		_exit(rc);
	}
	close(p[1]);
	j->fd = p[0];
	j->b = b;
	j->session = keep >= 0;
	j->done = done;
	j->cbarg = cbarg;
	evutil_make_socket_nonblocking(j->fd);
	j->ev = event_new(b->base, j->fd, EV_READ | EV_PERSIST, job_read, j);
	if (j->ev == NULL || event_add(j->ev, NULL) != 0) {
		/* the child runs on; nobody hears from it */
		j->done = NULL;
		event_free(j->ev);
		close(j->fd);
		free(j);
		return -1;
	}
	j->next = b->jobs;
	b->jobs = j;
	if (out != NULL)
		*out = j;
	return 0;
}

void bridge_job_forget(struct bridge_job *j)
{
	if (j != NULL)
		j->done = NULL;
}

void bridge_job_busy(struct bridge_job *j, int busy)
{
	struct bridge *b = j->b;

	j->session = !busy;
	if (!busy && b->stopping && njobs(b) == 0)
		event_base_loopexit(b->base, NULL);
}

/* ------------------------------------------------------------ the loop */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct listener *li = arg;

	if (li->b->stopping) {
		close(fd);
		return;
	}
	li->m->accept(li->b, li->state, fd);
}


/*
 * SIGTERM, SIGINT: no new connection; the children at work (they
 * ignore both signals) finish first, up to STOP_WAIT seconds, so that
 * their clients get their answers; a second signal stops at once.
 */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct bridge *b = arg;
	struct timeval wait = { STOP_WAIT, 0 };
	size_t n = njobs(b);

	if (b->stopping || n == 0) {
		bridge_log("stopping (signal %d)", (int)sig);
		b->stopping = 1;
		event_base_loopexit(b->base, NULL);
		return;
	}
	bridge_log("stopping (signal %d) once %zu piece%s of work in "
		   "progress end%s (at most %d s; a second signal stops now)",
		   (int)sig, n, n == 1 ? "" : "s", n == 1 ? "s" : "",
		   STOP_WAIT);
	b->stopping = 1;
	event_base_loopexit(b->base, &wait);
}

/* ---- renewal: `letterlock renew` now and then, in a child ---- */

static int renew_run(void *arg)
{
	struct bridge *b = arg;
	char *argv[] = { "renew", "--quiet", "--config", NULL, NULL };
	int argc = 2;

	if (b->config != NULL) {
		argv[3] = (char *)b->config;
		argc = 4;
	}
	return cmd_renew(b->cli, argc, argv);
}

static void renew_done(void *arg, int code, const char *said)
{
	struct bridge *b = arg;

	(void)said; /* logged line by line already */
	b->renewing = 0;
	b->next_renew = time(NULL) + b->renew_interval;
	if (code != EXIT_OK)
		bridge_log("renew exited %d; the next run in %d s", code,
			   b->renew_interval);
}

/* Certificates renewed before they run out while the bridge runs:
 * `letterlock renew` (what is due, with the backoff after failures it
 * keeps in the home) at start and every [bridge] renew_interval. */
static void renew_tick(struct bridge *b)
{
	if (b->renewing || b->stopping || time(NULL) < b->next_renew)
		return;
	if (bridge_spawn(b, renew_run, b, renew_done, b, NULL) < 0) {
		b->next_renew = time(NULL) + 60;
		return;
	}
	bridge_log("renew: checking what is due (every %d s)",
		   b->renew_interval);
	b->renewing = 1;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	smtp_relay_tick(arg);
	renew_tick(arg);
}

/* The port of module M: its setting, else its default; -1 bad. */
static int port_of(const struct bridge *b, const struct bridge_module *m)
{
	const char *v =
		*(char *const *)((const char *)&b->conf + m->port_setting);
	char *end;
	long p;

	if (v == NULL)
		return m->default_port;
	p = strtol(v, &end, 10);
	return *v && !*end && p > 0 && p < 65536 ? (int)p : -1;
}

static int yes(const char *v)
{
	return v != NULL && (strcasecmp(v, "yes") == 0 ||
			     strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* [bridge] settings into B: 0, or -1 (said). */
static int settings(struct bridge *b)
{
	char *end;

	b->allow_plain = yes(b->conf.bridge_allow_plain);
	b->max_size = DEFAULT_MAX_SIZE;
	if (b->conf.bridge_max_size != NULL) {
		unsigned long v = strtoul(b->conf.bridge_max_size, &end, 10);

		if (*end || v < 1024 || v > LL_MSG_MAX_SIZE) {
			bridge_log("[bridge] max_size: 1024 to %u bytes",
				   LL_MSG_MAX_SIZE);
			return -1;
		}
		b->max_size = v;
	}
	b->retry = DEFAULT_RETRY;
	if (b->conf.bridge_retry != NULL) {
		long v = strtol(b->conf.bridge_retry, &end, 10);

		if (*end || v < 1 || v > 3600) {
			bridge_log("[bridge] retry: 1 to 3600 seconds");
			return -1;
		}
		b->retry = (int)v;
	}
	b->renew_interval = DEFAULT_RENEW_INTERVAL;
	if (b->conf.bridge_renew_interval != NULL) {
		long v = strtol(b->conf.bridge_renew_interval, &end, 10);

		if (*end || v < 10 || v > 7 * 86400) {
			bridge_log("[bridge] renew_interval: 10 to 604800 "
				   "seconds");
			return -1;
		}
		b->renew_interval = (int)v;
	}
	for (size_t i = 0; i < NMODULES; i++)
		if (port_of(b, modules[i]) < 0) {
			bridge_log("[bridge] %s_port: 1 to 65535",
				   modules[i]->name);
			return -1;
		}
	return 0;
}

static int listen_all(struct bridge *b, struct listener *ls)
{
	for (size_t i = 0; i < NMODULES; i++) {
		struct sockaddr_in sin = { 0 };

		ls[i].m = modules[i];
		ls[i].b = b;
		if (modules[i]->init(b, &ls[i].state) < 0)
			return -1;
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* only */
		sin.sin_port = htons((unsigned short)port_of(b, modules[i]));
		ls[i].l = evconnlistener_new_bind(
			b->base, on_accept, &ls[i],
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
				LEV_OPT_CLOSE_ON_EXEC,
			64, (struct sockaddr *)&sin, sizeof(sin));
		if (ls[i].l == NULL) {
			bridge_log("%s: cannot listen on 127.0.0.1:%d: %s",
				   modules[i]->name, port_of(b, modules[i]),
				   strerror(errno));
			return -1;
		}
		bridge_log("%s on 127.0.0.1:%d", modules[i]->name,
			   port_of(b, modules[i]));
	}
	return 0;
}

/* --daemon: the log and the pid file in HOME/bridge, then detach. */
static int daemonize(const struct cli *cli)
{
	char path[PATH_MAX], pid[32];
	int fd;

	if (bridge_path(path, cli->home, "bridge.log") < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		bridge_log("%s: %s", path, strerror(errno));
		return -1;
	}
	if (daemon(0, 1) != 0) {
		close(fd);
		return -1;
	}
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (bridge_path(path, cli->home, "bridge.pid") < 0 ||
	    cli_write_file(path, pid, strlen(pid)) < 0)
		return -1;
	return 0;
}

static int run(struct bridge *b, int background)
{
	struct listener ls[NMODULES] = { 0 };
	struct event *sigs[2] = { 0 }, *tick = NULL;
	struct timeval second = { 1, 0 };
	char fpr[96];
	int rc = EXIT_FAIL;

	if (settings(b) < 0 || bridge_password(b->password, b->cli->home) < 0)
		return EXIT_FAIL;
	b->tls = bridge_tls_ctx(b->cli->home, fpr);
	if (b->tls == NULL)
		return EXIT_FAIL;
	if (bridge_accounts_read(&b->accounts, &b->naccounts, b->cli->home) < 0)
		return EXIT_FAIL;
	if (b->naccounts == 0)
		bridge_log("no accounts yet (letterlock account add): every "
			   "login fails");
	if (background && daemonize(b->cli) < 0)
		return EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if (b->base == NULL)
		goto out;
	if (listen_all(b, ls) < 0)
		goto out;
	sigs[0] = evsignal_new(b->base, SIGTERM, on_signal, b);
	sigs[1] = evsignal_new(b->base, SIGINT, on_signal, b);
	tick = event_new(b->base, -1, EV_PERSIST, on_tick, b);
	if (sigs[0] == NULL || sigs[1] == NULL || tick == NULL ||
	    event_add(sigs[0], NULL) || event_add(sigs[1], NULL) ||
	    event_add(tick, &second))
		goto out;
	bridge_log("ready: %zu account%s, TLS certificate SHA-256 %s",
		   b->naccounts, b->naccounts == 1 ? "" : "s", fpr);
	smtp_relay_tick(b); /* what an earlier run left queued */
	event_base_dispatch(b->base);
	rc = b->stopping ? EXIT_OK : EXIT_FAIL;
out:
	for (size_t i = 0; i < NMODULES; i++) {
		if (ls[i].l != NULL) /* NULL: its listen failed */
			evconnlistener_free(ls[i].l);
		if (ls[i].m != NULL && ls[i].state != NULL)
			ls[i].m->stop(b, ls[i].state);
	}
	/* children still working finish on their own: what they do is
	 * recorded in the outbox, which the next start looks at */
	while (b->jobs != NULL) {
		b->jobs->done = NULL;
		job_free(b->jobs);
	}
	/* libevent's free takes no NULL: those not made when a listen
	 * failed */
	for (size_t i = 0; i < 2; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (tick != NULL)
		event_free(tick);
	if (b->base != NULL)
		event_base_free(b->base);
	if (background) {
		char pid[PATH_MAX];

		if (bridge_path(pid, b->cli->home, "bridge.pid") == 0)
			unlink(pid);
	}
	if (rc == EXIT_OK)
		bridge_log("stopped");
	return rc;
}

int cmd_bridge(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "daemon", no_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'C' },
		{ "show-password", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct bridge b = { .cli = cli };
	const char *config = NULL;
	int c, background = 0, show = 0, rc;

	if (cli_wants_help(argc, argv)) {
		fputs(bridge_usage, stdout);
		return EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			background = 1;
			break;
		case 'C':
			config = optarg;
			break;
		case 'S':
			show = 1;
			break;
		default:
			fputs(bridge_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(bridge_usage, stderr);
		return EXIT_USAGE;
	}
	if (mkdir(cli->home, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "letterlock: %s: %s\n", cli->home,
			strerror(errno));
		return EXIT_FAIL;
	}
	if (show) {
		rc = bridge_password(b.password, cli->home);
		if (rc == 0)
			printf("%s\n", b.password);
		OPENSSL_cleanse(b.password, sizeof(b.password));
		return rc == 0 ? EXIT_OK : EXIT_FAIL;
	}
	b.config = config;
	if (cli_conf_read(&b.conf, cli->home, config, "letterlock: bridge") < 0)
		return EXIT_FAIL;
	rc = run(&b, background);
	SSL_CTX_free(b.tls);
	bridge_accounts_free(&b.accounts, b.naccounts);
	cli_conf_free(&b.conf);
	OPENSSL_cleanse(b.password, sizeof(b.password));
	return rc;
}
