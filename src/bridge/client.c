/*
 * client.c - a client's connection to a protocol module (client.h):
 * accept within the bound, the bufferevent and its time-out, replies,
 * STARTTLS, and the close once the last reply is out.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "client.h"

#define CLOSE_POLL_MS 20
#define CLOSE_WAIT_MS 5000

struct bridge_clients *bridge_clients_new(struct bridge *b,
					  const struct bridge_client_ops *ops)
{
	struct bridge_clients *set = calloc(1, sizeof(*set));

	if (set == NULL)
		return NULL;
	set->b = b;
	set->ops = ops;
	return set;
}

void bridge_clients_free(struct bridge_clients **pp)
{
	struct bridge_clients *set = *pp;

	if (set == NULL)
		return;
	while (set->head != NULL)
		bridge_client_free(set->head);
	free(set);
	*pp = NULL;
}

void bridge_client_free(struct bridge_client *c)
{
	struct bridge_clients *set = c->set;
	struct bridge_client **pp = &set->head;

	while (*pp != NULL && *pp != c)
		pp = &(*pp)->next;
	if (*pp == c)
		*pp = c->next;
	set->n--;
	if (set->ops->free != NULL)
		set->ops->free(c);
	if (c->closing != NULL)
		event_free(c->closing);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct bridge_client *c = arg;

	c->set->ops->read(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct bridge_client *c = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		c->set->ops->idle(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bridge_client_free(c);
}

/* C's stream (new, or TLS now) read with the module's callbacks. */
static void start(struct bridge_client *c)
{
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, c->set->ops->read_high);
	bridge_client_timeout(c, 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void *bridge_client_new(struct bridge_clients *set, int fd, size_t size)
{
	struct bridge_client *c;

	if (set->n >= set->ops->max) {
		(void)!write(fd, set->ops->busy, strlen(set->ops->busy));
		close(fd);
		return NULL;
	}
	c = calloc(1, size);
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->set = set;
	c->bev =
		bufferevent_socket_new(set->b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return NULL;
	}
	c->next = set->head;
	set->head = c;
	set->n++;
	start(c);
	return c;
}

void bridge_client_reply(struct bridge_client *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/*
 * A closing session is freed once its last reply is out of its buffers,
 * a TLS stream's underlying one too (the filter's write callback comes
 * when it has passed the bytes on, not when they are sent), or after
 * CLOSE_WAIT_MS anyway.
 */
static void closing_check(evutil_socket_t fd, short what, void *arg)
{
	struct bridge_client *c = arg;
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	struct timeval again = { 0, CLOSE_POLL_MS * 1000 };
	int out = evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;

	/* TLS: the close_notify after the last reply */
	if (!out && under != NULL && !c->shut) {
		SSL_shutdown(bufferevent_openssl_get_ssl(c->bev));
		c->shut = 1;
	}
	if ((!out &&
	     (under == NULL ||
	      evbuffer_get_length(bufferevent_get_output(under)) == 0)) ||
	    ++c->close_polls * CLOSE_POLL_MS >= CLOSE_WAIT_MS) {
		bridge_client_free(c);
		return;
	}
	event_add(c->closing, &again);
}

void bridge_client_close(struct bridge_client *c)
{
	if (c->closing != NULL)
		return;
	bufferevent_disable(c->bev, EV_READ);
	c->closing = evtimer_new(c->set->b->base, closing_check, c);
	if (c->closing != NULL)
		event_active(c->closing, EV_TIMEOUT, 0);
}

int bridge_client_starttls(struct bridge_client *c)
{
	c->bev = bridge_starttls(c->set->b, c->bev);
	if (c->bev == NULL)
		return -1;
	c->tls = 1;
	start(c);
	return 0;
}

void bridge_client_timeout(struct bridge_client *c, int on)
{
	struct timeval idle = { c->set->ops->idle_seconds, 0 };

	if (on)
		bufferevent_set_timeouts(c->bev, &idle, &idle);
	else
		bufferevent_set_timeouts(c->bev, NULL, NULL);
}
