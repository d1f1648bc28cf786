#ifndef PUSHBOX_COPENSSL_SHIM_H
#define PUSHBOX_COPENSSL_SHIM_H

#include <stddef.h>
#include <openssl/evp.h>

/* HMAC-SHA256 of `data` under `key` into `out` (32 bytes), with OpenSSL 3's one-shot EVP_Q_mac (the
 * HMAC() function is deprecated in OpenSSL 3). Returns 1 on success, 0 on failure. */
static inline int pushbox_hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len,
                                      unsigned char out[32]) {
    size_t out_len = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, (const unsigned char *)data, data_len,
                  out, 32, &out_len) == NULL) {
        return 0;
    }
    return out_len == 32;
}

#endif
