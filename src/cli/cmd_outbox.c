/*
 * cmd_outbox.c - letterlock outbox list|flush|drop: the sealed mail
 * `letterlock send` could not hand to the server yet.  Exit codes are
 * sendmail's (sysexits.h), as for send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "outbox.h"
#include "submit.h"

static const char outbox_usage[] =
	"usage: letterlock outbox list\n"
	"       letterlock outbox flush [-v] [--config FILE]\n"
	"       letterlock outbox drop ID...\n"
	"\n"
	"The outbox (HOME/outbox) keeps what `letterlock send` sealed until\n"
	"the submission server has taken every copy.\n"
	"  list   each queued message: when, from, its copies (sent or\n"
	"         waiting, to whom) and the last failure\n"
	"  flush  send the copies not sent yet, oldest message first; a\n"
	"         copy the server took is never sent again\n"
	"  drop   give up messages (their copies not sent are lost)\n"
	"\n"
	"Exit (sysexits.h): 0 done (flush: everything sent); 64 usage;\n"
	"66 no such message; 69 the server refused something for good;\n"
	"75 a temporary failure left something queued; 78 configuration.\n";

static size_t count_sent(const struct outbox_entry *e)
{
	size_t n = 0;

	for (size_t i = 0; i < e->ncopies; i++)
		n += e->sent[i];
	return n;
}

static void show(const struct outbox_entry *e)
{
	char when[32];
	struct tm tm;

	gmtime_r(&e->queued, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%s  queued %s  from %s  %zu of %zu copies sent\n", e->id, when,
	       e->from[0] ? e->from : "<>", count_sent(e), e->ncopies);
	for (size_t i = 0; i < e->ncopies; i++) {
		printf("  copy %zu: %-7s", i + 1,
		       e->sent[i] ? "sent" : "waiting");
		for (size_t k = 0; e->rcpts[i][k] != NULL; k++)
			printf(" %s", e->rcpts[i][k]);
		putchar('\n');
	}
	if (e->error[0] != '\0')
		printf("  last failure: %s\n", e->error);
}

static int list(struct cli *cli)
{
	char **ids = NULL;
	int rc = 0;

	if (outbox_ids(&ids, cli->home) < 0)
		return EX_IOERR;
	for (size_t i = 0; ids[i] != NULL; i++) {
		struct outbox_entry *e = NULL;
		int o = outbox_open(&e, cli->home, ids[i]);

		if (o == 1)
			printf("%s  being sent now\n", ids[i]);
		else if (o == 0)
			show(e);
		else if (o < 0)
			rc = EX_IOERR;
		outbox_close(&e);
	}
	ll_strv_free(&ids);
	return rc;
}

static int flush(struct cli *cli, const struct cli_conf *conf, int verbose)
{
	struct submit sub;
	int rc;

	rc = submit_init(&sub, cli, conf, "outbox", NULL);
	sub.verbose = verbose;
	if (rc == 0)
		rc = submit_flush(&sub);
	submit_end(&sub);
	return rc;
}

static int drop(struct cli *cli, int argc, char **argv)
{
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		struct outbox_entry *e = NULL;
		size_t left;
		int o = outbox_open(&e, cli->home, argv[i]);

		if (o == 1) {
			fprintf(stderr,
				"letterlock: outbox: %s is being sent "
				"now; not dropped\n",
				argv[i]);
			rc = submit_worse(rc, EX_TEMPFAIL);
			continue;
		}
		if (o != 0) {
			if (o == 2)
				fprintf(stderr,
					"letterlock: outbox: no message %s\n",
					argv[i]);
			rc = submit_worse(rc, EX_NOINPUT);
			continue;
		}
		left = e->ncopies - count_sent(e);
		if (outbox_remove(&e, cli->home) < 0) {
			rc = submit_worse(rc, EX_IOERR);
			continue;
		}
		printf("%s: dropped (%zu cop%s not sent)\n", argv[i], left,
		       left == 1 ? "y" : "ies");
	}
	return rc;
}

int cmd_outbox(struct cli *cli, int argc, char **argv)
{
	struct cli_conf conf;
	const char *config = NULL;
	int verbose = 0, rc;

	if (cli_wants_help(argc, argv)) {
		fputs(outbox_usage, stdout);
		return EXIT_OK;
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return list(cli);
	if (argc >= 3 && strcmp(argv[1], "drop") == 0)
		return drop(cli, argc - 2, argv + 2);
	if (argc < 2 || strcmp(argv[1], "flush") != 0) {
		fputs(outbox_usage, stderr);
		return EX_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0) {
			verbose = 1;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else {
			fputs(outbox_usage, stderr);
			return EX_USAGE;
		}
	}
	if (cli_conf_read(&conf, cli->home, config, "letterlock: outbox") < 0)
		rc = EX_CONFIG;
	else
		rc = flush(cli, &conf, verbose);
	cli_conf_free(&conf);
	return rc;
}
