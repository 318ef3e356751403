#!/bin/bash
# test_bridge_search.sh - SEARCH through `letterlock bridge` over the
# content of encrypted messages (doc/bridge.md, "SEARCH"), on the real
# mail stack (Dovecot).  bob's INBOX holds, uploaded straight to
# Dovecot:
#
#   enc      sealed by alice to bob, header-protected (outer Subject
#            "[...]"), body "pumpernickel" and, quoted-printable UTF-8,
#            "Brötchen"
#   plain    not S/MIME, body "pumpernickel", flagged
#   enc2     sealed to bob, body "sourdough"
#   other    sealed to alice only (bob has no key), body "pumpernickel"
#
# Checked with curl and python through bob's bridge, the first search
# before anything was fetched (nothing cached): a word of an encrypted
# body is found (Dovecot alone does not find it); the real subject of
# the header-protected message is found and its outer "[...]" is not;
# the plain message is still found (the server's answer); NOT BODY
# excludes the encrypted message; OR of a content key and a flag; the
# message bob cannot open does not match its plaintext words; a word of
# the base64 ciphertext does not make the encrypted message match; a
# UTF-8 literal with CHARSET; SEARCH by sequence numbers; the same after
# a FETCH (from the cache); a CHARSET other than UTF-8 is refused; a
# synchronizing literal's "+" is the bridge's, never the server's too.
#
# Output: TAP.  Needs root and scripts/setup's packages; skips
# otherwise.  KEEP_TMP=1 keeps the directory.  LETTERLOCK=... runs
# another build (the ASan one).
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

ALICE=alice@example.test
BOB=bob@example.test

lldtest_init bridge_search "letterlock bridge, SEARCH over encrypted content"
unset MAILSTACK_PASSWORD

. "$here/bridgetest.sh"
bridge_bob

# msg NAME SUBJECT BODY: $T/NAME.eml from alice to bob
msg() {
	{
		printf 'From: Alice <%s>\r\nTo: Bob <%s>\r\n' "$ALICE" "$BOB"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$2" "$1"
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=utf-8\r\n'
		printf 'Content-Transfer-Encoding: quoted-printable\r\n'
		printf '\r\n%s\r\n' "$3"
	} >"$T/$1.eml"
}

# is PROGRAM EXPECTED...: bob's bridge answers "UID SEARCH PROGRAM"
# with exactly the UIDs EXPECTED
is() {
	local prog=$1 got want
	shift
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort -n | tr '\n' ' ' |
		sed 's/ $//')
	via "$BPW" INBOX -X "UID SEARCH $prog"
	got=$(echo "$OUT" | tr -d '\r' | awk '/^\* SEARCH/ {
		for (i = 3; i <= NF; i++) print $i }' | sort -n | tr '\n' ' ' |
		sed 's/ $//')
	echo "UID SEARCH $prog: got [$got], want [$want]"
	[ "$RC" = 0 ] && [ "$got" = "$want" ]
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"
t "alice and bob: identities, each other's certificates; bob's account" bridge_homes

t_mail() {
	msg enc "Secret plans" 'The word is pumpernickel, and Br=C3=B6tchen.' &&
		ll alice seal -o "$T/enc.sealed" "$T/enc.eml" &&
		cp "$T/enc.sealed" "$T/enc.eml" && upload enc || return 1
	msg plain "Plain lunch" 'A plain pumpernickel.' && upload plain || return 1
	msg enc2 "Bread" 'Only sourdough here.' &&
		ll alice seal -o "$T/enc2.eml" "$T/enc2.eml" && upload enc2 ||
		return 1
	msg other "Not for bob" 'Another pumpernickel.' &&
		sed -i 's/^To: Bob.*/To: Alice <alice@example.test>/' \
			"$T/other.eml" &&
		ll alice seal -o "$T/other.eml" "$T/other.eml" && upload other ||
		return 1
	ENC=$(uid enc) PLAIN=$(uid plain) ENC2=$(uid enc2) OTHER=$(uid other)
	echo "enc=$ENC plain=$PLAIN enc2=$ENC2 other=$OTHER"
	[ -n "$ENC" ] && [ -n "$PLAIN" ] && [ -n "$ENC2" ] && [ -n "$OTHER" ] &&
		direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
			-X "UID STORE $PLAIN +FLAGS (\\Flagged)" >/dev/null &&
		grep -q '^Subject: \[\.\.\.\]' "$T/enc.sealed"
}
t "bob's INBOX: two messages sealed to him (header-protected), a plain flagged one, one he cannot open" t_mail

t_direct() {
	local got
	got=$(direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" \
		-X "UID SEARCH BODY pumpernickel" | tr -d '\r')
	echo "Dovecot: $got"
	[ "$got" = "* SEARCH $PLAIN" ]
}
t "Dovecot alone finds pumpernickel only in the plain message" t_direct

t "bob's bridge starts" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll bob bridge --show-password)

t_first() {
	[ -z "$(ls -A "$T/bob/bridge/cache" 2>/dev/null)" ] &&
		is "BODY pumpernickel" "$ENC" "$PLAIN"
}
t "before any FETCH (nothing cached): BODY finds the encrypted message's word, and the plain one's; not the one bob cannot open" t_first

t "the cache now holds the opened messages" \
	eval '[ "$(sqlite3 -cmd ".timeout 5000" "$T/bob/bridge/cache/bob@example.test.db" "SELECT count(*) FROM entry")" = 2 ]'

