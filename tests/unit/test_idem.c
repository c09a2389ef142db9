/* Unit tests: idem — the Idempotency-Key syntax and the SHA-256
 * fingerprint (checked against the FIPS 180-2 test vectors). */
#include <criterion/criterion.h>
#include <string.h>

#include "idem.h"

static bool valid(const char *key)
{
	return idem_key_valid(key, strlen(key));
}

Test(idem, keys_of_the_allowed_characters_are_valid)
{
	cr_assert(valid("a"));
	cr_assert(valid("order-2024-11-29:42"));
	cr_assert(valid("Az09._:-"));
	cr_assert(valid("550e8400-e29b-41d4-a716-446655440000"));
}

Test(idem, empty_and_other_characters_are_refused)
{
	cr_assert_not(valid(""));
	cr_assert_not(valid("has space"));
	cr_assert_not(valid("slash/key"));
	cr_assert_not(valid("star*"));
	cr_assert_not(valid("caf\xc3\xa9"));
	cr_assert_not(idem_key_valid("ab\0cd", 5), "a NUL inside the key");
}

Test(idem, keys_up_to_128_bytes_are_valid_longer_ones_are_not)
{
	char key[IDEM_KEY_MAX + 2];
	memset(key, 'k', sizeof key);
	cr_assert(idem_key_valid(key, IDEM_KEY_MAX));
	cr_assert_not(idem_key_valid(key, IDEM_KEY_MAX + 1));
}

/* digest_of hashes s fed in pieces of step bytes into hex. */
static void digest_of(const char *s, size_t step, char hex[IDEM_HASH_HEX + 1])
{
	struct idem_hash *h = idem_hash_new();
	size_t len = strlen(s);
	cr_assert_not_null(h);
	for (size_t off = 0; off < len; off += step)
		cr_assert_eq(idem_hash_update(h, s + off, len - off < step ? len - off : step), 0);
	cr_assert_eq(idem_hash_final(h, hex), 0);
	idem_hash_free(h);
}

Test(idem, fingerprint_is_sha256_whatever_the_pieces)
{
	const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	const char *want = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
	char hex[IDEM_HASH_HEX + 1];

	digest_of("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	digest_of(msg, strlen(msg), hex);
	cr_assert_str_eq(hex, want);
	digest_of(msg, 7, hex);
	cr_assert_str_eq(hex, want);
}

Test(idem, final_is_refused_twice)
{
	char hex[IDEM_HASH_HEX + 1];
	struct idem_hash *h = idem_hash_new();
	cr_assert_not_null(h);
	cr_assert_eq(idem_hash_final(h, hex), 0);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cr_assert_eq(idem_hash_final(h, hex), -1);
	cr_assert_eq(idem_hash_update(h, "x", 1), -1);
	idem_hash_free(h);
}
