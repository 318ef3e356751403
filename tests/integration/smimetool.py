#!/usr/bin/env python3
"""smimetool.py - small MIME/CMS helpers for the interop tests.

The peers gpgsm and NSS cmsutil speak CMS (DER) only, not MIME; these
helpers move bytes between RFC 5322/MIME messages and DER files, and
tamper with messages in precise places.  Standard library only.

  der IN OUT                 body of an application/pkcs7-mime message -> DER
  split-signed IN CONTENT SIG
                             multipart/signed -> signed part (exact bytes) and
                             decoded signature (DER)
  wrap-pkcs7 DER OUT TYPE [HDR...]
                             DER -> application/pkcs7-mime message, TYPE is the
                             smime-type (enveloped-data, signed-data,
                             authEnveloped-data)
  wrap-signed CONTENT SIG OUT MICALG [HDR...]
                             signed part + DER signature -> multipart/signed
  tamper-cipher IN OUT MODE  flip a ciphertext byte of an enveloped message:
                             pad = break the CBC padding (deterministic),
                             mid = a byte in the middle of the ciphertext,
                             tag = the AuthEnvelopedData MAC
  truncate IN OUT            keep the headers and ~half of the base64 body
  lf IN OUT                  CRLF -> LF
  jcheck FILE KEY=VALUE...   check fields of a JSON object (true/false/null
                             and numbers written as in JSON, strings bare);
                             exit 1 and print the mismatches otherwise
  keypref IN OUT MODE KEY [CERT]
                             rewrite the encryption key preference attributes
                             (RFC 8551 2.5.3 and Microsoft's) of the one
                             SignerInfo of signed-data IN (DER): MODE "name"
                             makes both name CERT (PEM, then carried in the
                             message too), "unsigned" moves them to the
                             unsigned attributes; then signs the signed
                             attributes again with KEY (PEM, RSA, SHA-256,
                             through the openssl CLI)

HDR arguments are "Name: value" header fields put before the MIME headers
(none: a bare MIME entity, e.g. to be encrypted afterwards).
"""

import base64
import json
import re
import subprocess
import sys

CRLF = b"\r\n"


def die(msg):
    sys.stderr.write("smimetool: %s\n" % msg)
    sys.exit(2)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def split_entity(data):
    """(header bytes incl. the blank line, body bytes)."""
    m = re.search(rb"\r?\n\r?\n", data)
    if m is None:
        die("no header/body separator")
    return data[:m.end()], data[m.end():]


def header_value(hdr, name):
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", hdr)
    for line in re.split(rb"\r?\n", unfolded):
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name.lower().encode():
            return v.strip().decode("latin-1")
    return None


def param(value, name):
    m = re.search(r'(?i)(?:^|;)\s*%s\s*=\s*(?:"([^"]*)"|([^;\s]+))' % name,
                  value)
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def b64lines(der):
    s = base64.b64encode(der)
    return CRLF.join(s[i:i + 76] for i in range(0, len(s), 76)) + CRLF


def outer_headers(hdrs):
    out = b""
    for h in hdrs:
        if ":" not in h:
            die("bad header argument %r" % h)
        out += h.encode() + CRLF
    return out


# --- BER walking (definite and indefinite lengths) -------------------------

class Node:
    def __init__(self, data, off):
        self.off = off
        b = data[off]
        self.cls = b >> 6
        self.cons = bool(b & 0x20)
        tag = b & 0x1F
        p = off + 1
        if tag == 0x1F:
            tag = 0
            while True:
                c = data[p]
                p += 1
                tag = (tag << 7) | (c & 0x7F)
                if not c & 0x80:
                    break
        self.tag = tag
        ln = data[p]
        p += 1
        self.indef = False
        if ln == 0x80:
            self.indef = True
            self.clen = None
        elif ln & 0x80:
            n = ln & 0x7F
            self.clen = int.from_bytes(data[p:p + n], "big")
            p += n
        else:
            self.clen = ln
        self.start = p  # first content byte
        self.children = []
        if self.cons:
            q = p
            while True:
                if self.indef:
                    if data[q:q + 2] == b"\x00\x00":
                        self.end = q + 2
                        break
                elif q >= p + self.clen:
                    self.end = p + self.clen
                    break
                child = Node(data, q)
                self.children.append(child)
                q = child.end
        else:
            if self.indef:
                die("indefinite primitive")
            self.end = p + self.clen

    def leaves(self):
        """Content byte ranges of the primitive leaves, in order."""
        if not self.cons:
            return [(self.start, self.end)]
        out = []
        for c in self.children:
            out += c.leaves()
        return out


