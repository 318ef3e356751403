"""imapclients.py - the command sequences real IMAP clients send,
replayed against bob's bridge, every answer checked for consistency
with the message the bridge serves (test_bridge_clients.sh).

    imapclients.py CASE BRIDGE-PORT BRIDGE-CA BRIDGE-PW \
                   SERVER-PORT SERVER-CA SERVER-PW [ARGS...]

The reference of a message is its BODY[] through the bridge; every
content item any session gets for it must agree with that: RFC822.SIZE
its length, BODY[section]<partial> and RFC822.* cut from it,
HEADER.FIELDS[.NOT] its header filtered, BODYSTRUCTURE its parts (count,
types, encodings, sizes), ENVELOPE its fields, BINARY[n] the part
decoded.  A FETCH the bridge refuses (BAD, NO) is consistent too; one
that answers from the server's ciphertext is not.

Exit status 0 when the case held; otherwise a traceback on stderr.
"""
import base64
import email
import email.policy
import email.utils
import quopri
import re
import socket
import ssl
import sys

USER = "bob@example.test"


def starttls(port, ca):
    """A connection to 127.0.0.1:PORT after STARTTLS (CA's certificate
    pinned), the greeting and the answer read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"s STARTTLS\r\n")
    got = b""
    while not re.search(rb"(^|\n)s [A-Z]+[^\n]*\n", got):
        b = s.recv(1)  # nothing of TLS may be read ahead
        if not b:
            raise EOFError("no STARTTLS answer")
        got += b
    return ssl.create_default_context(cafile=ca).wrap_socket(
        s, server_hostname="127.0.0.1")


class Imap:
    """A client after STARTTLS: cmd() sends one command and returns
    (untagged units, tagged line)."""

    def __init__(self, port, ca, password, select=None):
        self.t = starttls(port, ca)
        self.f = self.t.makefile("rb")
        self.n = 0
        self.ok('LOGIN "%s" "%s"' % (USER, password))
        if select:
            self.ok("SELECT " + select)

    def unit(self):
        """One response: its line and literals, raw."""
        out = b""
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError("closed after %r" % out[-200:])
            out += ln
            m = re.search(rb"\{(\d+)\+?\}\r\n$", ln)
            if not m:
                return out
            out += self.f.read(int(m.group(1)))

    def send(self, data):
        self.t.sendall(data)

    def tag(self):
        self.n += 1
        return b"c%d" % self.n

    def until(self, tag):
        units = []
        while True:
            u = self.unit()
            if u.startswith(tag + b" "):
                return units, u
            units.append(u)

    def cmd(self, line):
        tag = self.tag()
        self.send(tag + b" " + line.encode() + b"\r\n")
        return self.until(tag)

    def ok(self, line):
        units, last = self.cmd(line)
        if last.split(b" ")[1] != b"OK":
            raise AssertionError("%s: %r" % (line, last))
        return units


# ------------------------------------------------------------ reading

def value(b, i):
    """The value at b[i:]: (value, end); lists as lists, NIL as None."""
    if b[i:i + 1] == b"(":
        vals, i = [], i + 1
        while b[i:i + 1] != b")":
            if b[i:i + 1] == b" ":
                i += 1
                continue
            v, i = value(b, i)
            vals.append(v)
        return vals, i + 1
    if b[i:i + 1] == b'"':
        j, s = i + 1, b""
        while b[j:j + 1] != b'"':
            if b[j:j + 1] == b"\\":
                j += 1
            s += b[j:j + 1]
            j += 1
        return s, j + 1
    m = re.match(rb"~?\{(\d+)\}\r\n", b[i:])
    if m:
        s = i + m.end()
        return b[s:s + int(m.group(1))], s + int(m.group(1))
    m = re.match(rb"[^ ()\[]+(\[[^\]]*\])?(<\d+>)?", b[i:])
    v = m.group(0)
    return (None if v == b"NIL" else v), i + m.end()


def fetched(out):
    """The FETCH responses in the bytes OUT: [(seq, {NAME: value})],
    names in capitals."""
    res, i = [], 0
    while True:
        m = re.compile(rb"(?:^|\n)\* (\d+) FETCH \(").search(out, i)
        if not m:
            return res
        i, items = m.end(), {}
        while out[i:i + 1] != b")":
            if out[i:i + 1] == b" ":
                i += 1
                continue
            n = re.match(rb"[^ \[(]+(\[[^\]]*\])?(<\d+>)?", out[i:])
            name, i = n.group(0).upper().decode(), i + n.end() + 1
            items[name], i = value(out, i)
        res.append((int(m.group(1)), items))


def fetches(units):
    """The FETCH responses among the responses UNITS."""
    return fetched(b"".join(units))


def numbers(seqset):
    """The numbers of a sequence set without '*'."""
    out = set()
    for r in seqset.split(b","):
        lo, _, hi = r.partition(b":")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def status(last):
    return last.split(b" ")[1].decode()


# ------------------------------------------------------------ the reference

def split(msg):
    """(header with its empty line, body) of MSG."""
    i = msg.find(b"\r\n\r\n")
    return (msg, b"") if i < 0 else (msg[:i + 4], msg[i + 4:])


def fields(header):
    """The header's fields, each with its continuation lines."""
    out = []
    for ln in header.split(b"\r\n"):
        if ln[:1] in (b" ", b"\t") and out:
            out[-1] += b"\r\n" + ln
        elif ln:
            out.append(ln)
    return out


