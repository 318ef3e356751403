/*
 * backup.h - the encrypted backup of the home, as `letterlock backup`,
 * `letterlock restore` and the commands that change keys use it: to
 * the CA's vault, or to a folder of its own in the user's mailbox.
 */
#ifndef LL_CLI_BACKUP_H
#define LL_CLI_BACKUP_H

#include "proof.h"

/* The mailbox folder of the backup messages, and their Subject. */
#define BACKUP_FOLDER "Letterlock-Backup"
#define BACKUP_SUBJECT "letterlock backup"

/*
 * After a key change (renewal): when a backup was made from this home,
 * seal everything again under the key kept in the home (no recovery
 * code is asked for) and put it where the first backup went: the vault
 * (P's account must hold a fresh mailbox proof for the address: call
 * it after proof_order) or the mailbox.  P is connected
 * (proof_connect).  0 also when no backup was made; else an exit code,
 * said.
 */
int backup_refresh(struct proof *p);

#endif
