#!/bin/bash
# test_backup.sh - letterlock backup and restore end to end against
# letterlockd's key vault and the mail stack (scripts/mailstack):
#
#   * alice enrols, a message is sealed to her, `letterlock backup` puts
#     her keys in the vault (the recovery code to a file, mode 0600);
#   * a new, empty home restores them with the code and the old message
#     opens there, with the account key too;
#   * a new key is backed up again without the code (backup --refresh,
#     what a renewal does), and the first code opens both keys;
#   * a code with a typo is caught before the slow derivation; a wrong
#     code and a vault blob altered in the store both fail clearly
#     (exit 4), and nothing is installed;
#   * the vault refuses an account without a mailbox proof of the
#     address, one with a proof of another address, one whose proof is
#     older than [vault] fresh; it counts reads per address and per
#     account (429 with Retry-After);
#   * the mailbox variant: backup into the folder Letterlock-Backup of
#     alice's own mailbox (IMAP APPEND), restore from there.
#
# The recovery code's KDF runs at a low cost here through
# LETTERLOCK_TEST_BACKUP_KDF (letterlock(1)), never the default.
#
# Output: TAP.  Needs root and the packages of scripts/setup; skips
# otherwise.  LETTERLOCKD, KEEP_TMP as in test_acme.sh.
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

lldtest_init backup "backup and restore end to end"
unset MAILSTACK_PASSWORD

LETTERLOCK=${1:-${LETTERLOCK:-}}
[ -n "$LETTERLOCK" ] || LETTERLOCK=$(dirname "$LETTERLOCKD")/../cli/letterlock
LETTERLOCK=$(abs "$LETTERLOCK")
ALICE=alice@example.test
AHOME=$T/alice-home
BHOME=$T/new-device
CHOME=$T/third-device
export LETTERLOCK_TEST_BACKUP_KDF=10,8,1

lldtest_stack "mail stack up"
t_init() {
	lld_init || return 1
	printf '%s\n' "[vault]" "reads_per_address = 14" \
		"reads_per_account = 8" >>"$CA/letterlockd.conf"
}
t "letterlockd init, [vault] with small read limits" t_init
t "letterlockd run" lld_start
[ -n "$LLD_PID" ] || fatal "letterlockd run did not start"

t_directory() {
	curl -sS --max-time 10 "$URL/acme/directory" | tee "$T/dir.json" |
		grep -q "\"letterlockVault\": *\"$URL/vault/\""
}
t "the directory's meta names the vault" t_directory

# ll HOME ARGS...: letterlock in HOME with the stack's URLs (for the
# commands that prove the mailbox); output in $T/out
ll() {
	local h=$1 cmd=$2
	shift 2
	timeout 150 "$LETTERLOCK" --home "$h" "$cmd" \
		--acme "$URL/acme/directory" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--mail-password-file "$T/alice.password" --timeout 60 \
		"$@" >"$T/out" 2>&1
	local rc=$?
	cat "$T/out"
	return "$rc"
}

t_enrol() {
	pw "$ALICE" >"$T/alice.password" && chmod 600 "$T/alice.password"
	ll "$AHOME" enrol "$ALICE" --key-type p256 &&
		grep -q 'enrol: installed' "$T/out"
}
t "alice enrols" t_enrol

t_seal() {
	printf 'From: %s\r\nTo: %s\r\nSubject: old mail\r\n\r\nthe old secret\r\n' \
		"$ALICE" "$ALICE" >"$T/m.eml"
	"$LETTERLOCK" --home "$AHOME" seal --encrypt-only -o "$T/m.sealed" \
		"$T/m.eml" && ! grep -q 'the old secret' "$T/m.sealed"
}
t "a message is sealed to alice" t_seal

t_backup() {
	ll "$AHOME" backup --code-file "$T/code" || return 1
	grep -q 'stored in the vault as version 1' "$T/out" &&
		[ "$(stat -c %a "$T/code")" = 600 ] &&
		grep -Eqx '([0-9A-Z]{5}-){5}[0-9A-Z]{5}' "$T/code" &&
		! grep -q "$(cat "$T/code")" "$T/out" &&
		[ "$(sql "$CA/letterlockd.db" "SELECT count(*) FROM vault")" = 1 ] &&
		[ "$(sql "$CA/letterlockd.db" \
			"SELECT hex(substr(blob, 1, 4)) FROM vault")" = 4C4C4231 ]
}
t "backup to the vault: version 1, the code in a 0600 file only, the store holds an LLB1 blob" t_backup

