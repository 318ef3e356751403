#!/bin/bash
# test_bridge_slowlink.sh - `letterlock bridge` over a slow and flaky
# link to the provider (doc/bridge.md: after the login there is no read
# time-out; a lost connection ends the session with BYE; the SMTP
# relay's outbox and retries).  bob's account points at a small TCP
# proxy of this script's in front of Dovecot's IMAP port and Postfix's
# submission port.  TLS passes through it untouched (the certificate is
# checked as ever); the proxy only delays (150 to 300 ms each way),
# splits what it forwards into writes of 1 to 100 bytes (TLS records
# and IMAP literals arrive in pieces), stalls and cuts on command.
# curl, as the client, through bob's bridge:
#
#   * login; alice's sealed message opens (plaintext and status); a
#     2 MiB one arrives complete; SEARCH over its content; APPEND is
#     stored sealed (checked at Dovecot directly);
#   * IDLE hears of a message delivered meanwhile;
#   * a stall of 5 s in the middle of a 2 MiB FETCH is waited out;
#   * the upstream connection cut in an idle session and in the middle
#     of a FETCH's answer: the client gets BYE, not a hang (nor a
#     silent close); the next login works;
#   * SMTP submission over the link: delivered exactly once, also one
#     that takes longer than [send] timeout (stalls shorter than it); the link
#     cut during DATA: 451 to the client, the retry delivers it once.
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

lldtest_init bridge_slowlink "letterlock bridge over a slow and flaky link"
unset MAILSTACK_PASSWORD

. "$here/bridgetest.sh"
bridge_bob
free_port PIPORT || fatal "no free port"
free_port PSPORT || fatal "no free port"

PROXY_PIDS=""
eval "bridge_cleanup() $(declare -f on_cleanup | tail -n +2)"
on_cleanup() {
	local p
	for p in $PROXY_PIDS; do kill "$p" 2>/dev/null; done
	for p in $PROXY_PIDS; do wait "$p" 2>/dev/null; done
	bridge_cleanup
}

# The proxy: slowproxy.py PORT TARGET CONTROL.  Each connection to
# 127.0.0.1:PORT is forwarded to 127.0.0.1:TARGET, every chunk read
# held back 150 to 300 ms (in order) and written in pieces of 1 to 100
# bytes.  A line written to the file CONTROL (read and removed within
# 50 ms) arms one action:
#   stall up|down BYTES SECONDS   once BYTES more went that way (up: to
#                                 the server), nothing moves either way
#                                 for SECONDS
#   cut up|down BYTES             once BYTES more went that way, that
#                                 connection is closed both ways
#   cut now                       every open connection is closed
# What it did goes to stderr.  It ends by itself after 240 s.
cat >"$T/slowproxy.py" <<'PY'
import collections, os, random, socket, sys, threading, time

port, target, control = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
end = time.time() + 240
lock = threading.Lock()
armed = []            # [direction, bytes left, action, seconds]
stall_until = [0.0]
conns = set()


def say(*words):
    print("%.2f" % time.time(), *words, file=sys.stderr, flush=True)


def cut(pair, why):
    with lock:
        if pair not in conns:
            return
        conns.discard(pair)
    say("cut", why)
    for s in pair:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def moved(direction, n, pair):
    """n bytes went DIRECTION: count them against the armed actions."""
    fire = []
    with lock:
        for a in armed[:]:
            if a[0] == direction:
                a[1] -= n
                if a[1] <= 0:
                    armed.remove(a)
                    fire.append(a)
    for a in fire:
        if a[2] == "stall":
            stall_until[0] = time.time() + a[3]
            say("stall", direction, a[3], "s")
        else:
            cut(pair, direction)


