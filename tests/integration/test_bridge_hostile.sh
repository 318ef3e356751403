#!/bin/bash
# test_bridge_hostile.sh - `letterlock bridge`, IMAP side, in front of a
# hostile IMAP server: the bridge reads the server's answers to its own
# commands (which messages are S/MIME, which UIDs a search found) and
# must not trust their numbers.  No mail stack: the server is a small
# Python one of the test's (hostile.py below: STARTTLS with a
# certificate of the test's, LOGIN, then scripted answers), on a free
# loopback port; bob's bridge has an account at it.
#
#   * a FETCH of BODYSTRUCTURE whose first answer (UID, RFC822.SIZE,
#     Content-Type) names 200 S/MIME messages with UIDs of 20 digits:
#     the bridge's list of a batch's UIDs had room for 32-bit UIDs only
#     (a stack overflow in the session's child, which holds the keys;
#     silent in the normal build, the ASan run reports it); now such
#     an answer is not one: the client gets its tagged answer and the
#     session goes on;
#   * a SEARCH BODY whose candidate search answers 256 numbers of 20
#     digits: the window's UID list overflowed the same way (on the
#     heap); now the session ends without a crash;
#   * a FETCH answer whose ENVELOPE subject holds "UID 9" before its
#     own UID 7 (items in an order of the server's): the opened message
#     is cached as UID 7, not as message 9;
#   * a client's command tagged LL1 (the bridge's own tags were LL and
#     a count) pipelined before a FETCH the bridge answers: each gets
#     its own answer;
#   * a SELECT whose mailbox name is a synchronizing literal, after a
#     SELECT INBOX, both with the same UIDVALIDITY: its UID 7 is its
#     own, not INBOX's UID 7 from the cache;
#   * a plain message whose header carries a forged status field,
#     fetched whole in one FETCH with an S/MIME message: the field is
#     dropped, as when it is fetched alone;
#   * SELECT INBOX, a FETCH left to the server (it says UID 7 is
#     plain when asked for 7:7, then answers with the S/MIME message)
#     and SELECT Bar in one write (the same UIDVALIDITY): INBOX's UID 7
#     is not cached as Bar's (the UIDVALIDITY that came was INBOX's,
#     the mailbox known was Bar);
#   * a FETCH of plain messages only, left to the server: an S/MIME
#     message that arrived after the bridge asked about the set (UID 9
#     of 8:*) is not in the server's answer (the bridge passes the
#     UIDs it asked about, not the client's set);
#   * an APPEND whose message is a quoted string, or CATENATE's text
#     (no literal): this server takes anything, the bridge refuses it
#     rather than pass a message it has not sealed.
#
# Output: TAP.  Needs root (lldtest.sh) and python3; skips otherwise.
# KEEP_TMP=1 keeps the directory.
#
# shellcheck disable=SC2317,SC2034,SC2016,SC1091,SC2153
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/tap.sh"
. "$here/lldtest.sh"

BOB=bob@example.test

lldtest_init bridge_hostile "letterlock bridge in front of a hostile IMAP server"
. "$here/bridgetest.sh"
bridge_bob
free_port FPORT || fatal "no free port"

# hostile.py PORT CERT KEY MESSAGE OTHER: one IMAP session at a time on
# 127.0.0.1:PORT, at most 20 sessions or 120 s; MESSAGE is the UID 7 of
# INBOX, OTHER that of any other mailbox.
cat >"$T/hostile.py" <<'PY'
import socket, ssl, sys, time

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
BIG = "99999999999999999999"
CT = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\n"


PLAIN_CT = b"Content-Type: text/plain\r\n\r\n"
# UID 8: a plain message whose own header claims a valid signature
PLAIN = (b"From: <alice@example.test>\r\nTo: <bob@example.test>\r\n"
         b"Subject: plain\r\nContent-Type: text/plain\r\n"
         b"X-Letterlock-Status: encrypted, decrypted aes-256-gcm; "
         b"signature valid by ceo@example.test; timestamp none\r\n\r\n"
         b"The plain eighth message.\r\n")