# the backup key kept in HOME, as stored (hex), or nothing
kept_key() {
	sqlite3 "$1/letterlock.db" \
		"SELECT hex(blob) FROM secrets WHERE name = 'backup-key'"
}

t_code_lost() {
	local rc key
	key=$(kept_key "$AHOME")
	[ -n "$key" ] || return 1
	timeout 150 "$LETTERLOCK" --home "$AHOME" backup \
		--acme "$URL/acme/directory" \
		--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--mail-password-file "$T/alice.password" --timeout 60 \
		>/dev/full 2>"$T/out"
	rc=$?
	cat "$T/out"
	[ "$rc" -eq 6 ] && grep -q 'could not be shown' "$T/out" || return 1
	ll "$AHOME" backup --code-file "$T/no-such-dir/code"
	rc=$?
	[ "$rc" -eq 6 ] && grep -q 'cannot create it' "$T/out" &&
		[ "$(sql "$CA/letterlockd.db" "SELECT count(*) FROM vault")" = 1 ] &&
		[ "$(kept_key "$AHOME")" = "$key" ]
}
t "a code that cannot be shown (stdout full) or written (no such directory) stops the backup before the vault gets it; the kept key stays" t_code_lost

t_restore() {
	ll "$BHOME" restore "$ALICE" --code-file "$T/code" || return 1
	grep -q 'installed 1 of 1 keys' "$T/out" &&
		"$LETTERLOCK" --home "$BHOME" open -o "$T/m.opened" "$T/m.sealed" &&
		grep -q 'the old secret' "$T/m.opened" &&
		"$LETTERLOCK" --home "$BHOME" identity list | grep -q "$ALICE"
}
t "a new, empty home restores with the code: the old message opens" t_restore

t_account() {
	local a b
	a=$(sqlite3 "$AHOME/letterlock.db" \
		"SELECT count(*) FROM secrets WHERE name = 'acme-account-key $URL/acme/directory'")
	b=$(sqlite3 "$BHOME/letterlock.db" \
		"SELECT count(*) FROM secrets WHERE name = 'acme-account-key $URL/acme/directory'")
	[ "$a" = 1 ] && [ "$b" = 1 ] &&
		grep -q '^restore: account ' "$T/out"
}
t "the account key is restored under the CA's URL" t_account

t_refresh() {
	"$LETTERLOCK" --home "$AHOME" identity new --email "$ALICE" \
		--self-signed --days 30 --key ec-p256 || return 1
	ll "$AHOME" backup --refresh || return 1
	grep -q 'stored in the vault as version 2' "$T/out" &&
		! grep -qi 'recovery code' "$T/out" || return 1
	ll "$T/refresh-home" restore "$ALICE" --code-file "$T/code" &&
		grep -q 'installed 2 of 2 keys' "$T/out" &&
		"$LETTERLOCK" --home "$T/refresh-home" open -o "$T/m.opened2" \
			"$T/m.sealed" && grep -q 'the old secret' "$T/m.opened2"
}
t "a new key: backup --refresh seals again under the kept key (no code asked); the first code opens both keys" t_refresh

# wrong_code: a well-formed recovery code that is not the right one
wrong_code() {
	"$PY" - <<'EOF'
import hashlib, os
b32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
v = [b & 31 for b in os.urandom(26)]
md = hashlib.sha256(b'letterlock recovery code 1\0' + bytes(v)).digest()
bits = md[0] << 12 | md[1] << 4 | md[2] >> 4
v += [(bits >> s) & 31 for s in (15, 10, 5, 0)]
s = ''.join(b32[x] for x in v)
print('-'.join(s[i:i + 5] for i in range(0, 30, 5)))
EOF
}

t_typo() {
	local rc
	local r=X
	[ "$(cut -c2 "$T/code")" = X ] && r=Y
	sed "s/^\(.\)./\1$r/" "$T/code" >"$T/typo"
	ll "$T/typo-home" restore "$ALICE" --code-file "$T/typo"
	rc=$?
	[ "$rc" -eq 2 ] && grep -q 'typo' "$T/out" &&
		! grep -q 'deriving the key' "$T/out" &&
		! grep -q 'order ' "$T/out"
}
t "a code with a typo is refused before any mail or derivation (exit 2)" t_typo