def pump(src, dst, direction, pair):
    queue = collections.deque()
    ready = threading.Condition()
    done = [False]

    def reader():
        while True:
            try:
                data = src.recv(16384)
            except OSError:
                data = b""
            with ready:
                queue.append((time.time() + random.uniform(0.15, 0.30),
                              data))
                ready.notify()
            if not data:
                return

    threading.Thread(target=reader, daemon=True).start()
    while True:
        with ready:
            while not queue:
                ready.wait(1)
            due, data = queue.popleft()
        while time.time() < due or time.time() < stall_until[0]:
            time.sleep(0.01)
        if not data:
            break
        try:
            i = 0
            while i < len(data):
                while time.time() < stall_until[0]:
                    time.sleep(0.01)
                n = random.randint(1, 100)
                dst.sendall(data[i:i + n])
                moved(direction, len(data[i:i + n]), pair)
                i += n
        except OSError:
            break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(client):
    try:
        up = socket.create_connection(("127.0.0.1", target), timeout=10)
    except OSError:
        client.close()
        return
    up.settimeout(None)
    for s in (client, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pair = (client, up)
    with lock:
        conns.add(pair)
    say("open")
    t = threading.Thread(target=pump, args=(up, client, "down", pair),
                         daemon=True)
    t.start()
    pump(client, up, "up", pair)
    t.join(60)
    cut(pair, "closed")
    for s in pair:
        s.close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
ls.settimeout(0.05)
while time.time() < end:
    try:
        c, _ = ls.accept()
        c.settimeout(None)
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    except socket.timeout:
        pass
    try:
        with open(control) as f:
            words = f.read().split()
        os.unlink(control)
    except FileNotFoundError:
        continue
    say("control", *words)
    if words == ["cut", "now"]:
        for pair in list(conns):
            cut(pair, "now")
    elif words[0] == "stall":
        with lock:
            armed.append([words[1], int(words[2]), "stall", float(words[3])])
    elif words[0] == "cut":
        with lock:
            armed.append([words[1], int(words[2]), "cut", 0])
say("lifetime over")
PY

# proxy_start PORT TARGET NAME: the proxy on PORT for TARGET, its
# control file $T/NAME.ctl, its log $T/NAME.log
proxy_start() {
	local _
	"$PY" "$T/slowproxy.py" "$1" "$2" "$T/$3.ctl" 2>"$T/$3.log" &
	PROXY_PIDS="$PROXY_PIDS $!"
	for _ in $(seq 1 50); do
		[ -n "$(ss -Htln "sport = :$1")" ] && return 0
		sleep 0.1
	done
	return 1
}
# proxy NAME WORDS...: arm an action of proxy NAME, once it has read it
proxy() {
	local _
	echo "${*:2}" >"$T/$1.ctl"
	for _ in $(seq 1 50); do
		[ -e "$T/$1.ctl" ] || return 0
		sleep 0.1
	done
	echo "proxy $1 did not read its control file"
	return 1
}

# letter NAME FROM TO TEXT [LINES]: $T/NAME.eml from FROM to TO,
# Message-ID <NAME@example.test>, the line TEXT; with LINES, LINES more
# lines "big N ..." of 69 characters
letter() {
	{
		printf 'From: %s\r\nTo: %s\r\n' "$2" "$3"
		printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$1" "$1"
		printf '\r\n%s\r\n' "$4"
		[ -z "${5:-}" ] || awk -v n="$5" 'BEGIN {
			for (i = 1; i <= n; i++)
				printf "big %07d the quick brown fox jumps over the lazy dog again %05d\r\n", i, i % 100000
		}'
	} >"$T/$1.eml"
}
# msg NAME [LINES]: alice's letter to bob
msg() {
	letter "$1" "Alice <$ALICE>" "Bob <$BOB>" \
		"The secret word of $1 is pumpernickel." "${2:-}"
}
# sealed NAME [LINES]: msg NAME sealed by alice to bob, into bob's INBOX
sealed() {
	msg "$@" && ll alice seal -o "$T/$1.sealed" "$T/$1.eml" &&
		cp "$T/$1.sealed" "$T/$1.up.eml" && upload "$1.up"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"

t_setup() {
	bridge_homes && ll bob contact add "$T/alice.pem" >/dev/null &&
		ll alice trust add "$T/bob.pem" >/dev/null || return 1
	proxy_start "$PIPORT" "$MAILSTACK_IMAP_PORT" imap &&
		proxy_start "$PSPORT" "$MAILSTACK_SUBMISSION_PORT" smtp || return 1
	ll bob account remove "$BOB" >/dev/null &&
		ll bob account add "$BOB" \
			--imap-url "imap://127.0.0.1:$PIPORT" \
			--smtp-url "smtp://127.0.0.1:$PSPORT" \
			--password-file "$T/bob.password" \
			--ca-file "$MAILSTACK_CA_FILE" >/dev/null || return 1
	# a short time-out for the exchanges with the mail server, which
	# bounds a stall, not a transfer that keeps moving (t_long_send)
	printf 'retry = 1\n[send]\ntimeout = 6\n' >>"$T/bob/letterlock.conf"
	sealed enc && sealed big 31000 &&
		[ "$(stat -c %s "$T/big.eml")" -gt $((2 * 1024 * 1024)) ]
}
t "alice and bob; bob's account at the slow proxies; alice's sealed messages (a small one, one of 2 MiB) in his INBOX" t_setup

t "bob's bridge starts" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll bob bridge --show-password)

