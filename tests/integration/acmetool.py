#!/usr/bin/python3
"""acmetool.py - a small ACME client (RFC 8555) with the email-reply-00
challenge (RFC 8823), for letterlockd's end-to-end and security tests.

It can behave and, on request, misbehave: wrong digests, replies from
another address, unsigned or broken DKIM, mailing-list headers, replays,
CSRs for other names, and JWS with a bad signature, a reused nonce, a
wrong "url" or an unknown "kid".

Standard library plus `cryptography` only (Debian's python3-cryptography;
run it with /usr/bin/python3).  Output is "name=value" lines on stdout; an
ACME error prints "problem=<type>", "http=<status>" and "detail=<text>"
and exits 1.  Exit 2 is a usage error, 3 a time-out or other failure.

Account state (key, kid, which challenge mail belongs to which
authorization) lives in --state DIR.  The mail stack's coordinates come
from the options or from the environment of `. MAILSTACK_DIR/env`:
MAILSTACK_HOST, MAILSTACK_IMAP_PORT, MAILSTACK_SUBMISSION_PORT,
MAILSTACK_SMTP_PORT, MAILSTACK_USERS_FILE, MAILSTACK_DIR (its maillog).

Commands (ORDER is an order URL):
  account [--contact mailto:X]   create or find the account
  deactivate                     deactivate the account
  order EMAIL                    newOrder; prints order=URL
  mail ORDER --user U            fetch the authorization (the CA sends its
                                 challenge mail) and read that mail
  reply ORDER --user U [bad]     answer the challenge mail (see --help)
  replay --user U --token1 T     re-inject the DKIM-signed copy of an
                                 earlier reply through the MX port
  respond ORDER                  POST {} to the challenge
  wait ORDER                     poll until the authorization settles
  drain                          wait until the CA's mailbox is empty
  show ORDER                     order, authorization, challenge state
  finalize ORDER --key-out K     CSR in; waits for the certificate
  cert ORDER --out PEM           download the chain
  revoke CERT [--cert-key KEY]   revokeCert by account or certificate key
  probe KIND EMAIL               a newOrder with a broken JWS
  issue EMAIL --user U --key-out K --cert-out C   all of the above
  adopt-key --home H             take the account key `letterlock enrol`
                                 keeps in the home H for this server
  pkx-caps SHA256 [CAP...] [--null]   state a certificate's capabilities
  pkx-publish ORDER CERT [--der] [--cap CAP]...   publish another CA's
                                 certificate on ORDER's mailbox proof
"""

import argparse
import base64
import email.header
import email.utils
import hashlib
import imaplib
import json
import os
import re
import secrets
import smtplib
import sys
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID, ObjectIdentifier

ERR = 'urn:ietf:params:acme:error:'
SMTPUTF8_MAILBOX = ObjectIdentifier('1.3.6.1.5.5.7.8.9')
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Problem(Exception):
    """An application/problem+json answer."""

    def __init__(self, status, doc):
        super().__init__(doc.get('detail', ''))
        self.status = status
        self.doc = doc

    def show(self):
        out('problem', self.doc.get('type', '(none)'))
        out('http', self.status)
        out('detail', self.doc.get('detail', ''))


class Failure(Exception):
    """Anything else that went wrong (time-outs, mail not found)."""


def out(name, value):
    print(f'{name}={value}', flush=True)


def note(msg):
    print(f'acmetool: {msg}', file=sys.stderr, flush=True)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def b64u_dec(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


# ---------------------------------------------------------------- keys


class Key:
    """An account or certificate key: EC P-256 (ES256) or RSA (RS256)."""

    def __init__(self, priv):
        self.priv = priv

    @classmethod
    def generate(cls, kind='ec'):
        if kind == 'rsa':
            return cls(rsa.generate_private_key(65537, 3072))
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, path):
        with open(path, 'rb') as f:
            return cls(serialization.load_pem_private_key(f.read(), None))

    def save(self, path):
        pem = self.priv.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(pem)

    @property
    def alg(self):
        return 'ES256' if isinstance(self.priv, ec.EllipticCurvePrivateKey) \
            else 'RS256'

    def jwk(self):
        pub = self.priv.public_key().public_numbers()
        if self.alg == 'ES256':
            return {'crv': 'P-256', 'kty': 'EC',
                    'x': b64u(pub.x.to_bytes(32, 'big')),
                    'y': b64u(pub.y.to_bytes(32, 'big'))}
        n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, 'big')
        e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, 'big')
        return {'e': b64u(e), 'kty': 'RSA', 'n': b64u(n)}

    def thumbprint(self):
        """RFC 7638: SHA-256 of the required members, sorted, compact."""
        canon = json.dumps(self.jwk(), sort_keys=True, separators=(',', ':'))
        return b64u(hashlib.sha256(canon.encode()).digest())

    def sign(self, data):
        if self.alg == 'ES256':
            der = self.priv.sign(data, ec.ECDSA(hashes.SHA256()))
            r, s = utils.decode_dss_signature(der)
            return r.to_bytes(32, 'big') + s.to_bytes(32, 'big')
        return self.priv.sign(data, padding.PKCS1v15(), hashes.SHA256())