t_wrong() {
	local rc
	wrong_code >"$T/wrong" || return 1
	ll "$T/wrong-home" restore "$ALICE" --code-file "$T/wrong"
	rc=$?
	[ "$rc" -eq 4 ] && grep -q 'wrong recovery code, or the backup is damaged' "$T/out" &&
		grep -q 'tried 2: version 2 and older' "$T/out" &&
		[ -z "$("$LETTERLOCK" --home "$T/wrong-home" identity list)" ]
}
t "a wrong code fails clearly (exit 4) after the vault's older version too, and installs nothing" t_wrong

# tamper VERSION...: flip a bit of those vault versions (kept aside;
# on PostgreSQL flipping it again puts it back)
tamper() {
	if lld_pg; then
		pg_flip "$@"
		return
	fi
	"$PY" - "$CA/letterlockd.db" "$@" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
for v in sys.argv[2:]:
    b = bytearray(db.execute('SELECT blob FROM vault WHERE version = ?',
                             (int(v),)).fetchone()[0])
    open('%s.%s.blob' % (sys.argv[1], v), 'wb').write(b)
    b[100] ^= 0x40
    db.execute('UPDATE vault SET blob = ? WHERE version = ?', (bytes(b), int(v)))
db.commit()
EOF
}
# untamper VERSION...: put them back
untamper() {
	if lld_pg; then
		pg_flip "$@"
		return
	fi
	"$PY" - "$CA/letterlockd.db" "$@" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
for v in sys.argv[2:]:
    db.execute('UPDATE vault SET blob = ? WHERE version = ?',
               (open('%s.%s.blob' % (sys.argv[1], v), 'rb').read(), int(v)))
db.commit()
EOF
}