def enveloped_parts(der):
    """(ciphertext ranges, mac node or None) of (Auth)EnvelopedData."""
    top = Node(der, 0)
    if len(top.children) < 2:
        die("not a ContentInfo")
    env = top.children[1].children[0]
    eci = None
    seen_set = False
    mac = None
    for c in env.children:
        if c.cls == 0 and c.tag == 17:  # SET recipientInfos
            seen_set = True
        elif seen_set and eci is None and c.cls == 0 and c.tag == 16:
            eci = c
        elif eci is not None and c.cls == 0 and c.tag == 4:
            mac = c
    if eci is None:
        die("no EncryptedContentInfo")
    enc = [c for c in eci.children if c.cls == 2 and c.tag == 0]
    if not enc:
        die("no encryptedContent")
    return enc[0].leaves(), mac


# --- commands ----------------------------------------------------------------

def cmd_der(src, dst):
    hdr, body = split_entity(read(src))
    ct = header_value(hdr, "Content-Type") or ""
    if "pkcs7-mime" not in ct.lower():
        die("not application/pkcs7-mime: %r" % ct)
    write(dst, base64.b64decode(re.sub(rb"\s+", b"", body)))


def cmd_split_signed(src, content_out, sig_out):
    data = read(src)
    if CRLF not in data:
        data = data.replace(b"\n", CRLF)
    hdr, body = split_entity(data)
    ct = header_value(hdr, "Content-Type") or ""
    if "multipart/signed" not in ct.lower():
        die("not multipart/signed: %r" % ct)
    boundary = param(ct, "boundary")
    if not boundary:
        die("no boundary")
    delim = b"--" + boundary.encode()
    text = CRLF + body
    parts = []
    pos = 0
    while True:
        i = text.find(CRLF + delim, pos)
        if i < 0:
            break
        parts.append(i)
        pos = i + 2 + len(delim)
        if text[pos:pos + 2] == b"--":
            break
    if len(parts) < 3:
        die("multipart/signed needs two parts")
    first = text.index(CRLF, parts[0] + 2) + 2
    content = text[first:parts[1]]
    second = text.index(CRLF, parts[1] + 2) + 2
    sig_entity = text[second:parts[2]]
    shdr, sbody = split_entity(sig_entity)
    cte = (header_value(shdr, "Content-Transfer-Encoding") or "").lower()
    if cte == "base64":
        sig = base64.b64decode(re.sub(rb"\s+", b"", sbody))
    else:
        sig = sbody
    write(content_out, content)
    write(sig_out, sig)


def cmd_wrap_pkcs7(der_in, dst, smime_type, *hdrs):
    der = read(der_in)
    msg = outer_headers(hdrs)
    msg += (b"MIME-Version: 1.0\r\n"
            b"Content-Type: application/pkcs7-mime; smime-type=" +
            smime_type.encode() + b'; name="smime.p7m"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
            b"\r\n")
    write(dst, msg + b64lines(der))


def cmd_wrap_signed(content_in, sig_in, dst, micalg, *hdrs):
    content = read(content_in)
    sig = read(sig_in)
    b = b"----=_letterlock_interop_0123456789"
    msg = outer_headers(hdrs)
    msg += (b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/signed; protocol="application/'
            b'pkcs7-signature"; micalg=' + micalg.encode() +
            b'; boundary="' + b + b'"\r\n\r\n'
            b"This is an S/MIME signed message\r\n\r\n"
            b"--" + b + CRLF + content + CRLF +
            b"--" + b + CRLF +
            b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
            b"\r\n" + b64lines(sig) +
            b"--" + b + b"--" + CRLF)
    write(dst, msg)


