/* enrol.h - getting a certificate for a proven address: shared by
 * enrol and renew. */
#ifndef LL_CLI_ENROL_H
#define LL_CLI_ENROL_H

#include "proof.h"

/* "rsa3072" (or "rsa-3072"), "rsa2048", "p256" (or "ec-p256"); -1 for
 * anything else. */
int enrol_parse_keytype(enum ll_keytype *t, const char *s);
/* A new key of TYPE, the address proven (proof_order), the certificate
 * issued for it, stored in the home with the CA's root as trusted, and
 * what this client reads told to the key directory.  P is connected
 * (proof_connect).  An order an earlier run left between finalize and
 * install is finished instead (see cmd_enrol.c).  0 or an exit code,
 * said. */
int enrol_issue(struct proof *p, enum ll_keytype type);
/* 1 if an earlier enrol or renew for P's address stopped between
 * finalize and installing the certificate (enrol_issue finishes it). */
int enrol_pending(struct proof *p);
/* Store ID and trust the CA's root; 0 or an exit code. */
int enrol_install(struct proof *p, const struct ll_identity *id);
/* Tell the key directory what this client reads; a refusal is a
 * warning only. */
void enrol_publish_caps(struct proof *p, const struct ll_cert *cert);

#endif