pg_flip() {
	local v
	for v in "$@"; do
		sql "$CA/letterlockd.db" "UPDATE vault
			SET blob = set_byte(blob, 100, get_byte(blob, 100) # 64)
			WHERE version = $v" || return 1
	done
}

t_tampered() {
	local rc
	tamper 2 || return 1
	ll "$T/tamper-home" restore "$ALICE" --code-file "$T/code"
	rc=$?
	untamper 2
	[ "$rc" -eq 0 ] &&
		grep -q 'the newer backup did not open: trying version 1' "$T/out" &&
		grep -q 'opened version 1: the newer backup did not open' "$T/out" &&
		grep -q 'installed 1 of 1 keys' "$T/out"
}
t "the vault's newest version altered in the store: restore falls back to the older one and says so" t_tampered

t_tampered_all() {
	local rc
	tamper 2 1 || return 1
	ll "$T/tamper-home2" restore "$ALICE" --code-file "$T/code"
	rc=$?
	untamper 2 1
	[ "$rc" -eq 4 ] && grep -q 'damaged or was altered' "$T/out" &&
		[ -z "$("$LETTERLOCK" --home "$T/tamper-home2" identity list)" ]
}
t "every version altered: detected (exit 4), nothing installed" t_tampered_all

t_big() {
	local i h=$T/big-home
	for i in $(seq 1 110); do
		"$LETTERLOCK" --home "$h" identity new --email "$ALICE" \
			--self-signed --days 30 --key ec-p256 >/dev/null || return 1
	done
	ll "$h" backup --code-file "$T/code3" || return 1
	grep -q 'stored in the vault as version 3' "$T/out" &&
		[ "$(sql "$CA/letterlockd.db" "SELECT length(blob) FROM vault
			WHERE version = 3")" -gt 65536 ] || return 1
	ll "$T/big-restore" restore "$ALICE" --code-file "$T/code3" &&
		grep -q 'installed 110 of 110 keys' "$T/out" || return 1
	# elsewhere the body limit stays 64 KiB
	head -c 70000 /dev/zero | tr '\0' x >"$T/big.body"
	[ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/big.body" \
		-H 'Content-Type: application/jose+json' \
		"$URL/acme/new-order")" = 413 ]
}
t "a backup over 64 KiB (110 keys) goes through the vault and back; other paths keep 64 KiB" t_big

t_older_code() {
	# version 3 was made with another code: the first code opens 2
	ll "$T/older-home" restore "$ALICE" --code-file "$T/code" &&
		grep -q 'opened version 2: the newer backup did not open' "$T/out" &&
		grep -q 'installed 2 of 2 keys' "$T/out"
}
t "a code of an older backup: the newest version does not open, the one it made does" t_older_code

t_no_proof() {
	acme eve account || return 1
	problem unauthorized eve vault-get "$ALICE"
}
t "the vault refuses an account without a mailbox proof of the address" t_no_proof

t_other_proof() {
	proven bob@example.test eve || return 1
	problem unauthorized eve vault-get "$ALICE"
}
t "... and one whose proof is of another address" t_other_proof

t_old_proof() {
	acme main account && proven "$ALICE" main || return 1
	acme main vault-get "$ALICE" && expect http 200 &&
		expect version 3 && expect versions 3,2,1 || return 1
	# the proof two hours old: [vault] fresh is an hour
	sql "$CA/letterlockd.db" "UPDATE challenges SET validated = validated - 7200
		WHERE authz IN (SELECT a.id FROM authzs a JOIN accounts c
		ON c.id = a.account WHERE a.email = '$ALICE')" || return 1
	problem unauthorized main vault-get "$ALICE" &&
		grep -q 'in the last 60 minutes' "$T/out"
}
t "a fresh proof reads it; the same proof two hours old does not" t_old_proof

t_rate_address() {
	local i got=""
	proven "$ALICE" main || return 1
	for i in 1 2 3 4 5 6; do
		acme main vault-get "$ALICE"
		if grep -q "problem=${ERR}rateLimited" "$T/out"; then
			got=$i
			break
		fi
	done
	echo "rate limited at read $i of this round"
	[ -n "$got" ] && grep -q 'of this address' "$T/out" &&
		curl -s -o /dev/null -w '%{http_code}' "$URL/vault/get" | grep -q 405
}
t "reads of one address are counted: over [vault] reads_per_address, 429" t_rate_address

t_rate_account() {
	local i
	for i in $(seq 1 10); do
		acme eve vault-get carol@example.test
		grep -q "problem=${ERR}rateLimited" "$T/out" && break
	done
	echo "rate limited at attempt $i"
	grep -q 'by this account' "$T/out"
}
t "refused reads count against their account: over reads_per_account, 429" t_rate_account

t_delete() {
	acme main vault-delete "$ALICE" && expect http 200 || return 1
	[ "$(sql "$CA/letterlockd.db" "SELECT count(*) FROM vault
		WHERE email = '$ALICE'")" = 0 ] &&
		problem malformed main vault-delete "$ALICE" && expect http 404 &&
		problem unauthorized eve vault-delete "$ALICE"
}
t "delete: every version gone, a second delete 404, another account 403" t_delete

t_mailbox() {
	ll "$BHOME" backup --to mailbox --code-file "$T/code2" || return 1
	grep -q 'put in the mailbox folder Letterlock-Backup' "$T/out" &&
		grep -q '(existing' "$T/out" || return 1
	ll "$CHOME" restore "$ALICE" --from mailbox --code-file "$T/code2" ||
		return 1
	grep -q 'found the backup in Letterlock-Backup' "$T/out" &&
		"$LETTERLOCK" --home "$CHOME" open -o "$T/m.opened3" "$T/m.sealed" &&
		grep -q 'the old secret' "$T/m.opened3"
}
t "mailbox variant: the restored home (same account) backs up into its folder; a third home restores from there" t_mailbox

t_mailbox_older() {
	ll "$CHOME" backup --to mailbox --code-file "$T/code4" &&
		grep -q 'put in the mailbox folder Letterlock-Backup' "$T/out" ||
		return 1
	ll "$T/older2-home" restore "$ALICE" --from mailbox \
		--code-file "$T/code2" &&
		grep -q 'the newer backup did not open: trying message UID' "$T/out" &&
		grep -q 'opened message UID .*: the newer backup did not open' "$T/out"
}
t "mailbox: a newer backup made with another code; the older message opens with its code" t_mailbox_older

t_mailbox_wrong() {
	local rc
	ll "$T/wrong2-home" restore "$ALICE" --from mailbox --code-file "$T/code"
	rc=$?
	[ "$rc" -eq 4 ] && grep -q 'tried 2: message UID' "$T/out"
}
t "the mailbox backup does not open with the vault backup's code" t_mailbox_wrong

finish