def email_digest(token1, token2, thumbprint):
    """RFC 8823 section 3: base64url(SHA-256(token1 || token2 "." tp))."""
    keyauth = f'{token1}{token2}.{thumbprint}'
    return b64u(hashlib.sha256(keyauth.encode()).digest())


# ---------------------------------------------------------------- ACME


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())


class Acme:
    def __init__(self, server, state):
        self.base = server.rstrip('/')
        self.state = state
        self.nonce = None
        self._dir = None
        self._key = None
        os.makedirs(state, mode=0o700, exist_ok=True)

    # -- state files

    def _path(self, name):
        return os.path.join(self.state, name)

    def load(self, name, default=None):
        try:
            with open(self._path(name)) as f:
                return json.load(f)
        except FileNotFoundError:
            return default

    def store(self, name, value):
        tmp = self._path(name + '.tmp')
        with open(tmp, 'w') as f:
            json.dump(value, f, indent=1)
        os.replace(tmp, self._path(name))

    @property
    def key(self):
        if self._key is None:
            path = self._path('account.key')
            if os.path.exists(path):
                self._key = Key.load(path)
            else:
                self._key = Key.generate()
                self._key.save(path)
        return self._key

    @property
    def kid(self):
        acct = self.load('account.json')
        if acct is None:
            raise Failure(f'no account in {self.state} (run "account")')
        return acct['kid']

    # -- HTTP

    def http(self, method, url, data=None, ctype=None):
        req = urllib.request.Request(url, data=data, method=method)
        if ctype:
            req.add_header('Content-Type', ctype)
        try:
            with HTTP.open(req, timeout=60) as r:
                resp = Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            resp = Resp(e.code, e.headers, e.read())
        n = resp.headers.get('Replay-Nonce')
        if n:
            self.nonce = n
        return resp

    def directory(self):
        if self._dir is None:
            r = self.http('GET', self.base + '/acme/directory')
            if r.status != 200:
                raise Failure(f'directory: HTTP {r.status}')
            self._dir = r.json()
        return self._dir

    def take_nonce(self):
        if self.nonce is None:
            r = self.http('HEAD', self.directory()['newNonce'])
            if self.nonce is None:
                raise Failure(f'newNonce: HTTP {r.status}, no Replay-Nonce')
        n, self.nonce = self.nonce, None
        return n

    def jws(self, url, payload, key=None, kid=None, nonce=None,
            header_url=None, tamper=None):
        """The flattened JWS of PAYLOAD (None: POST-as-GET) for URL.
        KID None embeds the key as "jwk"; NONCE None leaves "nonce" out.
        TAMPER 'signature' flips a bit of the signature."""
        key = key or self.key
        prot = {'alg': key.alg,
                'url': header_url if header_url is not None else url}
        if nonce is not None:
            prot['nonce'] = nonce
        if kid is not None:
            prot['kid'] = kid
        else:
            prot['jwk'] = key.jwk()
        p64 = b64u(json.dumps(prot).encode())
        pl64 = '' if payload is None else b64u(json.dumps(payload).encode())
        sig = bytearray(key.sign(f'{p64}.{pl64}'.encode()))
        if tamper == 'signature':
            sig[len(sig) // 2] ^= 0x01
        return json.dumps({'protected': p64, 'payload': pl64,
                           'signature': b64u(bytes(sig))}).encode()

    def post(self, url, payload=None, key=None, kid='account', nonce=None,
             header_url=None, tamper=None):
        """POST a JWS; KID 'account' is this account's kid, None the jwk.
        Raises Problem on an error document."""
        if kid == 'account':
            kid = self.kid
        if nonce is None:
            nonce = self.take_nonce()
        body = self.jws(url, payload, key=key, kid=kid, nonce=nonce,
                        header_url=header_url, tamper=tamper)
        r = self.http('POST', url, body, 'application/jose+json')
        ctype = r.headers.get('Content-Type', '')
        if r.status >= 400 or ctype.startswith('application/problem+json'):
            try:
                doc = r.json()
            except ValueError:
                doc = {'type': '(not a problem document)',
                       'detail': r.body[:200].decode(errors='replace')}
            raise Problem(r.status, doc)
        return r

    def get(self, url):
        """POST-as-GET, JSON answer."""
        return self.post(url).json()

    # -- objects

    def account(self, contact=None, only_existing=False):
        payload = {'termsOfServiceAgreed': True}
        if contact:
            payload['contact'] = contact
        if only_existing:
            payload['onlyReturnExisting'] = True
        r = self.post(self.directory()['newAccount'], payload, kid=None)
        kid = r.headers.get('Location')
        if not kid:
            raise Failure('newAccount answered without Location')
        self.store('account.json', {'kid': kid})
        return r, kid

    def new_order(self, addr):
        payload = {'identifiers': [{'type': 'email', 'value': addr}]}
        r = self.post(self.directory()['newOrder'], payload)
        return r.headers.get('Location'), r.json()

    def authz_of(self, order_url):
        order = self.get(order_url)
        return order, order['authorizations'][0]

    @staticmethod
    def challenge(authz):
        for c in authz.get('challenges', []):
            if c.get('type') == 'email-reply-00':
                return c
        raise Failure('no email-reply-00 challenge in the authorization')


# ---------------------------------------------------------------- mail


class Stack:
    """The mail stack's coordinates."""

    def __init__(self, args):
        env = os.environ
        self.host = args.mail_host or env.get('MAILSTACK_HOST', '127.0.0.1')
        self.imap = int(args.imap_port or env.get('MAILSTACK_IMAP_PORT', 2143))
        self.sub = int(args.submission_port or
                       env.get('MAILSTACK_SUBMISSION_PORT', 2587))
        self.mx = int(args.smtp_port or env.get('MAILSTACK_SMTP_PORT', 2525))
        self.users_file = args.users_file or env.get('MAILSTACK_USERS_FILE')
        self.maillog = args.maillog
        if not self.maillog and env.get('MAILSTACK_DIR'):
            self.maillog = os.path.join(env['MAILSTACK_DIR'], 'maillog')
        self.timeout = args.timeout

    def password(self, user):
        if not self.users_file:
            raise Failure('no users file (--users-file)')
        with open(self.users_file, encoding='utf-8') as f:
            for line in f:
                line = line.rstrip('\n')
                if line.startswith(user + ':'):
                    return line[len(user) + 1:]
        raise Failure(f'{user} is not in {self.users_file}')

    def mailbox(self, user):
        return Mailbox(self.host, self.imap, user, self.password(user))

    def send(self, port, login, mail_from, rcpts, msg):
        """Send MSG (bytes) through PORT; LOGIN (None: no AUTH)."""
        utf8 = not all(s.isascii() for s in [mail_from] + rcpts) or \
            not msg.isascii()
        with smtplib.SMTP(self.host, port, timeout=30) as s:
            s.ehlo('acmetool.example.test')
            if login is not None:
                cred = b'\0' + login.encode() + b'\0' + \
                    self.password(login).encode()
                code, text = s.docmd('AUTH', 'PLAIN ' +
                                     base64.b64encode(cred).decode())
                if code != 235:
                    raise Failure(f'AUTH as {login}: {code} {text!r}')
            s.sendmail(mail_from, rcpts, msg,
                       mail_options=['SMTPUTF8'] if utf8 else [])

    def maillog_size(self):
        try:
            return os.path.getsize(self.maillog) if self.maillog else 0
        except OSError:
            return 0

    def wait_delivered(self, offset, msgid, rcpt):
        """Wait until Postfix logged the delivery of MSGID to RCPT after
        OFFSET of the maillog.  Without a maillog, do nothing."""
        if not self.maillog:
            return
        mid = msgid.strip('<>')
        deadline = time.time() + self.timeout
        while True:
            with open(self.maillog, 'rb') as f:
                f.seek(offset)
                text = f.read().decode('utf-8', errors='replace')
            qids = set(re.findall(r' ([0-9A-F]{6,}): message-id=<' +
                                  re.escape(mid) + '>', text))
            for qid in qids:
                for line in text.splitlines():
                    if f' {qid}: to=<{rcpt}>' in line:
                        if 'status=sent' in line:
                            return
                        if 'status=bounced' in line:
                            raise Failure(f'not delivered: {line}')
            if time.time() > deadline:
                raise Failure(f'{msgid} to {rcpt} not delivered in '
                              f'{self.timeout} s (maillog)')
            time.sleep(0.2)


def header_text(raw):
    """Decode a header value (RFC 2047 and raw UTF-8) to str."""
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:  # noqa: BLE001 - any odd header: keep it raw
        return raw


def parse_headers(data):
    """The unfolded header fields of DATA (bytes) as [(name, value)]."""
    text = data.decode('utf-8', errors='replace').replace('\r\n', '\n')
    text = text.split('\n\n', 1)[0]
    fields = []
    for line in text.split('\n'):
        if line[:1] in (' ', '\t') and fields:
            fields[-1][1] += ' ' + line.strip()
        elif ':' in line:
            name, value = line.split(':', 1)
            fields.append([name.strip(), value.strip()])
    return fields


def field(fields, name):
    for n, v in fields:
        if n.lower() == name.lower():
            return v
    return None


class Mailbox:
    def __init__(self, host, port, user, password):
        self.user = user
        self.im = imaplib.IMAP4(host, port, timeout=30)
        cred = b'\0' + user.encode() + b'\0' + password.encode()
        self.im.authenticate('PLAIN', lambda _: cred)

    def close(self):
        try:
            self.im.logout()
        except Exception:  # noqa: BLE001 - closing only
            pass

    def count(self):
        typ, data = self.im.select('INBOX', readonly=True)
        if typ != 'OK':
            raise Failure(f'IMAP SELECT INBOX of {self.user}: {data}')
        return int(data[0])

    def headers(self):
        """[(uid, fields)] of every message in the INBOX."""
        if self.count() == 0:
            return []
        typ, data = self.im.uid('FETCH', '1:*',
                                '(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT '
                                'MESSAGE-ID)])')
        if typ != 'OK':
            raise Failure(f'IMAP FETCH: {data}')
        res = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            m = re.search(rb'UID (\d+)', item[0])
            if m:
                res.append((int(m.group(1)), parse_headers(item[1])))
        return res

    def fetch(self, uid):
        typ, data = self.im.uid('FETCH', str(uid), '(BODY.PEEK[])')
        for item in data:
            if isinstance(item, tuple):
                return item[1]
        raise Failure(f'IMAP FETCH UID {uid}: {data}')

    def challenges(self):
        """{token1: (uid, from, message-id)} of mails "ACME: <token1>"."""
        res = {}
        for uid, fields in self.headers():
            subj = header_text(field(fields, 'Subject') or '')
            m = re.fullmatch(r'\s*ACME:\s*([A-Za-z0-9_-]+)\s*', subj)
            if m:
                frm = email.utils.parseaddr(field(fields, 'From') or '')[1]
                res[m.group(1)] = (uid, frm, field(fields, 'Message-ID'))
        return res

    def find_subject(self, subject):
        """UID of the newest message whose Subject is SUBJECT."""
        found = None
        for uid, fields in self.headers():
            if header_text(field(fields, 'Subject') or '').strip() == subject:
                found = uid
        return found


def compose_reply(frm, to, token1, digest, in_reply_to=None, list_id=False,
                  extra_headers=()):
    """The RFC 8823 section 3.2 response mail, CRLF lines."""
    dom = frm.rsplit('@', 1)[1]
    msgid = f'<acmetool.{secrets.token_hex(8)}@{dom}>'
    h = [f'From: {frm}', f'To: {to}', f'Subject: RE: ACME: {token1}',
         f'Date: {email.utils.formatdate(usegmt=True)}',
         f'Message-ID: {msgid}']
    if in_reply_to:
        h += [f'In-Reply-To: {in_reply_to}', f'References: {in_reply_to}']
    if list_id:
        h += ['List-Id: ACME test list <acme-test.example.test>',
              f'List-Post: <mailto:acme-test@{dom}>']
    h += list(extra_headers)
    h += ['MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: 8bit']
    body = ['This is the response to the ACME challenge.', '',
            '-----BEGIN ACME RESPONSE-----', digest,
            '-----END ACME RESPONSE-----', '']
    return ('\r\n'.join(h + [''] + body)).encode(), msgid


def alter_body(msg):
    """Change a body line outside the response block: the DKIM body
    hash no longer matches, everything ACME reads is the same."""
    old = b'This is the response to the ACME challenge.'
    if old not in msg:
        raise Failure('cannot find the line to alter in the reply copy')
    return msg.replace(old, b'This is the response to the ACME challenge!')


# ---------------------------------------------------------------- CSR


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def utf8_string(text):
    raw = text.encode()
    return b'\x0c' + der_len(len(raw)) + raw


def san_entry(spec):
    """'email:x', 'dns:x', 'utf8:x' (SmtpUTF8Mailbox) as a GeneralName."""
    kind, _, value = spec.partition(':')
    if kind == 'email':
        return x509.RFC822Name(value)
    if kind == 'dns':
        return x509.DNSName(value)
    if kind == 'utf8':
        return x509.OtherName(SMTPUTF8_MAILBOX, utf8_string(value))
    raise Failure(f'unknown SAN kind in {spec!r}')


def mailbox_san(addr):
    """rfc822Name for an ASCII address, SmtpUTF8Mailbox otherwise."""
    local = addr.rsplit('@', 1)[0]
    return san_entry(('email:' if local.isascii() else 'utf8:') + addr)


def make_csr(key, addr, extra=()):
    names = [mailbox_san(addr)] + [san_entry(s) for s in extra]
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, addr)]))
    b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(key.priv, hashes.SHA256()).public_bytes(
        serialization.Encoding.DER)


