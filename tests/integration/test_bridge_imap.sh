#!/bin/bash
# test_bridge_imap.sh - `letterlock bridge`, IMAP side, end to end on
# the real mail stack (scripts/mailstack: Postfix, Dovecot IMAP with
# STARTTLS).  alice seals a message to bob and submits it to Postfix;
# bob reads his mailbox through his bridge with curl as the client:
#
#   * the bridge listens on 127.0.0.1 only; before STARTTLS it says
#     LOGINDISABLED and refuses LOGIN; a wrong bridge password is
#     refused; 64 sessions at once, a 65th refused;
#   * the message fetched through the bridge is the opened plaintext
#     with "X-Letterlock-Status: encrypted, decrypted ...; signature
#     valid by alice"; the same message fetched from Dovecot directly
#     is ciphertext;
#   * a signed message whose body was changed shows "signature
#     invalid", never valid; a forged X-Letterlock-Status of the
#     message's own header is dropped;
#   * a message bob has no key for: "not opened", no plaintext;
#   * CAPABILITY after login names no extension the bridge does not
#     handle (COMPRESS, BINARY, ...); SEARCH and other commands pass
#     through;
#   * APPEND stores sealed (checked at Dovecot directly) whatever the
#     server could read: plaintext, a PGP/MIME or protocol-less
#     multipart/signed, a signed-only S/MIME message, one whose header
#     only claims enveloped-data; an encrypted S/MIME message is stored
#     as it is.
#
# Output: TAP.  Needs root and scripts/setup's packages; skips
# otherwise.  KEEP_TMP=1 keeps the directory.
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test

lldtest_init bridge_imap "letterlock bridge, IMAP side"
unset MAILSTACK_PASSWORD

. "$here/bridgetest.sh"
bridge_bob