def header_fields(header, names, negate):
    names = {n.upper() for n in names}
    keep = [f for f in fields(header)
            if (f.split(b":", 1)[0].strip().upper() in names) != negate]
    return b"".join(f + b"\r\n" for f in keep) + b"\r\n"


def leaves(bs, prefix=""):
    """The single parts of BODYSTRUCTURE BS: [(number, part)]."""
    if isinstance(bs[0], list):
        out, parts = [], []
        for x in bs:  # the parts, then the subtype and extensions
            if not isinstance(x, list):
                break
            parts.append(x)
        for k, p in enumerate(parts):
            out += leaves(p, "%s%d" % (prefix, k + 1) if not prefix
                          else "%s.%d" % (prefix, k + 1))
        return out
    if (bs[0] or b"").upper() == b"MESSAGE" and \
            (bs[1] or b"").upper() == b"RFC822" and len(bs) > 8:
        # the message inside: its parts are this part's (RFC 3501
        # 6.4.5: a single part's body is n.1)
        inner = bs[8]
        return leaves(inner, prefix if isinstance(inner[0], list)
                      else (prefix or "1") + ".1")
    return [(prefix or "1", bs)]


def decode(data, cte):
    cte = (cte or b"7BIT").upper()
    if cte == b"BASE64":
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", data))
    if cte == b"QUOTED-PRINTABLE":
        return quopri.decodestring(data)
    return data


