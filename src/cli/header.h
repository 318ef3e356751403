/*
 * header.h - the header of a message given to `letterlock send`: is a
 * field there, and the message with fields dropped and added (before it
 * is sealed).  The header ends at the first empty line (CRLF or LF
 * line ends); a field's continuation lines belong to it.
 */
#ifndef LL_CLI_HEADER_H
#define LL_CLI_HEADER_H

#include <stddef.h>

/* 1 if the header of MSG (LEN bytes) has a field NAME (any case). */
int header_has(const char *msg, size_t len, const char *name);

/*
 * MSG without its fields named DROP (NULL: none) and with the N fields
 * ADD ("Name: value", no line end) at the end of its header, with the
 * line ends of its first line: *out (malloc'd, NUL-terminated, *outlen
 * bytes).  -1 when out of memory.
 */
int header_edit(char **out, size_t *outlen, const char *msg, size_t len,
		const char *drop, const char *const *add, size_t n);

#endif