# ------------------------------------------------------------ IMAP

t_login() {
	via "$BPW" "" -X CAPABILITY
	echo "$OUT"
	[ "$RC" = 0 ] && echo "$OUT" | grep -q '^\* CAPABILITY IMAP4rev1' &&
		grep -q open "$T/imap.log"
}
t "login over the slow link (through the proxy)" t_login

t_read() {
	local u
	u=$(uid enc)
	via "$BPW" "INBOX;UID=$u"
	echo "$OUT" | head -n 12
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: encrypted, decrypted .*; signature valid by alice@example.test' &&
		echo "$OUT" | grep -q 'The secret word of enc is pumpernickel'
}
t "FETCH of a sealed message: opened (plaintext, status encrypted and valid)" t_read

# whole NAME: $OUT holds NAME's every line, in order, and its status
whole() {
	[ "$RC" = 0 ] &&
		echo "$OUT" | grep -q '^X-Letterlock-Status: encrypted, decrypted .*; signature valid by alice@example.test' &&
		cmp <(grep '^big ' "$T/$1.eml" | tr -d '\r') \
			<(echo "$OUT" | grep '^big ' | tr -d '\r')
}

t_big() {
	via "$BPW" "INBOX;UID=$(uid big)"
	echo "$OUT" | grep -c '^big '
	whole big
}
t "a 2 MiB sealed message arrives opened and complete" t_big

t_search() {
	via "$BPW" INBOX -X "UID SEARCH BODY pumpernickel"
	echo "$OUT"
	[ "$RC" = 0 ] && echo "$OUT" | tr -d '\r' |
		grep -qx "\* SEARCH $(uid enc) $(uid big)"
}
t "SEARCH over the encrypted content finds the two" t_search

t_append() {
	local u
	via "$BPW" "" -X "CREATE Sent"
	{
		printf 'From: Bob <%s>\r\nTo: Alice <%s>\r\n' "$BOB" "$ALICE"
		printf 'Subject: saved\r\nMessage-ID: <saved@example.test>\r\n'
		printf '\r\nBob saves the word marmalade.\r\n'
	} >"$T/saved.eml"
	via "$BPW" Sent -T "$T/saved.eml"
	[ "$RC" = 0 ] || return 1
	u=$(direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/Sent" \
		-X "UID SEARCH HEADER Message-ID <saved@example.test>" |
		awk '/^\* SEARCH [0-9]/ { print $3 }' | tr -d '\r')
	[ -n "$u" ] || { echo "not stored"; return 1; }
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/Sent;UID=$u" \
		>"$T/saved.server"
	grep -i '^Content-Type:' "$T/saved.server" | head -n 1
	grep -Eqi '^Content-Type: application/pkcs7-mime;.*smime-type=(authE|e)nveloped-data' "$T/saved.server" &&
		! grep -q marmalade "$T/saved.server"
}
t "APPEND over the slow link: stored sealed (no plaintext at the server)" t_append