# ---------------------------------------------------------------- flows


def settled(authz):
    return authz.get('status') != 'pending'


def show_state(acme, order_url):
    order, az_url = acme.authz_of(order_url)
    authz = acme.get(az_url)
    ch = Acme.challenge(authz)
    out('order-status', order.get('status'))
    out('authz-status', authz.get('status'))
    out('chall-status', ch.get('status'))
    out('chall-error', (ch.get('error') or {}).get('type', ''))
    out('chall-detail', (ch.get('error') or {}).get('detail', ''))
    out('validated', ch.get('validated', ''))
    out('order-error', (order.get('error') or {}).get('type', ''))
    out('certificate', order.get('certificate', ''))
    return order, authz, ch


def challenge_mail(acme, stack, order_url, user):
    """Fetch the authorization of ORDER (the CA mails USER then) and find
    that mail: (authz, challenge, token1, message-id of the mail).  The
    token1 a challenge was matched with is remembered in the state."""
    order, az_url = acme.authz_of(order_url)
    known = acme.load('challenges.json', {})
    if az_url in known:
        authz = acme.get(az_url)
        k = known[az_url]
        return authz, Acme.challenge(authz), k['token1'], k['msgid']
    mb = stack.mailbox(user)
    try:
        before = set(mb.challenges())
        authz = acme.get(az_url)  # the first fetch asks for the mail
        ch = Acme.challenge(authz)
        ca_from = ch['from']
        deadline = time.time() + stack.timeout
        while True:
            new = {t: v for t, v in mb.challenges().items()
                   if t not in before and v[1].lower() == ca_from.lower()}
            if new:
                break
            if time.time() > deadline:
                raise Failure(f'no challenge mail from {ca_from} reached '
                              f'{user} within {stack.timeout} s')
            time.sleep(0.3)
    finally:
        mb.close()
    if len(new) > 1:
        note(f'{len(new)} new challenge mails for {user}; taking the newest')
    token1 = max(new, key=lambda t: new[t][0])
    msgid = new[token1][2]
    known[az_url] = {'token1': token1, 'msgid': msgid}
    acme.store('challenges.json', known)
    return authz, ch, token1, msgid


