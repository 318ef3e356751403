#!/bin/bash
# test_bridge_fetch.sh - `letterlock bridge`, IMAP side: a client that
# reads a message by parts (BODYSTRUCTURE, BODY[section], partials,
# ENVELOPE, RFC822.SIZE, as Thunderbird and Apple Mail do) sees the
# opened message, answered by the bridge, not the ciphertext the server
# describes.  On the real mail stack (scripts/mailstack: Postfix,
# Dovecot); bob reads through his bridge with a small IMAP client
# (imapc.py below) that keeps the raw responses, literals included:
#
#   * an encrypted multipart/mixed message (a text part and an
#     attachment, the Subject protected by RFC 9788: "[...]" outside):
#     BODYSTRUCTURE is the plaintext's (the server's is one
#     application/pkcs7-mime part); BODY[1] is the text part;
#     BODY[HEADER.FIELDS (SUBJECT)] and ENVELOPE give the real subject
#     and sender; RFC822.SIZE is the length of BODY[]; BODY[]<0.100> its
#     first 100 bytes;
#   * FETCH 1:* over plain and encrypted messages answers each one once
#     with the server's sequence numbers, also over 250 messages (more
#     than one batch); a FETCH of FLAGS only passes through untouched;
#     a FETCH pipelined behind another gets its own answer only; one
#     with a modifier list (CONDSTORE, not offered) is refused;
#   * BODY[] and BODY[1] set \Seen on the server (the new FLAGS come
#     with the answer), BODY.PEEK[] does not;
#   * a message read once is answered from the cache: its copy on the
#     server replaced by garbage of the same size, the bridge still
#     answers the plaintext; with the cache emptied, the garbage;
#   * a tampered signed message: "signature invalid" in
#     BODY[HEADER.FIELDS (X-LETTERLOCK-STATUS)]; a message bob has no key
#     for: the ciphertext's structure, never plaintext.
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

lldtest_init bridge_fetch "letterlock bridge, IMAP FETCH by parts"
unset MAILSTACK_PASSWORD

. "$here/bridgetest.sh"
bridge_bob

# imapc.py: an IMAP client after STARTTLS that returns what came for a
# command, raw, and reads FETCH responses into items.
cat >"$T/imapc.py" <<'PY'
import re


class Imap:
    def __init__(self, port, ca, user, password):
        self.t = starttls(port, ca)
        self.f = self.t.makefile("rb")
        self.n = 0
        self.ok('LOGIN "%s" "%s"' % (user, password))

    def cmd(self, line):
        """Everything up to the tagged answer (in self.last)."""
        self.n += 1
        tag = b"t%d " % self.n
        self.t.sendall(tag + line.encode() + b"\r\n")
        out = b""
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError("closed")
            if ln.startswith(tag):
                self.last = ln
                return out
            out += ln
            while True:
                m = re.search(rb"\{(\d+)\}\r\n$", ln)
                if not m:
                    break
                out += self.f.read(int(m.group(1)))
                ln = self.f.readline()
                out += ln

    def append(self, box, msg):
        """MSG into BOX (a non-synchronizing literal, RFC 7888)."""
        self.n += 1
        tag = b"t%d " % self.n
        self.t.sendall(tag + b"APPEND %s {%d+}\r\n" % (box.encode(), len(msg))
                       + msg + b"\r\n")
        while True:
            ln = self.f.readline()
            if ln.startswith(tag):
                assert ln.split(b" ")[1] == b"OK", ln
                return

    def ok(self, line):
        out = self.cmd(line)
        if not self.last.split(b" ")[1].startswith(b"OK"):
            raise RuntimeError("%s: %r" % (line, self.last))
        return out


# STARTTLS; the FETCH responses of the bytes a command got
from imapclients import starttls, fetched  # noqa: E402,F401
PY