class Ref:
    """What the bridge serves for each message (its BODY[]), and the
    checks of every content item against it."""

    def __init__(self, b):
        self.msg, self.seq = {}, {}
        for seq, it in fetches(b.ok("FETCH 1:* (UID BODY.PEEK[])")):
            self.msg[int(it["UID"])] = it["BODY[]"]
            self.seq[seq] = int(it["UID"])
        self.cte = {}

    def uid(self, seq, it):
        return int(it["UID"]) if "UID" in it else self.seq[seq]

    def check(self, seq, it, b=None):
        """Every content item of IT against the reference; B: the
        session, for the parts' sections BODYSTRUCTURE needs."""
        u = self.uid(seq, it)
        ref = self.msg[u]
        head, text = split(ref)
        for name, v in it.items():
            where = "UID %d %s" % (u, name)
            m = re.match(r"(BODY|BINARY|BINARY\.SIZE)\[([^\]]*)\](<(\d+)>)?$",
                         name)
            if name in ("FLAGS", "UID", "INTERNALDATE", "MODSEQ"):
                continue
            elif name == "RFC822.SIZE":
                assert int(v) == len(ref), (where, v, len(ref))
            elif name == "RFC822":
                assert v == ref, where
            elif name == "RFC822.HEADER":
                assert v == head, (where, v, head)
            elif name == "RFC822.TEXT":
                assert v == text, where
            elif name in ("BODYSTRUCTURE", "BODY"):
                self.structure(u, v, b, where)
            elif name == "ENVELOPE":
                self.envelope(ref, v, where)
            elif m and m.group(1) == "BODY":
                whole = self.section(ref, m.group(2), b, u)
                o = int(m.group(4) or 0)
                assert v == whole[o:o + len(v)], (where, v[:200])
                if not m.group(3):
                    assert v == whole, (where, v[:200], whole[:200])
            elif m:
                part = self.section(ref, m.group(2), b, u)
                want = decode(part, self.cte.get((u, m.group(2))))
                if m.group(1) == "BINARY.SIZE":
                    assert int(v) == len(want), (where, v, len(want))
                else:
                    o = int(m.group(4) or 0)
                    assert v == want[o:o + len(v)], (where, v[:100])
            elif name in ("PREVIEW", "SNIPPET"):
                self.preview(ref, v, where)
            else:
                raise AssertionError("%s: an item not checked" % where)

    def section(self, ref, sec, b, u):
        """BODY[SEC] cut from REF: header sections here; a part's
        number through the session B (and checked to be REF's bytes)."""
        head, text = split(ref)
        up = sec.upper()
        if up == "":
            return ref
        if up == "HEADER":
            return head
        if up == "TEXT":
            return text
        m = re.match(r"HEADER\.FIELDS(\.NOT)? \((.*)\)$", up)
        if m:
            return header_fields(head, m.group(2).encode().split(),
                                 bool(m.group(1)))
        # a part: through the bridge, and its bytes must be REF's
        got = fetches(b.ok("UID FETCH %d (BODY.PEEK[%s])" % (u, sec)))
        part = got[0][1]["BODY[%s]" % up]
        assert part in ref, ("UID %d BODY[%s] not in BODY[]" % (u, sec))
        return part

    def structure(self, u, bs, b, where):
        """BS describes REF: the same single parts (types, encodings)
        as Python's parser finds, each BODY[n] of the size BS says and
        decoding to what Python decodes."""
        ref = self.msg[u]
        py = [p for p in email.message_from_bytes(
            ref, policy=email.policy.compat32).walk()
            if not p.is_multipart()]
        ls = leaves(bs)
        assert len(ls) == len(py), (where, len(ls), len(py), bs)
        for (num, part), p in zip(ls, py):
            ctype = (part[0] + b"/" + part[1]).decode().lower()
            assert ctype == p.get_content_type(), (where, num, ctype,
                                                   p.get_content_type())
            cte = (p.get("Content-Transfer-Encoding") or "7bit").strip()
            assert part[5].decode().lower() == cte.lower(), (where, num,
                                                             part[5], cte)
            self.cte[(u, num)] = part[5]
            if b is not None:
                got = self.section(ref, num, b, u)
                assert int(part[6]) == len(got), (where, num, part[6],
                                                  len(got))
                dec = p.get_payload(decode=True) or b""
                norm = (lambda x: x.replace(b"\r\n", b"\n").rstrip(b"\n"))
                assert norm(decode(got, part[5])) == norm(dec), (where, num)

    def envelope(self, ref, env, where):
        head, _ = split(ref)
        h = email.message_from_bytes(head, policy=email.policy.compat32)
        subj = h.get("Subject")
        want = re.sub(r"\r?\n", "", subj).encode() if subj else None
        assert env[1] == want, (where, env[1], want)
        frm = email.utils.parseaddr(h.get("From", ""))[1]
        got = (env[2][0][2] + b"@" + env[2][0][3]).decode() if env[2] else ""
        assert got.lower() == frm.lower(), (where, got, frm)
        mid = h.get("Message-ID")
        assert env[9] == (mid.strip().encode() if mid else None), where

    def preview(self, ref, v, where):
        """A preview is of the text the client sees: its words are
        words of BODY[]."""
        while isinstance(v, list):  # (FUZZY "text") in older drafts
            v = v[-1] if v else None
        for w in re.findall(rb"[A-Za-z]{4,}", v or b""):
            assert w in ref, (where, w, v)


def checked(ref, b, units):
    """The FETCH responses of UNITS, each checked: their count."""
    got = fetches(units)
    for seq, it in got:
        ref.check(seq, it, b)
    return len(got)


# ------------------------------------------------------------ the cases

CASES = {}


def case(f):
    CASES[f.__name__] = f
    return f


@case
def thunderbird(b, d, ref, **_):
    """Thunderbird 115: capabilities, ID, the flag and header sync,
    then a message opened by parts (mime_parts_on_demand) and whole."""
    b.ok("CAPABILITY")
    b.ok('ID ("name" "Thunderbird" "version" "115.3.1")')
    b.ok('LIST (SUBSCRIBED) "" "*"')
    b.ok('SELECT "INBOX"')
    assert checked(ref, b, b.ok("UID fetch 1:* (FLAGS)")) == len(ref.msg)
    n = checked(ref, b, b.ok(
        "UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS "
        "(From To Cc Bcc Subject Date Message-ID Priority X-Priority "
        "References Newsgroups In-Reply-To Content-Type Reply-To)])"))
    assert n == len(ref.msg), n
    for u in ref.msg:
        checked(ref, b, b.ok("UID fetch %d (UID RFC822.SIZE BODYSTRUCTURE)"
                             % u))
        checked(ref, b, b.ok("UID fetch %d (UID RFC822.SIZE "
                             "BODY.PEEK[HEADER] BODY.PEEK[1.MIME] "
                             "BODY.PEEK[1])" % u))
        # a large message comes in chunks: they make BODY[]
        whole, o = b"", 0
        while True:
            it = fetches(b.ok("UID fetch %d (UID BODY.PEEK[]<%d.1024>)"
                              % (u, o)))[0][1]
            chunk = it["BODY[]<%d>" % o]
            whole += chunk
            o += 1024
            if len(chunk) < 1024:
                break
        assert whole == ref.msg[u], u
    b.ok("UID store 1:* +Flags (\\Seen)")
    b.ok("NOOP")


