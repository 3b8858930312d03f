/*
 * esn_fw_proto.h: the serial protocol between the edgesnn host (edgesnn/device/protocol.py) and
 * the device firmware. The Python side mirrors every constant here; tests/device/test_protocol.py parses
 * this header and fails if the two drift apart.
 *
 * Frame, before COBS encoding (all fields little-endian):
 *
 *   offset  size  field
 *   0       1     version   ESN_FW_PROTO_VERSION
 *   1       1     type      request 0x01..0x7F; response = request | 0x80; ERROR, FAULT, LOG below
 *   2       2     seq       chosen by the host, echoed in the response
 *   4       2     len       payload bytes, <= max_payload (HELLO reports it; the host never assumes one)
 *   6       len   payload
 *   6+len   4     crc       CRC-32 (IEEE 802.3, as zlib.crc32) of bytes [0, 6+len)
 *
 * On the wire: 0x00, COBS(frame), 0x00. COBS removes every 0x00 from the frame, so 0x00 only ever
 * delimits frames and a receiver resynchronises at the next 0x00 after any damage.
 *
 * Reliability: the host retransmits the SAME frame (same seq) when no valid response arrives in
 * time or a damaged frame arrives. The device remembers the seq and CRC of the last request it
 * executed and answers a repeat with the cached response instead of executing it again, so a
 * lost, duplicated or corrupted byte costs a retry, never a second execution or a wrong answer.
 * A frame that fails its length or CRC check is dropped and answered with NAK (seq 0xFFFF).
 *
 * Data larger than one payload travels in pieces, each its own request with its own seq (so each
 * piece keeps the retransmit and cached-response rules above): a model blob in LOAD_MODEL chunks,
 * RUN's inputs in RUN_INPUT chunks (u32 offset, bytes) into the device's input staging area and
 * then a RUN that names them (flag "staged"), and outputs and counters paged by READ_COUNTERS.
 * Payloads of the extension requests: esn_fw_ext_runtime.c.
 */
#ifndef ESN_FW_PROTO_H
#define ESN_FW_PROTO_H

/* Version 2: RUN_INPUT stages inputs larger than a frame (a step of any size); LOAD_MODEL answers the
 * staging area's size. A peer of another version is refused (ERROR VERSION, or the host's message
 * naming both sides' versions), never half understood. */
#define ESN_FW_PROTO_VERSION 2
#define ESN_FW_PROTO_MIN_VERSION 2

#define ESN_FW_HDR_BYTES 6
#define ESN_FW_CRC_BYTES 4
#define ESN_FW_OVERHEAD_BYTES (ESN_FW_HDR_BYTES + ESN_FW_CRC_BYTES)
#define ESN_FW_SEQ_NONE 0xFFFF

/* Requests (host -> device). The response to request T has type T | 0x80. */
#define ESN_FW_T_HELLO 0x01         /* handshake: versions, board, arena, capabilities */
#define ESN_FW_T_ECHO 0x02          /* payload returned unchanged */
#define ESN_FW_T_COUNTER 0x03       /* u64 ticks, u32 tick_hz, u32 DWT CYCCNT, u32 flags */
#define ESN_FW_T_RESET 0x04         /* u8 mode: 0 = session state only, 1 = system reset (AIRCR) */
#define ESN_FW_T_EXIT 0x05          /* i32 code: semihosting exit (emulated boards only) */
#define ESN_FW_T_SPIN 0x06          /* u32 n: run a 2-instruction loop n times; u64 ticks taken */
/* Extension point: handled by esn_fw_ext.h, UNSUPPORTED until the runtime is linked in. */
#define ESN_FW_T_LOAD_MODEL 0x10    /* write a chunk of a model blob */
#define ESN_FW_T_RUN 0x11           /* run inputs, return outputs */
#define ESN_FW_T_READ_COUNTERS 0x12 /* per-layer, per-step counters of the last run */
#define ESN_FW_T_RUN_INPUT 0x13     /* write a chunk of RUN's inputs into the device's staging area */

/* Frames the device sends on its own, and the error response. */
#define ESN_FW_T_LOG 0xFC   /* a log line (text payload), seq 0xFFFF */
#define ESN_FW_T_NAK 0xFD   /* a damaged frame was dropped: retransmit now, seq 0xFFFF */
#define ESN_FW_T_FAULT 0xFE /* the firmware faulted: see the FAULT payload below, seq 0xFFFF */
#define ESN_FW_T_ERROR 0xFF /* error response: u8 request type, u8 status, text */

#define ESN_FW_RESPONSE_BIT 0x80

/* Status codes carried by ERROR responses. */
#define ESN_FW_ST_OK 0
#define ESN_FW_ST_BAD_REQUEST 1  /* payload malformed for this request type */
#define ESN_FW_ST_UNSUPPORTED 2  /* unknown request, or an extension that is not linked in */
#define ESN_FW_ST_VERSION 3      /* protocol version not spoken; payload carries the device's */
#define ESN_FW_ST_TOO_LARGE 4    /* does not fit the payload or arena limits */
#define ESN_FW_ST_RUNTIME 5      /* the runtime returned an error; text names it */

/* Capability bits reported by HELLO. */
#define ESN_FW_CAP_ECHO (1u << 0)
#define ESN_FW_CAP_COUNTER (1u << 1)
#define ESN_FW_CAP_RESET (1u << 2)
#define ESN_FW_CAP_EXIT (1u << 3)
#define ESN_FW_CAP_SPIN (1u << 4)
#define ESN_FW_CAP_DWT (1u << 5)
#define ESN_FW_CAP_LOAD_MODEL (1u << 8)
#define ESN_FW_CAP_RUN (1u << 9)
#define ESN_FW_CAP_READ_COUNTERS (1u << 10)
#define ESN_FW_CAP_RUN_INPUT (1u << 11)

/* Semihosting exit codes of the firmware (emulated boards). A fault exits with BASE + exception
 * number (HardFault 3 -> 67, MemManage 4, BusFault 5, UsageFault 6, SecureFault 7). */
#define ESN_FW_EXIT_OK 0
#define ESN_FW_EXIT_ERROR 1
#define ESN_FW_EXIT_FAULT_BASE 64

/* FAULT payload: u8 exception, 3 pad, then u32 pc, lr, xpsr, cfsr, hfsr, mmfar, bfar, sp. */
#define ESN_FW_FAULT_PAYLOAD_BYTES 36

/* The text line the firmware prints once at boot, before its first frame. */
#define ESN_FW_READY_PREFIX "ESN-READY"
#define ESN_FW_FAULT_PREFIX "ESN-FAULT"

#endif /* ESN_FW_PROTO_H */
