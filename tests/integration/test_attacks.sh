#!/bin/bash
# Functions below are mostly called through t(); shellcheck cannot see that.
# shellcheck disable=SC2317,SC2016
# (SC2016: the eval strings given to t() expand when the case runs, on purpose)
#
# test_attacks.sh - crafted hostile and quirky S/MIME against `letterlock
# open`: the "Johnny, you are fired" signature-spoofing shapes (Müller et
# al. 2019), EFAIL (CBC/GCM malleability, direct exfiltration), resource
# exhaustion, legitimate shapes real clients send that must open (Outlook,
# Thunderbird/NSS, Apple Mail, gpgsm, OpenSSL: parameters, transfer
# encodings, BER, algorithms, identifiers, recipients), and more attacks
# (signature and MIME wrapping, identity, a forged status field, header
# protection, surreptitious forwarding, downgrade, nesting).
# doc/decisions.md "What `open` takes from other implementations" says
# what is accepted and refused.
#
# Output: TAP lines "ok - ..." / "not ok - ..." (no plan), diagnostics as
# "# ..." lines.  A "not ok" is a letterlock bug (the expectation is cited
# in the case); the script exits 0 unless the set-up itself failed.
#
#   LETTERLOCK   the letterlock binary (default build/src/cli/letterlock
#                under the source root)
#   KEEP_TMP=1   keep the temporary directory (its path is printed)
#
# Needs: bash, openssl, python3 (standard library).  About 40 s (more on a busy machine).
# tests/run: alone (its resource-exhaustion cases have time limits of
# 3 to 10 s: it runs with no other test beside it)
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
tap_init attacks
top=$(cd "$here/../.." && pwd)
LETTERLOCK=${LETTERLOCK:-$top/build/src/cli/letterlock}
case $LETTERLOCK in
/*) ;;
*) LETTERLOCK=$PWD/$LETTERLOCK ;;
esac



[ -x "$LETTERLOCK" ] || bail "no letterlock binary at $LETTERLOCK"

P=$T/pki
H=$T/home
M=$T/m
mkdir -p "$H" "$M"
export PKI=$P

# The crafting helper (standard library + openssl CLI), written out at run time.
cat >"$T/attacklib.py" <<'PY'
#!/usr/bin/env python3
"""attacklib.py - build hostile and quirky S/MIME for test_attacks.sh.

Standard library and the openssl CLI only.  Every command writes files;
none of them needs a private key of the recipient.

  sd OUT --key K --cert C [--cert C2...] --content F [--sigcert C]
     [--ect OID|data] [--attrs ct,md,time|ct=OID|md2|ct2|none|time=UTCTIME]
     [--sid is|ski] [--digest sha256] [--bad_sig] [--nosigners]
                      hand-made CMS SignedData (DER, definite lengths)
  msign ID PART1 OUT BOUNDARY [HDR...]
                      multipart/signed over the exact bytes of PART1, signed
                      with $PKI/ID.key (openssl cms), chain from $PKI/inter.pem
  wrap DER OUT TYPE [HDR...]
                      application/pkcs7-mime message (base64, CRLF)
  env IN.der OUT.der OP [ARGS]
                      edit an (Auth)EnvelopedData: mac N (keep N bytes of the
                      tag), authattrs, flip OFF XOR (ciphertext byte),
                      iv KNOWN WANT (CBC: make the first plaintext block WANT),
                      ris N (N more copies of RecipientInfo 0), toenv (an
                      AuthEnvelopedData relabelled as EnvelopedData, no mac)
  plain IN.der        the ciphertext length (for offsets)
  gcmforge IN.der LETTERLOCK HOME OFF XOR
                      flip a ciphertext byte, cut the tag to 1 byte and try
                      all 256 tags; prints how many letterlock accepted
  gen KIND OUT [N]    hostile messages: groups (From with N nested groups),
                      parts (multipart/signed with N parts), hdr (a header
                      block of about N bytes), nearmiss
  quad OUT N --key K --cert C
                      a signed-data (bad signature) whose content and outer
                      header both have N header fields
  der IN OUT          body of an application/pkcs7-mime message -> DER
  manycerts OUT N KEY CERT INTER JUNK CONTENT
                      signed-data by CERT carrying N distinct junk certificates
  mix OUT ENC.eml     the EFAIL "direct exfiltration" multipart/mixed around
                      the encrypted body of ENC.eml
  mswrap PART1 SIG.der OUT BOUNDARY [HDR...]
                      multipart/signed of PART1 with any DER as its signature
  stripcaps IN.der OUT.der
                      a signed-data with the SMIMECapabilities attribute taken
                      out of its signer's signed attributes (signature kept)
"""
import base64
import datetime
import hashlib
import os
import re
import subprocess
import sys

CRLF = b"\r\n"

# ---------------------------------------------------------------- DER out


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


def seq(*xs):
    return tlv(0x30, b"".join(xs))


def set_of(*xs):
    return tlv(0x31, b"".join(sorted(xs)))


def octets(b):
    return tlv(0x04, b)


def integer(i):
    return tlv(0x02, i.to_bytes((i.bit_length() + 8) // 8 or 1, "big"))


def ctx(n, body, cons=True):
    return tlv((0xA0 if cons else 0x80) | n, body)


def oid(s):
    a = [int(x) for x in s.split(".")]
    out = bytes([40 * a[0] + a[1]])
    for v in a[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, out)


OID = {
    "data": "1.2.840.113549.1.7.1",
    "signedData": "1.2.840.113549.1.7.2",
    "envelopedData": "1.2.840.113549.1.7.3",
    "ct": "1.2.840.113549.1.9.3",
    "md": "1.2.840.113549.1.9.4",
    "time": "1.2.840.113549.1.9.5",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "rsa": "1.2.840.113549.1.1.1",
    "tstinfo": "1.2.840.113549.1.9.16.1.4",
}

# ----------------------------------------------------------------- BER in


class Node:
    def __init__(self, tag, cons, val):
        self.tag, self.cons, self.val = tag, cons, val


def parse_one(d, i):
    t0 = i
    i += 1
    if d[t0] & 0x1F == 0x1F:
        while d[i] & 0x80:
            i += 1
        i += 1
    tag = bytes(d[t0:i])
    cons = bool(tag[0] & 0x20)
    ln = d[i]
    i += 1
    if ln == 0x80:
        kids = []
        while not (d[i] == 0 and d[i + 1] == 0):
            n, i = parse_one(d, i)
            kids.append(n)
        return Node(tag, True, kids), i + 2
    if ln & 0x80:
        k = ln & 0x7F
        ln = int.from_bytes(d[i:i + k], "big")
        i += k
    v = d[i:i + ln]
    if cons:
        kids, j = [], 0
        while j < len(v):
            n, j = parse_one(v, j)
            kids.append(n)
        return Node(tag, True, kids), i + ln
    return Node(tag, False, v), i + ln


def enc_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def encode(n):
    v = b"".join(encode(k) for k in n.val) if n.cons else n.val
    return n.tag + enc_len(len(v)) + v


def flat(n):
    return b"".join(flat(k) for k in n.val) if n.cons else n.val


def body_of(x):
    """contents of a definite-length DER element"""
    ln = x[1]
    h = 2
    if ln & 0x80:
        k = ln & 0x7F
        ln = int.from_bytes(x[2:2 + k], "big")
        h += k
    return x[h:h + ln]


def children(d):
    out, i = [], 0
    while i < len(d):
        start = i
        n, i = parse_one(d, i)
        out.append(d[start:i])
    return out

# ------------------------------------------------------------------ files


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def cert_der(path):
    pem = read(path).decode()
    m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END", pem, re.S)
    return base64.b64decode(m.group(1))


def issuer_serial(cd):
    tbs = children(body_of(cd))[0]
    f = children(body_of(tbs))
    if f[0][0] == 0xA0:
        f = f[1:]
    return seq(f[2], f[0])


def ski(cd):
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                          "-ext", "subjectKeyIdentifier"], input=cd,
                         capture_output=True, check=True).stdout.decode()
    return bytes.fromhex(out.strip().splitlines()[-1].strip().replace(":", ""))


def b64lines(der):
    s = base64.b64encode(der)
    return CRLF.join(s[i:i + 76] for i in range(0, len(s), 76)) + CRLF


def hdrs(hs):
    return b"".join(h.encode() + CRLF for h in hs)


def pkcs7_msg(der, smime_type, hs):
    return (hdrs(hs) + b"MIME-Version: 1.0\r\n"
            b"Content-Type: application/pkcs7-mime; smime-type=" +
            smime_type.encode() + b'; name="smime.p7m"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64lines(der))

# --------------------------------------------------------------- commands


def signed_data(content, key, certs, signer, ect="data", attrs="ct,md,time",
                sid="is", digest="sha256", bad_sig=False, nosigners=False):
    ect = OID.get(ect, ect)
    dig = hashlib.new(digest, content).digest()
    now = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%y%m%d%H%M%SZ").encode()

    def attr(o, *vals):
        return seq(oid(o), set_of(*vals))
    al = []
    if attrs != "none":
        for s in attrs.split(","):
            n, _, v = s.partition("=")
            if n == "ct":
                al.append(attr(OID["ct"], oid(OID.get(v, v) if v else ect)))
            elif n == "ct2":
                al.append(attr(OID["ct"], oid(ect)))
                al.append(attr(OID["ct"], oid(ect)))
            elif n == "md":
                al.append(attr(OID["md"], octets(dig)))
            elif n == "md2":
                al.append(attr(OID["md"], octets(dig), octets(bytes(len(dig)))))
            elif n == "time":
                al.append(attr(OID["time"], tlv(0x17, v.encode() if v else now)))
    tosign = set_of(*al) if attrs != "none" else content
    sig = subprocess.run(["openssl", "dgst", "-" + digest, "-sign", key,
                          "-binary"], input=tosign, capture_output=True,
                         check=True).stdout
    if bad_sig:
        sig = sig[:-1] + bytes([sig[-1] ^ 1])
    if sid == "is":
        sidv, ver = issuer_serial(signer), 1
    else:
        sidv, ver = ctx(0, ski(signer), cons=False), 3
    dalg = seq(oid(OID[digest]))
    si = seq(integer(ver), sidv, dalg,
             *([ctx(0, b"".join(sorted(al)))] if attrs != "none" else []),
             seq(oid(OID["rsa"]), tlv(0x05, b"")), octets(sig))
    eci = seq(oid(ect), ctx(0, octets(content)))
    sdv = 3 if ver == 3 or ect != OID["data"] else 1
    sd = seq(integer(sdv), set_of(dalg), eci, ctx(0, b"".join(certs)),
             tlv(0x31, b"" if nosigners else si))
    return seq(oid(OID["signedData"]), ctx(0, sd))


def cmd_sd(out, *argv):
    a = {"cert": []}
    argv = list(argv)
    while argv:
        k = argv.pop(0).lstrip("-")
        if k in ("bad_sig", "nosigners"):
            a[k] = True
        elif k == "cert":
            a["cert"].append(argv.pop(0))
        else:
            a[k] = argv.pop(0)
    certs = [cert_der(c) for c in a["cert"]]
    signer = cert_der(a["sigcert"]) if "sigcert" in a else certs[0]
    write(out, signed_data(read(a["content"]), a["key"], certs, signer,
                           a.get("ect", "data"), a.get("attrs", "ct,md,time"),
                           a.get("sid", "is"), a.get("digest", "sha256"),
                           a.get("bad_sig", False),
                           a.get("nosigners", False)))


def cmd_msign(idn, part1, out, bnd, *hs):
    pki = os.environ["PKI"]
    content = read(part1)
    sig = subprocess.run(["openssl", "cms", "-sign", "-binary", "-signer",
                          "%s/%s.pem" % (pki, idn), "-inkey",
                          "%s/%s.key" % (pki, idn), "-certfile",
                          "%s/inter.pem" % pki, "-outform", "DER"],
                         input=content, capture_output=True,
                         check=True).stdout
    write_signed(content, sig, out, bnd, hs)


def cmd_mswrap(part1, sig, out, bnd, *hs):
    write_signed(read(part1), read(sig), out, bnd, hs)


def write_signed(content, sig, out, bnd, hs):
    b = bnd.encode()
    write(out, hdrs(hs) +
          b'MIME-Version: 1.0\r\nContent-Type: multipart/signed; '
          b'protocol="application/pkcs7-signature"; micalg=sha-256; '
          b'boundary="' + b + b'"\r\n\r\n--' + b + CRLF + content + CRLF +
          b"--" + b + CRLF +
          b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
          b"Content-Transfer-Encoding: base64\r\n\r\n" + b64lines(sig) +
          b"--" + b + b"--\r\n")


def cmd_wrap(der, out, smime_type, *hs):
    write(out, pkcs7_msg(read(der), smime_type, hs))


def env_parts(ci):
    env = ci.val[1].val[0]
    kids = env.val
    idx = [i for i, k in enumerate(kids) if k.tag == b"\x31"][0]
    return kids, idx, kids[idx + 1]


def unesc(s):
    return s.encode().decode("unicode_escape").encode("latin-1")


def cmd_env(src, dst, op, *args):
    ci, _ = parse_one(read(src), 0)
    kids, idx, eci = env_parts(ci)
    alg = eci.val[1]
    if op == "mac":
        assert kids[-1].tag == b"\x04"
        kids[-1].val = kids[-1].val[:int(args[0])]
    elif op == "authattrs":
        a = Node(b"\x30", True, [
            Node(b"\x06", False, bytes.fromhex("2a864886f70d010903")),
            Node(b"\x31", True, [Node(b"\x06", False,
                                      bytes.fromhex("2a864886f70d010701"))])])
        kids.insert(len(kids) - 1, Node(b"\xa1", True, [a]))
    elif op == "flip":
        ct = bytearray(flat(eci.val[2]))
        ct[int(args[0])] ^= int(args[1], 0)
        eci.val[2] = Node(b"\x80", False, bytes(ct))
    elif op == "iv":
        known, want = unesc(args[0]), unesc(args[1])
        assert len(known) == len(want) == 16
        alg.val[1].val = bytes(a ^ b ^ c for a, b, c in
                               zip(alg.val[1].val, known, want))
    elif op == "ris":
        s = kids[idx]
        s.val = s.val + [s.val[0]] * int(args[0])
    elif op == "toenv":
        ci.val[0].val = bytes.fromhex("2a864886f70d010703")
        assert kids[-1].tag == b"\x04"
        kids.pop()
    else:
        sys.exit("unknown env op " + op)
    write(dst, encode(ci))


def cmd_stripcaps(src, dst):
    ci, _ = parse_one(read(src), 0)
    sis = [k for k in ci.val[1].val[0].val if k.tag == b"\x31"][-1]
    attrs = [k for k in sis.val[0].val if k.tag == b"\xa0"][0]
    caps = oid("1.2.840.113549.1.9.15")[2:]
    n = len(attrs.val)
    attrs.val = [a for a in attrs.val if a.val[0].val != caps]
    assert len(attrs.val) == n - 1, "no SMIMECapabilities attribute"
    write(dst, encode(ci))


def cmd_plain(src):
    ci, _ = parse_one(read(src), 0)
    print(len(flat(env_parts(ci)[2].val[2])))


def cmd_gcmforge(src, ll, home, off, x):
    ci, _ = parse_one(read(src), 0)
    kids, idx, eci = env_parts(ci)
    ct = bytearray(flat(eci.val[2]))
    ct[int(off)] ^= int(x, 0)
    eci.val[2] = Node(b"\x80", False, bytes(ct))
    d = os.path.dirname(os.path.abspath(src))
    accepted = 0
    for g in range(256):
        kids[-1].val = bytes([g])
        m = os.path.join(d, "forge.eml")
        write(m, pkcs7_msg(encode(ci), "authEnveloped-data",
                           ["From: alice@example.test", "To: bob@example.test"]))
        r = subprocess.run([ll, "--home", home, "open", "--json", "-o",
                            os.path.join(d, "forge.out"), m],
                           capture_output=True)
        if r.returncode in (0, 1):
            accepted += 1
    print(accepted)


def cmd_gen(kind, out, n="0"):
    n = int(n)
    if kind == "groups":
        write(out, b"From: " + b"a:" * n + b"\r\nTo: bob@example.test\r\n"
              b"Subject: groups\r\n\r\nbody\r\n")
    elif kind == "parts":
        b = b"b" * 70
        parts = b"".join(b"--" + b + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n"
                         for _ in range(n))
        write(out, b'From: alice@example.test\r\nMIME-Version: 1.0\r\n'
              b'Content-Type: multipart/signed; protocol="application/'
              b'pkcs7-signature"; boundary="' + b + b'"\r\n\r\n' + parts +
              b"--" + b + b"--\r\n")
    elif kind == "hdr":
        lines = b"".join(b"X-Filler: %0100d\r\n" % i for i in range(n // 112))
        write(out, b"From: alice@example.test\r\n" + lines +
              b"Subject: big header\r\n\r\nbody\r\n")
    elif kind == "nearmiss":
        b = b"q" * 70
        write(out, b'From: a@example.test\r\nMIME-Version: 1.0\r\n'
              b'Content-Type: multipart/signed; protocol="application/'
              b'pkcs7-signature"; boundary="' + b + b'"\r\n\r\n' +
              (b"x--" + b) * n + b"\r\n--" + b + b"--\r\n")
    elif kind == "deepber":
        write(out, b"\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"
              b"\xa0\x80" + b"\x30\x80" * n + b"\x00\x00" * (n + 2))
    elif kind == "hugelen":
        write(out, b"\x30\x84\x7f\xff\xff\xff\x06\x09\x2a\x86\x48\x86\xf7"
              b"\x0d\x01\x07\x02\xa0\x84\x7f\xff\xff\xf0")
    else:
        sys.exit("unknown gen kind " + kind)


def cmd_quad(out, n, *argv):
    n = int(n)
    a = dict(zip([x.lstrip("-") for x in argv[0::2]], argv[1::2]))
    inner = b"".join(b"X%d:\n" % (i % 10) for i in range(n)) + \
        b"Content-Type: text/plain\n\nhi\n"
    c = cert_der(a["cert"])
    der = signed_data(inner, a["key"], [c], c, attrs="none", bad_sig=True)
    outer = b"".join(b"Y%d:\n" % (i % 10) for i in range(n))
    write(out, outer + b"From: alice@example.test\nMIME-Version: 1.0\n"
          b"Content-Type: application/pkcs7-mime; smime-type=signed-data\n"
          b"Content-Transfer-Encoding: base64\n\n" +
          b64lines(der).replace(CRLF, b"\n"))


def cmd_der(src, dst):
    """body of an application/pkcs7-mime message -> DER"""
    d = read(src)
    m = re.search(rb"\r?\n\r?\n", d)
    write(dst, base64.b64decode(re.sub(rb"\s+", b"", d[m.end():])))


def cmd_manycerts(out, n, key, cert, inter, junk, content):
    """alice's signed-data carrying N distinct junk certificates"""
    j = cert_der(junk)
    many = []
    for i in range(int(n)):
        c = bytearray(j)
        c[-1], c[-2] = i & 0xFF, (i >> 8) & 0xFF
        many.append(bytes(c))
    a = cert_der(cert)
    write(out, signed_data(read(content), key,
                           [a] + many + [cert_der(inter)], a))


def cmd_mix(out, enc):
    d = read(enc)
    i = d.index(b"\r\n\r\n")
    ent = (b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data;'
           b' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
           d[i + 4:])
    write(out, b'From: carol@example.test\r\nTo: bob@example.test\r\n'
          b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="X"'
          b'\r\n\r\n--X\r\nContent-Type: text/html\r\n\r\n<img src="http://'
          b'evil.test/\r\n--X\r\n' + ent + b'\r\n--X\r\nContent-Type: '
          b'text/html\r\n\r\n">\r\n--X--\r\n')


CMDS = {"sd": cmd_sd, "msign": cmd_msign, "wrap": cmd_wrap, "env": cmd_env,
        "plain": cmd_plain, "gcmforge": cmd_gcmforge, "gen": cmd_gen,
        "quad": cmd_quad, "mix": cmd_mix, "der": cmd_der,
        "manycerts": cmd_manycerts, "mswrap": cmd_mswrap,
        "stripcaps": cmd_stripcaps}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        sys.exit(__doc__)
    CMDS[sys.argv[1]](*sys.argv[2:])
PY

A() { python3 "$T/attacklib.py" "$@"; }
ll() { timeout "${LL_TIMEOUT:-20}" "$LETTERLOCK" "$@"; }

# ------------------------------------------------------------------ set-up

bash "$here/mkpki.sh" "$P" >"$T/mkpki.log" 2>&1 || {
	sed 's/^/# /' "$T/mkpki.log"
	bail "mkpki.sh failed"
}

# home NAME ID [contact args...]: identity ID (PKCS#12), the test root trusted
home() {
	local name=$1 id=$2
	shift 2
	ll --home "$H/$name" identity import "$P/$id.p12" \
		--passphrase-file "$P/p12pass" >/dev/null &&
		ll --home "$H/$name" trust add "$P/root.pem" >/dev/null &&
		{ [ $# -eq 0 ] || ll --home "$H/$name" contact add "$@" >/dev/null; }
}
home alice alice-rsa "$P/bob-rsa.pem" || bail "alice home"
home alicegcm alice-rsa --caps aes256-gcm,rsa-oaep "$P/bob-rsa.pem" ||
	bail "alicegcm home"
home bob bob-rsa "$P/alice-rsa.pem" "$P/carol-rsa.pem" || bail "bob home"

SECRET="SECRET-4711"
printf '%s\r\n' "From: Alice <alice@example.test>" "To: Bob <bob@example.test>" \
	"Subject: wire" "Date: Tue, 24 Nov 2026 10:00:00 +0000" \
	"Message-ID: <attacks@example.test>" "Content-Type: text/plain" "" \
	"Pay 100 EUR to alice. $SECRET" >"$M/msg.txt"
# a bare MIME entity, for openssl cms and hand-made signatures
printf '%s\r\n' "Content-Type: text/plain" "" "I resign. $SECRET" >"$M/ent.txt"

seal() { # HOME OUT [FLAGS...]
	local h=$1 out=$2
	shift 2
	ll --home "$H/$h" seal "$@" -o "$out" "$M/msg.txt" 2>"$T/seal.err" ||
		bail "seal $h $*: $(cat "$T/seal.err")"
}
seal alice "$M/signed.eml" --sign-only
seal alice "$M/cbc.eml"
seal alice "$M/cbc-u.eml" --encrypt-only
seal alicegcm "$M/gcm.eml"
seal alicegcm "$M/gcm-u.eml" --encrypt-only
for f in cbc cbc-u gcm gcm-u; do A der "$M/$f.eml" "$M/$f.der" || bail "der $f"; done

# ------------------------------------------------------------------ TAP


# op MSG [HOME]: letterlock open --json -o $T/out; RC, $T/json, $T/err.
op() {
	rm -f "$T/out" "$T/json" "$T/err"
	if [ ! -s "$1" ]; then
		echo "input $(basename "$1") missing (a preparation step failed)"
		RC=99
		return 1
	fi
	ll --home "$H/${2:-bob}" open --json -o "$T/out" "$1" >"$T/json" 2>"$T/err"
	RC=$?
}
# jf KEY: a field of the last --json output ("" when unreadable)
jf() {
	python3 -c 'import json,sys
try:
    v = json.load(open(sys.argv[1]))[sys.argv[2]]
except Exception:
    v = ""
print(v if isinstance(v, str) else json.dumps(v))' "$T/json" "$1"
}
show() {
	echo "letterlock open: exit $RC"
	sed 's/^/json: /' "$T/json" 2>/dev/null
	sed 's/^/stderr: /' "$T/err" 2>/dev/null | head -n 5
}
crashed() { [ "$RC" -ge 124 ] && [ "$RC" != 99 ]; }

# prep CMD... -- CHECK...: a preparation, then the check (for t)
prep() {
	local -a p=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		p+=("$1")
		shift
	done
	shift
	"${p[@]}" >"$T/prep.log" 2>&1 || {
		echo "preparation failed: ${p[*]}"
		sed 's/^/  /' "$T/prep.log" | head -n 10
		return 1
	}
	"$@"
}

# want_valid MSG [SIGNER]: exit 0, signature valid (by SIGNER), body present
want_valid() {
	op "$1" || return 1
	if [ "$RC" != 0 ] || [ "$(jf signature)" != valid ] ||
		{ [ -n "${2:-}" ] && [ "$(jf signer)" != "$2" ]; }; then
		echo "want exit 0, signature valid${2:+ by $2}"
		show
		return 1
	fi
	grep -q "$SECRET" "$T/out" || {
		echo "the opened message lacks the body"
		return 1
	}
}
# want_not_valid MSG: not reported "valid", exit not 0 unless unsigned,
# no crash, no time-out
want_not_valid() {
	op "$1" || return 1
	if crashed || [ "$(jf signature)" = valid ] ||
		{ [ "$RC" = 0 ] && [ "$(jf signed)" = true ]; }; then
		echo "want: the signature not reported valid, and no crash"
		show
		return 1
	fi
}
# want_rc MSG RCS: exit status in RCS ("4|5")
want_rc() {
	op "$1" || return 1
	case "|$2|" in
	*"|$RC|"*) ;;
	*)
		echo "want exit $2"
		show
		return 1
		;;
	esac
}
# no_plain: the last open released no plaintext
no_plain() {
	if [ -s "$T/out" ] || grep -q "$SECRET" "$T/json" "$T/err" 2>/dev/null; then
		echo "plaintext was released"
		show
		return 1
	fi
}
# want_refused MSG RCS: exit in RCS and no plaintext anywhere
want_refused() { want_rc "$1" "$2" && no_plain; }
# want_opens MSG [KEY=VALUE...]: exit 0, body present, JSON fields match
want_opens() {
	local kv
	op "$1" || return 1
	shift
	if [ "$RC" != 0 ] || ! grep -q "$SECRET" "$T/out"; then
		echo "want exit 0 with the body"
		show
		return 1
	fi
	for kv in "$@"; do
		if [ "$(jf "${kv%%=*}")" != "${kv#*=}" ]; then
			echo "want ${kv%%=*} = ${kv#*=}, got $(jf "${kv%%=*}")"
			show
			return 1
		fi
	done
}
# fast SECONDS CHECK...: CHECK within SECONDS (letterlock runs under it).
# The bound catches work that grows faster than the input (a quadratic
# walk, an unbounded loop), not speed: under the sanitizers (ASAN_OPTIONS
# set, as tests/run does for build-asan), which run letterlock 2-5x
# slower, it is three times as long.
fast() {
	local s=$1
	shift
	[ -n "${ASAN_OPTIONS:-}" ] && s=$((s * 3))
	LL_TIMEOUT=$s "$@" || return 1
	if crashed; then
		echo "letterlock did not finish within $s s (exit $RC)"
		return 1
	fi
}

msign() { A msign "$@"; }
wrap() { A wrap "$1" "$2" "$3" "From: Alice <alice@example.test>" "To: Bob <bob@example.test>"; }
# sd OUT [options]: alice's hand-made signed-data over ent.txt, wrapped
sd() {
	local out=$1
	shift
	A sd "$out.der" --key "$P/alice-rsa.key" --cert "$P/alice-rsa.pem" \
		--cert "$P/inter.pem" --content "$M/ent.txt" "$@" &&
		wrap "$out.der" "$out" signed-data
}
# cms OUT IN [openssl cms options]: opaque signed-data by alice
cms() {
	local out=$1 in=$2
	shift 2
	openssl cms -sign -binary -nodetach -signer "$P/alice-rsa.pem" \
		-inkey "$P/alice-rsa.key" -certfile "$P/inter.pem" -in "$in" \
		-outform DER -out "$out.der" "$@" && wrap "$out.der" "$out" signed-data
}
# cmsenc OUT [openssl cms options]: ent.txt encrypted to bob by openssl
cmsenc() {
	local out=$1
	shift
	openssl cms -encrypt -binary -in "$M/ent.txt" -outform DER \
		-out "$out.der" "$@" && wrap "$out.der" "$out" enveloped-data
}

J=$M/j
mkdir -p "$J"
printf '%s\r\n' "Content-Type: text/plain" "" "I resign. $SECRET" >"$J/p1"

# ============================================ "Johnny, you are fired"

t "baseline: letterlock's own clear-signed message is valid" \
	want_valid "$M/signed.eml" alice@example.test
t "baseline: a hand-made signed-data (this script's generator) is valid" \
	prep sd "$J/good.eml" -- want_valid "$J/good.eml" alice@example.test
t "eContentType is not id-data (id-ct-TSTInfo): not valid" \
	prep cms "$J/ect.eml" "$M/ent.txt" -econtent_type 1.2.840.113549.1.9.16.1.4 \
	-- want_not_valid "$J/ect.eml"
# RFC 5652 5.3/11.1: the content-type attribute value MUST match the
# eContentType (OpenSSL 3.0's CMS_verify does not compare them)
t "signed contentType attribute (id-ct-TSTInfo) differs from eContentType (id-data): not valid" \
	prep sd "$J/ctmis.eml" --attrs ct=tstinfo,md,time -- want_not_valid "$J/ctmis.eml"
t "signed attributes without contentType: not valid" \
	prep sd "$J/noct.eml" --attrs md,time -- want_not_valid "$J/noct.eml"
t "signed attributes without messageDigest: not valid" \
	prep sd "$J/nomd.eml" --attrs ct,time -- want_not_valid "$J/nomd.eml"
t "messageDigest with two values (one right): not valid" \
	prep sd "$J/md2.eml" --attrs ct,md2,time -- want_not_valid "$J/md2.eml"
t "contentType attribute twice: not valid" \
	prep sd "$J/ct2.eml" --attrs ct2,md,time -- want_not_valid "$J/ct2.eml"
t "no signed attributes (signature over the content, RFC 5652 5.4): valid" \
	prep sd "$J/noattr.eml" --attrs none -- want_valid "$J/noattr.eml" alice@example.test
t "two signers (alice and carol): refused, not valid" \
	prep cms "$J/two.eml" "$M/ent.txt" -signer "$P/carol-rsa.pem" -inkey "$P/carol-rsa.key" \
	-- want_not_valid "$J/two.eml"
t "SignerIdentifier names carol's certificate, alice's key signed: not valid" \
	prep sd "$J/sid.eml" --cert "$P/carol-rsa.pem" --sigcert "$P/carol-rsa.pem" \
	-- want_not_valid "$J/sid.eml"
t "signing time 1 day in the future: not valid" \
	prep sd "$J/future.eml" --attrs "ct,md,time=$(date -u -d '+1 day' +%y%m%d%H%M%SZ)" \
	-- want_not_valid "$J/future.eml"

three() { # IN OUT WHERE: a third part after the signature or before it
	python3 - "$@" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
if sys.argv[3] == "after":
    d = d.replace(b"--B1--\r\n", b"--B1\r\nContent-Type: text/plain\r\n\r\nunsigned\r\n--B1--\r\n")
else:
    i = d.index(b"\r\n--B1\r\nContent-Type: application/pkcs7-signature")
    d = d[:i] + b"\r\n--B1\r\nContent-Type: text/plain\r\n\r\nunsigned" + d[i:]
open(sys.argv[2], "wb").write(d)
PY
}
t "multipart/signed with a third part after the signature: not valid" \
	prep eval 'msign alice-rsa "$J/p1" "$J/ms.eml" B1 "From: alice@example.test" "To: bob@example.test" && three "$J/ms.eml" "$J/ms3a.eml" after' \
	-- want_not_valid "$J/ms3a.eml"
t "multipart/signed with a third part before the signature: not valid" \
	prep three "$J/ms.eml" "$J/ms3b.eml" before -- want_not_valid "$J/ms3b.eml"
t "micalg=sha-1 on a SHA-256 signature: judged by the CMS digest (RFC 8551 3.5.3)" \
	prep eval 'sed "s/micalg=sha-256/micalg=sha-1/" "$J/ms.eml" >"$J/micalg.eml"' \
	-- want_valid "$J/micalg.eml" alice@example.test
t "nested multipart/signed, outer by carol, inner by alice, From alice: not valid" \
	prep eval 'msign alice-rsa "$J/p1" "$J/in.ent" BIN && msign carol-rsa "$J/in.ent" "$J/nest.eml" BOUT "From: alice@example.test" "To: bob@example.test"' \
	-- want_not_valid "$J/nest.eml"
mixed() {
	python3 - "$J/ms.eml" "$J/mixed.eml" <<'PY'
import sys
d = open(sys.argv[1], "rb").read().split(b"MIME-Version: 1.0\r\n", 1)[1]
open(sys.argv[2], "wb").write(
    b'From: alice@example.test\r\nTo: bob@example.test\r\nMIME-Version: 1.0\r\n'
    b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n--M\r\nContent-Type: '
    b'text/plain\r\n\r\nForwarded:\r\n--M\r\n' + d + b'\r\n--M--\r\n')
PY
}
t "a signed part inside multipart/mixed is not a signed message" \
	prep mixed -- want_opens "$J/mixed.eml" signed=false signature=none
# RFC 5322 3.6: exactly one From field; a second one is what some clients show
t "two From fields (alice, then carol), alice's signature: not valid" \
	prep msign alice-rsa "$J/p1" "$J/from2.eml" B1 "From: alice@example.test" "From: carol@example.test" "To: bob@example.test" \
	-- want_not_valid "$J/from2.eml"
t "From with two mailboxes (comma): not valid" \
	prep msign alice-rsa "$J/p1" "$J/froml.eml" B1 "From: alice@example.test, carol@example.test" "To: bob@example.test" \
	-- want_not_valid "$J/froml.eml"
# not an RFC 5322 mailbox-list; GMime keeps only the first mailbox, a
# client that splits on ';' (Outlook) shows carol too
t "From 'Alice <alice@...>; Carol <carol@...>' (not RFC 5322): not valid" \
	prep msign alice-rsa "$J/p1" "$J/fromsemi.eml" B1 "From: Alice <alice@example.test>; Carol <carol@example.test>" "To: bob@example.test" \
	-- want_not_valid "$J/fromsemi.eml"
t "From 'alice@example.test@evil.test' (not an addr-spec): not valid" \
	prep msign alice-rsa "$J/p1" "$J/fromat.eml" B1 "From: alice@example.test@evil.test" "To: bob@example.test" \
	-- want_not_valid "$J/fromat.eml"
t "From '\"alice@example.test\" <carol@example.test>', alice's signature: not valid" \
	prep msign alice-rsa "$J/p1" "$J/fromdn.eml" B1 'From: "alice@example.test" <carol@example.test>' "To: bob@example.test" \
	-- want_not_valid "$J/fromdn.eml"
printf '%s\r\n' "From: alice@example.test" "To: bob@example.test" "Subject: inner" \
	'Content-Type: text/plain; hp="clear"' "" "I resign. $SECRET" >"$J/hpA"
printf '%s\r\n' "From: carol@example.test" "To: bob@example.test" "Subject: inner" \
	'Content-Type: text/plain; hp="clear"' "" "I resign. $SECRET" >"$J/hpC"
printf '%s\r\n' "From: alice@example.test" "From: carol@example.test" "To: bob@example.test" \
	'Content-Type: text/plain; hp="clear"' "" "I resign. $SECRET" >"$J/hp2"
# from_is ADDR: the opened message has exactly one From field, naming ADDR
from_is() {
	local n
	n=$(grep -ci '^From:' "$T/out")
	if [ "$n" != 1 ] || ! grep -qi "^From:.*$1" "$T/out"; then
		echo "want exactly one From ($1) in the opened message:"
		grep -i '^From' "$T/out" | sed 's/^/  /'
		return 1
	fi
}
t "header protection: protected From alice (signed by alice), outer From carol: valid, output From alice" \
	prep msign alice-rsa "$J/hpA" "$J/hp1.eml" B1 "From: carol@example.test" "To: bob@example.test" "Subject: outer" \
	-- eval 'want_valid "$J/hp1.eml" alice@example.test && from_is alice@example.test'
t "header protection: protected From carol (signed by carol), outer From alice: signer carol, output From carol" \
	prep msign carol-rsa "$J/hpC" "$J/hp2.eml" B1 "From: alice@example.test" "To: bob@example.test" \
	-- eval 'op "$J/hp2.eml" && [ "$(jf signer)" = carol@example.test ] && from_is carol@example.test || { show; false; }'
t "header protection: two protected From fields (alice, carol), alice's signature: not valid" \
	prep msign alice-rsa "$J/hp2" "$J/hp3.eml" B1 "From: alice@example.test" "To: bob@example.test" \
	-- want_not_valid "$J/hp3.eml"

# ============================================ EFAIL

E=$M/e
mkdir -p "$E"
wrapenv() { A wrap "$1" "$2" "$3" "From: Alice <alice@example.test>" "To: Bob <bob@example.test>" "Subject: [...]"; }
env_edit() { # SRC OUT TYPE OP ARGS...
	local src=$1 out=$2 type=$3
	shift 3
	A env "$src" "$out.der" "$@" && wrapenv "$out.der" "$out" "$type"
}
t "unsigned CBC, a ciphertext block flipped: released only as unsigned (or refused)" \
	prep env_edit "$M/cbc-u.der" "$E/u-flip.eml" enveloped-data flip 100 0x01 \
	-- eval 'op "$E/u-flip.eml"; { [ "$RC" = 4 ] || [ "$RC" = 5 ]; } && no_plain || { [ "$RC" = 0 ] && [ "$(jf signed)" = false ]; } || { show; false; }'
t "signed-then-encrypted CBC, a ciphertext block flipped: exit 4, no plaintext" \
	prep env_edit "$M/cbc.der" "$E/s-flip.eml" enveloped-data flip 300 0x01 \
	-- want_refused "$E/s-flip.eml" 4
# doc/decisions.md: CBC content that "fails to parse" gives LL_EDECRYPT
# (exit 4) and no plaintext; a different answer for bad padding (4) and
# for good padding with garbage (5) is a padding oracle
t "signed-then-encrypted CBC, IV changed so the decrypted header is garbage: exit 4 (not 5)" \
	prep env_edit "$M/cbc.der" "$E/s-iv.eml" enveloped-data iv 'Content-Type: mu' ' ontent-Type: mu' \
	-- want_refused "$E/s-iv.eml" 4
t "EFAIL direct exfiltration: multipart/mixed around the encrypted part is not decrypted" \
	prep A mix "$E/mixed.eml" "$M/cbc.eml" \
	-- eval 'op "$E/mixed.eml" && [ "$RC" = 0 ] && [ "$(jf decrypted)" = false ] && ! grep -q "$SECRET" "$T/out" || { show; false; }'
t "GCM baseline opens (aes-256-gcm, valid)" \
	want_opens "$M/gcm.eml" cipher=aes-256-gcm signature=valid
# RFC 5084 3.2: AES-GCM-ICVlen is 12..16 octets and is the length of the
# mac; OpenSSL 3.0 checks only as many tag bytes as the mac has
t "GCM tag cut to 8 bytes: refused (exit 4), no plaintext" \
	prep env_edit "$M/gcm.der" "$E/gcm-mac8.eml" authEnveloped-data mac 8 \
	-- want_refused "$E/gcm-mac8.eml" "4|5"
t "GCM tag cut to 1 byte: refused (exit 4), no plaintext" \
	prep env_edit "$M/gcm.der" "$E/gcm-mac1.eml" authEnveloped-data mac 1 \
	-- want_refused "$E/gcm-mac1.eml" "4|5"
t "GCM forgery: modified ciphertext with each of the 256 one-byte tags, none accepted" \
	eval 'n=$(A gcmforge "$M/gcm-u.der" "$LETTERLOCK" "$H/bob" 40 0x01) && [ "$n" = 0 ] || { echo "$n of 256 forged messages opened"; false; }'
t "GCM with authAttrs added by an attacker: not opened" \
	prep env_edit "$M/gcm.der" "$E/gcm-aa.eml" authEnveloped-data authattrs \
	-- want_refused "$E/gcm-aa.eml" "4|5"
t "GCM relabelled as EnvelopedData without its tag: refused (exit 4)" \
	prep env_edit "$M/gcm.der" "$E/gcm-env.eml" enveloped-data toenv \
	-- want_refused "$E/gcm-env.eml" "4|5"

# ============================================ hostile structure

X=$M/x
mkdir -p "$X"
t "huge declared DER length: exit 5 at once" \
	prep eval 'A gen hugelen "$X/huge.der" && wrap "$X/huge.der" "$X/huge.eml" signed-data' \
	-- fast 5 want_rc "$X/huge.eml" 5
t "100,000 nested BER indefinite lengths: exit 5, no crash" \
	prep eval 'A gen deepber "$X/deep.der" 100000 && wrap "$X/deep.der" "$X/deep.eml" signed-data' \
	-- fast 5 want_rc "$X/deep.eml" 5
t "multipart/signed with 10,000 parts: refused at once" \
	prep A gen parts "$X/parts.eml" 10000 -- fast 5 want_rc "$X/parts.eml" 5
t "200,000 near-miss boundaries: refused at once" \
	prep A gen nearmiss "$X/near.eml" 200000 -- fast 5 want_rc "$X/near.eml" 5
t "boundary of 70 characters: valid" \
	prep msign alice-rsa "$J/p1" "$X/b70.eml" "$(printf 'b%.0s' {1..70})" "From: alice@example.test" \
	-- want_valid "$X/b70.eml" alice@example.test
t "boundary of 71 characters: refused (RFC 2046 5.1.1)" \
	prep msign alice-rsa "$J/p1" "$X/b71.eml" "$(printf 'b%.0s' {1..71})" "From: alice@example.test" \
	-- want_not_valid "$X/b71.eml"
t "header block of 255 KiB: opens" \
	prep A gen hdr "$X/hdr255.eml" 261000 -- fast 5 want_rc "$X/hdr255.eml" 0
t "header block over 256 KiB: exit 5" \
	prep A gen hdr "$X/hdr257.eml" 263500 -- fast 5 want_rc "$X/hdr257.eml" 5
bigmsg() { # a message of 64 MiB + 1 bytes, checked, removed
	local r
	{
		printf 'From: a@example.test\r\n\r\n'
		head -c $((64 * 1024 * 1024 + 1 - 24)) /dev/zero | tr '\0' a
	} >"$X/big.eml" || return 1
	fast 10 want_rc "$X/big.eml" 5
	r=$?
	rm -f "$X/big.eml"
	return $r
}
t "message of 64 MiB + 1: exit 5 at once" bigmsg
t "base64 body with junk characters: refused, no crash" \
	prep eval 'cms "$X/b64" "$M/ent.txt" && sed "8s/^/!!*junk*/" "$X/b64" >"$X/b64junk.eml"' \
	-- want_rc "$X/b64junk.eml" 5