# py ARGS... <SCRIPT: python SCRIPT with imapc imported; b (bob at his
# bridge) and d (bob at Dovecot, the mailbox EXAMINEd: nothing read
# there changes a flag) logged in; INBOX selected on b
py() {
	{
		cat <<'PY'
import os, re, sys
sys.path[:0] = [sys.argv.pop(1), sys.argv.pop(1)]
from imapc import Imap, fetched
ca, iport, bpw, sca, sport, spw = sys.argv[1:7]
del sys.argv[1:7]
b = Imap(int(iport), ca, "bob@example.test", bpw)
b.ok("SELECT INBOX")
d = Imap(int(sport), sca, "bob@example.test", spw)
d.ok("EXAMINE INBOX")
def helpers(bridge):
    """The bridge's grandchildren: the sessions' opening helpers."""
    def ppid(pid):
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    out = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and ppid(ppid(int(p))) == bridge:
                out.append(int(p))
        except (OSError, IndexError, ValueError):
            pass
    return out
def one(c, cmd):
    """The one message's items FETCH CMD gives through C."""
    r = fetched(c.ok(cmd))
    assert len(r) == 1, r
    return r[0][1]
PY
		cat
	} | "$PY" - "$T" "$here" "$T/bob/bridge/tls.pem" "$IPORT" "$BPW" \
		"$MAILSTACK_CA_FILE" "$MAILSTACK_IMAP_PORT" "$(pw "$BOB")" "$@"
}

# upload FILE: into bob's INBOX at Dovecot (APPEND)
upload() {
	direct --url "imap://127.0.0.1:$MAILSTACK_IMAP_PORT/INBOX" -T "$1"
}

# head_of NAME SUBJECT TO: the header of a message from alice
head_of() {
	printf 'From: Alice <%s>\r\nTo: %s\r\n' "$ALICE" "$3"
	printf 'Subject: %s\r\nMessage-ID: <%s@example.test>\r\n' "$2" "$1"
	printf 'Date: Wed, 25 Nov 2026 03:00:00 +0000\r\nMIME-Version: 1.0\r\n'
}
# mixed NAME SUBJECT BYTES: $T/NAME.eml, multipart/mixed: a text part
# and an attachment of BYTES random bytes
mixed() {
	{
		head_of "$1" "$2" "Bob <$BOB>"
		printf 'Content-Type: multipart/mixed; boundary="b-%s"\r\n\r\n' "$1"
		printf -- '--b-%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n' "$1"
		printf 'The figures of %s are in the attachment: pumpernickel.\r\n' "$1"
		printf -- '--b-%s\r\nContent-Type: application/octet-stream; name="report.bin"\r\n' "$1"
		printf 'Content-Disposition: attachment; filename="report.bin"\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n\r\n'
		head -c "$3" /dev/urandom | base64 -w 76 | sed 's/$/\r/'
		printf -- '--b-%s--\r\n' "$1"
	} >"$T/$1.eml"
}
# plain NAME SUBJECT: $T/NAME.eml, a plain text message
plain() {
	{
		head_of "$1" "$2" "Bob <$BOB>"
		printf 'Content-Type: text/plain\r\n\r\nNothing secret in %s.\r\n' "$1"
	} >"$T/$1.eml"
}

# ------------------------------------------------------------ set-up

lldtest_stack "mail stack up"

t "alice and bob: identities, each other's certificates; bob's account" bridge_homes

# In bob's INBOX, in this order: lunch (plain), figures (encrypted,
# multipart/mixed), tampered (signed, changed), other (encrypted to
# alice only), big (encrypted, a 300 KB attachment).
t_mail() {
	plain lunch "Lunch" && upload "$T/lunch.eml" || return 1
	mixed figures "Quarterly figures" 3000 &&
		ll alice seal -o "$T/figures.sealed" "$T/figures.eml" &&
		upload "$T/figures.sealed" || return 1
	plain tampered "Signed" &&
		ll alice seal --sign-only -o "$T/signed.eml" "$T/tampered.eml" &&
		sed 's/Nothing secret/Something secret/' "$T/signed.eml" \
			>"$T/tampered.eml" &&
		! cmp -s "$T/signed.eml" "$T/tampered.eml" &&
		upload "$T/tampered.eml" || return 1
	mixed other "Not for bob" 100 &&
		sed -i "s/^To: Bob.*/To: Alice <$ALICE>/" "$T/other.eml" &&
		ll alice seal -o "$T/other.sealed" "$T/other.eml" &&
		upload "$T/other.sealed" || return 1
	mixed big "Big" 300000 &&
		ll alice seal -o "$T/big.sealed" "$T/big.eml" &&
		upload "$T/big.sealed" || return 1
	grep -q '^Subject: \[\.\.\.\]' "$T/figures.sealed"
}
t "bob's INBOX: a plain message, encrypted ones (the subject protected), a tampered signed one, one not for bob" t_mail

