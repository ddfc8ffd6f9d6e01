/*
 * AEAD into caller-owned memory, on the OpenSSL inside Node itself (its libcrypto symbols are
 * exported for addons): AES-256-GCM and ChaCha20-Poly1305 with the key set once per context,
 * so a message costs one IV reset and the cipher, with no cipher object, no allocation and no
 * copy (node:crypto builds a cipher and an output buffer per message: docs/performance.md
 * "Small messages"). Noise §5.1 ENCRYPT/DECRYPT with a 16-byte tag after the ciphertext.
 */
#include <node_api.h>
#include <openssl/evp.h>
#include <string.h>

#define TAG_LEN 16
#define IV_LEN 12

static void free_ctx(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)data);
}

static int bytes(napi_env env, napi_value v, unsigned char **p, size_t *len) {
  napi_typedarray_type type; napi_value ab; size_t offset;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, len, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return 0;
  }
  *p = (unsigned char *)data;
  return 1;
}

/* context(cipher: 0 = AES-256-GCM, 1 = ChaCha20-Poly1305, key: 32 bytes, encrypt: boolean) */
static napi_value Context(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t which; bool enc; unsigned char *key; size_t klen;
  if (argc != 3 || napi_get_value_int32(env, argv[0], &which) != napi_ok || napi_get_value_bool(env, argv[2], &enc) != napi_ok) {
    napi_throw_type_error(env, NULL, "context(cipher, key, encrypt)");
    return NULL;
  }
  if (!bytes(env, argv[1], &key, &klen)) return NULL;
  if (klen != 32) { napi_throw_range_error(env, NULL, "key must be 32 bytes"); return NULL; }
  const EVP_CIPHER *cipher = which == 0 ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx != NULL
    && EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc ? 1 : 0) == 1
    && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, IV_LEN, NULL) == 1
    && EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc ? 1 : 0) == 1;
  if (!ok) {
    EVP_CIPHER_CTX_free(ctx);
    napi_throw_error(env, NULL, "OpenSSL refused the cipher context");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, ctx, free_ctx, NULL, &ext) != napi_ok) { EVP_CIPHER_CTX_free(ctx); return NULL; }
  return ext;
}

/* Reads (ctx, iv, ad, input, out) and checks the sizes: out = input + TAG_LEN (seal) or input − TAG_LEN (open). */
static int args(napi_env env, napi_callback_info info, int sealing, EVP_CIPHER_CTX **ctx, unsigned char **iv,
                unsigned char **ad, size_t *adlen, unsigned char **in, size_t *inlen, unsigned char **out) {
  size_t argc = 5; napi_value argv[5]; size_t ivlen, outlen;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5 || napi_get_value_external(env, argv[0], (void **)ctx) != napi_ok) {
    napi_throw_type_error(env, NULL, "(context, iv, ad, input, output)");
    return 0;
  }
  if (!bytes(env, argv[1], iv, &ivlen) || !bytes(env, argv[2], ad, adlen) || !bytes(env, argv[3], in, inlen) || !bytes(env, argv[4], out, &outlen)) return 0;
  if (ivlen != IV_LEN) { napi_throw_range_error(env, NULL, "iv must be 12 bytes"); return 0; }
  if (sealing ? outlen != *inlen + TAG_LEN : (*inlen < TAG_LEN || outlen != *inlen - TAG_LEN)) {
    napi_throw_range_error(env, NULL, "output must be the input length plus (seal) or minus (open) the tag");
    return 0;
  }
  if (*inlen > 0x7fffffff) { napi_throw_range_error(env, NULL, "input too large"); return 0; }
  return 1;
}

/* seal(ctx, iv, ad, plaintext, out): out = ciphertext || tag. */
static napi_value Seal(napi_env env, napi_callback_info info) {
  EVP_CIPHER_CTX *ctx; unsigned char *iv, *ad, *pt, *out; size_t adlen, ptlen; int n, m;
  if (!args(env, info, 1, &ctx, &iv, &ad, &adlen, &pt, &ptlen, &out)) return NULL;
  int ok = EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1
    && (adlen == 0 || EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)adlen) == 1)
    && (ptlen == 0 || EVP_EncryptUpdate(ctx, out, &n, pt, (int)ptlen) == 1)
    && EVP_EncryptFinal_ex(ctx, out + ptlen, &m) == 1
    && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + ptlen) == 1;
  if (!ok) napi_throw_error(env, NULL, "OpenSSL encryption failed");
  return NULL;
}

/* open(ctx, iv, ad, ciphertext || tag, out) → true, or false when authentication fails (out is then zeroed). */
static napi_value Open(napi_env env, napi_callback_info info) {
  EVP_CIPHER_CTX *ctx; unsigned char *iv, *ad, *in, *out; size_t adlen, inlen; int n, m;
  if (!args(env, info, 0, &ctx, &iv, &ad, &adlen, &in, &inlen, &out)) return NULL;
  size_t ctlen = inlen - TAG_LEN;
  unsigned char tag[TAG_LEN];
  memcpy(tag, in + ctlen, TAG_LEN);
  int ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1
    && (adlen == 0 || EVP_DecryptUpdate(ctx, NULL, &n, ad, (int)adlen) == 1)
    && (ctlen == 0 || EVP_DecryptUpdate(ctx, out, &n, in, (int)ctlen) == 1)
    && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) == 1
    && EVP_DecryptFinal_ex(ctx, out + ctlen, &m) == 1;
  if (!ok && ctlen > 0) memset(out, 0, ctlen); /* no unauthenticated plaintext leaves */
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "context", NAPI_AUTO_LENGTH, Context, NULL, &fn);
  napi_set_named_property(env, exports, "context", fn);
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, Seal, NULL, &fn);
  napi_set_named_property(env, exports, "seal", fn);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  return exports;
}