t "EnvelopedData with 1,000 RecipientInfos: opens" \
	prep env_edit "$M/cbc.der" "$X/ri1000.eml" enveloped-data ris 999 \
	-- fast 5 want_opens "$X/ri1000.eml" signature=valid
t "signed-data with 5,000 certificates: valid within 5 s" \
	prep eval 'A manycerts "$X/certs.der" 5000 "$P/alice-rsa.key" "$P/alice-rsa.pem" "$P/inter.pem" "$P/mallory-root.pem" "$M/ent.txt" && wrap "$X/certs.der" "$X/certs.eml" signed-data' \
	-- fast 5 want_valid "$X/certs.eml" alice@example.test
mkloop() { # two CAs that issue each other, a leaf "alice" under them
	local d=$X/loop k
	mkdir -p "$d"
	for k in a b leaf; do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$k.key" || return 1
	done
	printf '%s\n' "[ca]" "basicConstraints=critical,CA:true" "keyUsage=critical,keyCertSign" \
		"[ee]" "basicConstraints=CA:false" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=emailProtection" "subjectAltName=email:alice@example.test" >"$d/ext.cnf"
	openssl req -new -x509 -key "$d/b.key" -subj "/CN=Loop B" -days 3650 -out "$d/b0.pem" &&
		openssl req -new -key "$d/a.key" -subj "/CN=Loop A" -out "$d/a.csr" &&
		openssl x509 -req -in "$d/a.csr" -CA "$d/b0.pem" -CAkey "$d/b.key" -set_serial 1 \
			-days 3650 -extfile "$d/ext.cnf" -extensions ca -out "$d/a.pem" &&
		openssl req -new -key "$d/b.key" -subj "/CN=Loop B" -out "$d/b.csr" &&
		openssl x509 -req -in "$d/b.csr" -CA "$d/a.pem" -CAkey "$d/a.key" -set_serial 2 \
			-days 3650 -extfile "$d/ext.cnf" -extensions ca -out "$d/b.pem" &&
		openssl req -new -key "$d/leaf.key" -subj "/CN=alice" -out "$d/leaf.csr" &&
		openssl x509 -req -in "$d/leaf.csr" -CA "$d/a.pem" -CAkey "$d/a.key" -set_serial 3 \
			-days 3650 -extfile "$d/ext.cnf" -extensions ee -out "$d/leaf.pem" &&
		cat "$d/a.pem" "$d/b.pem" >"$d/chain.pem" &&
		openssl cms -sign -binary -nodetach -signer "$d/leaf.pem" -inkey "$d/leaf.key" \
			-certfile "$d/chain.pem" -in "$M/ent.txt" -outform DER -out "$d/loop.der" &&
		wrap "$d/loop.der" "$X/loop.eml" signed-data
}
t "certificate chain loop (A issues B, B issues A): not valid, no hang" \
	prep mkloop -- fast 5 want_not_valid "$X/loop.eml"