@case
def apple(b, d, ref, **_):
    """Apple Mail / iOS: the structure and header first, then each
    part in 2 KiB pieces (BODY.PEEK[n]<o.2048>) put together."""
    b.ok('ID ("name" "Mac OS X Mail" "version" "16.0")')
    b.ok('LIST "" "*" RETURN (SPECIAL-USE)')
    b.ok("EXAMINE INBOX")
    checked(ref, b, b.ok("UID FETCH 1:* (FLAGS UID)"))
    checked(ref, b, b.ok("UID FETCH 1:* (BODYSTRUCTURE BODY.PEEK[HEADER] "
                         "RFC822.SIZE INTERNALDATE UID FLAGS)"))
    for u in ref.msg:
        bs = fetches(b.ok("UID FETCH %d (BODYSTRUCTURE)" % u))[0][1]
        for num, part in leaves(bs["BODYSTRUCTURE"]):
            whole, o = b"", 0
            while True:
                units = b.ok("UID FETCH %d (BODY.PEEK[%s]<%d.2048>)"
                             % (u, num, o))
                checked(ref, b, units)
                chunk = fetches(units)[0][1]["BODY[%s]<%d>" % (num, o)]
                whole += chunk
                o += 2048
                if len(chunk) < 2048:
                    break
            assert len(whole) == int(part[6]), (u, num, len(whole), part)
    b.ok("SELECT INBOX")


@case
def outlook(b, d, ref, **_):
    """Outlook: the header of every message, a message whole, flags,
    UID COPY (COPYUID) and UID MOVE into other folders, UID EXPUNGE;
    the copies read through the bridge are the same messages."""
    checked(ref, b, b.ok("UID FETCH 1:* (UID FLAGS INTERNALDATE "
                         "RFC822.SIZE BODY.PEEK[HEADER])"))
    b.cmd("CREATE Archive")
    b.cmd("CREATE Moved")
    for u in ref.msg:
        checked(ref, b, b.ok("UID FETCH %d (UID RFC822.SIZE BODY.PEEK[])"
                             % u))
    uids = sorted(ref.msg)
    units, last = b.cmd("UID COPY %s Archive" % ",".join(map(str, uids)))
    assert status(last) == "OK" and b"COPYUID" in last, last
    b.ok("SELECT Archive")
    got = fetches(b.ok("UID FETCH 1:* (UID BODY.PEEK[] RFC822.SIZE "
                       "BODYSTRUCTURE ENVELOPE)"))
    assert sorted(it["BODY[]"] for _, it in got) == \
        sorted(ref.msg.values()), "the copies are not the same messages"
    first = int(got[0][1]["UID"])
    b.ok("UID MOVE %d Moved" % first)
    b.ok("SELECT Moved")
    moved = fetches(b.ok("UID FETCH 1:* (UID BODY.PEEK[] RFC822.SIZE)"))
    assert len(moved) == 1 and moved[0][1]["BODY[]"] in ref.msg.values()
    assert int(moved[0][1]["RFC822.SIZE"]) == len(moved[0][1]["BODY[]"])
    b.ok("UID STORE 1:* +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 1:*")
    left = b" ".join(b.ok("UID SEARCH ALL")).split()[2:]
    assert not left, left
    b.ok("SELECT INBOX")


@case
def k9(b, d, ref, **_):
    """K-9 Mail / FairEmail: ENVELOPE and BODYSTRUCTURE of every
    message (JavaMail's fetch profile), K-9's header field list in
    lower case, the text part's first 4 KiB."""
    checked(ref, b, b.ok("UID FETCH 1:* (UID FLAGS INTERNALDATE "
                         "RFC822.SIZE ENVELOPE BODYSTRUCTURE)"))
    checked(ref, b, b.ok(
        "UID FETCH 1:* (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER."
        "FIELDS (date subject from content-type to cc reply-to message-id "
        "references in-reply-to X-K9mail-Identity Chat-Version)])"))
    for u in ref.msg:
        checked(ref, b, b.ok("UID FETCH %d (UID BODY.PEEK[1]<0.4096>)" % u))
        checked(ref, b, b.ok("UID FETCH %d (UID BODY.PEEK[HEADER."
                             "FIELDS.NOT (Received DKIM-Signature)])" % u))
        checked(ref, b, b.ok("UID FETCH %d (UID RFC822.HEADER "
                             "RFC822.SIZE)" % u))