def cmd_tamper_cipher(src, dst, mode):
    hdr, body = split_entity(read(src))
    der = bytearray(base64.b64decode(re.sub(rb"\s+", b"", body)))
    ranges, mac = enveloped_parts(bytes(der))
    pos = [i for a, b in ranges for i in range(a, b)]
    if mode == "pad":
        if len(pos) < 32:
            die("ciphertext too short")
        der[pos[-17]] ^= 0x80  # last byte of the next-to-last block
    elif mode == "mid":
        der[pos[len(pos) // 2]] ^= 0x01
    elif mode == "tag":
        if mac is None:
            die("no MAC (not AuthEnvelopedData)")
        der[mac.start] ^= 0x01
    else:
        die("unknown mode %s" % mode)
    nl = CRLF if hdr.endswith(CRLF) else b"\n"
    write(dst, hdr + b64lines(bytes(der)).replace(CRLF, nl))


def cmd_truncate(src, dst):
    hdr, body = split_entity(read(src))
    write(dst, hdr + body[:len(body) // 2 + 1])


def cmd_lf(src, dst):
    write(dst, read(src).replace(CRLF, b"\n"))


def cmd_jcheck(path, *checks):
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        print("# bad JSON: %s" % e)
        return 1
    bad = 0
    for c in checks:
        k, _, want = c.partition("=")
        v = obj.get(k, "<missing>")
        got = v if isinstance(v, str) else json.dumps(v)
        if got != want:
            print("# %s: got %s, want %s" % (k, got, want))
            bad = 1
    return bad


# --- re-encoding (definite lengths; single-octet tags, as CMS has) --------

OID_KEYPREF = bytes.fromhex("2a864886f70d010910020b")  # id-aa-encrypKeyPref
OID_MS_KEYPREF = bytes.fromhex("2b0601040182371004")  # 1.3.6.1.4.1.311.16.4


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(ident, content):
    return bytes([ident]) + der_len(len(content)) + content


def encode(data, node, swap):
    """NODE's encoding, with the nodes in SWAP (id -> bytes) replaced."""
    if id(node) in swap:
        return swap[id(node)]
    if not node.cons:
        return data[node.off:node.end]
    return tlv(data[node.off] & 0xDF | 0x20,
               b"".join(encode(data, c, swap) for c in node.children))


def plain(data, node):
    return encode(data, node, {})


def is_pref(data, attr):
    oid = attr.children[0]
    v = data[oid.start:oid.end]
    return v in (OID_KEYPREF, OID_MS_KEYPREF)


def cmd_keypref(src, dst, mode, key, cert=None):
    data = read(src)
    top = Node(data, 0)
    sd = top.children[1].children[0]
    certs = [c for c in sd.children if c.cls == 2 and c.tag == 0]
    si = sd.children[-1].children[0]
    sattrs = [c for c in si.children if c.cls == 2 and c.tag == 0][0]
    sig = [c for c in si.children if c.cls == 0 and c.tag == 4][0]
    prefs = [a for a in sattrs.children if is_pref(data, a)]
    if not prefs:
        die("keypref: no encryption key preference in the signed attributes")
    keep = [plain(data, a) for a in sattrs.children if not is_pref(data, a)]
    moved = []
    swap = {}
    if mode == "name":
        pem = read(cert).decode()
        cder = base64.b64decode("".join(
            l for l in pem.splitlines() if l and not l.startswith("-----")))
        tbs = Node(cder, 0).children[0]
        serial, issuer = tbs.children[1], tbs.children[3]
        ias = plain(cder, issuer) + plain(cder, serial)
        for a in prefs:
            oid = a.children[0]
            ms = data[oid.start:oid.end] == OID_MS_KEYPREF
            value = tlv(0x30 if ms else 0xA0, ias)
            keep.append(tlv(0x30, plain(data, oid) + tlv(0x31, value)))
        swap[id(certs[0])] = tlv(0xA0, b"".join(
            plain(data, c) for c in certs[0].children) + cder)
    elif mode == "unsigned":
        moved = [plain(data, a) for a in prefs]
    else:
        die("keypref: unknown mode %s" % mode)
    keep.sort()  # DER: a SET OF in the order of its encodings
    signed = tlv(0x31, b"".join(keep))
    value = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                           input=signed, capture_output=True,
                           check=True).stdout
    swap[id(sattrs)] = tlv(0xA0, b"".join(keep))
    swap[id(sig)] = tlv(0x04, value)
    if moved:
        if any(c.cls == 2 and c.tag == 1 for c in si.children):
            die("keypref: unsigned attributes there already")
        # after the signature: the unsigned attributes come last
        swap[id(sig)] += tlv(0xA1, b"".join(sorted(moved)))
    write(dst, encode(data, top, swap))


CMDS = {
    "der": (cmd_der, 2),
    "split-signed": (cmd_split_signed, 3),
    "wrap-pkcs7": (cmd_wrap_pkcs7, 3),
    "wrap-signed": (cmd_wrap_signed, 4),
    "tamper-cipher": (cmd_tamper_cipher, 3),
    "truncate": (cmd_truncate, 2),
    "lf": (cmd_lf, 2),
    "jcheck": (cmd_jcheck, 1),
    "keypref": (cmd_keypref, 4),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in CMDS:
        sys.stderr.write(__doc__)
        return 2
    fn, nmin = CMDS[argv[1]]
    if len(argv) - 2 < nmin:
        die("%s: missing arguments" % argv[1])
    try:
        return fn(*argv[2:]) or 0
    except (OSError, ValueError, IndexError, TypeError) as e:
        die("%s: %s" % (argv[1], e))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
