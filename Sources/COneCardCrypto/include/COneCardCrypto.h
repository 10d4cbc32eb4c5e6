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

/// DES-CBC-MAC over `count` whole 8-byte blocks (ISO 9797-1 algorithm 1 without padding):
/// `state` holds the IV on entry and the last cipher block on return.
void onecard_des_cbc_mac(const uint8_t *data, size_t count,
                         const onecard_des_schedule *schedule, uint8_t state[8]);

/// HMAC-SHA-256 (OpenSSL `HMAC` with `EVP_sha256`); writes 32 bytes to `out`.
/// Returns 1 on success, 0 on failure.
int onecard_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                        uint8_t out[32]);

/// SHA-256 (OpenSSL `EVP_Digest` with `EVP_sha256`); writes 32 bytes to `out`.
/// Returns 1 on success, 0 on failure.
int onecard_sha256(const uint8_t *data, size_t data_len, uint8_t out[32]);

#ifdef __cplusplus
}
#endif

#endif