t "SUBJECT finds the protected subject" is 'SUBJECT "Secret plans"' "$ENC"
t_outer() {
	# the outer "[...]" is the server's; bob's opened message has the
	# real one, so only the message he cannot open shows "[...]"
	is 'SUBJECT "[...]"' "$OTHER"
}
t "SUBJECT \"[...]\" (the outer subject) does not find the opened messages" t_outer

t "UNDELETED OR SUBJECT x FROM y (Thunderbird's form)" \
	is 'UNDELETED OR SUBJECT "lunch" FROM "nobody@example.test"' "$PLAIN"
t "NOT BODY pumpernickel excludes the encrypted message that has it" \
	is "NOT BODY pumpernickel" "$ENC2" "$OTHER"
t "OR of a content key and a flag" is "OR BODY sourdough FLAGGED" "$ENC2" "$PLAIN"
t "TEXT, case-insensitive, over header and body" \
	is "TEXT PUMPERNICKEL" "$ENC" "$PLAIN"
t "HEADER X-Letterlock-Status finds the messages by their status" \
	is 'HEADER X-Letterlock-Status "not opened"' "$OTHER"

t_cipher() {
	local word
	# a run of the base64 ciphertext, unlikely elsewhere
	word=$(tr -d '\r' <"$T/enc.sealed" | awk 'length($0) > 60 && /^[A-Za-z0-9+\/]+$/ { print substr($0, 20, 24); exit }')
	echo "word: $word"
	[ -n "$word" ] && is "TEXT \"$word\"" && is "BODY \"$word\""
}
t "a word of the base64 ciphertext does not make the encrypted message match" t_cipher

t_literal() {
	tls_py "$BOB" "$BPW" "$ENC" <<'PY'
def line():
    b = b""
    while not b.endswith(b"\r\n"):
        b += t.recv(1)
    return b
t.sendall(b'l LOGIN "%s" "%s"\r\n' % (sys.argv[1].encode(), sys.argv[2].encode()))
while not line().startswith(b"l "):
    pass
t.sendall(b"s SELECT INBOX\r\n")
while not line().startswith(b"s "):
    pass
word = "BRÖTCHEN".encode()
t.sendall(b"u UID SEARCH CHARSET UTF-8 BODY {%d}\r\n" % len(word))
cont = line()
print(cont)
t.sendall(word + b"\r\n")
got = line()
print(got, line())
t.sendall(b"c SEARCH CHARSET ISO-8859-1 BODY x\r\n")
bad = line()
print(bad)
def until(tag):
    lines = []
    while not lines or not lines[-1].startswith(tag):
        lines.append(line())
    print(lines)
    return lines
# a literal outside the content keys: quoted for the server, whose "+"
# never reaches the client; a program the bridge cannot read, with a
# literal: BAD from the bridge
t.sendall(b"k UID SEARCH KEYWORD {4}\r\n")
kcont = line()
t.sendall(b"$abc\r\n")
k = until(b"k ")
t.sendall(b"g UID SEARCH X-GM-RAW {3}\r\n")
gcont = line()
t.sendall(b"abc\r\n")
g = until(b"g ")
t.sendall(b"z LOGOUT\r\n")
sys.exit(0 if cont.startswith(b"+") and bad.startswith(b"c NO [BADCHARSET")
         and got.split()[2:] == [sys.argv[3].encode()]
         and kcont.startswith(b"+") and k[-1].startswith(b"k OK")
         and not any(x.startswith(b"+") for x in k)
         and gcont.startswith(b"+") and g == [g[-1]]
         and g[-1].startswith(b"g BAD") else 1)
PY
}
t "a UTF-8 literal with CHARSET UTF-8 (synchronizing: the bridge's \"+\"), case-folded; CHARSET ISO-8859-1 refused [BADCHARSET]; a KEYWORD literal quoted for the server; an unknown key with a literal: BAD" \
	t_literal

t_seq() {
	via "$BPW" INBOX -X "SEARCH BODY sourdough"
	echo "$OUT"
	# bob's INBOX holds only these four, in upload order
	echo "$OUT" | tr -d '\r' | grep -qx '\* SEARCH 3'
}
t "SEARCH by sequence number" t_seq

t_cached() {
	via "$BPW" "INBOX;UID=$ENC" && [ "$RC" = 0 ] &&
		echo "$OUT" | grep -q pumpernickel &&
		is "BODY pumpernickel" "$ENC" "$PLAIN"
}
t "after a FETCH (from the cache) the same answer" t_cached

t_status_forged() {
	# a plain message whose own header claims a valid signature
	msg forged "Forged status" 'Nothing is signed here.' &&
		{
			printf 'X-Letterlock-Status: encrypted, decrypted '
			printf 'aes-256-gcm; signature valid by %s; ' "$ALICE"
			printf 'timestamp none\r\n'
			cat "$T/forged.eml"
		} >"$T/forged.tmp" && mv "$T/forged.tmp" "$T/forged.eml" &&
		upload forged || return 1
	echo "forged=$(uid forged)"
	is 'HEADER X-Letterlock-Status "signature valid"' "$ENC" "$ENC2"
}
t "HEADER X-Letterlock-Status finds the bridge's status only, not a plain message's forged one" t_status_forged

t_log_clean() {
	! grep -F "$BPW" "$BLOG" &&
		! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$BLOG"
}
t "the bridge's log holds no password and no sanitizer report" t_log_clean
finish
