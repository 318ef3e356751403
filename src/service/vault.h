/*
 * vault.h - the key vault of letterlockd (vault_http.c; the interface
 * seen from outside is doc/vault-api.md): client-encrypted backups by
 * address, read and replaced by an ACME account that proved control of
 * the address recently.  The service never sees a key or a recovery
 * code.
 */
#ifndef LLD_VAULT_H
#define LLD_VAULT_H

#define LLD_VAULT_PREFIX "/vault/"

/*
 * The largest backup taken, in octets: letterlock's own limit
 * (LL_BACKUP_MAX).  It travels base64url inside the JSON payload of a
 * JWS, itself base64url: LLD_VAULT_BODY_MAX (front.h) is the request
 * that carries it, with room for the rest.
 */
#define LLD_VAULT_BLOB_MAX (1024 * 1024)

/* [vault] of letterlockd.conf(5) when not given */
#define LLD_VAULT_FRESH_DEFAULT 3600 /* seconds a mailbox proof counts */
#define LLD_VAULT_KEEP_DEFAULT 2 /* versions kept before the current */
#define LLD_VAULT_WINDOW_DEFAULT 3600 /* seconds reads are counted over */
#define LLD_VAULT_READS_ADDRESS_DEFAULT 10 /* reads of one address */
#define LLD_VAULT_READS_ACCOUNT_DEFAULT 20 /* reads by one account */

#endif