def fetch_classify(tag, cmd):
    # the bridge's first question names two fields; its later FETCHes
    # of a batch the Content-Type only
    item = (b"BODY[HEADER.FIELDS (CONTENT-TYPE X-LETTERLOCK-STATUS)]"
            if "X-LETTERLOCK-STATUS" in cmd.upper()
            else b"BODY[HEADER.FIELDS (CONTENT-TYPE)]")
    out = b""
    uids = cmd.split(" ")[2] if cmd.upper().startswith("UID FETCH ") else ""
    if uids == "8:*":
        uids = "8"  # UID 9 comes later (below)
    if uids in ("7", "8", "7,8", "7:7"):
        # UID 7 S/MIME, UID 8 plain; asked as 7:7, UID 7 is said to be
        # plain (the client's FETCH is then left to the server)
        for u in uids.replace("7:7", "7!").split(","):
            ct = CT if u == "7" else PLAIN_CT
            u = u.rstrip("!")
            out += (b"* %s FETCH (UID %s RFC822.SIZE 10 %s {%d}\r\n"
                    % (u.encode(), u.encode(), item, len(ct)) + ct
                    + b")\r\n")
        return out
    for i in range(1, 201):
        out += (b"* %d FETCH (UID %s RFC822.SIZE 10 %s {%d}\r\n"
                % (i, BIG.encode(), item, len(CT)) + CT + b")\r\n")
    return out


selected = ["INBOX"]


def answer(tag, cmd):
    c = cmd.upper()
    if c.startswith("SELECT") or c.startswith("EXAMINE"):
        # every mailbox has the same UIDVALIDITY, as Dovecot gives
        # mailboxes made in the same second
        selected[0] = cmd.split(" ", 1)[1].strip('"')
        return (b"* 200 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n"
                + tag + b" OK [READ-WRITE] selected\r\n")
    if c.startswith("UID FETCH 8 (BODY.PEEK[] "):
        return (b"* 8 FETCH (UID 8 BODY[] {%d}\r\n" % len(PLAIN) + PLAIN
                + b" BODY[HEADER.FIELDS (CONTENT-TYPE)] {%d}\r\n"
                % len(PLAIN_CT) + PLAIN_CT + b")\r\n"
                + tag + b" OK fetched\r\n")
    if "BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE" in c:
        return fetch_classify(tag, cmd) + tag + b" OK fetched\r\n"
    if c.startswith(("UID FETCH 7 (", "UID FETCH 7:7 (")) and \
            "BODY.PEEK[]" in c and \
            "HEADER.FIELDS" not in c:
        # its items in an order of its own: ENVELOPE (a subject with
        # "UID 9" in it) before UID
        body = open(sys.argv[4 if selected[0] == "INBOX" else 5],
                    "rb").read()
        return (b"* 1 FETCH (ENVELOPE (NIL \"x UID 9\" NIL NIL NIL NIL NIL"
                b" NIL NIL NIL) UID 7 BODY[] {%d}\r\n" % len(body) + body
                + b")\r\n" + tag + b" OK fetched\r\n")
    if c.startswith("UID FETCH 8") and "BODYSTRUCTURE" in c:
        # UID 9, S/MIME, arrived after the bridge's question about
        # 8:*, which named UID 8 only: a FETCH of 8:* gets it too
        out = (b'* 8 FETCH (UID 8 BODYSTRUCTURE ("text" "plain" NIL NIL '
               b'NIL "7bit" 26 1 NIL NIL NIL NIL))\r\n')
        if c.startswith("UID FETCH 8:* "):
            out += (b'* 9 FETCH (UID 9 BODYSTRUCTURE ("application" '
                    b'"pkcs7-mime" ("smime-type" "enveloped-data") NIL NIL '
                    b'"base64" 400 NIL NIL NIL NIL))\r\n')
        return out + tag + b" OK fetched\r\n"
    if c == "SEARCH *":
        return b"* SEARCH 256\r\n" + tag + b" OK searched\r\n"
    if c.startswith("UID SEARCH 1:256 OR HEADER"):
        return (b"* SEARCH " + " ".join([BIG] * 256).encode() + b"\r\n"
                + tag + b" OK searched\r\n")
    if c == "LOGOUT":
        return b"* BYE bye\r\n" + tag + b" OK bye\r\n"
    return tag + b" OK done\r\n"


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(4)
ls.settimeout(120)
end = time.time() + 120
for _ in range(20):
    if time.time() > end:
        break
    try:
        s, _ = ls.accept()
    except socket.timeout:
        break
    s.settimeout(30)
    try:
        s.sendall(b"* OK hostile\r\n")
        f = s.makefile("rb")
        line = f.readline()
        s.sendall(line.split(b" ")[0] + b" OK begin TLS\r\n")
        t = ctx.wrap_socket(s, server_side=True)
        f = t.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                break
            # a literal: "+" for a synchronizing one, then its bytes
            # and the rest of the command, taken in as they are
            while line.rstrip(b"\r\n").endswith(b"}"):
                head, _, n = line.rstrip(b"\r\n")[:-1].rpartition(b"{")
                if n.endswith(b"+"):
                    n = n[:-1]
                else:
                    t.sendall(b"+ go ahead\r\n")
                line = head + f.read(int(n)) + f.readline()
            tag, _, cmd = line.rstrip(b"\r\n").partition(b" ")
            t.sendall(answer(tag, cmd.decode("latin-1")))
            if cmd.upper() == b"LOGOUT":
                break
    except (OSError, ssl.SSLError):
        pass
    s.close()