# outer_fields() asks, for every outer field, whether the inner header has
# it: fields(outer) x fields(inner) scans; needs no key (bad signature)
t "25,000 outer x 25,000 inner header fields (bad signature): done within 3 s" \
	prep A quad "$X/quad.eml" 25000 --key "$P/carol-rsa.key" --cert "$P/carol-rsa.pem" \
	-- fast 3 want_rc "$X/quad.eml" "1|5"
# GMime's address parser recurses once per group ("a:"); the From of any
# message, signed or not, is parsed
t "From with 100,000 nested groups (unsigned message): no crash" \
	prep A gen groups "$X/groups.eml" 100000 \
	-- eval '(ulimit -s 8192; fast 10 want_rc "$X/groups.eml" "0|1|5")'

# ============================================ legitimate shapes

L=$M/l
mkdir -p "$L"
cms "$L/sd" "$M/ent.txt" 2>/dev/null
entity() { # OUT CTYPE CTE BODYFILE [LF]
	{
		printf 'From: alice@example.test\r\nTo: bob@example.test\r\nMIME-Version: 1.0\r\n'
		printf 'Content-Type: %s\r\n' "$2"
		[ -n "$3" ] && printf 'Content-Transfer-Encoding: %s\r\n' "$3"
		printf '\r\n'
		cat "$4"
	} >"$1"
}
b64crlf() { base64 -w "${2:-76}" "$1" | sed 's/$/\r/'; } # DER [WIDTH]
t "application/x-pkcs7-mime (Outlook)" \
	prep eval 'b64crlf "$L/sd.der" >"$L/sd.b64" && entity "$L/x.eml" "application/x-pkcs7-mime; smime-type=signed-data; name=\"smime.p7m\"" base64 "$L/sd.b64"' \
	-- want_valid "$L/x.eml" alice@example.test
