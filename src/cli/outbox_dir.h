/*
 * outbox_dir.h - within the outbox (outbox.c): its limits and helpers,
 * and the entries of the earlier format, a directory HOME/outbox/ID/ of
 * files (`meta`, `N.eml`, `N.rcpt`, `N.sent`, `error`) and markers
 * HOME/ids/KEY holding an entry's ID (outbox_dir.c).
 */
#ifndef LL_CLI_OUTBOX_DIR_H
#define LL_CLI_OUTBOX_DIR_H

#include <stddef.h>
#include <sys/types.h>

#include <letterlock/msg.h>

#include "outbox.h"

#define META_MAX 4096
#define ERROR_MAX 511
/* a sealed copy of a message of LL_MSG_MAX_SIZE: base64 twice over */
#define COPY_MAX (4 * (size_t)LL_MSG_MAX_SIZE)
#define COPIES_MAX (LL_MSG_MAX_RECIPIENTS + 1)

/* "letterlock: outbox: WHAT NAME: strerror(errno)" on stderr; -1. */
int outbox_oops(const char *what, const char *name);

/* LEN bytes at OFF of FD into BUF: 0, or -1 (errno; EIO when the file
 * ends before). */
int outbox_read_at(int fd, char *buf, size_t len, off_t off);

/* Open, lock and read the directory entry E->id of OBFD (E->fd -1):
 * as outbox_open. */
int outbox_dir_open(struct outbox_entry *e, int obfd);

/* As outbox_load, outbox_mark_sent and outbox_set_error (TEXT, LEN
 * bytes) for an entry of this format. */
int outbox_dir_load(const struct outbox_entry *e, size_t i, char **data,
		    size_t *len);
int outbox_dir_mark_sent(struct outbox_entry *e, size_t i);
int outbox_dir_set_error(struct outbox_entry *e, const char *text, size_t len);

/* Remove the directory NAME of PARENT and the files in it, `meta`
 * first (an entry without it is known to be remains); PARENT fsync'd. */
int outbox_dir_remove(int parent, const char *name);

/* Remove the markers in IDSFD (HOME/ids) that name entry ID. */
void outbox_dir_forget(int idsfd, const char *id);

#endif
