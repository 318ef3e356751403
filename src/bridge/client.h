/*
 * client.h - a client's connection to a protocol module of the bridge
 * (client.c): what the SMTP and IMAP sessions share around their state
 * machines.  A module's session struct starts with a struct
 * bridge_client.  The module's accept makes it (bridge_client_new: the
 * bound on sessions, the bufferevent, the idle time-out), its commands
 * reply through it, STARTTLS turns it to TLS, and it is freed when the
 * client goes, or once the last reply is out after bridge_client_close.
 */
#ifndef LL_BRIDGE_CLIENT_H
#define LL_BRIDGE_CLIENT_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"

/* What a module says of its sessions.  SESSION, in the callbacks, is
 * the module's struct, which starts with its struct bridge_client. */
struct bridge_client_ops {
	size_t max; /* sessions at once */
	const char *busy; /* one more gets this line (CRLF ended), closed */
	int idle_seconds; /* no input and no output as long: idle() */
	size_t read_high; /* bytes read ahead of the module; 0 no bound */
	void (*read)(void *session); /* input came */
	void (*idle)(void *session); /* idle too long: say so, close */
	void (*free)(void *session); /* free the module's part (the
					connection goes after it) */
};

struct bridge_client;

/* The sessions of one module (its state), for the bound and the stop. */
struct bridge_clients {
	struct bridge *b;
	const struct bridge_client_ops *ops;
	struct bridge_client *head;
	size_t n;
};

struct bridge_client {
	struct bridge_clients *set;
	/* the client's stream, a TLS filter after STARTTLS; NULL once a
	 * failed STARTTLS took it */
	struct bufferevent *bev;
	int tls;
	struct event *closing; /* bridge_client_close: waits for the output */
	int close_polls;
	int shut; /* TLS close_notify sent */
	struct bridge_client *next;
};

/* A module's set of sessions, none yet (its init); NULL when memory is
 * short.  It keeps OPS (static) and B. */
struct bridge_clients *bridge_clients_new(struct bridge *b,
					  const struct bridge_client_ops *ops);
/* Every session of *PP freed at once, then the set (the module's stop);
 * *PP becomes NULL. */
void bridge_clients_free(struct bridge_clients **pp);

/*
 * A new session for the client socket FD (the module's accept): SIZE
 * bytes, zeroed but for its struct bridge_client, reading, with the
 * idle time-out.  NULL when SET holds ops->max already (the client got
 * ops->busy) or memory is short; FD is closed then.
 */
void *bridge_client_new(struct bridge_clients *set, int fd, size_t size);

/* C's session ends now: ops->free, then the connection; C is freed. */
void bridge_client_free(struct bridge_client *c);

/* One reply line to the client (the CRLF added). */
void bridge_client_reply(struct bridge_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Read nothing more; the session is freed once what was written is out
 * of every buffer (TLS: a close_notify after it), or after 5 s anyway.
 * Without it only the client's close or the idle time-out ends it.
 */
void bridge_client_close(struct bridge_client *c);

/*
 * STARTTLS, its positive reply written: C's stream turned TLS (with
 * bridge_starttls: what the client sent after the command is dropped),
 * the callbacks and time-out as before.  0; -1 when that failed: the
 * stream is gone (c->bev NULL) and the caller frees the session with
 * bridge_client_free once it no longer uses it.
 */
int bridge_client_starttls(struct bridge_client *c);

/* C timed out when idle (ON 1, as made), or never (0: a job the client
 * waits for may take long). */
void bridge_client_timeout(struct bridge_client *c, int on);

#endif