t "pkcs7-mime without smime-type" \
	prep entity "$L/nost.eml" 'application/pkcs7-mime; name="smime.p7m"' base64 "$L/sd.b64" \
	-- want_valid "$L/nost.eml" alice@example.test
t "application/octet-stream; name=smime.p7m" \
	prep entity "$L/oct.eml" 'application/octet-stream; name="smime.p7m"' base64 "$L/sd.b64" \
	-- want_valid "$L/oct.eml" alice@example.test
t "Content-Transfer-Encoding: binary (raw DER)" \
	prep entity "$L/bin.eml" 'application/pkcs7-mime; smime-type=signed-data' binary "$L/sd.der" \
	-- want_valid "$L/bin.eml" alice@example.test
t "whole message with LF line ends, base64 with LF" \
	prep eval 'tr -d "\r" <"$L/x.eml" >"$L/lf.eml"' -- want_valid "$L/lf.eml" alice@example.test
t "multipart/signed stored with LF line ends" \
	prep eval 'tr -d "\r" <"$J/ms.eml" >"$L/mslf.eml"' -- want_valid "$L/mslf.eml" alice@example.test
t "signed-data, definite-length DER (openssl -nodetach)" \
	want_valid "$L/sd" alice@example.test
t "signed-data, BER indefinite lengths (openssl -stream -indef)" \
	prep cms "$L/indef.eml" "$M/ent.txt" -stream -indef -- want_valid "$L/indef.eml" alice@example.test
