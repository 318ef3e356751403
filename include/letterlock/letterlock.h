/* letterlock/letterlock.h - everything of libletterlock. */
#ifndef LETTERLOCK_H
#define LETTERLOCK_H
#include <letterlock/error.h>
#include <letterlock/cert.h>
#include <letterlock/ctx.h>
#include <letterlock/msg.h>
#include <letterlock/keystore.h>
#include <letterlock/contacts.h>
#include <letterlock/ca.h>
#include <letterlock/jose.h>
#include <letterlock/acme.h>
#include <letterlock/backup.h>
#include <letterlock/revocation.h>
#define LL_VERSION "0.1.0"
#endif