def all_parts(bs, prefix=""):
    """Every part of BODYSTRUCTURE BS with its number, multiparts and
    the parts of a message/rfc822's multipart too: [(number, part)]."""
    out = []
    if isinstance(bs[0], list):
        for k, x in enumerate(bs):
            if not isinstance(x, list):
                break  # the parts, then the subtype
            num = "%s.%d" % (prefix, k + 1) if prefix else "%d" % (k + 1)
            out.append((num, x))
            out += all_parts(x, num)
    elif (bs[0] or b"").upper() == b"MESSAGE" and len(bs) > 8 and \
            isinstance(bs[8][0], list):
        out += all_parts(bs[8], prefix)
    return out


@case
def parts(b, d, ref, **_):
    """Sections that must fit together: a part's MIME header right
    before its body in BODY[]; a message/rfc822 part's HEADER and TEXT
    making the part; TEXT partials of the message."""
    for u in ref.msg:
        bs = fetches(b.ok("UID FETCH %d (BODYSTRUCTURE)" % u))[0][1]
        for num, part in all_parts(bs["BODYSTRUCTURE"]):
            it = fetches(b.ok("UID FETCH %d (BODY.PEEK[%s.MIME] "
                              "BODY.PEEK[%s])" % (u, num, num)))[0][1]
            mime, body = it["BODY[%s.MIME]" % num], it["BODY[%s]" % num]
            assert mime + body in ref.msg[u], (u, num, mime, body[:80])
            if isinstance(part[0], bytes) and part[0].upper() == b"MESSAGE":
                it = fetches(b.ok("UID FETCH %d (BODY.PEEK[%s.HEADER] "
                                  "BODY.PEEK[%s.TEXT])" % (u, num, num)))
                it = it[0][1]
                assert it["BODY[%s.HEADER]" % num] + \
                    it["BODY[%s.TEXT]" % num] == body, (u, num)
        checked(ref, b, b.ok("UID FETCH %d (BODY.PEEK[TEXT]<0.4096> "
                             "BODY.PEEK[TEXT]<100.50>)" % u))


@case
def mutt(b, d, ref, **_):
    """mutt: the header cache's fetch, then a message whole."""
    checked(ref, b, b.ok(
        "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER."
        "FIELDS (DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES "
        "CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES "
        "LIST-POST LIST-SUBSCRIBE LIST-UNSUBSCRIBE X-LABEL X-ORIGINAL-TO)])"))
    for u in ref.msg:
        checked(ref, b, b.ok("UID FETCH %d (BODY.PEEK[] RFC822.TEXT "
                             "RFC822.HEADER)" % u))
    checked(ref, b, b.ok("FETCH 1:* FAST"))
    checked(ref, b, b.ok("FETCH 1:* FULL"))


# What the bridge may advertise: what it relays correctly (doc/bridge.md)
ALLOWED = {"IMAP4REV1", "LITERAL+", "IDLE", "NAMESPACE", "UIDPLUS",
           "CHILDREN", "UNSELECT", "ID", "MOVE", "SPECIAL-USE",
           "LIST-EXTENDED", "LIST-STATUS", "ENABLE", "ESEARCH",
           "SASL-IR", "LOGIN-REFERRALS"}


@case
def capability(b, d, ref, **_):
    """Every capability advertised is one the bridge handles; the
    commands of those it does not are refused (COMPRESS, NOTIFY, SORT,
    THREAD)."""
    caps = [c for u in b.ok("CAPABILITY") if u.startswith(b"* CAPABILITY")
            for c in u.decode().split()[2:]]
    print("advertised:", " ".join(caps))
    extra = [c for c in caps if c.upper() not in ALLOWED]
    assert not extra, extra
    for cmd in ("COMPRESS DEFLATE", 'NOTIFY SET (selected (MessageNew '
                '(UID BODY.PEEK[]) MessageExpunge))',
                "SORT (SUBJECT) UTF-8 ALL",
                "UID SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
                "UID THREAD ORDEREDSUBJECT UTF-8 ALL"):
        _, last = b.cmd(cmd)
        print(cmd, "->", last)
        assert status(last) in ("BAD", "NO"), (cmd, last)


