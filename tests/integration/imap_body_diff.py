#!/usr/bin/env python3
"""imap_body_diff.py - a small IMAP client of a pre-authenticated
Dovecot imap process (run over its stdin/stdout, no port, no daemon),
for test_imap_body.sh.

  imap_body_diff.py compare CONF TOOL MSG TMPDIR
      APPEND MSG to the mailbox (CONF's mail_location, empty), FETCH
      each of ITEMS alone from Dovecot and from TOOL (imap_body_tool)
      given what Dovecot stored, and print where they differ; exit 1
      then.  The message is expunged again.
"""
import os
import re
import subprocess
import sys


class Imap:
    def __init__(self, conf):
        env = dict(os.environ)
        env["USER"] = "test"
        env["HOME"] = os.path.dirname(conf)
        self.p = subprocess.Popen(["/usr/lib/dovecot/imap", "-c", conf],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=env)
        self.n = 0
        greeting = self.unit()
        if not greeting.startswith(b"* PREAUTH"):
            raise SystemExit("dovecot: %r" % greeting[:200])

    def unit(self):
        """One response line with its literals."""
        out = b""
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise SystemExit("dovecot closed the connection")
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return out
            out += self.p.stdout.read(int(m.group(1)))

    def command(self, cmd):
        """Send CMD (bytes, without tag); the untagged units and the
        tagged line."""
        self.n += 1
        tag = b"t%d" % self.n
        self.p.stdin.write(tag + b" " + cmd + b"\r\n")
        self.p.stdin.flush()
        units = []
        while True:
            u = self.unit()
            if u.startswith(tag + b" "):
                if not u.startswith(tag + b" OK"):
                    raise SystemExit("dovecot: %r: %r" % (cmd[:80], u))
                return units
            units.append(u)

    def close(self):
        self.command(b"LOGOUT")
        self.p.stdin.close()
        self.p.wait(timeout=10)


def records(data):
    """The "<length>\\n<bytes>\\n" records of imap_body_tool."""
    out = []
    while data:
        nl = data.index(b"\n")
        n = int(data[:nl])
        out.append(data[nl + 1:nl + 1 + n])
        data = data[nl + 2 + n:]
    return out


# The items compared for every message: the structure, the envelope,
# the size, the whole message and its parts by number, with HEADER,
# TEXT and MIME, header field lists and partial fetches.
NUMBERS = ["1", "2", "3", "4", "1.1", "1.2", "2.1", "2.2", "3.1",
           "1.1.1", "1.2.1", "1.2.2", "2.1.1", "2.1.2", "2.2.1"]
ITEMS = (["BODYSTRUCTURE", "BODY", "ENVELOPE", "RFC822.SIZE", "RFC822",
          "RFC822.HEADER", "RFC822.TEXT", "BODY.PEEK[]", "BODY[HEADER]",
          "BODY[TEXT]", "BODY[HEADER.FIELDS (FROM TO)]",
          "BODY.PEEK[header.fields (subject \"x-long\" Content-Type)]",
          "BODY[HEADER.FIELDS.NOT (FROM Subject)]",
          "BODY[HEADER.FIELDS (X-NONE)]",
          "BODY[]<0.10>", "BODY[]<5.100000>", "BODY[]<100000000.5>",
          "BODY[TEXT]<3.7>", "BODY[1]<0.4>", "BODY[1]<2.100>"] +
         ["BODY[%s]" % n for n in NUMBERS] +
         ["BODY[%s.MIME]" % n for n in NUMBERS] +
         ["BODY[%s.HEADER]" % n for n in NUMBERS] +
         ["BODY[%s.TEXT]" % n for n in NUMBERS] +
         ["BODY[%s.HEADER.FIELDS (SUBJECT FROM)]" % n for n in NUMBERS[:4]])


def compare(conf, tool, msg, tmp):
    """APPEND MSG to Dovecot; its own BODY[] (Dovecot stores what it is
    given, and answers with CRLF line ends) goes to TOOL, and each of
    ITEMS from both must be the same bytes.  The differences, one a
    line; exit 1 when there are any."""
    with open(msg, "rb") as f:
        data = f.read()
    imap = Imap(conf)
    imap.p.stdin.write(b"a APPEND INBOX {%d+}\r\n" % len(data) + data +
                       b"\r\n")
    imap.p.stdin.flush()
    while True:
        u = imap.unit()
        if u.startswith(b"a "):
            if not u.startswith(b"a OK"):
                raise SystemExit("APPEND: %r" % u)
            break
    imap.command(b"SELECT INBOX")
    dovecot = []
    for item in ITEMS:
        units = imap.command(b"FETCH 1 (" + item.encode() + b")")
        fetches = [u for u in units if u.startswith(b"* 1 FETCH (")]
        if len(fetches) != 1 or not fetches[0].endswith(b")\r\n"):
            raise SystemExit("FETCH %s: %r" % (item, units))
        value = fetches[0][len(b"* 1 FETCH ("):-3]
        # RFC822, RFC822.TEXT and BODY[...] set \Seen in a mailbox
        # opened read-write: Dovecot adds the flags to that response,
        # which the bridge's FETCH handler (not imap_body.c) answers
        value = re.sub(rb"^FLAGS \([^)]*\) ", b"", value)
        value = re.sub(rb" FLAGS \([^)]*\)$", b"", value)
        dovecot.append(value)
    imap.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    imap.command(b"EXPUNGE")
    imap.close()
    stored = dovecot[ITEMS.index("BODY.PEEK[]")]
    stored = stored[stored.index(b"}\r\n") + 3:]
    path = os.path.join(tmp, "stored.eml")
    with open(path, "wb") as f:
        f.write(stored)
    out = subprocess.run([tool, path] + ITEMS,
                         stdout=subprocess.PIPE).stdout
    ours = records(out)
    bad = 0
    for item, want, got in zip(ITEMS, dovecot, ours):
        if want != got:
            bad += 1
            print("%s: %s\n  dovecot: %r\n  ours:    %r" %
                  (os.path.basename(msg), item, want[:600], got[:600]))
    if len(ours) != len(ITEMS):
        bad += 1
        print("%s: %d answers for %d items" % (msg, len(ours), len(ITEMS)))
    return bad


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "compare":
        sys.exit(1 if compare(*sys.argv[2:]) else 0)
    else:
        raise SystemExit(__doc__)
