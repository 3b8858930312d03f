/*
 * esn_blob.h: the model blob, a versioned little-endian binary file, and its loader.
 *
 * Layout (all integers little-endian, every section and array 8-byte aligned; the Python writer
 * is edgesnn/emit/blob.py):
 *
 *   header, 48 bytes
 *     0  char[4] magic "ESNB"         4  u16 version (ESN_BLOB_VERSION = 5; see below)   6  u16 header bytes (48)
 *     8  u32 total bytes (mult. of 8) 12 u32 CRC-32 (zlib) of bytes [16, total)
 *     16 u16 sections                 18 u16 flags (0)                    20 u32 section table offset (48)
 *     24 24 reserved bytes (0)
 *   section table: one 16-byte entry per section, in increasing offset order, no overlaps
 *     0  u16 type (esn_section)  2 u16 flags (0)  4 u32 offset  8 u32 size  12 u32 count
 *   MODEL  (count 1, 64 bytes)
 *     0  u16 nodes  2 u16 edges  4 u16 input node (0)  6 u16 output node
 *     8  u8 weight_bits, state_bits, current_bits, adapt_bits, threshold_bits, decay_bits,
 *        rounding (esn_rounding), exit enabled (0/1)
 *     16 u32 seed  20 i32 exit threshold (1/256 nat)  24 i32 exit beta (Q16)
 *     28 u32 input size  32 u32 output size  36 u32 schedule steps T (0: no schedule)
 *     40 u32 arena bytes of the memory plan (esn_model.arena_bytes; never 0 in a blob)
 *     44 u8 input_bits (esn_model.input_bits: 0 spike counts, 8 / 16 analog), 45 19 reserved bytes (0)
 *   NODES  (count nodes, 224 bytes each, schedule order)
 *     0  u8 kind  1 u8 reset  2 u8 spike rule  3 u8 syn_delay  4 u16 max_spikes
 *     6  u16 first edge  8 u16 edges  10 u8 in rank  11 u8 out rank  12 i8 flatten start
 *     13 i8 flatten end  14 u8 layout (esn_node.layout)  15 u8 flags (bit 0: a schedule group starts here,
 *        bit 1: stage the weights in the arena)
 *     16 u32[4] in shape  32 u32[4] out shape  48 u32 in size  52 u32 out size
 *     56 u16[2] kernel  60 u16[2] stride  64 u16[2] pad  68 u16[2] dilation  72 u32 groups
 *     76 u8 binary weights' magnitude (esn_node.wmag): [1, 127] when the weights are stored at 1 bit, else 0
 *     77 u8 output element bits (esn_node.out_bits: 8 or 32; 0 reads as 32)  78 u16 reserved (0)
 *     80 11 x 12 bytes, the esn_param arrays: u32 offset (from the blob's start, in PARAMS), u32 count
 *        (elements stored: per element, per channel or 1, as the mode says), u8 bits per element
 *        (esn_node.pbits), u8 mode (esn_param_mode), u16 reserved (0); all 0 where absent
 *     212 u32[2] the memory plan's output buffer offsets (even, odd steps)  220 u32 its state block's offset
 *   EDGES  (count edges, 8 bytes each, grouped by destination in node order)
 *     0  u16 src  2 u16 dst  4 u8 recurrent (0/1)  5 u8 reserved (0)  6 u16 index in the graph's edge list
 *   PARAMS (count = number of arrays): the arrays, each at its width; weights packed at 1, 2 and 4 bits,
 *          every weight row (esn_kernels.h) starting on a byte
 *   META   (optional): UTF-8 JSON for the Python reader (names, scales, dt); the runtime skips it
 *
 * Version 5 stores every buffer at its element width (node byte 77: uint8 spikes, Input bytes and small pool
 * sums) and lets a neuron layer's uint8 output live at the start of its int32 input's region (the memory plan,
 * esn_runtime.h); its node byte 76 holds the magnitude of 1-bit (binary) weights. Version 4 added the tensors'
 * layouts (node byte 14: channel-last conv/pool chains) and stores conv weights with
 * each kernel row's taps in reverse order ([C_in][KH][KW reversed][C_out/g], esn_kernels.h); version 3 stored
 * every parameter array at its own width and coverage (packed sub-byte weights, parameters once per channel or
 * layer) and the arena's memory plan. Versions 1 to 4 are refused with ESN_ERR_VERSION: recompile the model
 * with this edgesnn.
 *
 * The loader checks every field, size, offset, alignment, count, shape product, enumeration and
 * the CRC before anything uses them, then esn_model_validate(): a truncated, corrupted or hostile
 * blob yields an error code and never an out-of-bounds access. Parameter arrays are used in place,
 * so the blob must stay in memory (or flash) as long as the model is used.
 */
#ifndef ESN_BLOB_H
#define ESN_BLOB_H

#include <stdint.h>

#include "esn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESN_BLOB_VERSION 5u
#define ESN_BLOB_HEADER_BYTES 48u
#define ESN_BLOB_SECTION_BYTES 16u
#define ESN_BLOB_MODEL_BYTES 64u
#define ESN_BLOB_NODE_BYTES 224u
#define ESN_BLOB_PARAM_REF_BYTES 12u
#define ESN_BLOB_EDGE_BYTES 8u

/** Section types. */
typedef enum esn_section {
    ESN_SEC_MODEL = 1,
    ESN_SEC_NODES = 2,
    ESN_SEC_EDGES = 3,
    ESN_SEC_PARAMS = 4,
    ESN_SEC_META = 5,
    ESN_SEC_END
} esn_section;

/** A model loaded from a blob: the model and the node and edge tables it points to. */
typedef struct esn_blob_model {
    esn_model model;
    esn_node nodes[ESN_MAX_NODES];
    esn_edge edges[ESN_MAX_EDGES];
    esn_diag diag;     /**< where loading failed */
    uint32_t version;  /**< the blob's version field as read (for messages) */
} esn_blob_model;

/**
 * Checks a blob and builds its model.
 * @param[out] bm    receives the model; bm->model is valid only when ESN_OK is returned.
 * @param[in]  blob  8-byte aligned; must outlive bm (parameters are used in place).
 * @param[in]  size  bytes available at blob; may exceed the blob's total size.
 * @return ESN_OK or the first problem (bm->diag says where, bm->version what version was read).
 */
esn_status esn_blob_load(esn_blob_model *bm, const void *blob, uint32_t size);

#ifdef __cplusplus
}
#endif

#endif /* ESN_BLOB_H */