@case
def enable(b, d, ref, **_):
    """ENABLE enables nothing the bridge does not advertise; SELECT's
    CONDSTORE and QRESYNC parameters are refused."""
    units = b.ok("ENABLE CONDSTORE QRESYNC UTF8=ACCEPT")
    enabled = [c for u in units if u.startswith(b"* ENABLED")
               for c in u.decode().split()[2:]]
    print("enabled:", enabled)
    assert not [c for c in enabled if c.upper() not in ALLOWED], enabled
    for sel in ("SELECT INBOX (CONDSTORE)", "EXAMINE INBOX (CONDSTORE)",
                'SELECT "INBOX" (QRESYNC (1 1 1:*))'):
        units, last = b.cmd(sel)
        print(sel, "->", last)
        assert status(last) == "BAD", last
        assert not [u for u in units if b"HIGHESTMODSEQ" in u], units
    # the mailbox selected before stays so, and is read as before
    assert checked(ref, b, b.ok("UID FETCH 1:* (UID RFC822.SIZE "
                                "BODYSTRUCTURE)")) == len(ref.msg)


@case
def condstore(b, d, ref, **_):
    """A client that uses CONDSTORE and QRESYNC unasked (FairEmail,
    iOS): SELECT with them, FETCH with CHANGEDSINCE: refused, or
    answered as any FETCH (never the server's ciphertext)."""
    for sel in ("SELECT INBOX (CONDSTORE)",
                "SELECT INBOX (QRESYNC (1 1))",
                "EXAMINE INBOX (CONDSTORE)"):
        _, last = b.cmd(sel)
        print(sel, "->", last)
    b.ok("SELECT INBOX")
    for q in ("UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1)",
              "UID FETCH 1:* (UID BODYSTRUCTURE RFC822.SIZE) (CHANGEDSINCE 1)",
              "UID FETCH 1:* (BODY.PEEK[] ENVELOPE) (CHANGEDSINCE 1 VANISHED)",
              "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)]) "
              "(CHANGEDSINCE 1)"):
        units, last = b.cmd(q)
        print(q, "->", last, len(fetches(units)))
        if status(last) == "OK":
            checked(ref, b, units)


@case
def binary(b, d, ref, **_):
    """BINARY (RFC 3516: iOS, Apple Mail use it when offered) and
    PREVIEW (RFC 8970): refused, or the opened message's."""
    for u in ref.msg:
        for q in ("UID FETCH %d (BODYSTRUCTURE BINARY.PEEK[1] "
                  "BINARY.SIZE[1])", "UID FETCH %d (BINARY.PEEK[1]<0.100>)",
                  "UID FETCH %d (BINARY.SIZE[1])",
                  "UID FETCH %d (PREVIEW)",
                  "UID FETCH %d (SNIPPET (LAZY=FUZZY))",
                  "UID FETCH %d (UID PREVIEW (LAZY))"):
            units, last = b.cmd(q % u)
            print(q % u, "->", last.strip(), [sorted(it) for _, it in
                                              fetches(units)])
            if status(last) == "OK":
                checked(ref, b, units)


@case
def unread(b, d, ref, **_):
    """A FETCH the bridge cannot read (a literal, synchronizing or
    not; SEARCHRES "$"; a list it does not know): refused, never
    answered by the server from the ciphertext."""
    for u in ref.msg:
        tag = b.tag()
        b.send(tag + b" UID FETCH %d (BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS "
               b"({7}\r\n" % u)
        first = b.unit()
        assert first.startswith(b"+"), first  # the bridge's, not BAD
        b.send(b"SUBJECT)])\r\n")
        units, last = b.until(tag)
        print("literal ->", last)
        assert status(last) == "BAD" and not fetches(units), (last, units)
        tag = b.tag()
        b.send(tag + b" UID FETCH %d (BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS "
               b"({7+}\r\nSUBJECT)])\r\n" % u)
        units, last = b.until(tag)
        assert status(last) == "BAD" and not fetches(units), (last, units)
        b.ok("UID SEARCH RETURN (SAVE) UID %d" % u)
        units, last = b.cmd("FETCH $ (BODYSTRUCTURE RFC822.SIZE)")
        print("SEARCHRES ->", last)
        assert status(last) != "OK" or checked(ref, b, units) >= 0
        units, last = b.cmd("UID FETCH %d (BODYSTRUCTURE X-UNKNOWN[1])" % u)
        assert status(last) != "OK" or checked(ref, b, units) >= 0
        # a list longer than the bridge's own FETCHes take (4 KiB)
        long = " ".join("BODY.PEEK[HEADER.FIELDS (%s)]" % " ".join(
            "X-F%d-%d" % (k, i) for i in range(60)) for k in range(10))
        units, last = b.cmd("UID FETCH %d (BODYSTRUCTURE %s)" % (u, long))
        print("long list ->", last)
        assert status(last) != "OK" or checked(ref, b, units) >= 0
    # the session goes on
    assert checked(ref, b, b.ok("UID FETCH 1:* (RFC822.SIZE)")) == len(ref.msg)