def send_reply(acme, stack, order_url, user, a):
    authz, ch, token1, mail_msgid = challenge_mail(acme, stack, order_url,
                                                   user)
    ca = ch['from']
    digest = email_digest(token1, ch['token'], acme.key.thumbprint())
    if a.wrong_digest:
        digest = email_digest(token1, ch['token'] + 'x',
                              acme.key.thumbprint())
    sender = a.as_user or user
    extra = []
    if a.unsigned:
        # a forged verdict must not count either
        extra.append('Authentication-Results: mail.example.test; '
                     f'dkim=pass header.d={sender.rsplit("@", 1)[1]}')
    msg, msgid = compose_reply(sender, ca, token1, digest, mail_msgid,
                               list_id=a.list_id, extra_headers=extra)
    out('token1', token1)
    out('digest', digest)
    out('reply-message-id', msgid)
    off = stack.maillog_size()
    if a.unsigned:
        # straight to the CA's MX: no DKIM signature on the way
        stack.send(stack.mx, None, sender, [ca], msg)
    elif a.broken_dkim:
        # signed by the submission server, delivered to the sender
        # itself; the copy, with its body changed, goes to the MX
        stack.send(stack.sub, sender, sender, [sender], msg)
        signed = wait_copy(stack, sender, f'RE: ACME: {token1}')
        if b'DKIM-Signature:' not in signed:
            raise Failure('the copy from the submission port is not signed')
        off = stack.maillog_size()
        stack.send(stack.mx, None, sender, [ca], alter_body(signed))
    else:
        # the CA, and a copy to the sender (a replay source)
        rcpts = [ca] if a.no_copy else [ca, sender]
        stack.send(stack.sub, sender, sender, rcpts, msg)
    stack.wait_delivered(off, msgid, ca)
    out('delivered', 1)
    return token1


