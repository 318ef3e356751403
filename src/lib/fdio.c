/* fdio.c - all of a buffer to a file descriptor: the one loop the
 * library, letterlock and letterlockd write files and pipes with. */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

int ll_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