t "RSA-PSS, salt length = digest length" \
	prep cms "$L/pss.eml" "$M/ent.txt" -keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:-1 \
	-- want_valid "$L/pss.eml" alice@example.test
t "SHA-384 digest" prep cms "$L/s384.eml" "$M/ent.txt" -md sha384 -- want_valid "$L/s384.eml" alice@example.test
t "SHA-512 digest" prep cms "$L/s512.eml" "$M/ent.txt" -md sha512 -- want_valid "$L/s512.eml" alice@example.test
t "SignerIdentifier subjectKeyIdentifier (openssl -keyid)" \
	prep cms "$L/kid.eml" "$M/ent.txt" -keyid -- want_valid "$L/kid.eml" alice@example.test
t "ECDSA P-256 signer" \
	prep eval 'openssl cms -sign -binary -nodetach -signer "$P/alice-ec.pem" -inkey "$P/alice-ec.key" -certfile "$P/inter.pem" -in "$M/ent.txt" -outform DER -out "$L/ec.der" && wrap "$L/ec.der" "$L/ec.eml" signed-data' \
	-- want_valid "$L/ec.eml" alice@example.test
t "encryption with RecipientInfo by subjectKeyIdentifier (openssl -keyid)" \
	prep cmsenc "$L/ekid.eml" -aes256 -keyid -recip "$P/bob-rsa.pem" \
	-- want_opens "$L/ekid.eml" decrypted=true cipher=aes-256-cbc
