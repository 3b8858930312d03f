/*
 * esn_run.c: a host driver around the runtime, for sanitizer builds and compiled-in models.
 *
 *   esn_run MODEL.blob INPUTS.bin OUT.bin   run a blob on a batch, input by input
 *   esn_run --compiled INPUTS.bin OUT.bin   (built with -DESN_RUN_COMPILED and the generated model.c)
 *   esn_run --check BLOB...                 load each blob, print its status, and run 3 steps of
 *                                           every one that loads (hostile-blob sweeps under ASan)
 *   esn_run --arena BLOB...                 load each blob, print its status, esn_arena_size() and
 *                                           esn_arena_size_sched() (0 where refused): one line each
 *
 * INPUTS.bin: "ESNI", u32 N, u32 T, u32 input_size, then N*T*input_size values as the model's input_bits says
 *             (uint8 spike counts, int8 or little-endian int16 analog values).
 * OUT.bin:    "ESNO", u32 N, u32 T, u32 output_size, u32 nodes, then per input: u32 steps, u32 0, and
 *             per step int64 outputs [output_size] and uint64 counters [nodes][8] (esn_counters
 *             order; zeros from a runtime built with ESN_ENABLE_COUNTERS 0); steps after an early exit are zero.
 * Exit status: 0; 1 usage or I/O; 2 the model was refused (its status on stderr); 3 a run failed.
 * Host tool: it may allocate; the runtime it drives does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esn/esn_blob.h"
#include "esn/esn_runtime.h"

#ifdef ESN_RUN_COMPILED
#include "model.h"
#endif

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        if (f) {
            fclose(f);
        }
        return NULL;
    }
    /* 8-byte aligned (malloc's alignment suffices) and never empty */
    buf = (unsigned char *)malloc((size_t)len + 8u);
    if (buf != NULL && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int run_batch(const esn_model *m, void *arena, uint32_t arena_size, const char *in_path,
                     const char *out_path)
{
    size_t n_in = 0;
    unsigned char *in = read_file(in_path, &n_in);
    uint32_t n, t_steps, size, i, t;
    esn_ctx ctx;
    esn_status st;
    FILE *out;
    uint64_t zeros[8] = {0};
    if (in == NULL || n_in < 16 || memcmp(in, "ESNI", 4) != 0) {
        fprintf(stderr, "esn_run: %s: not an inputs file\n", in_path);
        free(in);
        return 1;
    }
    n = rd32(in + 4);
    t_steps = rd32(in + 8);
    size = rd32(in + 12);
    if (size != m->input_size || (size_t)n * t_steps * size * esn_input_bytes(m) + 16u != n_in) {
        fprintf(stderr, "esn_run: inputs do not match the model's input size %u\n", (unsigned)m->input_size);
        free(in);
        return 1;
    }
    st = esn_init(&ctx, m, arena, arena_size);
    if (st != ESN_OK) {
        fprintf(stderr, "esn_run: esn_init: %s\n", esn_status_str(st));
        free(in);
        return 3;
    }
    out = fopen(out_path, "wb");
    if (out == NULL) {
        free(in);
        return 1;
    }
    {
        const uint32_t head[4] = {n, t_steps, m->output_size, m->n_nodes};
        fwrite("ESNO", 1, 4, out);
        fwrite(head, sizeof head[0], 4, out);
    }
    for (i = 0; i < n; ++i) {
        long at;
        uint32_t ran = 0, pad = 0;
        st = esn_reset(&ctx);
        at = ftell(out);
        fwrite(&ran, 4, 1, out);
        fwrite(&pad, 4, 1, out);
        for (t = 0; t < t_steps; ++t) {
            uint32_t k;
            if (!ctx.exited) {
                st = esn_step(&ctx, in + 16 + ((size_t)i * t_steps + t) * size * esn_input_bytes(m));
                if (st != ESN_OK) {
                    fprintf(stderr, "esn_run: esn_step: %s\n", esn_status_str(st));
                    fclose(out);
                    free(in);
                    return 3;
                }
                ran = t + 1u;
                fwrite(esn_output(&ctx), sizeof(int64_t), m->output_size, out);
                for (k = 0; k < m->n_nodes; ++k) { /* zeros when built without ESN_ENABLE_COUNTERS */
                    const esn_counters *c = esn_counters_of(&ctx, k, 0);
                    fwrite(c != NULL ? (const void *)c : (const void *)zeros, sizeof zeros, 1, out);
                }
            } else {
                for (k = 0; k < m->output_size; ++k) {
                    fwrite(zeros, sizeof(int64_t), 1, out);
                }
                for (k = 0; k < m->n_nodes; ++k) {
                    fwrite(zeros, sizeof zeros, 1, out);
                }
            }
        }
        fseek(out, at, SEEK_SET);
        fwrite(&ran, 4, 1, out);
        fseek(out, 0, SEEK_END);
    }
    fclose(out);
    free(in);
    return 0;
}

#ifndef ESN_RUN_COMPILED
/* Loads each blob; the ones that load run 3 steps on all-ones then pseudo-random inputs. */
static int check_blobs(int argc, char **argv)
{
    static esn_blob_model bm;
    int a;
    for (a = 0; a < argc; ++a) {
        size_t n = 0;
        unsigned char *blob = read_file(argv[a], &n);
        esn_status st;
        if (blob == NULL) {
            return 1;
        }
        st = esn_blob_load(&bm, blob, (uint32_t)n);
        if (st == ESN_OK) {
            uint32_t need = 0, t, j;
            esn_ctx ctx;
            void *arena;
            uint8_t *x;
            if (esn_arena_size(&bm.model, &need) != ESN_OK || need > (64u << 20)) {
                printf("%d\n", (int)st);
                free(blob);
                continue;
            }
            arena = malloc(need + 8u);
            x = (uint8_t *)malloc(bm.model.input_size * esn_input_bytes(&bm.model) + 1u);
            if (arena != NULL && x != NULL && esn_init(&ctx, &bm.model, arena, need) == ESN_OK) {
                for (t = 0; t < 3u && !ctx.exited; ++t) {
                    for (j = 0; j < bm.model.input_size * esn_input_bytes(&bm.model); ++j) {
                        x[j] = (uint8_t)(t == 0u ? 1u : (j * 2654435761u + t) >> 24);
                    }
                    (void)esn_step(&ctx, x);
                }
            }
            free(arena);
            free(x);
        }
        printf("%d\n", (int)st);
        free(blob);
    }
    return 0;
}
#endif

#ifndef ESN_RUN_COMPILED
/* Prints "status arena sched" for each blob (the Python lowering's figures are compared with them). */
static int arena_sizes(int argc, char **argv)
{
    static esn_blob_model bm;
    int a;
    for (a = 0; a < argc; ++a) {
        size_t n = 0;
        unsigned char *blob = read_file(argv[a], &n);
        uint32_t plain = 0, sched = 0;
        esn_status st;
        if (blob == NULL) {
            return 1;
        }
        st = esn_blob_load(&bm, blob, (uint32_t)n);
        if (st == ESN_OK) {
            (void)esn_arena_size(&bm.model, &plain);
            if (bm.model.sched_steps != 0u) {
                (void)esn_arena_size_sched(&bm.model, &sched);
            }
        }
        printf("%d %u %u\n", (int)st, (unsigned)plain, (unsigned)sched);
        free(blob);
    }
    return 0;
}
#endif

int main(int argc, char **argv)
{
#ifdef ESN_RUN_COMPILED
    static uint64_t arena[(SNN_ARENA_BYTES + 7u) / 8u];
    uint32_t need = 0;
    esn_diag d;
    esn_status st;
    if (argc != 4 || strcmp(argv[1], "--compiled") != 0) {
        fprintf(stderr, "usage: esn_run --compiled INPUTS.bin OUT.bin\n");
        return 1;
    }
    st = esn_model_validate(&snn_model, &d);
    if (st != ESN_OK) {
        fprintf(stderr, "esn_run: model refused: %s (node %d)\n", esn_status_str(st), (int)d.node);
        return 2;
    }
    if (esn_arena_size(&snn_model, &need) != ESN_OK || need != SNN_ARENA_BYTES) {
        fprintf(stderr, "esn_run: esn_arena_size %u != SNN_ARENA_BYTES %u\n", (unsigned)need, SNN_ARENA_BYTES);
        return 3;
    }
    return run_batch(&snn_model, arena, SNN_ARENA_BYTES, argv[2], argv[3]);
#else
    static esn_blob_model bm;
    size_t n = 0;
    unsigned char *blob;
    uint32_t need = 0;
    void *arena;
    int rc;
    esn_status st;
    if (argc >= 2 && strcmp(argv[1], "--check") == 0) {
        return check_blobs(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "--arena") == 0) {
        return arena_sizes(argc - 2, argv + 2);
    }
    if (argc != 4) {
        fprintf(stderr, "usage: esn_run MODEL.blob INPUTS.bin OUT.bin | esn_run --check|--arena BLOB...\n");
        return 1;
    }
    blob = read_file(argv[1], &n);
    if (blob == NULL) {
        fprintf(stderr, "esn_run: cannot read %s\n", argv[1]);
        return 1;
    }
    st = esn_blob_load(&bm, blob, (uint32_t)n);
    if (st != ESN_OK) {
        fprintf(stderr, "esn_run: %s: %s (node %d, value %lld)\n", argv[1], esn_status_str(st), (int)bm.diag.node,
                (long long)bm.diag.value);
        free(blob);
        return 2;
    }
    (void)esn_arena_size(&bm.model, &need);
    arena = malloc(need + 8u);
    rc = arena == NULL ? 1 : run_batch(&bm.model, arena, need, argv[2], argv[3]);
    free(arena);
    free(blob);
    return rc;
#endif
}