t_idle() {
	local idler rc _
	tls_py "$BOB" "$BPW" >"$T/idle.out" 2>&1 <<'PY' &
t.settimeout(40)
t.sendall(b'b LOGIN "%s" "%s"\r\nc SELECT INBOX\r\nd IDLE\r\n' %
          (sys.argv[1].encode(), sys.argv[2].encode()))
g = t.makefile("rb")
def until(end):
    """print the server's lines up to END(line); its close fails"""
    while True:
        line = g.readline()
        if not line:
            sys.exit(1)
        print(line.decode().rstrip(), flush=True)
        if end(line):
            return
until(lambda line: line.startswith(b"+ "))
print("IDLING", flush=True)
until(lambda line: line.endswith(b"EXISTS\r\n"))
t.sendall(b"DONE\r\ne LOGOUT\r\n")
until(lambda line: line.startswith(b"e OK"))
PY
	idler=$!
	for _ in $(seq 1 100); do
		grep -q '^IDLING' "$T/idle.out" && break
		sleep 0.1
	done
	grep -q '^IDLING' "$T/idle.out" || { cat "$T/idle.out"; kill "$idler"; return 1; }
	# delivered by Postfix (not through the proxy)
	if ! { msg idle && ll alice seal -o "$T/idle.sealed" "$T/idle.eml" &&
		curl -sS --ssl-reqd --cacert "$MAILSTACK_CA_FILE" \
			--url "smtp://127.0.0.1:$MAILSTACK_SUBMISSION_PORT" \
			--user "$ALICE:$(pw "$ALICE")" --mail-from "$ALICE" \
			--mail-rcpt "$BOB" -T "$T/idle.sealed"; }; then
		kill "$idler"
		return 1
	fi
	wait "$idler"
	rc=$?
	cat "$T/idle.out"
	[ "$rc" = 0 ]
}
t "IDLE over the slow link: a message delivered meanwhile is announced (EXISTS); DONE and LOGOUT end it" t_idle

t_stall() {
	local start took
	# a message not read yet (nothing of it in the cache); the stall
	# comes after 500 kB of the answer (it is 2.9 MB sealed)
	sealed big2 31000 && proxy imap stall down 500000 5 || return 1
	start=$SECONDS
	via "$BPW" "INBOX;UID=$(uid big2)"
	took=$((SECONDS - start))
	echo "took $took s"
	grep -E 'control|stall' "$T/imap.log" | tail -n 2
	grep -q 'stall down 5.0 s' "$T/imap.log" && [ "$took" -ge 5 ] &&
		whole big2
}
t "a stall of 5 s in the middle of a 2 MiB FETCH: waited out, the message complete" t_stall

t_cut() {
	local before
	before=$(grep -c '^[0-9.]* cut now' "$T/imap.log")
	tls_py "$BOB" "$BPW" "$T/imap.ctl" >"$T/cut.out" 2>&1 <<'PY'
import os, time
t.settimeout(20)
t.sendall(b'b LOGIN "%s" "%s"\r\nc SELECT INBOX\r\n' %
          (sys.argv[1].encode(), sys.argv[2].encode()))
g = t.makefile("rb")
while True:
    line = g.readline()
    print(line.decode().rstrip(), flush=True)
    if not line or line.startswith(b"c "):
        break
if not line.startswith(b"c OK"):
    sys.exit(1)
with open(sys.argv[3], "w") as f:
    f.write("cut now\n")
t.sendall(b"d NOOP\r\n")
start = time.time()
rest = g.read()  # the socket's time-out (20 s) bounds the wait
print(rest.decode(), "(end after %.1f s)" % (time.time() - start))
sys.exit(0 if b"* BYE" in rest else 1)
PY
	local rc=$?
	cat "$T/cut.out"
	[ "$rc" = 0 ] &&
		[ "$(grep -c '^[0-9.]* cut now' "$T/imap.log")" -gt "$before" ] ||
		return 1
	via "$BPW" "INBOX" -X "UID SEARCH ALL"
	[ "$RC" = 0 ] && grep -q '^\* SEARCH [0-9]' <<<"$OUT"
}
t "the upstream connection cut in the middle of a session: the client gets BYE and the end, not a hang; the next login works" t_cut

t_cut_fetch() {
	# a message not read yet, 700 kB sealed: the link is cut after
	# 200 kB of the server's answer to the bridge's own FETCH
	sealed cutfetch 7500 && proxy imap cut down 200000 || return 1
	tls_py "$BOB" "$BPW" "$(uid cutfetch)" >"$T/cutfetch.out" 2>&1 <<'PY'
import time
t.settimeout(20)
t.sendall(b'b LOGIN "%s" "%s"\r\nc SELECT INBOX\r\nd UID FETCH %s BODY.PEEK[]\r\n'
          % (sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3].encode()))
start = time.time()
got = read_all()  # the socket's time-out (20 s) bounds the wait
lines = got.splitlines()
print(b"\n".join(l for l in lines if not l.startswith(b"big ")).decode(),
      "(end after %.1f s)" % (time.time() - start))
sys.exit(0 if b"c OK" in got and lines[-1].startswith(b"* BYE") and
         b"d OK" not in got else 1)