PY

# session PASSWORD <LINES: after the login, each line of stdin in one
# write (a "\r\n" in it written as CR LF: commands pipelined), then
# what comes until the answer to the line's last tag (or, for a line
# ending in a synchronizing literal's "{n}", until the "+"; the next
# line holds the literal and the rest of its command), printed raw.
session() {
	local script
	script=$(cat)
	tls_py "$BOB" "$1" "$script" <<'PY'
user, pw, script = sys.argv[1], sys.argv[2], sys.argv[3]
t.settimeout(30)
tf = t.makefile("rb")
def until(tag):
    while True:
        l = tf.readline()
        if not l:
            print("(closed)")
            return
        sys.stdout.write(l.decode("latin-1"))
        if l.startswith(tag + b" "):
            return
t.sendall(b"L LOGIN %s %s\r\n" % (user.encode(), pw.encode()))
until(b"L")
tag = b""
for l in script.split("\n"):
    data = l.replace("\\r\\n", "\r\n").encode() + b"\r\n"
    if not tag:
        tag = data.split(b"\r\n")[-2].split(b" ")[0]
    t.sendall(data)
    if data.endswith(b"}\r\n"):
        until(b"+")
    else:
        until(tag)
        tag = b""
PY
}

# client PASSWORD COMMAND...: each command in turn, tagged c0, c1, ...
client() {
	local pw=$1 i=0 c
	shift
	for c in "$@"; do
		printf 'c%d %s\n' "$i" "$c"
		i=$((i + 1))
	done | session "$pw"
}

t_setup() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 \
		-keyout "$T/fake.key" -out "$T/fake.pem" 2>/dev/null &&
		ll bob identity new --email "$BOB" --key ec-p256 --self-signed \
			>/dev/null &&
		echo secret >"$T/bob.password" &&
		ll bob account add "$BOB" \
			--imap-url "imap://127.0.0.1:$FPORT" \
			--smtp-url "smtp://127.0.0.1:$FPORT" \
			--password-file "$T/bob.password" \
			--ca-file "$T/fake.pem" &&
		printf '[bridge]\nsmtp_port = %s\nimap_port = %s\n' \
			"$SPORT" "$IPORT" >"$T/bob/letterlock.conf" &&
		printf 'From: <%s>\r\nTo: <%s>\r\nSubject: to myself\r\n%s\r\n\r\n%s\r\n' \
			"$BOB" "$BOB" "Message-ID: <self@example.test>" \
			"The seventh message." >"$T/seven.eml" &&
		ll bob seal -o "$T/seven.sealed" "$T/seven.eml" &&
		sed 's/seventh message/seventh of Foo/' "$T/seven.eml" \
			>"$T/foo.eml" &&
		ll bob seal -o "$T/foo.sealed" "$T/foo.eml" || return 1
	"$PY" "$T/hostile.py" "$FPORT" "$T/fake.pem" "$T/fake.key" \
		"$T/seven.sealed" "$T/foo.sealed" >"$T/hostile.log" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 1 50); do
		[ -n "$(ss -Htln "sport = :$FPORT")" ] && return 0
		sleep 0.1
	done
	return 1
}
t "bob's home, his account at the hostile server, which listens" t_setup