@case
def pipelined(b, d, ref, **_):
    """Apple Mail and Thunderbird pipeline: many commands in one write,
    the bridge's own and those that pass through, refused ones among
    them; each gets one tagged answer, every FETCH response agrees."""
    uids = sorted(ref.msg)
    cmds = []
    for u in uids:
        cmds += ["UID FETCH %d (FLAGS)" % u,
                 "UID FETCH %d (BODYSTRUCTURE BODY.PEEK[HEADER])" % u,
                 "NOOP",
                 "UID FETCH %d (BINARY.PEEK[1])" % u,
                 "UID FETCH %d (RFC822.SIZE BODY.PEEK[1]<0.100>)" % u,
                 "UID STORE %d +FLAGS.SILENT (\\Flagged)" % u,
                 "UID FETCH %d (ENVELOPE FLAGS)" % u]
    tags = [b.tag() for _ in cmds]
    b.send(b"".join(t + b" " + c.encode() + b"\r\n"
                    for t, c in zip(tags, cmds)))
    answered, units = {}, []
    while len(answered) < len(tags):
        u = b.unit()
        t = u.split(b" ")[0]
        if t in tags:
            assert t not in answered, u
            answered[t] = status(u)
        else:
            units.append(u)
    for t, c in zip(tags, cmds):
        want = "BAD" if "BINARY" in c else "OK"
        assert answered[t] == want, (c, answered[t])
    n = checked(ref, b, units)
    print(n, "FETCH responses checked")
    assert n >= 3 * len(uids), n


@case
def forged(b, d, ref, extra, **_):
    """A plain message whose own header says "signature valid": every
    FETCH of it, alone too, shows the bridge's status, never the
    sender's (which the server would pass on)."""
    u = int(extra[0])
    for q in ("UID FETCH %d (BODY.PEEK[HEADER.FIELDS "
              "(X-LETTERLOCK-STATUS SUBJECT)])",
              "UID FETCH %d (BODY.PEEK[HEADER] RFC822.SIZE)",
              "UID FETCH %d (RFC822.HEADER BODYSTRUCTURE)",
              "UID FETCH %d (BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)])",
              "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-LETTERLOCK-STATUS)])"):
        units = b.ok(q % u if "%d" in q else q)
        assert checked(ref, b, units) >= 1, q
        raw = b"".join(units)
        assert b"ceo@example.test" not in raw, (q, raw)
        assert b"X-Letterlock-Status: not S/MIME" in raw, (q, raw)


@case
def seen(b, d, ref, **_):
    """\\Seen is set exactly by a FETCH that is not PEEK."""
    def flags(u):
        d.ok("NOOP")
        it = fetches(d.ok("UID FETCH %d (FLAGS)" % u))[0][1]
        return b"\\Seen" in it["FLAGS"]
    for u in ref.msg:
        for item, sets in (("BODY.PEEK[]", 0), ("BODY.PEEK[1]", 0),
                           ("RFC822.HEADER", 0), ("RFC822.SIZE ENVELOPE", 0),
                           ("BODYSTRUCTURE", 0), ("BODY[HEADER]", 1),
                           ("BODY[1]", 1), ("RFC822", 1), ("RFC822.TEXT", 1),
                           ("BODY[]<0.10>", 1)):
            b.ok("UID STORE %d -FLAGS.SILENT (\\Seen)" % u)
            assert not flags(u)
            checked(ref, b, b.ok("UID FETCH %d (%s)" % (u, item)))
            assert flags(u) == bool(sets), (u, item, flags(u))
    # read-only: nothing sets it
    b.ok("UID STORE 1:* -FLAGS.SILENT (\\Seen)")
    b.ok("EXAMINE INBOX")
    for u in ref.msg:
        for item in ("BODY[]", "BODY[1]", "RFC822"):
            checked(ref, b, b.ok("UID FETCH %d (%s)" % (u, item)))
        assert not flags(u), u
    b.ok("SELECT INBOX")


