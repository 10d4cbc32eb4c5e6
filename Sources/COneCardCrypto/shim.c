#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/des.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

void onecard_des_cbc_mac(const uint8_t *data, size_t count,
                         const onecard_des_schedule *schedule, uint8_t state[8]) {
    uint8_t block[8];
    for (size_t i = 0; i < count; i++) {
        for (int j = 0; j < 8; j++) block[j] = state[j] ^ data[i * 8 + j];
        DES_ecb_encrypt((const_DES_cblock *)block, (DES_cblock *)state,
                        (DES_key_schedule *)schedule, DES_ENCRYPT);
    }
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