t "encryption with AES-128-CBC" \
	prep cmsenc "$L/e128.eml" -aes128 -recip "$P/bob-rsa.pem" -- want_opens "$L/e128.eml" cipher=aes-128-cbc
t "encryption with RSA-OAEP key transport" \
	prep cmsenc "$L/eoaep.eml" -aes256 -recip "$P/bob-rsa.pem" -keyopt rsa_padding_mode:oaep \
	-- want_opens "$L/eoaep.eml" decrypted=true
triple() { # sign (multipart/signed), encrypt, sign (multipart/signed)
	msign alice-rsa "$J/p1" "$L/tw-in.ent" BIN &&
		openssl cms -encrypt -binary -aes256 -in "$L/tw-in.ent" -outform DER \
			-out "$L/tw.der" "$P/bob-rsa.pem" &&
		{
			printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
			printf 'Content-Transfer-Encoding: base64\r\n\r\n'
			b64crlf "$L/tw.der"
		} >"$L/tw-env.ent" &&
		msign alice-rsa "$L/tw-env.ent" "$L/tw.eml" BOUT "From: alice@example.test" "To: bob@example.test"
}
t "triple wrapped: signed, encrypted, signed" \
	prep triple -- want_opens "$L/tw.eml" decrypted=true signature=valid
triple_smime() { # openssl smime text mode: signed-data, enveloped, signed-data
	openssl cms -sign -nodetach -signer "$P/alice-rsa.pem" -inkey "$P/alice-rsa.key" \
		-certfile "$P/inter.pem" -in "$M/ent.txt" -out "$L/t1" &&
		openssl cms -encrypt -aes256 -in "$L/t1" -out "$L/t2" "$P/bob-rsa.pem" &&
		openssl cms -sign -nodetach -signer "$P/alice-rsa.pem" -inkey "$P/alice-rsa.key" \
			-certfile "$P/inter.pem" -in "$L/t2" -out "$L/t3" &&
		{ printf 'From: alice@example.test\r\nTo: bob@example.test\r\n'; cat "$L/t3"; } >"$L/tw2.eml"
}
t "triple wrapped by openssl smime (opaque, text mode)" \
	prep triple_smime -- want_opens "$L/tw2.eml" decrypted=true signature=valid

# ============================================ shapes other implementations send
# Outlook, Thunderbird/NSS, Apple Mail, gpgsm/KMail and OpenSSL write these;
# each must open with exactly the verdict of the plain form.

S=$M/s
mkdir -p "$S"
home carol carol-rsa "$P/alice-rsa.pem" "$P/bob-rsa.pem" || bail "carol home"
ll --home "$H/bobec" identity import-pem "$P/bob-ec.key" "$P/bob-ec.chain.pem" \
	>/dev/null && ll --home "$H/bobec" trust add "$P/root.pem" >/dev/null ||
	bail "bobec home"
# has NEEDLE: the last --json errors list has an entry containing NEEDLE
has_error() {
	grep -qF -- "$1" "$T/json" || {
		echo "want an error containing: $1"
		show
		return 1
	}
}
# lacks_error NEEDLE: no errors entry contains NEEDLE
lacks_error() {
	! grep -qF -- "$1" "$T/json" || {
		echo "want no error containing: $1"
		show
		return 1
	}
}
# field_is NAME VALUE: the opened message has exactly one NAME field, VALUE
field_is() {
	local got
	got=$(grep -i "^$1:" "$T/out" | tr -d '\r')
	[ "$got" = "$1: $2" ] || {
		echo "want exactly '$1: $2' in the opened message, got:"
		printf '%s\n' "$got" | sed 's/^/  /'
		return 1
	}
}
ct_sd='application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'
t "x-pkcs7-signature detached (old Outlook, Apple Mail)" \
	prep eval 'sed "s#application/pkcs7-signature#application/x-pkcs7-signature#" "$J/ms.eml" >"$S/xsig.eml"' \
	-- want_valid "$S/xsig.eml" alice@example.test
t "multipart/signed parameters in mixed case and quoted (Protocol=, MICALG=\"SHA-256\")" \
	prep eval 'sed "s#^Content-Type: multipart/signed; .*#Content-Type: Multipart/Signed; Protocol=\"Application/PKCS7-Signature\"; MICALG=\"SHA-256\"; Boundary=\"B1\"\r#; s#^Content-Type: application/pkcs7-signature#Content-Type: Application/PKCS7-Signature#" "$J/ms.eml" >"$S/case.eml"' \
	-- want_valid "$S/case.eml" alice@example.test
b64crlf "$L/sd.der" 64 >"$S/b64-64.txt"
b64crlf "$L/sd.der" | head -c -2 >"$S/b64-noeol.txt"
base64 -w 0 "$L/sd.der" >"$S/b64-one.txt"
# DESC CTYPE CTE BODY: alice's signed-data (ent.txt) in that entity is valid
sd_shape() {
	t "$1" prep entity "$S/shape.eml" "$2" "$3" "$4" \
		-- want_valid "$S/shape.eml" alice@example.test
}
sd_shape "Application/X-PKCS7-MIME; Smime-Type=\"Signed-Data\" (mixed case)" \
	'Application/X-PKCS7-MIME; Smime-Type="Signed-Data"; Name=smime.p7m' base64 "$L/sd.b64"
sd_shape "octet-stream with an RFC 2231 continued name (name*0=smime; name*1=.p7m)" \
	'application/octet-stream; name*0="smime"; name*1=".p7m"' base64 "$L/sd.b64"
sd_shape "octet-stream with an RFC 2231 encoded name (name*=utf-8''smime.p7m)" \
	"application/octet-stream; name*=utf-8''smime.p7m" base64 "$L/sd.b64"
sd_shape "base64 in 64-character lines (NSS, gpgsm)" "$ct_sd" base64 "$S/b64-64.txt"
sd_shape "base64 without a line end after the last line" "$ct_sd" base64 "$S/b64-noeol.txt"
sd_shape "base64 in one line, no line end" "$ct_sd" base64 "$S/b64-one.txt"
sd_shape "Content-Transfer-Encoding: 8bit around raw DER" "$ct_sd" 8bit "$L/sd.der"
t "enveloped-data without smime-type (name=smime.p7m only)" \
	prep eval 'openssl cms -encrypt -binary -aes256 -in "$M/ent.txt" -outform DER -out "$S/env.der" "$P/bob-rsa.pem" && b64crlf "$S/env.der" >"$S/env.b64" && entity "$S/envnost.eml" "application/pkcs7-mime; name=smime.p7m" base64 "$S/env.b64"' \
	-- want_opens "$S/envnost.eml" decrypted=true cipher=aes-256-cbc signed=false
t "enveloped-data, BER indefinite lengths (openssl -stream -indef)" \
	prep cmsenc "$S/envindef.eml" -aes256 -stream -indef -recip "$P/bob-rsa.pem" \
	-- want_opens "$S/envindef.eml" decrypted=true cipher=aes-256-cbc
t "signed-data, BER indefinite, inside enveloped-data, BER indefinite" \
	prep eval 'openssl cms -sign -binary -nodetach -stream -indef -signer "$P/alice-rsa.pem" -inkey "$P/alice-rsa.key" -certfile "$P/inter.pem" -in "$M/ent.txt" -out "$S/sdi.ent" && openssl cms -encrypt -binary -stream -indef -aes256 -in "$S/sdi.ent" -outform DER -out "$S/sei.der" "$P/bob-rsa.pem" && wrap "$S/sei.der" "$S/sei.eml" enveloped-data' \
	-- want_opens "$S/sei.eml" decrypted=true signature=valid signer=alice@example.test