eval "hostile_cleanup() $(declare -f on_cleanup | tail -n +2)"
on_cleanup() {
	[ -n "${FAKE_PID:-}" ] && kill "$FAKE_PID" 2>/dev/null
	hostile_cleanup
}

t "bob's bridge starts" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll bob bridge --show-password)

# no session child died of a signal or a sanitizer's finding
no_crash() {
	! grep -E 'session ended \(exit (1[3-9][0-9]|2[0-9][0-9])\)|Sanitizer' \
		"$BLOG"
}

t_fetch_uids() {
	client "$BPW" "SELECT INBOX" "FETCH 1:200 (BODYSTRUCTURE)" "NOOP" \
		>"$T/fetch.out" 2>&1
	tail -n 3 "$T/fetch.out"
	grep -q '^c1 ' "$T/fetch.out" && grep -q '^c2 OK' "$T/fetch.out" &&
		no_crash
}
t "UIDs of 20 digits in the server's answer: the FETCH is answered, the session goes on" t_fetch_uids

t_search_uids() {
	client "$BPW" "SELECT INBOX" "UID SEARCH BODY word" \
		>"$T/search.out" 2>&1
	tail -n 3 "$T/search.out"
	sleep 0.5
	no_crash
}
t "numbers of 20 digits in the server's SEARCH answer: no overflow" t_search_uids

# cached UID: 1 when the account's cache database has an entry for
# INBOX's UID (UIDVALIDITY 7), else 0; an entry's id is the SHA-256 of
# account, mailbox, UIDVALIDITY and UID (imap_cache.c)
cached() {
	local id
	id=$(printf '%s\nINBOX\n7\n%s' "$BOB" "$1" | sha256sum | cut -d' ' -f1)
	sqlite3 -cmd '.timeout 5000' "$T/bob/bridge/cache/$BOB.db" \
		"SELECT count(*) FROM entry WHERE hex(id) = upper('$id')"
}

t_cache_uid() {
	client "$BPW" "SELECT INBOX" "UID FETCH 7 (ENVELOPE BODY.PEEK[] UID)" \
		>"$T/cache.out" 2>&1
	tail -n 3 "$T/cache.out"
	echo "cached: UID 7 $(cached 7), UID 9 $(cached 9)"
	grep -q '^c1 OK' "$T/cache.out" &&
		grep -q 'The seventh message' "$T/cache.out" &&
		[ "$(cached 7)" = 1 ] && [ "$(cached 9)" = 0 ] && no_crash
}
t "a server's answer with \"UID 9\" in a subject before its UID 7: opened and cached as UID 7" t_cache_uid

t_tag() {
	# the client's own command tagged as the bridge's first own one,
	# pipelined before a FETCH the bridge answers
	session "$BPW" >"$T/tag.out" 2>&1 <<'IN'
c0 SELECT INBOX\r\nLL1 NOOP\r\nc1 UID FETCH 7 (BODYSTRUCTURE)
IN
	cat "$T/tag.out"
	[ "$(grep -c '^LL1 ' "$T/tag.out")" = 1 ] &&
		grep -q '^\* 7 FETCH (UID 7 BODYSTRUCTURE ("text" "plain"' \
			"$T/tag.out" &&
		grep -q '^c1 OK' "$T/tag.out" && no_crash
}
t "a client's tag that is the bridge's own (LL1) pipelined before a FETCH: each gets its own answer" t_tag

