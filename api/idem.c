/*
 * idem.c — the Idempotency-Key syntax and the submission fingerprint (see
 * idem.h). The digest is OpenSSL's; nothing here hashes by hand.
 */
#include "idem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

struct idem_hash {
	EVP_MD_CTX *ctx; /* owned */
	bool failed;     /* an OpenSSL call failed: final refuses */
};

/* idem_key_byte_ok returns true for a byte a key may hold. */
static bool idem_key_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

bool idem_key_valid(const char *key, size_t len)
{
	if (len == 0 || len > IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!idem_key_byte_ok((unsigned char)key[i]))
			return false;
	return true;
}

struct idem_hash *idem_hash_new(void)
{
	struct idem_hash *h = calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		idem_hash_free(h);
		return NULL;
	}
	return h;
}

int idem_hash_update(struct idem_hash *h, const void *buf, size_t len)
{
	if (!h->failed && len > 0 && EVP_DigestUpdate(h->ctx, buf, len) != 1)
		h->failed = true;
	return h->failed ? -1 : 0;
}

int idem_hash_final(struct idem_hash *h, char hex[IDEM_HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (h->failed || EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n * 2 != IDEM_HASH_HEX) {
		h->failed = true;
		return -1;
	}
	h->failed = true; /* finalised: no more bytes */
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

void idem_hash_free(struct idem_hash *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}