t "bob's bridge starts" bridge_start
[ -n "$BRIDGE_PID" ] || fatal "no bridge"
BPW=$(ll bob bridge --show-password)
FIG=$(uid figures)
[ -n "$FIG" ] || fatal "no figures message"

# ------------------------------------------------------------ by parts

t_bodystructure() {
	py "$FIG" <<'PY'
u = sys.argv[1]
bs = one(b, "UID FETCH %s (BODYSTRUCTURE)" % u)["BODYSTRUCTURE"]
sv = one(d, "UID FETCH %s (BODYSTRUCTURE)" % u)["BODYSTRUCTURE"]
print("bridge:", bs)
print("server:", sv)
# multipart: a list of parts, then the subtype
assert isinstance(bs[0], list) and isinstance(bs[1], list), bs
assert bs[2].upper() == b"MIXED", bs
assert [bs[0][0].upper(), bs[0][1].upper()] == [b"TEXT", b"PLAIN"], bs
assert [bs[1][0].upper(), bs[1][1].upper()] == [b"APPLICATION", b"OCTET-STREAM"], bs
assert b"PKCS7" not in repr(bs).upper().encode()
assert sv[1].upper() == b"PKCS7-MIME", sv
PY
}
t "BODYSTRUCTURE: the plaintext's (multipart/mixed: text/plain, an attachment), not the server's application/pkcs7-mime" t_bodystructure

t_section() {
	py "$FIG" <<'PY'
u = sys.argv[1]
p1 = one(b, "UID FETCH %s (BODY.PEEK[1])" % u)["BODY[1]"]
mime = one(b, "UID FETCH %s (BODY.PEEK[2.MIME])" % u)["BODY[2.MIME]"]
srv = one(d, "UID FETCH %s (BODY.PEEK[1])" % u)["BODY[1]"]
print(p1, mime, srv[:80])
# the CRLF before the boundary is the boundary's (RFC 2046 5.1.1)
assert p1 == b"The figures of figures are in the attachment: pumpernickel."
assert b'filename="report.bin"' in mime
assert b"pumpernickel" not in srv
PY
}
t "BODY[1] is the plaintext of part 1, BODY[2.MIME] the attachment's header (the server's BODY[1] is ciphertext)" t_section