t_select_literal() {
	# INBOX's UID 7 is in the cache (above); Foo, selected after it
	# with its name as a synchronizing literal, has the same
	# UIDVALIDITY
	session "$BPW" >"$T/foo.out" 2>&1 <<'IN'
c0 SELECT INBOX
c1 SELECT {3}
Foo
c2 UID FETCH 7 (BODY.PEEK[])
IN
	cat "$T/foo.out"
	grep -q '^c2 OK' "$T/foo.out" &&
		grep -q 'The seventh of Foo' "$T/foo.out" &&
		! grep -q 'The seventh message' "$T/foo.out" && no_crash
}
t "a mailbox selected with a literal name: its UID 7 is its own, not INBOX's cached one" t_select_literal

t_plain_forged() {
	# one FETCH over an S/MIME message and a plain one: the plain one
	# is the server's answer, passed on by the bridge
	client "$BPW" "SELECT INBOX" "UID FETCH 7,8 (BODY.PEEK[])" \
		>"$T/plain.out" 2>&1
	grep -i 'X-Letterlock-Status' "$T/plain.out"
	grep -q '^c1 OK' "$T/plain.out" &&
		grep -q 'The plain eighth message' "$T/plain.out" &&
		grep -q "^X-Letterlock-Status: not S/MIME; the message's own status field dropped" \
			"$T/plain.out" &&
		! grep -q 'by ceo@example.test' "$T/plain.out" && no_crash
}
t "a plain message with a forged status field, fetched whole beside an S/MIME one: the field dropped" t_plain_forged

t_select_pipelined() {
	# SELECT INBOX, a FETCH left to the server (it says 7:7 is
	# plain, then answers it with the S/MIME message, which the
	# bridge opens on the way) and SELECT Bar in one write: INBOX's
	# UIDVALIDITY came after Bar's SELECT was read, and INBOX's UID 7
	# was cached as Bar's
	session "$BPW" >"$T/pipe.out" 2>&1 <<'IN'
c0 SELECT INBOX\r\nc1 UID FETCH 7:7 (BODY.PEEK[])\r\nc2 SELECT Bar
IN
	cat "$T/pipe.out"
	client "$BPW" "SELECT Bar" "UID FETCH 7 (BODY.PEEK[])" \
		>"$T/bar.out" 2>&1
	cat "$T/bar.out"
	grep -q 'The seventh message' "$T/pipe.out" &&
		grep -q '^c1 OK' "$T/bar.out" &&
		grep -q 'The seventh of Foo' "$T/bar.out" &&
		! grep -q 'The seventh message' "$T/bar.out" && no_crash
}
t "SELECTs pipelined with a FETCH between them: what is fetched is not cached as the later mailbox's" t_select_pipelined

t_arrived() {
	# a FETCH of plain messages only is left to the server: as the
	# set the bridge asked about (8:*), a message that arrived
	# meanwhile (UID 9, S/MIME) was in the server's answer, its
	# BODYSTRUCTURE the ciphertext's
	client "$BPW" "SELECT INBOX" "UID FETCH 8:* (BODYSTRUCTURE)" \
		>"$T/arrived.out" 2>&1
	cat "$T/arrived.out"
	grep -q '^\* 8 FETCH (UID 8 BODYSTRUCTURE ("text" "plain"' \
		"$T/arrived.out" && grep -q '^c1 OK' "$T/arrived.out" &&
		! grep -qi 'pkcs7' "$T/arrived.out" && no_crash
}
t "a FETCH of plain messages left to the server: a message that arrived meanwhile is not in it" t_arrived

t_append_quoted() {
	# an APPEND without a literal (the message as a quoted string,
	# CATENATE's text): this server says OK to anything, so it would
	# have stored the plaintext; the bridge refuses it
	client "$BPW" 'APPEND Drafts (\Seen) "Subject: x - in the clear"' \
		'APPEND Drafts CATENATE (TEXT "Subject: x - in the clear")' \
		>"$T/quoted.out" 2>&1
	cat "$T/quoted.out"
	grep -q '^c0 NO \[CANNOT\]' "$T/quoted.out" &&
		grep -q '^c1 NO \[CANNOT\]' "$T/quoted.out" && no_crash
}
t "an APPEND without a literal is refused, never passed on unsealed" t_append_quoted

finish
