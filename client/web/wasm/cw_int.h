/*
 * cw_int.h: what cw.c shares with cw_core.c inside the wasm module (not
 * exported to JavaScript): the output slots, the open device, and the hook
 * that forgets the client core when the device is closed.
 */
#ifndef CASUS_CW_INT_H
#define CASUS_CW_INT_H

#include <cc_cert.h>
#include <cc_keys.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Output slots (cw.c): binary result and the JSON description (o is stolen). */
int cw_i_out_bin(const void *p, size_t n) __attribute__((warn_unused_result));
int cw_i_out_json(json_t *o) __attribute__((warn_unused_result));
void cw_i_out_clear(void);
/* The open device: 0 and its keys and certificate, or CC_ERR_NOT_FOUND when
 * no device with a certificate is open. Borrowed; valid until cw_close. */
int cw_i_device(const cc_device_keys **keys, const cc_cert **cert) __attribute__((warn_unused_result));
/* 64 hex digits to 32 bytes: CC_OK or CC_ERR_INVALID_ARG. */
int cw_i_hex32(const char *hex, uint8_t out[32]) __attribute__((warn_unused_result));
/* A certificate's public description ({user,name,org,role,device,fingerprint,...}); NULL on failure. */
json_t *cw_i_cert_json(const cc_cert *c);
/* The open keystore's "cache" key (32 bytes, borrowed until cw_close) and the
 * device id in hex: 0, or CC_ERR_NOT_FOUND (no device open, or a keystore
 * without a cache key). The key seals the local copy and the outbox. */
int cw_i_cache_key(const uint8_t **key, char devhex[33]) __attribute__((warn_unused_result));
/* The open device's wrap secrets (borrowed until the next cw_wrap_* call or
 * cw_close; n may be 0) and the highest version it made. */
struct cc_wrap_secret;
void cw_i_wraps(const struct cc_wrap_secret **ws, size_t *n, uint32_t *newest);
uint32_t cw_i_wraps_published(void); /* the highest own version the server accepted */
/* cw_core.c: hands the device's wrap secrets (cw_i_wraps) to the core and to
 * every followed casus; CC_OK or CC_ERR_NOMEM. */
int cw_core_wraps_changed(void) __attribute__((warn_unused_result));
/* cw_core.c: frees the core and every casus (called when the device closes). */
void cw_core_forget(void);
/* cw_core.c for cw_admin.c: the open device's core (NULL if none), a followed
 * casus (NULL if not followed), and the JSON answer / refusal of cw_core.c
 * (warnings added; refusals return -1). */
struct ccore;
struct ccore_casus;
struct ccore *cw_i_core(void);
struct ccore_casus *cw_i_casus(const char *hex);
int cw_i_answer(json_t *o) __attribute__((warn_unused_result));
int cw_i_refuse(const char *code, const char *message) __attribute__((warn_unused_result));
int cw_i_refuse_core(int crc) __attribute__((warn_unused_result));

#endif