t_subject() {
	py "$FIG" <<'PY'
u = sys.argv[1]
it = one(b, "UID FETCH %s (BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE)" % u)
srv = one(d, "UID FETCH %s (BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE)" % u)
print(it)
print(srv)
assert it["BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: Quarterly figures\r\n\r\n"
env = it["ENVELOPE"]
assert env[1] == b"Quarterly figures", env
assert env[2][0][2:] == [b"alice", b"example.test"], env
assert srv["ENVELOPE"][1] == b"[...]"
PY
}
t "BODY[HEADER.FIELDS (SUBJECT)] and ENVELOPE: the real subject and sender (the server's subject is [...])" t_subject

t_size() {
	py "$FIG" <<'PY'
u = sys.argv[1]
it = one(b, "UID FETCH %s (RFC822.SIZE BODY.PEEK[] BODY.PEEK[]<0.100>)" % u)
whole = it["BODY[]"]
print(it["RFC822.SIZE"], len(whole), it["BODY[]<0>"])
assert int(it["RFC822.SIZE"]) == len(whole)
assert whole.startswith(b"X-Letterlock-Status: encrypted, decrypted")
assert it["BODY[]<0>"] == whole[:100]
srv = one(d, "UID FETCH %s (RFC822.SIZE)" % u)
assert int(srv["RFC822.SIZE"]) != len(whole)
PY
}
t "RFC822.SIZE is the length of BODY[] (not the server's); BODY[]<0.100> its first 100 bytes" t_size

t_all() {
	py <<'PY'
got = fetched(b.ok("FETCH 1:* (UID FLAGS RFC822.SIZE "
                   "BODY.PEEK[HEADER.FIELDS (SUBJECT X-LETTERLOCK-STATUS)])"))
srv = {s: it for s, it in fetched(d.ok("FETCH 1:* (UID RFC822.SIZE)"))}
seen = {}
for seq, it in got:
    h = it["BODY[HEADER.FIELDS (SUBJECT X-LETTERLOCK-STATUS)]"]
    print(seq, it["UID"], it["RFC822.SIZE"], h)
    assert seq not in seen, seq
    seen[seq] = h
    assert it["UID"] == srv[seq]["UID"]          # the server's numbering
    same = it["RFC822.SIZE"] == srv[seq]["RFC822.SIZE"]
    if b"Lunch" in h:
        assert same and b"X-Letterlock" not in h
    else:
        assert not same and h.startswith(b"X-Letterlock-Status: ")
assert sorted(seen) == sorted(srv), (sorted(seen), sorted(srv))
subjects = b" ".join(seen[s] for s in sorted(seen))
for s in (b"Subject: Lunch", b"Subject: Quarterly figures", b"Subject: Signed",
          b"Subject: [...]", b"Subject: Big"):
    assert s in subjects, s
assert b"signature invalid" in subjects
PY
}
t "FETCH 1:* over plain and S/MIME messages: each once, the server's sequence numbers, each answered as it is" t_all

t_flags_only() {
	py <<'PY'
out = b.ok("FETCH 1:* (FLAGS)")
print(out.decode())
r = fetched(out)
assert len(r) == 5 and all(list(it) == ["FLAGS"] for _, it in r), r
PY
}
t "a FETCH of FLAGS only passes through: the server's answer as it is" t_flags_only

t_plain_only() {
	py "$(uid lunch)" <<'PY'
u = sys.argv[1]
q = "UID FETCH %s (BODYSTRUCTURE ENVELOPE RFC822.SIZE BODY.PEEK[1])" % u
bs, sv = one(b, q), one(d, q)
print("bridge:", bs)
print("server:", sv)
# the set holds no S/MIME message: the server's own answer, as it is
assert bs == sv, (bs, sv)
assert b"Nothing secret in lunch" in bs["BODY[1]"]
PY
}
t "a FETCH of content items over plain messages only: the server's own answer" t_plain_only

t_seen() {
	py "$FIG" <<'PY'
u = sys.argv[1]
def flags():
    d.ok("NOOP")  # the other session's changes seen
    return one(d, "UID FETCH %s (FLAGS)" % u)["FLAGS"]
# curl's APPEND stored it \Seen
b.ok("UID STORE %s -FLAGS.SILENT (\\Seen)" % u)
assert b"\\Seen" not in flags()
one(b, "UID FETCH %s (BODY.PEEK[] BODY.PEEK[1])" % u)
print("after PEEK:", flags())
assert b"\\Seen" not in flags()
for item in ("BODY[]", "BODY[1]"):
    b.ok("UID STORE %s -FLAGS.SILENT (\\Seen)" % u)
    it = one(b, "UID FETCH %s (%s)" % (u, item))
    print("after %s:" % item, flags(), it.get("FLAGS"))
    assert b"\\Seen" in flags()
    # the server's new flags come with the answer
    assert b"\\Seen" in it["FLAGS"]
    assert b"pumpernickel." in it[item]
PY
}
t "BODY.PEEK[] leaves \\Seen unset on the server, BODY[] and BODY[1] set it" t_seen

t_tampered() {
	py "$(uid tampered)" <<'PY'
it = one(b, "UID FETCH %s (BODY.PEEK[HEADER.FIELDS (X-LETTERLOCK-STATUS)])"
         % sys.argv[1])
h = it["BODY[HEADER.FIELDS (X-LETTERLOCK-STATUS)]"]
print(h)
assert h.startswith(b"X-Letterlock-Status: not encrypted; signature invalid")
PY
}
t "a tampered signed message: signature invalid in BODY[HEADER.FIELDS (X-LETTERLOCK-STATUS)]" t_tampered

t_nokey() {
	py "$(uid other)" <<'PY'
u = sys.argv[1]
it = one(b, "UID FETCH %s (BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[TEXT] "
         "BODY.PEEK[HEADER.FIELDS (X-LETTERLOCK-STATUS SUBJECT)])" % u)
print(it)
bs = it["BODYSTRUCTURE"]
assert bs[0].upper() == b"APPLICATION" and bs[1].upper() == b"PKCS7-MIME", bs
assert it["BODY[HEADER.FIELDS (X-LETTERLOCK-STATUS SUBJECT)]"].startswith(
    b"X-Letterlock-Status: not opened; no key of ours")
for v in it.values():
    assert b"pumpernickel" not in repr(v).encode() and b"Not for bob" not in repr(v).encode()
PY
}
t "a message bob has no key for: the ciphertext's structure and the status, no plaintext" t_nokey

t_pipelined() {
	py "$FIG" <<'PY'
u = sys.argv[1]
# two commands in one write: the first passes through, the second is
# the bridge's; the server's answer to the first is not taken for the
# bridge's own
b.t.sendall(b"p1 UID FETCH %s (FLAGS)\r\np2 UID FETCH %s (FLAGS BODYSTRUCTURE)\r\n"
            % (u.encode(), u.encode()))
got = b""
while not got.endswith(b"\r\n") or b"\np2 " not in b"\n" + got:
    more = b.t.recv(65536)
    assert more, got
    got += more
print(got.decode())
first, second = got.split(b"p1 OK")
r1, r2 = fetched(first), fetched(second)
assert len(r1) == 1 and sorted(r1[0][1]) == ["FLAGS", "UID"], r1
assert len(r2) == 1 and "BODYSTRUCTURE" in r2[0][1], r2
assert r2[0][1]["BODYSTRUCTURE"][2].upper() == b"MIXED"
PY
}
t "pipelined FETCHes: each answered once, the bridge's own with the plaintext's structure" t_pipelined

t_modifiers() {
	py "$FIG" <<'PY'
u = sys.argv[1]
# a modifier list (CONDSTORE, not offered): the server would answer
# BODYSTRUCTURE from the ciphertext, so the bridge refuses it
out = b.cmd("UID FETCH %s (BODY.PEEK[] BODYSTRUCTURE) (CHANGEDSINCE 1)" % u)
print(out, b.last)
assert b.last.split(b" ")[1] == b"BAD" and not fetched(out)
PY
}
t "a FETCH with a modifier list (CHANGEDSINCE) is refused, not left to the server" t_modifiers

t_batches() {
	py "$T/figures.sealed" "$T/lunch.eml" <<'PY'
import time
sealed, plain = (open(f, "rb").read() for f in sys.argv[1:3])
# stored at the server directly (the bridge would seal the plain ones)
d.ok("CREATE Many")
for i in range(250):
    d.append("Many", plain if i % 50 == 7 else sealed)
b.ok("SELECT Many")
for which in ("first", "cached"):
    t0 = time.time()
    r = fetched(b.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    print("%s: %d responses in %.2f s" % (which, len(r), time.time() - t0))
    seqs = sorted(s for s, _ in r)
    assert seqs == list(range(1, 251)), seqs[:5]
    subj = {s: it["BODY[HEADER.FIELDS (SUBJECT)]"] for s, it in r}
    for s in seqs:
        want = b"Lunch" if (s - 1) % 50 == 7 else b"Quarterly figures"
        assert subj[s] == b"Subject: " + want + b"\r\n\r\n", (s, subj[s])
PY
}
# (the times: in $T/batches.out, KEEP_TMP=1)
t "FETCH 1:* of 250 messages (more than a batch), plain ones among them: each once, in the server's numbering, each its real subject" \
	eval 't_batches | tee "$T/batches.out"; [ "${PIPESTATUS[0]}" = 0 ]'

t_helper() {
	py "$BRIDGE_PID" "$T/bob/bridge/cache/$BOB.db" <<'PY'
import os, signal, sqlite3
bridge, db = int(sys.argv[1]), sys.argv[2]
def uncache():
    c = sqlite3.connect(db, timeout=10)
    c.execute("DELETE FROM entry")
    c.commit()
    c.close()
def check():
    r = fetched(b.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    assert sorted(s for s, _ in r) == list(range(1, 251)), len(r)
    for s, it in r:
        want = b"Lunch" if (s - 1) % 50 == 7 else b"Quarterly figures"
        assert it["BODY[HEADER.FIELDS (SUBJECT)]"] == \
            b"Subject: " + want + b"\r\n\r\n", (s, it)
assert helpers(bridge) == [], helpers(bridge)
b.ok("SELECT Many")
uncache()
check()
h = helpers(bridge)
print("helper", h)
assert len(h) == 1, h
# the helper killed: the session opens alone, every message still right
os.kill(h[0], signal.SIGKILL)
uncache()
check()
assert helpers(bridge) == [], helpers(bridge)
PY
}
t "a batch to open is shared with a second process of the session (the helper); killed, the session opens every message itself" t_helper

t_helper_log() {
	grep -q "the opening helper ended" "$BLOG"
}
t "... and says so in the log" t_helper_log

t_helper_midway() {
	py "$BRIDGE_PID" "$T/bob/bridge/cache/$BOB.db" "$BLOG" <<'PY'
import os, signal, sqlite3
bridge, db, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ended = open(log, "rb").read().count(b"the opening helper ended")
c = sqlite3.connect(db, timeout=10)
def uncache():
    c.execute("DELETE FROM entry")
    c.commit()
def check(out):
    r = fetched(out)
    assert sorted(q for q, _ in r) == list(range(1, 251)), len(r)
    for q, it in r:
        want = b"Lunch" if (q - 1) % 50 == 7 else b"Quarterly figures"
        assert it["BODY[HEADER.FIELDS (SUBJECT)]"] == \
            b"Subject: " + want + b"\r\n\r\n", (q, it)
# a session of its own (b's helper is gone for good), its helper
# started by a first batch to open
s = Imap(int(iport), ca, "bob@example.test", bpw)
s.ok("SELECT Many")
uncache()
s.ok("FETCH 1:20 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
h = helpers(bridge)
print("helper", h)
assert len(h) == 1, h
# FETCH 1:* of the 250 messages is two batches: the second is fetched
# and handed to the helper before the first is answered; the helper
# killed at the first answer holds messages of the second (unless it
# was quicker), which the session then opens itself
uncache()
s.t.sendall(b"m1 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
out = s.f.readline()
os.kill(h[0], signal.SIGKILL)
assert out.startswith(b"* "), out
ln = out
while True:
    m = re.search(rb"\{(\d+)\}\r\n$", ln)
    if m:
        out += s.f.read(int(m.group(1)))
    ln = s.f.readline()
    assert ln, out[-200:]
    if ln.startswith(b"m1 "):
        break
    out += ln
assert ln.startswith(b"m1 OK"), ln
check(out)
# each S/MIME message cached once, by whichever process opened it
assert c.execute("SELECT count(*) FROM entry").fetchone()[0] == 245
midway = open(log, "rb").read().count(b"the opening helper ended") > ended
print("the helper's end seen within that FETCH:", midway)
# and the session goes on alone
uncache()
check(s.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
assert helpers(bridge) == [], helpers(bridge)
assert open(log, "rb").read().count(b"the opening helper ended") == ended + 1
PY
}
t "FETCH of two batches, the helper killed while the first is answered: every message right, each cached once; the session goes on alone" t_helper_midway

t_two_sessions() {
	py "$T/bob/bridge/cache/$BOB.db" <<'PY'
import sqlite3, threading
db = sys.argv[1]
c = sqlite3.connect(db, timeout=10)
c.execute("DELETE FROM entry")
c.commit()
# two more sessions of bob's, each fetching all of Many at once: each
# opens and writes entries while the other reads and writes them
sess = [b, Imap(int(iport), ca, "bob@example.test", bpw)]
errs = []
def run(c):
    try:
        c.ok("SELECT Many")
        r = fetched(c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        assert sorted(s for s, _ in r) == list(range(1, 251)), len(r)
        for s, it in r:
            want = b"Lunch" if (s - 1) % 50 == 7 else b"Quarterly figures"
            assert it["BODY[HEADER.FIELDS (SUBJECT)]"] == \
                b"Subject: " + want + b"\r\n\r\n", (s, it)
    except Exception as e:
        errs.append(e)
th = [threading.Thread(target=run, args=(x,)) for x in sess]
for x in th:
    x.start()
for x in th:
    x.join()
assert not errs, errs
n, total, size = c.execute(
    "SELECT count(*), (SELECT bytes FROM total), sum(size) FROM entry").fetchone()
print(n, total, size)
# each S/MIME message once (245 of 250), the total the rows' sum
assert n == 245 and total == size, (n, total, size)
PY
}
t "two sessions fetch the same 250 messages at once: both right, each message cached once, the size total right" t_two_sessions

t_revoked_later() {
	local fpr
	fpr=$(openssl x509 -in "$T/alice.pem" -outform DER | sha256sum | cut -d' ' -f1)
	py "$FIG" "$T/bob/letterlock.db" "$T/bob/bridge/cache/$BOB.db" "$fpr" <<'PY'
import sqlite3
u, home, cache, fpr = sys.argv[1:5]
ITEM = "BODY[HEADER.FIELDS (X-LETTERLOCK-STATUS)]"
def status():
    c = sqlite3.connect(cache, timeout=10)
    c.execute("DELETE FROM entry")
    c.commit()
    c.close()
    return one(b, "UID FETCH %s (BODY.PEEK[HEADER.FIELDS (X-LETTERLOCK-STATUS)])" % u)[ITEM]
first = status()
print(first)
assert b"signature valid by" in first, first
# alice's certificate learnt revoked by another process of bob's home
# (an OCSP answer kept) while this session lives: its next opening
# says so, though the session asked the same question before
h = sqlite3.connect(home, timeout=10)
h.execute("INSERT INTO revocation VALUES (?, 'revoked', 1700000000, 0,"
          " 1700000000, 0, 9223372036854775807, 'ocsp')", (fpr,))
h.commit()
try:
    then = status()
    print(then)
    assert b"signature revoked" in then, then
finally:
    h.execute("DELETE FROM revocation WHERE fpr = ?", (fpr,))
    h.commit()
assert b"signature valid by" in status()
PY
}
t "a signer revoked while a session lives: its next message opened says revoked" t_revoked_later

# ------------------------------------------------------------ cache

CACHE=$T/bob/bridge/cache
BIG=$(uid big)
# garble NAME: NAME's file in bob's maildir with its body (the CMS
# base64) replaced by as many other letters: same size, same header
garble() {
	local f
	f=$(got "$BOB" "$1")
	[ "$(echo "$f" | wc -l)" = 1 ] || return 1
	awk 'BEGIN { b = 0 } b { gsub(/[A-Za-z0-9+\/]/, "Q") } /^\r?$/ { b = 1 } { print }' \
		"$f" >"$T/garbled" &&
		[ "$(stat -c %s "$T/garbled")" = "$(stat -c %s "$f")" ] &&
		cat "$T/garbled" >"$f"
}

t_cache() {
	# read once (the whole message comes from the server, opened)
	py "$BIG" <<'PY' || return 1
one(b, "UID FETCH %s (BODYSTRUCTURE)" % sys.argv[1])
PY
	garble big || return 1
	# the server's copy is garbage now; the bridge answers from its
	# cache, so the plaintext
	py "$BIG" <<'PY'
u = sys.argv[1]
srv = one(d, "UID FETCH %s (BODY.PEEK[TEXT])" % u)["BODY[TEXT]"]
assert set(srv.replace(b"\r\n", b"")) <= set(b"Q="), srv[:200]
it = one(b, "UID FETCH %s (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (X-LETTERLOCK-STATUS)])" % u)
print(it)
assert it["BODY[1]"].endswith(b"pumpernickel.")
PY
}
t "a message read once is not downloaded again: its server copy garbled, the bridge answers the plaintext from its cache" t_cache

t_cache_control() {
	find "$CACHE" -type f -delete
	py "$BIG" <<'PY'
u = sys.argv[1]
it = one(b, "UID FETCH %s (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (X-LETTERLOCK-STATUS)])" % u)
print(it)
assert it["BODY[HEADER.FIELDS (X-LETTERLOCK-STATUS)]"].startswith(
    b"X-Letterlock-Status: not opened")
assert b"pumpernickel" not in it["BODY[1]"]
PY
}
t "... and with the cache emptied the bridge downloads it: the garbage, not opened" t_cache_control

t_log_clean() {
	! grep -F "$BPW" "$BLOG" && ! grep -F "$(cat "$T/bob.password")" "$BLOG" &&
		! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$BLOG"
}
t "the bridge's log holds no password and no sanitizer report" t_log_clean
finish
