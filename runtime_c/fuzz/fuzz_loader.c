/*
 * fuzz_loader.c: libFuzzer target for the blob loader, and for the runtime on what it accepts.
 *
 * Each input is loaded twice: as it is (which mostly exercises the header and CRC checks), and
 * with its CRC field rewritten to match (so mutations reach the section, record, shape, edge,
 * parameter and bound checks behind the CRC). A blob that loads is initialised in an arena of
 * exactly esn_arena_size() bytes and run for a few steps, so a loader that accepts something the
 * runtime cannot run safely shows up as an ASan/UBSan report.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude (the runtime sources) \
 *         fuzz/fuzz_loader.c -o fuzz_loader
 *   ./fuzz_loader -max_total_time=60 corpus/ seeds/
 *
 * (runtime_c/Makefile: make fuzz; the seed blobs come from tests/runtime/test_fuzz_loader.py.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esn/esn_blob.h"
#include "esn/esn_fixedpoint.h"
#include "esn/esn_runtime.h"

#define FUZZ_MAX_BLOB (1u << 20)
#define FUZZ_MAX_ARENA (8u << 20)

static uint64_t blob_buf[FUZZ_MAX_BLOB / 8u];
static esn_blob_model bm;

static void try_blob(uint32_t size)
{
    uint32_t need = 0u;
    uint32_t t;
    uint32_t j;
    esn_ctx ctx;
    void *arena;
    uint8_t *x;
    if (esn_blob_load(&bm, blob_buf, size) != ESN_OK) {
        return;
    }
    if (esn_arena_size(&bm.model, &need) != ESN_OK || need > FUZZ_MAX_ARENA) {
        return;
    }
    arena = malloc(need == 0u ? 8u : need);
    x = (uint8_t *)malloc(bm.model.input_size);
    if (arena != NULL && x != NULL && esn_init(&ctx, &bm.model, arena, need) == ESN_OK) {
        for (t = 0u; t < 3u && !ctx.exited; ++t) {
            for (j = 0u; j < bm.model.input_size; ++j) {
                x[j] = (uint8_t)(t == 0u ? 1u : ((j * 2654435761u) >> (24u - t)));
            }
            (void)esn_step(&ctx, x);
        }
        (void)esn_output(&ctx);
    }
    free(arena);
    free(x);
    if (bm.model.sched_steps != 0u && esn_arena_size_sched(&bm.model, &need) == ESN_OK && need <= FUZZ_MAX_ARENA) {
        esn_sched_ctx sc; /* the grouped schedule it carries, on a staged input of ones */
        arena = malloc(need == 0u ? 8u : need);
        if (arena != NULL && esn_sched_init(&sc, &bm.model, arena, need) == ESN_OK) {
            memset(esn_sched_input(&sc), 1, (size_t)sc.T * bm.model.input_size);
            (void)esn_sched_run(&sc, NULL);
        }
        free(arena);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = (uint8_t *)blob_buf;
    uint32_t total;
    uint32_t crc;
    if (size > FUZZ_MAX_BLOB) {
        return 0;
    }
    memcpy(b, data, size);
    try_blob((uint32_t)size);
    /* again with a CRC that matches: the checks behind it */
    if (size >= ESN_BLOB_HEADER_BYTES) {
        total = (uint32_t)b[8] | ((uint32_t)b[9] << 8) | ((uint32_t)b[10] << 16) | ((uint32_t)b[11] << 24);
        if (total >= 16u && total <= size) {
            crc = esn_crc32(0u, b + 16, total - 16u);
            b[12] = (uint8_t)crc;
            b[13] = (uint8_t)(crc >> 8);
            b[14] = (uint8_t)(crc >> 16);
            b[15] = (uint8_t)(crc >> 24);
            try_blob((uint32_t)size);
        }
    }
    return 0;
}