encsign() { # encrypt to bob, then alice signs the pkcs7-mime entity
	openssl cms -encrypt -binary -aes256 -in "$M/ent.txt" -outform DER \
		-out "$S/es.der" "$P/bob-rsa.pem" &&
		{
			printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
			printf 'Content-Transfer-Encoding: base64\r\n\r\n'
			b64crlf "$S/es.der"
		} >"$S/es.ent" &&
		msign alice-rsa "$S/es.ent" "$S/es.eml" BES "From: alice@example.test" "To: bob@example.test"
}
# the signer signed bytes she may not have been able to read (Davis 2001)
t "encrypted, then signed: valid signer, and the status says the signature covers only the ciphertext" \
	prep encsign -- eval 'want_opens "$S/es.eml" decrypted=true signature=valid signer=alice@example.test && has_error "covers only the ciphertext"'
t "multipart/signed over 8-bit UTF-8 text, stored with LF line ends" \
	prep eval 'printf "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, ½ € — I resign. $SECRET\r\n" >"$S/p8" && msign alice-rsa "$S/p8" "$S/ms8.eml" B8 "From: alice@example.test" "To: bob@example.test" && tr -d "\r" <"$S/ms8.eml" >"$S/ms8lf.eml"' \
	-- want_valid "$S/ms8lf.eml" alice@example.test
t "ECDSA P-256 with SHA-384" \
	prep eval 'openssl cms -sign -binary -nodetach -md sha384 -signer "$P/alice-ec.pem" -inkey "$P/alice-ec.key" -certfile "$P/inter.pem" -in "$M/ent.txt" -outform DER -out "$S/ec384.der" && wrap "$S/ec384.der" "$S/ec384.eml" signed-data' \
	-- want_valid "$S/ec384.eml" alice@example.test
t "RSA-PSS with SHA-384 (Windows)" \
	prep cms "$S/pss384.eml" "$M/ent.txt" -md sha384 -keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:-1 \
	-- want_valid "$S/pss384.eml" alice@example.test
t "RSA-PSS with the maximum salt length (OpenSSL's default)" \
	prep cms "$S/pssmax.eml" "$M/ent.txt" -keyopt rsa_padding_mode:pss \
	-- want_valid "$S/pssmax.eml" alice@example.test
t "no certificates in the message, the signer known from contacts" \
	prep cms "$S/nocerts.eml" "$M/ent.txt" -nocerts -- want_valid "$S/nocerts.eml" alice@example.test
t "no certificates, SignerIdentifier by subjectKeyIdentifier, known from contacts" \
	prep cms "$S/nocertskid.eml" "$M/ent.txt" -nocerts -keyid -- want_valid "$S/nocertskid.eml" alice@example.test
t "no certificates, the signer unknown: not valid" \
	prep cms "$S/nocerts-c.eml" "$M/ent.txt" -nocerts -- eval 'op "$S/nocerts-c.eml" alice && [ "$(jf signature)" != valid ] && ! crashed || { show; false; }'
t "ECDH (KeyAgreeRecipientInfo) with rKeyId (openssl -keyid)" \
	prep cmsenc "$S/kari.eml" -aes128 -keyid -recip "$P/bob-ec.pem" \
	-- eval 'op "$S/kari.eml" bobec && [ "$RC" = 0 ] && [ "$(jf cipher)" = aes-128-cbc ] && grep -q "$SECRET" "$T/out" || { show; false; }'
t "ECDH, bob's KeyAgreeRecipientInfo after alice's" \
	prep cmsenc "$S/kari2.eml" -aes256 -recip "$P/alice-ec.pem" -recip "$P/bob-ec.pem" \
	-- eval 'op "$S/kari2.eml" bobec && [ "$RC" = 0 ] && grep -q "$SECRET" "$T/out" || { show; false; }'
t "RSA, bob's RecipientInfo (by subjectKeyIdentifier) third" \
	prep cmsenc "$S/ri3.eml" -aes256 -keyid -recip "$P/alice-rsa.pem" -recip "$P/carol-rsa.pem" -recip "$P/bob-rsa.pem" \
	-- want_opens "$S/ri3.eml" decrypted=true
t "AuthEnvelopedData AES-128-GCM (openssl)" \
	prep cmsenc "$S/gcm128.eml" -aes-128-gcm -recip "$P/bob-rsa.pem" \
	-- want_opens "$S/gcm128.eml" decrypted=true cipher=aes-128-gcm
# doc/interop.md "Ciphers letterlock opens": 3DES opens, named, and like
# any CBC without a signature is said to be not integrity-protected
t "EnvelopedData with 3DES (old Outlook): opens, the cipher named" \
	prep cmsenc "$S/3des.eml" -des3 -recip "$P/bob-rsa.pem" \
	-- eval 'want_opens "$S/3des.eml" decrypted=true cipher=des-ede3-cbc && has_error "not integrity-protected"'
for c in rc2-40 des; do
	t "EnvelopedData with $c (legacy provider only): refused, exit 4, the cipher named, no plaintext" \
		prep cmsenc "$S/$c.eml" -provider legacy -provider default "-$c" -recip "$P/bob-rsa.pem" \
		-- eval 'want_refused "$S/$c.eml" 4 && grep -qi "${c%-40}" "$T/err" || { show; false; }'
done

# ============================================ attacks, continued

B=$M/b
mkdir -p "$B"
t "EFAIL direct exfiltration: the whole message is neither encrypted nor signed" \
	prep A mix "$B/mixed.eml" "$M/cbc.eml" \
	-- eval 'op "$B/mixed.eml" && [ "$RC" = 0 ] && [ "$(jf encrypted)" = false ] && [ "$(jf signed)" = false ] && ! grep -q "$SECRET" "$T/out" || { show; false; }'
t "EFAIL: unsigned CBC message opens marked as not integrity-protected" \
	eval 'want_opens "$M/cbc-u.eml" signed=false cipher=aes-256-cbc && has_error "not integrity-protected"'
t "EFAIL: a CBC gadget (IV changed, unsigned) opens unsigned, not integrity-protected" \
	prep env_edit "$M/cbc-u.der" "$B/u-iv.eml" enveloped-data iv 'Content-Type: te' 'Content-Type: te' \
	-- eval 'op "$B/u-iv.eml"; { [ "$RC" = 0 ] && [ "$(jf signed)" = false ] && has_error "not integrity-protected"; } || { [ "$RC" = 4 ] && no_plain; } || { show; false; }'
t "unsigned GCM message: no integrity warning" \
	eval 'want_opens "$M/gcm-u.eml" signed=false cipher=aes-256-gcm && lacks_error "integrity"'
t "signed-then-encrypted CBC: no integrity warning (the signature is the check)" \
	eval 'want_opens "$M/cbc.eml" signature=valid && lacks_error "integrity"'
t "signature wrapping: signed-data with eContent used as a detached signature over other text: not valid" \
	prep eval 'openssl cms -sign -binary -nodetach -signer "$P/alice-rsa.pem" -inkey "$P/alice-rsa.key" -certfile "$P/inter.pem" -in "$J/p1" -outform DER -out "$B/att.der" && printf "Content-Type: text/plain\r\n\r\nPay mallory. $SECRET\r\n" >"$B/other" && A mswrap "$B/other" "$B/att.der" "$B/ecdet.eml" BW "From: alice@example.test" "To: bob@example.test"' \
	-- want_not_valid "$B/ecdet.eml"
t "signature wrapping: signed-data with eContent equal to the detached content: not valid either" \
	prep A mswrap "$J/p1" "$B/att.der" "$B/ecsame.eml" BW "From: alice@example.test" "To: bob@example.test" \
	-- want_not_valid "$B/ecsame.eml"
t "signature wrapping: signed-data with no SignerInfo: refused (exit 5), no plaintext" \
	prep sd "$B/zero.eml" --nosigners -- want_refused "$B/zero.eml" 5
t "MIME wrapping: a signed message attached as message/rfc822 is not a signed message" \
	prep eval '{ printf "From: alice@example.test\r\nTo: bob@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"R\"\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--R\r\nContent-Type: message/rfc822\r\n\r\n"; cat "$J/ms.eml"; printf "\r\n--R--\r\n"; } >"$B/rfc822.eml"' \
	-- want_opens "$B/rfc822.eml" signed=false signature=none
t "MIME wrapping: a whole message of type message/rfc822 around a signed one is not signed" \
	prep eval '{ printf "From: alice@example.test\r\nTo: bob@example.test\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"; cat "$J/ms.eml"; } >"$B/rfc822w.eml"' \
	-- want_opens "$B/rfc822w.eml" signed=false signature=none
t "ID: From carol with Sender alice, alice's signature: wrong-signer" \
	prep msign alice-rsa "$J/p1" "$B/sender.eml" B1 "From: carol@example.test" "Sender: alice@example.test" "To: bob@example.test" \
	-- eval 'op "$B/sender.eml" && [ "$RC" = 1 ] && [ "$(jf signature)" = wrong-signer ] || { show; false; }'
from_alice() { # DESC FROM CHECK [SIGNER]: alice's signature under that From
	t "$1" prep msign alice-rsa "$J/p1" "$B/from.eml" B1 "From: $2" "To: bob@example.test" \
		-- "$3" "$B/from.eml" ${4:+"$4"}
}
from_alice "ID: From with the domain in upper case: valid" \
	"Alice <alice@EXAMPLE.TEST>" want_valid alice@example.test
from_alice "ID: From alice@exаmple.test with a Cyrillic a (homograph): not valid" \
	"alice@exаmple.test" want_not_valid
