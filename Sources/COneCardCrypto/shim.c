#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/des.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <string.h>
#include "COneCardCrypto.h"

_Static_assert(sizeof(onecard_des_schedule) == sizeof(DES_key_schedule),
               "onecard_des_schedule must match DES_key_schedule");

void onecard_des_set_key(const uint8_t key[8], onecard_des_schedule *schedule) {
    DES_cblock k;
    memcpy(k, key, 8);
    DES_set_key_unchecked(&k, (DES_key_schedule *)schedule);
}

void onecard_des_block(const uint8_t in[8], uint8_t out[8],
                       const onecard_des_schedule *schedule, int encrypt) {
    DES_ecb_encrypt((const_DES_cblock *)in, (DES_cblock *)out,
                    (DES_key_schedule *)schedule, encrypt ? DES_ENCRYPT : DES_DECRYPT);
}

void onecard_des3_block(const uint8_t in[8], uint8_t out[8],
                        const onecard_des_schedule *k1, const onecard_des_schedule *k2,
                        const onecard_des_schedule *k3, int encrypt) {
    DES_ecb3_encrypt((const_DES_cblock *)in, (DES_cblock *)out,
                     (DES_key_schedule *)k1, (DES_key_schedule *)k2, (DES_key_schedule *)k3,
                     encrypt ? DES_ENCRYPT : DES_DECRYPT);
}

uint64_t onecard_des_cbc_mac(const uint64_t *blocks, size_t count,
                             const onecard_des_schedule *schedule, uint64_t state) {
    /* DES_ecb_encrypt loads a block's bytes little-endian into two words (c2l), then runs
       DES_encrypt1 on them: done here on the words straight away, a block at a time. */
    DES_LONG words[2];
    for (size_t i = 0; i < count; i++) {
        uint64_t x = state ^ blocks[i];
        words[0] = __builtin_bswap32((uint32_t)(x >> 32));
        words[1] = __builtin_bswap32((uint32_t)x);
        DES_encrypt1(words, (DES_key_schedule *)schedule, DES_ENCRYPT);
        state = (uint64_t)__builtin_bswap32((uint32_t)words[0]) << 32 | __builtin_bswap32((uint32_t)words[1]);
    }
    return state;
}

int onecard_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                        uint8_t out[32]) {
    unsigned int out_len = 0;
    static const uint8_t empty = 0;
    if (HMAC(EVP_sha256(), key, (int)key_len, data_len ? data : &empty, data_len, out, &out_len) == NULL) return 0;
    return out_len == 32;
}

int onecard_sha256(const uint8_t *data, size_t data_len, uint8_t out[32]) {
    unsigned int out_len = 0;
    static const uint8_t empty = 0;
    if (EVP_Digest(data_len ? data : &empty, data_len, out, &out_len, EVP_sha256(), NULL) != 1) return 0;
    return out_len == 32;
}

int onecard_ed25519_public(const uint8_t private_key[32], uint8_t public_key[32]) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, private_key, 32);
    if (key == NULL) return 0;
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_public_key(key, public_key, &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    return ok;
}

int onecard_ed25519_sign(const uint8_t private_key[32], const uint8_t *data, size_t data_len, uint8_t signature[64]) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, private_key, 32);
    if (key == NULL) return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = 64;
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1
        && EVP_DigestSign(ctx, signature, &len, data, data_len) == 1 && len == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

int onecard_ed25519_verify(const uint8_t public_key[32], const uint8_t *data, size_t data_len, const uint8_t signature[64]) {
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, 32);
    if (key == NULL) return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1
        && EVP_DigestVerify(ctx, signature, 64, data, data_len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

/// Refuses encrypted PEM keys instead of OpenSSL's default of asking on the terminal.
static int onecard_no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf; (void)size; (void)rwflag; (void)u;
    return 0;
}

int onecard_ed25519_read_pem(const uint8_t *pem, size_t pem_len, int want_private, uint8_t raw[32]) {
    if (pem_len > 65536) return 0;
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) return 0;
    EVP_PKEY *key = want_private ? PEM_read_bio_PrivateKey(bio, NULL, onecard_no_password, NULL) : PEM_read_bio_PUBKEY(bio, NULL, onecard_no_password, NULL);
    BIO_free(bio);
    if (key == NULL) return 0;
    size_t len = 32;
    int ok = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519
        && (want_private ? EVP_PKEY_get_raw_private_key(key, raw, &len) : EVP_PKEY_get_raw_public_key(key, raw, &len)) == 1
        && len == 32;
    EVP_PKEY_free(key);
    return ok;
}