PY
	local rc=$?
	cat "$T/cutfetch.out"
	grep -q '^[0-9.]* cut down' "$T/imap.log" && [ "$rc" = 0 ] || return 1
	via "$BPW" "INBOX" -X "UID SEARCH ALL"
	[ "$RC" = 0 ] && grep -q '^\* SEARCH [0-9]' <<<"$OUT"
}
t "the upstream connection cut in the middle of a FETCH's answer: the client gets BYE and the end, not a hang; the next login works" t_cut_fetch

# ------------------------------------------------------------ SMTP

# submit NAME: curl submits $T/NAME.eml (bob's, to alice) through the
# bridge; exit status in $RC, the dialogue in $T/NAME.curl
submit() {
	timeout 90 curl -sS -v --url "smtp://127.0.0.1:$SPORT" --ssl-reqd \
		--cacert "$T/bob/bridge/tls.pem" --mail-from "$BOB" \
		--mail-rcpt "$ALICE" --upload-file "$T/$1.eml" \
		--user "$BOB:$BPW" >"$T/$1.curl" 2>&1
	RC=$?
	echo "curl: exit $RC"
	grep -E '^< ' "$T/$1.curl" | tail -n 4
}
# delivered NAME SECONDS: exactly one copy of NAME reaches alice within
# SECONDS, and no second one 3 s later
delivered() {
	local _
	for _ in $(seq 1 $(($2 * 10))); do
		[ "$(ngot "$ALICE" "$1")" -ge 1 ] && break
		sleep 0.1
	done
	sleep 3
	[ "$(ngot "$ALICE" "$1")" = 1 ] ||
		{ echo "alice has $(ngot "$ALICE" "$1") of $1, expected 1"; return 1; }
}
# bobs NAME [LINES]: bob's letter to alice
bobs() {
	letter "$1" "Bob <$BOB>" "Alice <$ALICE>" \
		"Bob writes $1 over a slow link." "${2:-}"
}

t_submit() {
	bobs slowsend
	submit slowsend
	[ "$RC" = 0 ] && grep -q '^< 250 2.0.0 sealed' "$T/slowsend.curl" &&
		delivered slowsend 30 && grep -q open "$T/smtp.log" || return 1
	ll alice open -o "$T/slowsend.plain" "$(got "$ALICE" slowsend)" &&
		grep -q 'Bob writes slowsend over a slow link' "$T/slowsend.plain"
}
t "SMTP submission over the slow link: 250, delivered exactly once, opens for alice" t_submit

t_long_send() {
	local start took
	# 760 kB sealed, two stalls of 4 s on the way: the exchange takes
	# longer than the 6 s time-out, no stall as long as it
	bobs longsend 8000
	proxy smtp stall up 100000 4 && proxy smtp stall up 400000 4 || return 1
	start=$(date +%s)
	submit longsend
	took=$(($(date +%s) - start))
	echo "took $took s"
	grep -E 'control|stall' "$T/smtp.log" | tail -n 2
	[ "$RC" = 0 ] && grep -q '^< 250 2.0.0 sealed' "$T/longsend.curl" &&
		[ "$took" -ge 8 ] && delivered longsend 30
}
t "a submission that takes longer than [send] timeout with stalls shorter than it: 250 at the first try, delivered once" t_long_send

t_smtp_cut() {
	# 8000 lines: 760 kB sealed; the link is cut after 60 kB of it
	bobs cutdata 8000
	proxy smtp cut up 60000 || return 1
	submit cutdata
	grep -E 'control|cut' "$T/smtp.log" | tail -n 2
	[ "$RC" != 0 ] && grep -q '^< 4[0-9][0-9] ' "$T/cutdata.curl" &&
		grep -q '^[0-9.]* cut up' "$T/smtp.log" || return 1
	delivered cutdata 40 || return 1
	ll alice open -o "$T/cutdata.plain" "$(got "$ALICE" cutdata)" &&
		grep -q '^big 0008000 ' "$T/cutdata.plain"
}
t "the SMTP link cut during DATA: 4xx to the client, the retry delivers it exactly once, complete" t_smtp_cut

t_log_clean() {
	! grep -F "$BPW" "$BLOG" && ! grep -F "$(cat "$T/bob.password")" "$BLOG" &&
		! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$BLOG"
}
t "the bridge's log holds no password and no sanitizer report" t_log_clean
finish