def wait_copy(stack, user, subject):
    deadline = time.time() + stack.timeout
    mb = stack.mailbox(user)
    try:
        while True:
            uid = mb.find_subject(subject)
            if uid is not None:
                return mb.fetch(uid)
            if time.time() > deadline:
                raise Failure(f'"{subject}" did not reach {user}')
            time.sleep(0.3)
    finally:
        mb.close()


def wait_settled(acme, order_url, timeout):
    order, az_url = acme.authz_of(order_url)
    deadline = time.time() + timeout
    while True:
        authz = acme.get(az_url)
        if settled(authz) or time.time() > deadline:
            break
        time.sleep(0.5)
    ok = settled(authz)
    if not ok:
        note(f'authorization still pending after {timeout} s')
    show_state(acme, order_url)
    return ok


def finalize(acme, order_url, key_path, addr=None, extra=(), wait=True,
             timeout=60, key_kind='ec'):
    order = acme.get(order_url)
    addr = addr or order['identifiers'][0]['value']
    key = Key.generate(key_kind)
    key.save(key_path)
    csr = make_csr(key, addr, extra)
    r = acme.post(order['finalize'], {'csr': b64u(csr)})
    order = r.json()
    out('finalize-status', order.get('status'))
    if not wait:
        return order
    return wait_order(acme, order_url, timeout)


