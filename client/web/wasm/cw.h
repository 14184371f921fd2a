/*
 * cw.h: the functions the casus wasm module exports to the browser (cw.c has
 * the specification of each). All return CC_OK (0) or a negative CC_ERR_*
 * code; results are read from the output slots (cw_out_ptr / cw_out_len).
 */
#ifndef CASUS_CW_H
#define CASUS_CW_H

#include <stddef.h>
#include <stdint.h>

int cw_init(void);
const uint8_t *cw_out_ptr(int slot);
size_t cw_out_len(int slot);
void cw_out_release(void);
const char *cw_strerror(int err);
const char *cw_errname(int err);
int cw_enrol(const char *user, const char *name, const char *org, const char *role, const char *pass, size_t passlen)
	__attribute__((warn_unused_result));
int cw_open(const uint8_t *img, size_t imglen, const char *pass, size_t passlen) __attribute__((warn_unused_result));
void cw_close(void);
int cw_install_cert(const char *root_hex, const uint8_t *cert, size_t certlen, const char *pass, size_t passlen)
	__attribute__((warn_unused_result));
int cw_cert(void) __attribute__((warn_unused_result));
int cw_auth_sign(const uint8_t *challenge, size_t len) __attribute__((warn_unused_result));
int cw_policy_check(const char *root_hex, const uint8_t *pol, size_t len, double held)
	__attribute__((warn_unused_result));
int cw_cert_check(const char *root_hex, const uint8_t *cert, size_t len) __attribute__((warn_unused_result));

/* cw_core.c: the client core (ccore.h) for the case conference. Each returns
 * 0, or -1 with the JSON slot = {"code","message","warnings"}. */
int cw_core_start(const char *root_hex) __attribute__((warn_unused_result));
int cw_core_own_cert(const char *root_hex) __attribute__((warn_unused_result));
int cw_core_policy(const uint8_t *p, size_t n, int stored) __attribute__((warn_unused_result));
int cw_core_revlist(const uint8_t *p, size_t n, int stored) __attribute__((warn_unused_result));
int cw_casus_follow(const char *hex) __attribute__((warn_unused_result));
void cw_casus_forget(const char *hex);
int cw_casus_commit(const char *hex, const uint8_t *p, size_t n, int head) __attribute__((warn_unused_result));
int cw_casus_done(const char *hex) __attribute__((warn_unused_result));
int cw_casus_state(const char *hex) __attribute__((warn_unused_result));
int cw_casus_message(const char *hex, double seq, const uint8_t *p, size_t n, int live)
	__attribute__((warn_unused_result));
int cw_casus_encrypt(const char *hex, const char *audience, const char *ground, const char *text)
	__attribute__((warn_unused_result));

/* cw_admin.c: changes, grants, pairing and the audit trail (same answers). */
int cw_casus_build(const char *hex, const uint8_t *spec, size_t n) __attribute__((warn_unused_result));
int cw_casus_expect_clear(const char *hex) __attribute__((warn_unused_result));
int cw_casus_changes(const char *hex) __attribute__((warn_unused_result));
int cw_casus_grant(const char *hex, const uint8_t *spec, size_t n) __attribute__((warn_unused_result));
int cw_casus_accept_grant(const char *hex, const uint8_t *spec, size_t n) __attribute__((warn_unused_result));
int cw_casus_transfers(const char *hex) __attribute__((warn_unused_result));
int cw_casus_accept_transfer(const char *hex, const uint8_t *p, size_t n) __attribute__((warn_unused_result));
int cw_pairing_code(void) __attribute__((warn_unused_result));
int cw_audit_verify(const uint8_t *pages, size_t n, const char *pinned_hex, const char *casus_hex, int whole)
	__attribute__((warn_unused_result));

/* cw_core.c: the local copy and the outbox (docs/WEB.md "Offline"). */
int cw_local_seal(const char *purpose, const char *bind, const uint8_t *pt, size_t n)
	__attribute__((warn_unused_result));
int cw_local_open(const char *purpose, const char *bind, const uint8_t *p, size_t n)
	__attribute__((warn_unused_result));
int cw_casus_save(const char *hex) __attribute__((warn_unused_result));
int cw_casus_restore(const char *hex, const char *text) __attribute__((warn_unused_result));
int cw_casus_history_begin(const char *hex, int from_start) __attribute__((warn_unused_result));
int cw_casus_history_done(const char *hex) __attribute__((warn_unused_result));
int cw_casus_recipients(const char *hex, const char *audience) __attribute__((warn_unused_result));
int cw_casus_outbox_check(const char *hex, const char *audience, const char *queued)
	__attribute__((warn_unused_result));

/* cw_core.c: agenda entries and agreed actions (ccore_notes.h), a server that
 * went back in time (ccore_rollback_check). */
int cw_note_make(const char *hex, const char *kind, const char *spec, const char *history)
	__attribute__((warn_unused_result));
int cw_casus_encrypt_note(const char *hex, const char *audience, const char *ground, const char *kind, const char *data)
	__attribute__((warn_unused_result));
int cw_casus_regie(const char *history) __attribute__((warn_unused_result));
int cw_date_parse(const char *s) __attribute__((warn_unused_result));
int cw_core_store_epoch(const char *epoch, int stored) __attribute__((warn_unused_result));
int cw_casus_rollback(const char *hex, int have_head, double head) __attribute__((warn_unused_result));

/* cw.c: this device's wrap keys (issue 17; docs/WEB.md "Device key"), kept in
 * the open keystore with client/core/ccore_wrapks.h. */
int cw_wrap_rotate(int force) __attribute__((warn_unused_result));
int cw_wrap_accepted(double version) __attribute__((warn_unused_result));
int cw_wrap_info(void) __attribute__((warn_unused_result));
int cw_keystore_reload(const uint8_t *img, size_t imglen) __attribute__((warn_unused_result));

#endif