from_alice "ID: From alice@xn--exmple-cua.test (IDN A-label of another domain): not valid" \
	"alice@xn--exmple-cua.test" want_not_valid
# named NAME SAN [LINE...]: alice's key certified by the intermediate for
# the subjectAltName SAN (openssl's syntax; LINEs end the configuration,
# e.g. a section SAN names), and a detached signature over p1 by it in
# $B/NAME.der
named() {
	printf '%s\n' "basicConstraints=CA:false" "keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=emailProtection" "subjectAltName=$2" "${@:3}" >"$B/$1.cnf" &&
		openssl req -new -key "$P/alice-rsa.key" -subj "/CN=$1" -out "$B/$1.csr" &&
		openssl x509 -req -in "$B/$1.csr" -CA "$P/inter.pem" -CAkey "$P/inter.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile "$B/$1.cnf" -out "$B/$1.pem" &&
		openssl cms -sign -binary -signer "$B/$1.pem" -inkey "$P/alice-rsa.key" \
			-certfile "$P/inter.pem" -in "$J/p1" -outform DER -out "$B/$1.der"
}
mkmulti() { named multi "email:alice@example.test,email:alice.two@example.test"; }
t "ID: a certificate with two addresses, From the second: valid, signer the From address" \
	prep eval 'mkmulti && A mswrap "$J/p1" "$B/multi.der" "$B/multi2.eml" BM "From: alice.two@example.test" "To: bob@example.test"' \
	-- want_valid "$B/multi2.eml" alice.two@example.test
t "ID: a certificate with two addresses, From a third: wrong-signer" \
	prep A mswrap "$J/p1" "$B/multi.der" "$B/multi3.eml" BM "From: alice.three@example.test" "To: bob@example.test" \
	-- eval 'op "$B/multi3.eml" && [ "$(jf signature)" = wrong-signer ] || { show; false; }'
# IDN (RFC 9598, RFC 6532): the certificate's domain in A-labels, the
# From's in U-labels or A-labels, or the other way round: one domain
U=$(printf 'b\303\274cher.example') # bücher.example, UTF-8
# from_named DESC NAME FROM CHECK [SIGNER]: NAME's signature under that From
from_named() {
	t "$1" prep A mswrap "$J/p1" "$B/$2.der" "$B/$2-from.eml" BN "From: $3" "To: bob@example.test" \
		-- "$4" "$B/$2-from.eml" ${5:+"$5"}
}
t "IDN: a certificate for alice@xn--bcher-kva.example (rfc822Name, A-label)" named idna "email:alice@xn--bcher-kva.example"
from_named "IDN: From alice@bücher.example (U-label), certificate in A-labels: valid" \
	idna "alice@$U" want_valid
from_named "IDN: From alice@XN--BCHER-KVA.example, certificate in A-labels: valid" \
	idna "alice@XN--BCHER-KVA.example" want_valid
from_named "IDN: From alice@xn--bcher-49a.example (bőcher, another domain's A-label): not valid" \
	idna "alice@xn--bcher-49a.example" want_not_valid
t "IDN: a certificate naming alice@bücher.example in U-labels (SmtpUTF8Mailbox)" \
	named idnu @idnu "[idnu]" "otherName.1=1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:alice@$U"
from_named "IDN: From alice@xn--bcher-kva.example (A-label), certificate in U-labels: valid" \
	idnu "alice@xn--bcher-kva.example" want_valid
from_named "IDN: From alice@bücher.example, certificate in U-labels: valid" \
	idnu "alice@$U" want_valid
t "IDN: a certificate for alice@xn--zz.example (not valid Punycode)" named idnbad "email:alice@xn--zz.example"
from_named "IDN: From alice@xn--zz.example, the same malformed A-label in the certificate: not valid" \
	idnbad "alice@xn--zz.example" want_not_valid
# the local part is compared exactly (RFC 5280 7.5; doc/decisions.md
# "Which From a signature must match"), both ways round
from_alice "ID: From Alice@example.test, certificate for alice@: not valid" \
	"Alice@example.test" want_not_valid
t "ID: a certificate for Alice@example.test (upper-case local part)" named upper "email:Alice@example.test"
from_named "ID: From alice@example.test, certificate for Alice@: not valid" \
	upper "alice@example.test" want_not_valid
from_named "ID: From Alice@EXAMPLE.test, certificate for Alice@: valid" \
	upper "Alice@EXAMPLE.test" want_valid Alice@example.test
printf '%s\r\n' "From: carol@example.test" "To: bob@example.test" "Subject: inner" \
	"X-Letterlock-Status: not encrypted; signature valid by alice@example.test" \
	'Content-Type: text/plain; hp="clear"' "" "I resign. $SECRET" >"$B/xst"
t "UI: a status field inside the signed part is not in the opened message" \
	prep msign carol-rsa "$B/xst" "$B/xst.eml" B1 "From: carol@example.test" "To: bob@example.test" \
	-- eval 'want_valid "$B/xst.eml" carol@example.test && ! grep -qi "^X-Letterlock-Status" "$T/out" || { grep -i "^X-Letterlock" "$T/out"; false; }'
t "UI: a status field in the outer header is not in the opened message" \
	prep msign alice-rsa "$J/p1" "$B/xsto.eml" B1 "From: alice@example.test" "X-Letterlock-Status: encrypted, decrypted; signature valid" "To: bob@example.test" \
	-- eval 'want_valid "$B/xsto.eml" && ! grep -qi "^X-Letterlock-Status" "$T/out" || { grep -i "^X-Letterlock" "$T/out"; false; }'
printf '%s\r\n' "From: alice@example.test" "To: bob@example.test" "Subject: protected" \
	"Date: Tue, 24 Nov 2026 10:00:00 +0000" \
	'Content-Type: text/plain; hp="clear"' "" "I resign. $SECRET" >"$B/hpS"
t "RFC 9788: outer Subject and Reply-To differ from the protected ones: the protected Subject is shown, the outer Reply-To dropped" \
	prep msign alice-rsa "$B/hpS" "$B/hps.eml" B1 "From: alice@example.test" "To: bob@example.test" "Subject: outer" "Reply-To: mallory@evil.test" \
	-- eval 'want_opens "$B/hps.eml" signature=valid header_protection=true && field_is Subject protected && ! grep -qi "^Reply-To" "$T/out" && has_error "unprotected outer Reply-To"'
t "RFC 9788: a legacy signed message (no protected header) is not reported header-protected" \
	want_opens "$J/ms.eml" signature=valid header_protection=false
surr() { # alice signs to bob (protected To bob); bob re-encrypts to carol
	printf '%s\r\n' "From: alice@example.test" "To: bob@example.test" "Subject: for bob" \
		'Content-Type: text/plain; hp="clear"' "" "I resign. $SECRET" >"$B/sf.ent" &&
		msign alice-rsa "$B/sf.ent" "$B/sf.signed" BSF &&
		openssl cms -encrypt -binary -aes256 -in "$B/sf.signed" -outform DER \
			-out "$B/sf.der" "$P/carol-rsa.pem" &&
		A wrap "$B/sf.der" "$B/sf.eml" enveloped-data "From: $1" "To: carol@example.test" "Subject: for carol"
}
t "surreptitious forwarding (outer From bob): signer alice, From and To shown as alice signed them, reported" \
	prep surr bob@example.test \
	-- eval 'op "$B/sf.eml" carol && [ "$RC" = 0 ] && [ "$(jf signer)" = alice@example.test ] && field_is From alice@example.test && field_is To bob@example.test && has_error "outer From (bob@example.test) differs" || { show; false; }'
t "surreptitious forwarding (outer From kept alice): the protected To differing from the outer To is reported" \
	prep surr alice@example.test \
	-- eval 'op "$B/sf.eml" carol && [ "$RC" = 0 ] && [ "$(jf signer)" = alice@example.test ] && field_is To bob@example.test && has_error "outer To" || { show; false; }'
t "downgrade: SMIMECapabilities taken out of the signed attributes: not valid" \
	prep eval 'openssl cms -sign -binary -nodetach -signer "$P/alice-rsa.pem" -inkey "$P/alice-rsa.key" -certfile "$P/inter.pem" -in "$M/ent.txt" -outform DER -out "$B/caps.der" && A stripcaps "$B/caps.der" "$B/nocaps.der" && wrap "$B/nocaps.der" "$B/nocaps.eml" signed-data' \
	-- want_not_valid "$B/nocaps.eml"
nest() { # N layers of multipart/signed by alice around p1
	local i f=$J/p1
	for i in $(seq 1 "$1"); do
		msign alice-rsa "$f" "$B/nest$i.ent" "N$i" || return 1
		f=$B/nest$i.ent
	done
	{ printf 'From: alice@example.test\r\nTo: bob@example.test\r\n'; cat "$f"; } >"$B/nest.eml"
}
t "20 nested multipart/signed layers: refused at once (bounded), no plaintext" \
	prep nest 20 -- fast 5 want_refused "$B/nest.eml" 5
t "10,000 nested multipart/mixed inside a valid signature: no crash, within 5 s" \
	prep eval 'python3 -c "import sys; n=10000; sys.stdout.buffer.write(b\"\".join(b\"Content-Type: multipart/mixed; boundary=m%d\r\n\r\n--m%d\r\n\" % (i, i) for i in range(n)) + b\"Content-Type: text/plain\r\n\r\n$SECRET\r\n\" + b\"\".join(b\"--m%d--\r\n\" % i for i in reversed(range(n))))" >"$B/deep.ent" && msign alice-rsa "$B/deep.ent" "$B/deepmix.eml" BD "From: alice@example.test"' \
	-- eval '(ulimit -s 8192; fast 5 want_rc "$B/deepmix.eml" "0|1|5")'