def wait_order(acme, order_url, timeout):
    deadline = time.time() + timeout
    while True:
        order = acme.get(order_url)
        if order.get('status') in ('valid', 'invalid') or \
                time.time() > deadline:
            break
        time.sleep(0.5)
    out('order-status', order.get('status'))
    if order.get('error'):
        out('order-error', order['error'].get('type', ''))
    if order.get('certificate'):
        out('certificate', order['certificate'])
    return order


def download(acme, order_url, path):
    order = acme.get(order_url)
    if not order.get('certificate'):
        raise Failure(f'order is {order.get("status")}, no certificate')
    r = acme.post(order['certificate'])
    ctype = r.headers.get('Content-Type', '')
    if not ctype.startswith('application/pem-certificate-chain'):
        raise Failure(f'certificate served as {ctype!r}')
    with open(path, 'wb') as f:
        f.write(r.body)
    n = r.body.count(b'-----BEGIN CERTIFICATE-----')
    out('chain-certificates', n)
    return r.body


# ---------------------------------------------------------------- commands


def cmd_account(acme, stack, a):
    r, kid = acme.account([a.contact] if a.contact else None,
                          a.only_existing)
    out('http', r.status)
    out('kid', kid)
    out('status', r.json().get('status'))


def cmd_deactivate(acme, stack, a):
    r = acme.post(acme.kid, {'status': 'deactivated'})
    out('status', r.json().get('status'))


def cmd_order(acme, stack, a):
    url, order = acme.new_order(a.email)
    out('order', url)
    out('status', order.get('status'))
    out('authz', order['authorizations'][0])
    out('finalize', order['finalize'])


def cmd_mail(acme, stack, a):
    authz, ch, token1, msgid = challenge_mail(acme, stack, a.order, a.user)
    out('token1', token1)
    out('token2', ch['token'])
    out('from', ch['from'])
    out('challenge', ch['url'])


def cmd_reply(acme, stack, a):
    send_reply(acme, stack, a.order, a.user, a)


def cmd_replay(acme, stack, a):
    """The DKIM-signed copy of the reply for TOKEN1 (in USER's mailbox,
    made by an earlier `reply`) goes to the CA again through the MX."""
    signed = wait_copy(stack, a.user, f'RE: ACME: {a.token1}')
    fields = parse_headers(signed)
    msgid = field(fields, 'Message-ID')
    to = email.utils.parseaddr(field(fields, 'To') or '')[1]
    if a.alter_body:
        signed = alter_body(signed)
    off = stack.maillog_size()
    stack.send(stack.mx, None, a.user, [to], signed)
    stack.wait_delivered(off, msgid, to)
    out('replayed', msgid)


def cmd_respond(acme, stack, a):
    order, az_url = acme.authz_of(a.order)
    ch = Acme.challenge(acme.get(az_url))
    r = acme.post(ch['url'], {})
    out('chall-status', r.json().get('status'))


def cmd_wait(acme, stack, a):
    if not wait_settled(acme, a.order, a.timeout):
        return 3
    return 0


def cmd_drain(acme, stack, a):
    """Wait until the CA's mailbox is empty: every reply was judged."""
    deadline = time.time() + a.timeout
    mb = stack.mailbox(a.user)
    try:
        while True:
            n = mb.count()
            if n == 0:
                out('drained', 1)
                return 0
            if time.time() > deadline:
                raise Failure(f'{a.user} still holds {n} message(s) after '
                              f'{a.timeout} s')
            time.sleep(0.3)
    finally:
        mb.close()


def cmd_show(acme, stack, a):
    show_state(acme, a.order)


def cmd_finalize(acme, stack, a):
    order = finalize(acme, a.order, a.key_out, a.csr_email, a.extra_san,
                     wait=not a.no_wait, timeout=a.timeout,
                     key_kind=a.key_type)
    if not a.no_wait and order.get('status') != 'valid':
        return 3
    return 0


def cmd_cert(acme, stack, a):
    download(acme, a.order, a.out)


def cmd_revoke(acme, stack, a):
    with open(a.cert, 'rb') as f:
        data = f.read()
    cert = x509.load_pem_x509_certificate(data) if b'-----BEGIN' in data \
        else x509.load_der_x509_certificate(data)
    payload = {'certificate': b64u(cert.public_bytes(
        serialization.Encoding.DER))}
    if a.reason is not None:
        payload['reason'] = a.reason
    url = acme.directory()['revokeCert']
    if a.cert_key:
        r = acme.post(url, payload, key=Key.load(a.cert_key), kid=None)
    else:
        r = acme.post(url, payload)
    out('http', r.status)
    out('revoked', format(cert.serial_number, 'x'))


