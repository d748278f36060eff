#ifndef COPENSSL_H
#define COPENSSL_H
// C interop for OpenSSL 3 (libcrypto). Imported only by the Cryppo module.
// The COpenSSL_ functions below stand in for OpenSSL macros that do not import into Swift.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/hmac.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/kdf.h>

/// BN_num_bytes is a macro.
int COpenSSL_BN_num_bytes(const BIGNUM *bn);
/// OPENSSL_free is a macro (it passes __FILE__/__LINE__).
void COpenSSL_free(void *ptr);
/// BIO_get_mem_data is a macro over BIO_ctrl; returns the length and sets *data.
long COpenSSL_BIO_get_mem_data(BIO *bio, char **data);
/// GCM tag get/set through EVP_CIPHER_CTX_ctrl with the EVP_CTRL_GCM_* constants.
int COpenSSL_GCM_get_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag, int length);
int COpenSSL_GCM_set_tag(EVP_CIPHER_CTX *ctx, const unsigned char *tag, int length);
int COpenSSL_GCM_set_ivlen(EVP_CIPHER_CTX *ctx, int length);

#endif