@case
def append(b, d, ref, extra, **_):
    """APPEND with flags, a date and a non-synchronizing literal
    (LITERAL+), and MULTIAPPEND: sealed at the server, or refused."""
    msg = open(extra[0], "rb").read()
    b.cmd("CREATE Drafts")
    tag = b.tag()
    b.send(tag + b' APPEND Drafts (\\Draft \\Seen) "25-Nov-2026 03:00:00 '
           b'+0000" {%d+}\r\n' % len(msg) + msg + b"\r\n")
    _, last = b.until(tag)
    assert status(last) == "OK", last
    # MULTIAPPEND (RFC 3502): two messages, each a literal
    tag = b.tag()
    b.send(tag + b" APPEND Drafts {%d+}\r\n" % len(msg) + msg +
           b" (\\Seen) {%d+}\r\n" % len(msg) + msg + b"\r\n")
    _, last = b.until(tag)
    print("MULTIAPPEND ->", last)
    # no literal: CATENATE (RFC 4469, not offered) with its text as a
    # quoted string or a part of the server's, or the message itself
    # quoted: refused by the bridge (Dovecot rejects the quoted forms
    # too, a server that took them would store them unsealed)
    text = b"Subject: x - pumpernickel in the clear"
    sealed = min(u for u, m in ref.msg.items()
                 if m.startswith(b"X-Letterlock-Status: encrypted"))
    for q in (b'APPEND Drafts CATENATE (TEXT "%s")' % text,
              b'APPEND Drafts (\\Seen) "%s"' % text,
              b'APPEND Drafts CATENATE (URL "/INBOX/;UID=%d")' % sealed):
        tag = b.tag()
        b.send(tag + b" " + q + b"\r\n")
        _, last = b.until(tag)
        print(q, "->", last)
        assert status(last) == "NO", last
    d.ok("SELECT Drafts")
    got = fetches(d.ok("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])"))
    assert got, "nothing stored"
    for _, it in got:
        body = it["BODY[]"]
        assert b"pkcs7-mime" in body.split(b"\r\n\r\n")[0], body[:300]
        assert b"pumpernickel" not in body
    first = got[0][1]
    assert b"\\Draft" in first["FLAGS"], first["FLAGS"]
    assert first["INTERNALDATE"].startswith(b"25-Nov-2026"), first
    # read back through the bridge: the plaintext
    b.ok("SELECT Drafts")
    it = fetches(b.ok("FETCH 1 (BODY.PEEK[] RFC822.SIZE)"))[0][1]
    assert b"pumpernickel" in it["BODY[]"]
    assert int(it["RFC822.SIZE"]) == len(it["BODY[]"])


@case
def search(b, d, ref, extra, **_):
    """SEARCH with CHARSET UTF-8 and a literal, ESEARCH's RETURN: the
    encrypted message found by a word of its body."""
    want = int(extra[0])
    tag = b.tag()
    word = "pumpernickel".encode()
    b.send(tag + b" UID SEARCH CHARSET UTF-8 BODY {%d}\r\n" % len(word))
    u = b.unit()
    assert u.startswith(b"+"), u
    b.send(word + b"\r\n")
    units, last = b.until(tag)
    assert status(last) == "OK", last
    found = [int(x) for x in b" ".join(units).split()[2:]]
    assert want in found, (want, units)
    units = b.ok("UID SEARCH RETURN (MIN MAX COUNT ALL) BODY pumpernickel")
    print(units)
    es = b" ".join(units)
    assert b"ESEARCH" in es and b"COUNT" in es, es
    m = re.search(rb" ALL (\S+)", es)
    assert m and want in numbers(m.group(1)), (want, es)


@case
def idle(b, d, ref, **_):
    """IDLE, then DONE; a NOOP poll after it."""
    tag = b.tag()
    b.send(tag + b" IDLE\r\n")
    u = b.unit()
    assert u.startswith(b"+"), u
    b.send(b"DONE\r\n")
    _, last = b.until(tag)
    assert status(last) == "OK", last
    b.ok("NOOP")
    b.ok("NAMESPACE")
    b.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))')
    b.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")


def main():
    case = sys.argv[1]
    bport, bca, bpw, sport, sca, spw = sys.argv[2:8]
    b = Imap(int(bport), bca, bpw, "INBOX")
    d = Imap(int(sport), sca, spw, "INBOX")
    CASES[case](b=b, d=d, ref=Ref(b), extra=sys.argv[8:])


if __name__ == "__main__":
    main()