def cmd_probe(acme, stack, a):
    """newOrder for EMAIL with one defect in the JWS."""
    url = acme.directory()['newOrder']
    payload = {'identifiers': [{'type': 'email', 'value': a.email}]}
    if a.kind == 'bad-signature':
        r = acme.post(url, payload, tamper='signature')
    elif a.kind == 'reused-nonce':
        nonce = acme.take_nonce()
        first = acme.post(acme.kid, None, nonce=nonce)
        out('first-http', first.status)
        r = acme.post(url, payload, nonce=nonce)
    elif a.kind == 'wrong-url':
        r = acme.post(url, payload, header_url=acme.directory()['revokeCert'])
    elif a.kind == 'unknown-kid':
        r = acme.post(url, payload,
                      kid=acme.base + '/acme/acct/987654321')
    elif a.kind == 'no-nonce':
        r = acme.http('POST', url, acme.jws(url, payload, kid=acme.kid),
                      'application/jose+json')
        if r.status >= 400:
            raise Problem(r.status, r.json())
    elif a.kind == 'good':
        r = acme.post(url, payload)
    else:
        raise Failure(f'unknown probe {a.kind}')
    out('http', r.status)
    if r.headers.get('Location'):
        out('order', r.headers['Location'])


def cmd_adopt_key(acme, stack, a):
    """The account key of `letterlock enrol` (a named secret of the
    keystore, doc: include/letterlock/keystore.h): AES-256-GCM under
    HOME/master.key, blob "LLK1" || nonce(12) || tag(16) || ciphertext,
    additional data "secret:" || name."""
    import sqlite3
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    with open(os.path.join(a.home, 'master.key'), 'rb') as f:
        master = f.read()
    db = sqlite3.connect(os.path.join(a.home, 'letterlock.db'))
    rows = [r for r in db.execute('SELECT name, blob FROM secrets')
            if r[0].startswith('acme-account-key ' + acme.base + '/')]
    db.close()
    if len(rows) != 1:
        raise Failure(f'{len(rows)} account keys for {acme.base} in '
                      f'{a.home}')
    name, blob = rows[0]
    if blob[:4] != b'LLK1':
        raise Failure('not a sealed secret')
    pem = AESGCM(master).decrypt(blob[4:16], blob[32:] + blob[16:32],
                                 b'secret:' + name.encode())
    acme._key = Key(serialization.load_pem_private_key(pem, None))
    acme._key.save(acme._path('account.key'))
    out('adopted', name)


def pkx_post(acme, name, payload):
    r = acme.post(acme.base + '/pkx/' + name, payload)
    out('http', r.status)
    if r.headers.get('Location'):
        out('location', r.headers['Location'])
    return r.json()


def cmd_pkx_caps(acme, stack, a):
    doc = pkx_post(acme, 'caps', {'certificate': a.fingerprint,
                                  'capabilities': None if a.null
                                  else a.caps})
    out('capabilities', json.dumps(doc.get('capabilities')))


def cmd_pkx_publish(acme, stack, a):
    with open(a.cert, 'rb') as f:
        data = f.read()
    if a.der:
        cert = x509.load_pem_x509_certificate(data) if b'-----BEGIN' in \
            data else x509.load_der_x509_certificate(data)
        text = b64u(cert.public_bytes(serialization.Encoding.DER))
    else:
        text = data.decode()
    payload = {'order': a.order, 'certificate': text}
    if a.cap:
        payload['capabilities'] = a.cap
    doc = pkx_post(acme, 'publish', payload)
    out('address', doc.get('address'))
    c = doc.get('certificate', {})
    out('fingerprint', c.get('fingerprint'))
    out('source', c.get('source'))
    out('capabilities', json.dumps(c.get('capabilities')))


def cmd_vault_get(acme, stack, a):
    payload = {'address': a.email}
    if a.version:
        payload['version'] = a.version
    doc = acme.post(acme.base + '/vault/get', payload).json()
    out('http', 200)
    out('version', doc.get('version'))
    out('versions', ','.join(str(v) for v in doc.get('versions', [])))
    out('size', len(b64u_dec(doc.get('backup', ''))))


def cmd_vault_delete(acme, stack, a):
    doc = acme.post(acme.base + '/vault/delete', {'address': a.email}).json()
    out('http', 200)
    out('address', doc.get('address'))


def cmd_issue(acme, stack, a):
    if acme.load('account.json') is None:
        acme.account()
    url, order = acme.new_order(a.email)
    out('order', url)
    send_reply(acme, stack, url, a.user, a)
    acme.post(Acme.challenge(acme.get(order['authorizations'][0]))['url'],
              {})
    if not wait_settled(acme, url, a.timeout):
        return 3
    order = finalize(acme, url, a.key_out, timeout=a.timeout,
                     key_kind=a.key_type)
    if order.get('status') != 'valid':
        return 3
    download(acme, url, a.cert_out)
    return 0


