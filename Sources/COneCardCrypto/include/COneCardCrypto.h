// The C shim between OneCard and OpenSSL's libcrypto. Every symbol carries the
// `onecard_` prefix. Only the OneCardCrypto Swift module imports it.
//
// OpenSSL 3 removed single DES from its default EVP provider but still exports the
// legacy DES API (DES_set_key_unchecked, DES_ecb_encrypt, DES_ecb3_encrypt); it is
// deprecated, so the deprecation warnings are suppressed here, in one place.
#ifndef COneCardCrypto_h
#define COneCardCrypto_h

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A prepared DES key schedule: 16 rounds × 2 words × 4 bytes, the layout of OpenSSL's
/// DES_key_schedule (checked by a static assertion in the .c file).
typedef struct onecard_des_schedule {
    uint32_t words[32];
} onecard_des_schedule;

/// Prepares the schedule of one 8-byte DES key (DES_set_key_unchecked: parity is ignored,
/// as cards ignore it).
void onecard_des_set_key(const uint8_t key[8], onecard_des_schedule *schedule);

/// Encrypts (encrypt != 0) or decrypts one 8-byte block with single DES (DES_ecb_encrypt).
void onecard_des_block(const uint8_t in[8], uint8_t out[8],
                       const onecard_des_schedule *schedule, int encrypt);

/// Encrypts or decrypts one block with DES-EDE3 (DES_ecb3_encrypt). A 16-byte 3DES key
/// K1‖K2 passes k3 = k1.
void onecard_des3_block(const uint8_t in[8], uint8_t out[8],
                        const onecard_des_schedule *k1, const onecard_des_schedule *k2,
                        const onecard_des_schedule *k3, int encrypt);

/// DES-CBC-MAC over `count` whole blocks (ISO 9797-1 algorithm 1 without padding), each a
/// 64-bit integer whose most significant byte is the block's first: returns the last cipher
/// block, the chain starting from `state` (the IV). One call for a purse MAC's few blocks.
uint64_t onecard_des_cbc_mac(const uint64_t *blocks, size_t count,
                             const onecard_des_schedule *schedule, uint64_t state);

/// HMAC-SHA-256 (OpenSSL `HMAC` with `EVP_sha256`); writes 32 bytes to `out`.
/// Returns 1 on success, 0 on failure.
int onecard_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                        uint8_t out[32]);

/// SHA-256 (OpenSSL `EVP_Digest` with `EVP_sha256`); writes 32 bytes to `out`.
/// Returns 1 on success, 0 on failure.
int onecard_sha256(const uint8_t *data, size_t data_len, uint8_t out[32]);

/// Ed25519 (RFC 8032, OpenSSL's EVP_PKEY_ED25519): the signature over the parameters the
/// front-end serves. All return 1 on success, 0 on failure (a bad key, a bad signature).
///
/// The 32-byte public key of a 32-byte private key (seed).
int onecard_ed25519_public(const uint8_t private_key[32], uint8_t public_key[32]);
/// Signs `data`; writes the 64-byte signature.
int onecard_ed25519_sign(const uint8_t private_key[32], const uint8_t *data, size_t data_len, uint8_t signature[64]);
/// Verifies a signature: 1 when it is `public_key`'s over `data`.
int onecard_ed25519_verify(const uint8_t public_key[32], const uint8_t *data, size_t data_len, const uint8_t signature[64]);
/// Reads a PEM Ed25519 key (a PKCS #8 private key or a SubjectPublicKeyInfo public key, as
/// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write them) into its raw
/// 32 bytes. `want_private` selects which. Returns 1 on success.
int onecard_ed25519_read_pem(const uint8_t *pem, size_t pem_len, int want_private, uint8_t raw[32]);

#ifdef __cplusplus
}
#endif

#endif
