/*
 * esn_fw_ext.h: THE EXTENSION POINT where the C runtime plugs into the firmware.
 *
 * The protocol server (esn_fw_server.c) hands the requests LOAD_MODEL, RUN, RUN_INPUT and READ_COUNTERS to
 * the functions below. esn_fw_ext_none.c implements them as "unsupported"; the runtime integration
 * replaces that file with one that calls the runtime (esn_blob_load, esn_arena_size, esn_step ...)
 * and is selected by edgesnn/device/firmware.py (build(..., ext_sources=[...])).
 *
 * Every handler gets the request payload and writes its response payload into out (at most
 * out_cap bytes, which is the board's max_payload_bytes); it returns an ESN_FW_ST_* status. On a
 * non-OK status, out[0 .. *out_len) is sent as the error text. The arena is the firmware's static
 * buffer of ESN_FW_ARENA_BYTES in the board's arena region; the runtime must not use any other RAM
 * beyond its stack. Handlers run to completion before the next request is read: a long RUN holds
 * the link, and the host's per-request timeout must allow for it.
 */
#ifndef ESN_FW_EXT_H
#define ESN_FW_EXT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esn_fw_req {
    const uint8_t *in;  /* request payload */
    uint16_t in_len;
    uint8_t *out;       /* response payload */
    uint16_t *out_len;  /* set by the handler (0 on entry) */
    uint16_t out_cap;
    uint8_t *arena;     /* 8-byte aligned */
    uint32_t arena_bytes;
} esn_fw_req;

/** ESN_FW_CAP_* bits the extension adds to HELLO (LOAD_MODEL, RUN, RUN_INPUT, READ_COUNTERS). */
uint32_t esn_fw_ext_caps(void);

/** Version string of the linked runtime, or "none". */
const char *esn_fw_ext_runtime_version(void);

/** Called once at boot after the port is up (e.g. to set up the runtime's logging). */
void esn_fw_ext_init(void);

/** LOAD_MODEL: payload u32 offset, u32 total, bytes; the blob is assembled in the arena. */
int esn_fw_ext_load_model(const esn_fw_req *r);

/** RUN: run one or more inputs through the loaded model, answer outputs (and exit step). */
int esn_fw_ext_run(const esn_fw_req *r);

/** RUN_INPUT: payload u32 offset, bytes; stages inputs of a later RUN (flag "staged") too large for one frame. */
int esn_fw_ext_run_input(const esn_fw_req *r);

/** READ_COUNTERS: the counters of the last run, paged (u16 first node in the request). */
int esn_fw_ext_read_counters(const esn_fw_req *r);

/** Drops the loaded model and any run state (RESET mode 0). */
void esn_fw_ext_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* ESN_FW_EXT_H */