def reply_options(p):
    p.add_argument('--user', required=True,
                   help='the mailbox the challenge goes to')
    p.add_argument('--wrong-digest', action='store_true')
    p.add_argument('--as', dest='as_user', metavar='OTHER',
                   help='the reply comes From OTHER (submitted as OTHER)')
    p.add_argument('--unsigned', action='store_true',
                   help='send it to the MX port: no DKIM signature')
    p.add_argument('--broken-dkim', action='store_true',
                   help='sign through submission, change the body, '
                   're-inject through the MX port')
    p.add_argument('--list-id', action='store_true',
                   help='add List-Id and List-Post fields')
    p.add_argument('--no-copy', action='store_true',
                   help='no copy of the reply to the sender')


def main(argv):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--server', default=os.environ.get('ACME_SERVER'),
                   help='base URL of letterlockd (directory under /acme/)')
    p.add_argument('--state', default=os.environ.get('ACME_STATE'),
                   help='account state directory')
    p.add_argument('--mail-host')
    p.add_argument('--imap-port')
    p.add_argument('--submission-port')
    p.add_argument('--smtp-port', help='the MX port')
    p.add_argument('--users-file', help='address:password lines')
    p.add_argument('--maillog', help="Postfix's log, to wait for deliveries")
    p.add_argument('--timeout', type=float, default=30)
    sub = p.add_subparsers(dest='cmd', required=True)

    s = sub.add_parser('account')
    s.add_argument('--contact')
    s.add_argument('--only-existing', action='store_true')
    sub.add_parser('deactivate')
    s = sub.add_parser('order')
    s.add_argument('email')
    s = sub.add_parser('mail')
    s.add_argument('order')
    s.add_argument('--user', required=True)
    s = sub.add_parser('reply')
    s.add_argument('order')
    reply_options(s)
    s = sub.add_parser('replay')
    s.add_argument('--user', required=True)
    s.add_argument('--token1', required=True)
    s.add_argument('--alter-body', action='store_true')
    for name in ('respond', 'wait', 'show'):
        s = sub.add_parser(name)
        s.add_argument('order')
    s = sub.add_parser('drain')
    s.add_argument('--user', default='acme@ca.test',
                   help="the CA's mailbox")
    s = sub.add_parser('finalize')
    s.add_argument('order')
    s.add_argument('--key-out', required=True)
    s.add_argument('--csr-email', help='the address in the CSR')
    s.add_argument('--extra-san', action='append', default=[],
                   metavar='KIND:VALUE', help='email:, dns: or utf8:')
    s.add_argument('--key-type', choices=('ec', 'rsa'), default='ec')
    s.add_argument('--no-wait', action='store_true')
    s = sub.add_parser('cert')
    s.add_argument('order')
    s.add_argument('--out', required=True)
    s = sub.add_parser('revoke')
    s.add_argument('cert')
    s.add_argument('--cert-key', help="sign with the certificate's key")
    s.add_argument('--reason', type=int)
    s = sub.add_parser('probe')
    s.add_argument('kind', choices=('bad-signature', 'reused-nonce',
                                    'wrong-url', 'unknown-kid', 'no-nonce',
                                    'good'))
    s.add_argument('email')
    s = sub.add_parser('issue')
    s.add_argument('email')
    reply_options(s)
    s.add_argument('--key-out', required=True)
    s.add_argument('--cert-out', required=True)
    s.add_argument('--key-type', choices=('ec', 'rsa'), default='ec')

    s = sub.add_parser('vault-get')
    s.add_argument('email')
    s.add_argument('--version', type=int)

    s = sub.add_parser('vault-delete')
    s.add_argument('email')

    s = sub.add_parser('adopt-key')
    s.add_argument('--home', required=True, help="letterlock's home")
    s = sub.add_parser('pkx-caps')
    s.add_argument('fingerprint')
    s.add_argument('caps', nargs='*')
    s.add_argument('--null', action='store_true',
                   help='capabilities unknown')
    s = sub.add_parser('pkx-publish')
    s.add_argument('order')
    s.add_argument('cert', help='PEM or DER')
    s.add_argument('--der', action='store_true',
                   help='send base64url DER, not the PEM text')
    s.add_argument('--cap', action='append', default=[])

    a = p.parse_args(argv)
    if not a.server or not a.state:
        p.error('--server and --state are required')
    acme = Acme(a.server, a.state)
    stack = Stack(a)
    try:
        return globals()['cmd_' + a.cmd.replace('-', '_')](acme, stack,
                                                           a) or 0
    except Problem as e:
        e.show()
        return 1
    except (Failure, OSError, smtplib.SMTPException, imaplib.IMAP4.error,
            KeyError, ValueError) as e:
        note(f'{a.cmd}: {type(e).__name__}: {e}')
        return 3


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