# msg NAME: $T/NAME.eml from alice to bob, Message-ID <NAME@example.test>
msg() {
	{
		printf 'From: Alice <%s>\r\nTo: Bob <%s>\r\n' "$ALICE" "$BOB"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$1" "$1"
		printf 'X-Letterlock-Status: forged; signature valid\r\n'
		printf '\r\nThe secret word of %s is pumpernickel.\r\n' "$1"
	} >"$T/$1.eml"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"

t "alice and bob: identities, each other's certificates; bob's account" bridge_homes
t "bob's contacts are empty before he reads" eval '[ -z "$(ll bob contact list)" ]'


t_mail() {
	# alice seals to bob and submits to Postfix
	msg enc && ll alice seal -o "$T/enc.sealed" "$T/enc.eml" || return 1
	curl -sS --ssl-reqd --cacert "$MAILSTACK_CA_FILE" \
		--url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
		--user "$ALICE:$(pw "$ALICE")" --mail-from "$ALICE" \
		--mail-rcpt "$BOB" -T "$T/enc.sealed" || return 1
	for _ in $(seq 1 100); do
		[ "$(ngot "$BOB" enc)" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(ngot "$BOB" enc)" = 1 ] || return 1
	# signed only, then its body changed on the way
	msg tampered && ll alice seal --sign-only -o "$T/signed.eml" \
		"$T/tampered.eml" || return 1
	sed 's/pumpernickel/pumpernickle/' "$T/signed.eml" >"$T/tampered.eml"
	! cmp -s "$T/signed.eml" "$T/tampered.eml" && upload tampered || return 1
	# sealed to someone else only (bob has no key for it)
	msg other && ll alice seal -o "$T/other.sealed" "$T/other.eml" &&
		sed -i 's/^To: Bob.*/To: Alice <alice@example.test>/' "$T/other.eml" &&
		ll alice seal -o "$T/other.eml" "$T/other.eml" && upload other
}
t "alice's sealed message delivered to bob; a tampered signed one and one not for bob uploaded" t_mail

t "bob's bridge starts" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll bob bridge --show-password)

t_listen() {
	ss -Htln "sport = :$IPORT" | tee /dev/stderr | awk '{ print $4 }' |
		grep -qx "127.0.0.1:$IPORT" &&
		[ "$(ss -Htln "sport = :$IPORT" | wc -l)" = 1 ]
}
t "listens on 127.0.0.1 only" t_listen

t_clear() {
	printf 'a CAPABILITY\r\nb LOGIN %s %s\r\nc LOGOUT\r\n' "$BOB" "$BPW" |
		timeout 10 curl -sS telnet://127.0.0.1:"$IPORT" >"$T/clear.out" 2>&1
	cat "$T/clear.out"
	grep -q '^\* CAPABILITY .*STARTTLS.*LOGINDISABLED' "$T/clear.out" &&
		grep -q '^b NO \[PRIVACYREQUIRED\]' "$T/clear.out" &&
		grep -q '^c OK' "$T/clear.out"
}
t "without TLS: STARTTLS and LOGINDISABLED advertised, LOGIN refused" t_clear

t "64 sessions at once; a 65th gets '* BYE too many sessions'; a place freed is taken again" \
	session_bound "$IPORT" "* OK [CAPABILITY" "* BYE too many sessions"

t_wrong() {
	via not-the-password "INBOX;UID=1"
	echo "$OUT" | tail -n 3
	[ "$RC" = 67 ] && ! echo "$OUT" | grep -q pumpernickel
}
t "a wrong bridge password is refused (curl: login denied)" t_wrong

t_three_fails() {
	tls_py "$BOB" <<'PY'
t.sendall(b"".join(b'%d LOGIN "%s" wrong\r\n' % (i, sys.argv[1].encode())
                   for i in range(4)))
got = read_all()
print(got.decode())
sys.exit(0 if got.count(b"NO [AUTHENTICATIONFAILED]") == 3 and
         b"* BYE too many failed logins" in got and b"3 " not in got
         else 1)
PY
}
t "three failed logins end the session" t_three_fails

t_read() {
	local u
	u=$(uid enc)
	[ -n "$u" ] || return 1
	via "$BPW" "INBOX;UID=$u"
	echo "$OUT" | head -n 12
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: encrypted, decrypted .*; signature valid by alice@example.test; timestamp ' &&
		echo "$OUT" | grep -q 'The secret word of enc is pumpernickel' &&
		[ "$(echo "$OUT" | grep -ci '^X-Letterlock-Status:')" = 1 ] &&
		! echo "$OUT" | grep -q forged
}
t "bob reads alice's message through the bridge: plaintext, X-Letterlock-Status encrypted and valid (the forged one dropped)" t_read

t_harvest() {
	ll bob contact list | tee /dev/stderr |
		grep -q "^$ALICE .* harvested"
}
t "alice's certificate (a valid signature) is harvested into bob's contacts" t_harvest

t_server_copy() {
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX;UID=$(uid enc)" \
		>"$T/enc.server" || return 1
	grep -qi 'application/pkcs7-mime' "$T/enc.server" &&
		! grep -q pumpernickel "$T/enc.server"
}
t "the server's copy is S/MIME ciphertext" t_server_copy

t_tampered() {
	via "$BPW" "INBOX;UID=$(uid tampered)"
	echo "$OUT" | grep '^X-Letterlock-Status'
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: not encrypted; signature invalid' &&
		! echo "$OUT" | grep -q 'signature valid'
}
t "a tampered signed message shows signature invalid, never valid" t_tampered

t_nokey() {
	via "$BPW" "INBOX;UID=$(uid other)"
	echo "$OUT" | grep '^X-Letterlock-Status'
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: not opened; no key of ours' &&
		! echo "$OUT" | grep -q pumpernickel
}
t "a message bob has no key for: 'not opened', no plaintext" t_nokey

# forged NAME FIELD: $T/NAME.eml, msg's with a second forged status
# field, FIELD (its name and colon), folded, before the Subject
forged() {
	msg "$1" &&
		sed -i "s/^Subject: /$2\tforged;\r\n signature valid\r\nSubject: /" \
			"$T/$1.eml" &&
		[ "$(grep -c "forged;" "$T/$1.eml")" = 2 ] && upload "$1"
}
# read_forged NAME STATUS: NAME read through the bridge has the status
# STATUS, its own header fields but no forged one, and its text
read_forged() {
	via "$BPW" "INBOX;UID=$(uid "$1")"
	echo "$OUT" | grep -i '^X-Letterlock-Status'
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q "^X-Letterlock-Status: $2" &&
		! echo "$OUT" | grep -qi -e 'signature valid' -e "forged;" &&
		[ "$(echo "$OUT" | grep -ci '^X-Letterlock-Status')" = 1 ] &&
		echo "$OUT" | grep -q "^Subject: $1" &&
		echo "$OUT" | grep -q "secret word of $1"
}

t_plain_forged() {
	# a plain message whose own header claims a valid signature, twice
	forged forgedplain "X-Letterlock-Status:" &&
		read_forged forgedplain "not S/MIME; the message's own status field dropped" || return 1
	# a blank before the colon (obsolete syntax, which the library
	# does not read: the message comes as it is, not opened)
	forged forgedobs "X-LETTERLOCK-STATUS :" &&
		read_forged forgedobs "not opened; malformed S/MIME"
}
t "a plain message with a forged X-Letterlock-Status: dropped, said to be not S/MIME, never 'valid'" t_plain_forged

t_capability() {
	via "$BPW" "" -X CAPABILITY
	echo "$OUT"
	[ "$RC" = 0 ] && echo "$OUT" | grep -q '^\* CAPABILITY IMAP4rev1' &&
		! echo "$OUT" | grep -Eqi 'COMPRESS|BINARY|CONDSTORE|STARTTLS|AUTH='
}
t "CAPABILITY after login: only what the bridge handles" t_capability

t_logout() {
	tls_py "$BOB" "$BPW" <<'PY'
t.sendall(b'b LOGIN "%s" "%s"\r\nc NOOP\r\nd LOGOUT\r\n' %
          (sys.argv[1].encode(), sys.argv[2].encode()))
got = read_all()
print(got.decode())
lines = got.decode().splitlines()
sys.exit(0 if lines[-1].startswith("d OK") and "* BYE" in got.decode() and
         "closed the connection" not in got.decode() else 1)
PY
}
t "LOGOUT: the server's BYE and OK, then the end (nothing after)" t_logout

t_passthrough() {
	via "$BPW" "INBOX" -X "UID SEARCH HEADER Message-ID <enc@example.test>"
	echo "$OUT"
	[ "$RC" = 0 ] && echo "$OUT" | grep -q "^\* SEARCH $(uid enc)"
}
t "other commands pass through (UID SEARCH)" t_passthrough

CACHE=$T/bob/bridge/cache
CACHEDB=$CACHE/$BOB.db
cachesql() { sqlite3 -cmd '.timeout 5000' "$CACHEDB" "$@"; }
t_cache() {
	local n
	# one database for the account, no file per message
	[ "$(ls "$CACHE" | grep -cv "^$BOB\.db")" -le 2 ] || { ls "$CACHE"; return 1; }
	n=$(cachesql "SELECT count(*) FROM entry")
	[ "$n" -ge 1 ] || { echo "cache: $n entries"; return 1; }
	# encrypted at rest: neither the word nor the status in clear
	! grep -rq -e pumpernickel -e X-Letterlock "$CACHE" || return 1
	# a second read is served from it (a hit is a use: written when
	# the batch ends) and gives the same message
	cachesql "UPDATE entry SET used = 0" || return 1
	via "$BPW" "INBOX;UID=$(uid enc)"
	[ "$RC" = 0 ] && echo "$OUT" | grep -q 'The secret word of enc is pumpernickel' &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: encrypted, decrypted .*valid by' || return 1
	[ "$(cachesql "SELECT count(*) FROM entry WHERE used > 0")" -ge 1 ] ||
		{ echo "no entry was used"; return 1; }
	# a damaged entry is not served: the message is opened again
	cachesql "UPDATE sealed SET data = substr(data, 1, 20) ||
		(CASE WHEN substr(data, 21, 1) = X'41' THEN X'42' ELSE X'41' END) ||
		substr(data, 22)" || return 1
	via "$BPW" "INBOX;UID=$(uid enc)"
	[ "$RC" = 0 ] && echo "$OUT" | grep -q 'The secret word of enc is pumpernickel'
}
t "opened messages are cached encrypted at rest; a second read uses the cache; a damaged entry is not served" t_cache

t_uidvalidity() {
	local a
	msg second && ll alice seal -o "$T/second.sealed" "$T/second.eml" || return 1
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" -X "CREATE Box" &&
		direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/Box" -T "$T/enc.sealed" || return 1
	via "$BPW" "Box;UID=1"
	echo "$OUT" | grep -q 'The secret word of enc is pumpernickel' || return 1
	# the mailbox made again: UID 1 is another message, UIDVALIDITY new
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" -X "DELETE Box" &&
		direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" -X "CREATE Box" &&
		direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/Box" -T "$T/second.sealed" || return 1
	via "$BPW" "Box;UID=1"
	echo "$OUT" | grep 'secret word'
	echo "$OUT" | grep -q 'The secret word of second is pumpernickel' &&
		! echo "$OUT" | grep -q 'secret word of enc'
}
t "a mailbox made again (new UIDVALIDITY, same UID): the cache does not serve the old message" t_uidvalidity

t_idle_concurrent() {
	local idler _
	tls_py "$BOB" "$BPW" >"$T/idle.out" 2>&1 <<'PY' &
t.sendall(b'b LOGIN "%s" "%s"\r\nc SELECT INBOX\r\nd IDLE\r\n' %
          (sys.argv[1].encode(), sys.argv[2].encode()))
g = t.makefile("rb")
seen = []
while True:  # the socket's time-out (30 s) bounds every wait
    line = g.readline()
    if not line:
        sys.exit(1)
    seen.append(line)
    print(line.decode().rstrip(), flush=True)
    if line.startswith(b"+ "):
        print("IDLING", flush=True)
    if line.endswith(b"EXISTS\r\n") and any(x.startswith(b"+ ") for x in seen):
        break
t.sendall(b"DONE\r\ne LOGOUT\r\n")
while True:
    line = g.readline()
    if not line:
        break
    print(line.decode().rstrip(), flush=True)
    if line.startswith(b"e OK"):
        sys.exit(0)
sys.exit(1)
PY
	idler=$!
	for _ in $(seq 1 100); do
		grep -q '^IDLING' "$T/idle.out" && break
		sleep 0.1
	done
	grep -q '^IDLING' "$T/idle.out" || { cat "$T/idle.out"; return 1; }
	# meanwhile two other sessions, one after the other on top of the
	# idling one, read UID 1 of two mailboxes: each its own message
	via "$BPW" "Box;UID=1"
	echo "$OUT" | grep -q 'The secret word of second is pumpernickel' ||
		return 1
	via "$BPW" "INBOX;UID=$(uid enc)"
	echo "$OUT" | grep -q 'The secret word of enc is pumpernickel' ||
		return 1
	# a new message: the idling client hears of it, then ends cleanly
	msg idle && upload idle || return 1
	wait "$idler"
	local rc=$?
	cat "$T/idle.out"
	[ "$rc" = 0 ]
}
t "IDLE through the bridge: a new message is announced (EXISTS), DONE ends it; other sessions read two mailboxes meanwhile, each its own message" t_idle_concurrent

# sent NAME FROM: $T/NAME.eml, a plaintext message of bob's to carol
sent() {
	{
		printf 'From: %s\r\nTo: Carol <carol@example.test>\r\n' "$2"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$1" "$1"
		printf '\r\nBob saves the word marmalade in %s.\r\n' "$1"
	} >"$T/$1.eml"
}
# suid NAME: the UID of NAME in bob's Sent at Dovecot
suid() {
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/Sent" \
		-X "UID SEARCH HEADER Message-ID <$1@example.test>" |
		awk '/^\* SEARCH [0-9]/ { print $3 }' | tr -d '\r'
}

# append NAME: $T/NAME.eml APPENDed to Sent through the bridge; what
# Dovecot stores (fetched there directly) in $T/NAME.server, its UID in
# $U
append() {
	via "$BPW" "Sent" -T "$T/$1.eml"
	[ "$RC" = 0 ] || return 1
	U=$(suid "$1")
	[ -n "$U" ] || { echo "not stored"; return 1; }
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/Sent;UID=$U" \
		>"$T/$1.server"
}

# append_sealed NAME: $T/NAME.eml, bob's, APPENDed reaches the server
# encrypted (no marmalade there) and reads back through the bridge as
# the plaintext, sealed by bob
append_sealed() {
	append "$1" || return 1
	grep -i '^Content-Type:' "$T/$1.server" | head -n 1
	grep -Eqi '^Content-Type: application/pkcs7-mime;.*smime-type=(authE|e)nveloped-data' "$T/$1.server" &&
		! grep -q marmalade "$T/$1.server" || return 1
	via "$BPW" "Sent;UID=$U"
	echo "$OUT" | grep '^X-Letterlock-Status'
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q "^X-Letterlock-Status: encrypted, decrypted .*; signature valid by $BOB" &&
		echo "$OUT" | grep -q "Bob saves the word marmalade in $1"
}

t_append() {
	via "$BPW" "" -X "CREATE Sent"
	sent saved "Bob <$BOB>" && append_sealed saved
}
t "APPEND through the bridge: the server stores ciphertext (sealed to bob only); read back through the bridge as plaintext, signed by bob" t_append

t_append_refused() {
	sent stranger "Someone <someone@example.test>"
	via "$BPW" "Sent" -T "$T/stranger.eml"
	echo "$OUT" | tail -n 2
	[ "$RC" != 0 ] && [ -z "$(suid stranger)" ]
}
t "APPEND of a message bob cannot sign (From not his): refused, nothing stored in clear" t_append_refused

# mpsigned NAME PARAMS: $T/NAME.eml, bob's multipart/signed with the
# Content-Type parameters PARAMS (a protocol or none) and a PGP-style
# signature part; the text is plaintext all the same
mpsigned() {
	{
		printf 'From: Bob <%s>\r\nTo: Carol <carol@example.test>\r\n' "$BOB"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$1" "$1"
		printf 'MIME-Version: 1.0\r\nContent-Type: multipart/signed;%s\r\n' "$2"
		printf '\tboundary="sig-%s"\r\n\r\n--sig-%s\r\n' "$1" "$1"
		printf 'Content-Type: text/plain\r\n\r\n'
		printf 'Bob saves the word marmalade in %s.\r\n--sig-%s\r\n' "$1" "$1"
		printf 'Content-Type: application/pgp-signature\r\n\r\n'
		printf -- '-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEE\r\n'
		printf -- '-----END PGP SIGNATURE-----\r\n--sig-%s--\r\n' "$1"
	} >"$T/$1.eml"
}

t_append_pgp() {
	mpsigned pgpsigned ' protocol="application/pgp-signature"; micalg=pgp-sha256;' &&
		append_sealed pgpsigned
}
t "APPEND of a PGP/MIME multipart/signed (plaintext to the server): sealed, the server stores ciphertext" t_append_pgp

t_append_noproto() {
	mpsigned noproto '' && append_sealed noproto
}
t "APPEND of a multipart/signed without protocol: sealed, the server stores ciphertext" t_append_noproto

t_append_smime_signed() {
	sent signedonly "Bob <$BOB>"
	ll bob seal --sign-only -o "$T/signedonly.eml" "$T/signedonly.eml" &&
		grep -qi '^Content-Type: multipart/signed;' "$T/signedonly.eml" &&
		append_sealed signedonly || return 1
	sent opaque "Bob <$BOB>"
	ll bob seal --sign-only --opaque -o "$T/opaque.eml" "$T/opaque.eml" &&
		grep -qi 'smime-type=signed-data' "$T/opaque.eml" &&
		append_sealed opaque
}
t "APPEND of a signed-only S/MIME message (multipart/signed and opaque signed-data, plaintext to the server): sealed to bob too" t_append_smime_signed

t_append_claims() {
	# the opaque signed-data one again, its header claiming
	# enveloped-data: the body is what the server reads
	sed 's/<opaque@/<claims@/; s/smime-type=signed-data/smime-type=enveloped-data/' \
		"$T/opaque.eml" >"$T/claims.eml"
	grep -q 'smime-type=enveloped-data' "$T/claims.eml" &&
		append claims || return 1
	# not stored as it came: sealed by bob (what is inside was never
	# encrypted, so his copy opens to it, the signed-data undone or not)
	! cmp -s <(tr -d '\r' <"$T/claims.eml") <(tr -d '\r' <"$T/claims.server") &&
		grep -Eqi '^Content-Type: application/pkcs7-mime;.*smime-type=(authE|e)nveloped-data' "$T/claims.server" ||
		return 1
	via "$BPW" "Sent;UID=$U"
	echo "$OUT" | grep '^X-Letterlock-Status'
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q "^X-Letterlock-Status: encrypted, decrypted .*; signature valid by $BOB"
}
t "APPEND of a message whose header claims enveloped-data over a signed-data body: sealed all the same" t_append_claims

t_append_encrypted() {
	# alice's message to bob, encrypted already: a client copying it
	# from the INBOX into another mailbox (bob cannot seal as alice)
	sed 's/<enc@/<encrypted@/' "$T/enc.sealed" >"$T/encrypted.eml"
	append encrypted || return 1
	# stored as it came
	cmp <(tr -d '\r' <"$T/encrypted.eml") <(tr -d '\r' <"$T/encrypted.server") ||
		return 1
	via "$BPW" "Sent;UID=$U"
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: encrypted, decrypted .*; signature valid by alice@example.test' &&
		echo "$OUT" | grep -q 'The secret word of enc is pumpernickel'
}
t "APPEND of an encrypted S/MIME message (from someone else): stored as it is" t_append_encrypted

# bob's account pointed at PORT (the bridge restarted to read it)
account_at() {
	bridge_kill TERM
	ll bob account remove "$BOB" >/dev/null &&
		ll bob account add "$BOB" \
			--imap-url "imap://127.0.0.1:$1" \
			--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
			--password-file "$T/bob.password" \
			--ca-file "$MAILSTACK_CA_FILE" >/dev/null &&
		bridge_start
}

t_reconnect() {
	local fport
	free_port fport || return 1
	account_at "$fport" || return 1
	# the server comes up 1.5 s after the client's LOGIN: a forwarder
	# to Dovecot, bounded to 30 s
	python3 - "$fport" "$MAILSTACK_IMAP_PORT" <<'PY' &
import socket, sys, threading, time
time.sleep(1.5)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(4)
ls.settimeout(30)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for x in (a, b):
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
end = time.time() + 30
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
	local fwd=$!
	via "$BPW" "INBOX" -X "UID SEARCH ALL"
	kill "$fwd" 2>/dev/null
	wait "$fwd" 2>/dev/null
	printf '%s\n' "$OUT"
	grep 'trying again' "$BLOG"
	[ "$RC" = 0 ] && grep -q '^\* SEARCH [0-9]' <<<"$OUT" &&
		grep -q "$BOB: trying again in 1 s" "$BLOG" || return 1
	# a refused login is not tried again: the answer comes at once
	printf 'wrong\n' >"$T/wrong.password"
	bridge_kill TERM
	ll bob account remove "$BOB" >/dev/null &&
		ll bob account add "$BOB" \
			--imap-url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT" \
			--smtp-url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
			--password-file "$T/wrong.password" \
			--ca-file "$MAILSTACK_CA_FILE" >/dev/null &&
		bridge_start || return 1
	local before
	before=$(grep -c 'trying again' "$BLOG")
	via "$BPW" "INBOX" -X "UID SEARCH ALL"
	[ "$RC" != 0 ] && [ "$(grep -c 'trying again' "$BLOG")" = "$before" ] &&
		grep -q "login refused upstream" "$BLOG" || return 1
	account_at "$MAILSTACK_IMAP_PORT"
}
t "the mail server unreachable at login for a moment: the bridge tries again (1 s, 2 s, 4 s) and the login succeeds; a refused login is not tried again" t_reconnect

t_sigterm() {
	local start pgid=$BRIDGE_PID
	# a client logged in and idle: the stop does not wait for it
	tls_py "$BOB" "$BPW" >"$T/held.out" 2>&1 <<'PY' &
import time
g = t.makefile("rb")
t.sendall(b'b LOGIN "%s" "%s"\r\nc SELECT INBOX\r\n' %
          (sys.argv[1].encode(), sys.argv[2].encode()))
while True:
    line = g.readline()
    print(line.decode().rstrip(), flush=True)
    if not line or line.startswith(b"c "):
        break
time.sleep(30)
PY
	for _ in $(seq 1 50); do
		grep -q '^c OK' "$T/held.out" && break
		sleep 0.1
	done
	cat "$T/held.out"
	grep -q '^c OK' "$T/held.out" || return 1
	start=$(date +%s)
	kill -TERM "$BRIDGE_PID"
	wait "$BRIDGE_PID"
	BRIDGE_RC=$?
	BRIDGE_PID=""
	echo "exit $BRIDGE_RC after $(($(date +%s) - start)) s"
	[ "$BRIDGE_RC" = 0 ] && [ $(($(date +%s) - start)) -lt 5 ] &&
		[ -z "$(ss -Htln "sport = :$IPORT")" ] || return 1
	# the session's process ends too
	for _ in $(seq 1 50); do
		pgrep -g "$pgid" >/dev/null || break
		sleep 0.1
	done
	! pgrep -g "$pgid"
}
t "SIGTERM with a client logged in: the bridge stops at once (exit 0), the port is closed, the session's process ends" t_sigterm

t_log_clean() {
	! grep -F "$BPW" "$BLOG" && ! grep -F "$(cat "$T/bob.password")" "$BLOG" &&
		! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$BLOG"
}
t "the bridge's log holds no password and no sanitizer report" t_log_clean
finish
