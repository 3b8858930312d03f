"""cffi build of runtime_c for the host: the extension module edgesnn.runtime._esn (API mode, out of line).

setup.py names this file in `cffi_modules`, so `pip install .` and `pip install -e .` compile it;
`python edgesnn/runtime/_build.py` builds it in place by hand. The extension embeds a digest of
the C sources it was built from; edgesnn.runtime.binding compares it with the sources on disk and
says to rebuild when they differ.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime_c"
C_SOURCES = ["src/esn_runtime.c", "src/esn_schedule.c", "src/esn_model.c", "src/esn_blob.c", "src/esn_fixedpoint.c",
             "src/kernels/esn_synaptic.c", "src/kernels/esn_neuron.c", "ports/host/esn_port.c"]
# The host build holds bigger models than the MCU defaults.
DEFINES = [("ESN_MAX_NODES", "1024"), ("ESN_MAX_EDGES", "4096"), ("ESN_MAX_FANIN", "64")]
# -O3 vectorises the kernels' row loops (out[o] += row[o]) with the baseline vector unit of the host's
# architecture (SSE2 on x86-64, NEON on aarch64): portable, unlike -march=native, which a wheel must not
# carry. Integer arithmetic only, so the results do not depend on it. One thread, 64 inputs, 8-bit
# weights: -O2 -> -O3 took the MNIST-sized MLP of bench/real_models.py from 1,690 to 5,200 inputs/s, the
# SHD-sized RNN from 3,500 to 9,700, the digits MLP from 17,000 to 26,000; the N-MNIST-sized CNN stays at
# ~165 with row-major conv outputs (a strided column per tap, which does not vectorise); channel-last outputs
# (esn_node.layout) make each tap a contiguous run, which does: 171 -> 350 inputs per CPU-second on one thread.
CFLAGS = ["-O3", "-Wno-unused-function"]

CDEF = """
typedef enum esn_status {
    ESN_OK, ESN_ERR_NULL, ESN_ERR_ARG, ESN_ERR_TRUNCATED, ESN_ERR_MAGIC, ESN_ERR_VERSION, ESN_ERR_HEADER,
    ESN_ERR_CRC, ESN_ERR_SECTION, ESN_ERR_ALIGN, ESN_ERR_LIMIT, ESN_ERR_KIND, ESN_ERR_ENUM, ESN_ERR_SHAPE,
    ESN_ERR_EDGE, ESN_ERR_PARAM, ESN_ERR_RANGE, ESN_ERR_OVERFLOW, ESN_ERR_ARENA_SMALL, ESN_ERR_STATE,
    ESN_ERR_ENDIAN, ESN_ERR_SCHEDULE, ESN_ERR_PLAN, ESN_STATUS_COUNT, ...
} esn_status;
typedef enum esn_var { ESN_VAR_V, ESN_VAR_I, ESN_VAR_ETA, ESN_VAR_PENDING, ESN_VAR_COUNT, ... } esn_var;
#define ESN_BLOB_VERSION ...
#define ESN_N_COUNTERS ...
#define ESN_MAX_NODES ...
typedef struct { int32_t node; int32_t edge; int64_t value; } esn_diag;
typedef struct {
    uint16_t n_nodes; uint16_t n_edges; uint16_t output_node; uint8_t input_bits; uint32_t input_size;
    uint32_t output_size;
    uint32_t sched_steps; ...;
} esn_model;
typedef struct { esn_model model; esn_diag diag; uint32_t version; ...; } esn_blob_model;
typedef struct {
    uint64_t spikes_in; uint64_t synops; uint64_t neuron_updates; uint64_t spikes_out;
    uint64_t param_bytes_read; uint64_t arena_bytes_read; uint64_t arena_bytes_written; uint64_t cycles;
} esn_counters;
typedef struct { const esn_model *model; uint32_t t; uint8_t exited; uint8_t ready; ...; } esn_ctx;
typedef struct { const esn_model *model; uint32_t arena_size; uint32_t T; uint32_t n_groups; uint8_t ready;
                 uint32_t staged_bytes; ...; } esn_sched_ctx;

const char *esn_status_str(esn_status s);
esn_status esn_blob_load(esn_blob_model *bm, const void *blob, uint32_t size);
esn_status esn_model_validate(const esn_model *m, esn_diag *diag);
esn_status esn_arena_size(const esn_model *m, uint32_t *bytes);
esn_status esn_init(esn_ctx *ctx, const esn_model *m, void *arena, uint32_t size);
esn_status esn_reset(esn_ctx *ctx);
esn_status esn_step(esn_ctx *ctx, const void *x);
esn_status esn_run(esn_ctx *ctx, const void *x, uint32_t T, int64_t *out, uint32_t *steps);
const int64_t *esn_output(const esn_ctx *ctx);
const esn_counters *esn_counters_of(const esn_ctx *ctx, uint32_t node, int total);
esn_status esn_state_read(const esn_ctx *ctx, uint32_t node, esn_var var, int32_t *dst);
esn_status esn_arena_size_sched(const esn_model *m, uint32_t *bytes);
esn_status esn_sched_init(esn_sched_ctx *ctx, const esn_model *m, void *arena, uint32_t size);
uint8_t *esn_sched_input(const esn_sched_ctx *ctx);
int64_t esn_sched_output(const esn_sched_ctx *ctx, uint32_t t, uint32_t j);
esn_status esn_sched_run(esn_sched_ctx *ctx, esn_counters *steps);

int64_t esn_asr64(int64_t x, uint32_t s);
int64_t esn_sat64(int64_t x, uint32_t bits);
int64_t esn_rshift(int64_t p, uint32_t s, uint32_t mode, uint32_t r);
uint32_t esn_hash32(uint32_t x);
uint32_t esn_noise_key(uint32_t seed, uint32_t layer, uint32_t step, uint32_t stream);
uint32_t esn_noise(uint32_t key, uint32_t idx);
int64_t esn_entropy_q8(const int64_t *acc, uint32_t k, uint32_t t, int32_t beta_q16);
uint32_t esn_crc32(uint32_t crc, const uint8_t *data, uint32_t n);

const char *esn_host_digest(void);
uint32_t esn_host_out_size(const esn_model *m, uint32_t node);
uint32_t esn_host_cl_channels(const esn_model *m, uint32_t node);
esn_status esn_host_run_batch(esn_ctx *ctx, const uint8_t *x, uint32_t n, uint32_t T, int64_t *out,
                              uint64_t *counters, uint32_t *steps, int32_t *states, uint32_t state_words);
esn_status esn_host_run_batch_sched(esn_sched_ctx *sc, const uint8_t *x, uint32_t n, int64_t *out,
                                    uint64_t *counters);
"""

# Host-only glue: runs a batch input by input in one call, recording what the Python side compares.
# CModel.run shares a batch out over threads, each calling esn_host_run_batch on its own context.
GLUE = r"""
#include <string.h>
#include "esn/esn_blob.h"
#include "esn/esn_fixedpoint.h"
#include "esn/esn_runtime.h"

const char *esn_host_digest(void) { return "%(digest)s"; }

uint32_t esn_host_out_size(const esn_model *m, uint32_t node) { return m->nodes[node].out_size; }

/* 0 when node's output is row-major, else the C of the channel-last order it is stored in (esn_node.layout;
 * edgesnn.lower.cl_channels): axis 0 at rank >= 2, else that of its input. */
uint32_t esn_host_cl_channels(const esn_model *m, uint32_t node)
{
    if (!(m->nodes[node].layout & ESN_LAYOUT_OUT_CL)) {
        return 0u;
    }
    while (m->nodes[node].out_rank < 2u) {
        node = m->edges[m->nodes[node].first_edge].src;
    }
    return m->nodes[node].out_shape[0];
}

/* x [n][T][input_size] values of esn_input_bytes() each; out [n][T][output_size]; counters [n][T][n_nodes][8];
 * steps [n];
 * states [n][T][state_words]: per neuron layer in node order, v then i then eta (each [out_size]).
 * Rows after an input's early exit are left as the caller set them (zeros). */
esn_status esn_host_run_batch(esn_ctx *ctx, const uint8_t *x, uint32_t n, uint32_t T, int64_t *out,
                              uint64_t *counters, uint32_t *steps, int32_t *states, uint32_t state_words)
{
    const esn_model *m = ctx->model;
    const size_t k = m->output_size, nn = m->n_nodes;
    uint32_t i, t, node;
    for (i = 0; i < n; ++i) {
        ESN_CHECK(esn_reset(ctx));
        for (t = 0; t < T && !ctx->exited; ++t) {
            const size_t row = (size_t)i * T + t;
            ESN_CHECK(esn_step(ctx, x + row * m->input_size * esn_input_bytes(m)));
            memcpy(out + row * k, esn_output(ctx), k * sizeof(int64_t));
            memcpy(counters + row * nn * ESN_N_COUNTERS, esn_counters_of(ctx, 0, 0), nn * sizeof(esn_counters));
            if (states != NULL) {
                int32_t *dst = states + row * state_words;
                for (node = 0; node < nn; ++node) {
                    esn_var v;
                    for (v = ESN_VAR_V; v < ESN_VAR_PENDING; v = (esn_var)(v + 1)) {
                        if (esn_state_read(ctx, node, v, dst) == ESN_OK) {
                            dst += m->nodes[node].out_size;
                        }
                    }
                }
            }
        }
        steps[i] = ctx->t;
    }
    return ESN_OK;
}

/* The same batch in the model's grouped schedule (esn_sched_run), input by input: x [n][T][input_size];
 * out [n][T][output_size]; counters [n][T][n_nodes][8]. */
esn_status esn_host_run_batch_sched(esn_sched_ctx *sc, const uint8_t *x, uint32_t n, int64_t *out,
                                    uint64_t *counters)
{
    const esn_model *m = sc->model;
    const size_t T = sc->T;
    size_t t;
    uint32_t i, j;
    for (i = 0; i < n; ++i) {
        memcpy(esn_sched_input(sc), x + i * T * m->input_size, T * m->input_size);
        ESN_CHECK(esn_sched_run(sc, (esn_counters *)(counters + i * T * m->n_nodes * ESN_N_COUNTERS)));
        for (t = 0; t < T; ++t) {
            for (j = 0; j < m->output_size; ++j) {
                out[(i * T + t) * m->output_size + j] = esn_sched_output(sc, (uint32_t)t, j);
            }
        }
    }
    return ESN_OK;
}
"""


def source_digest(root: Path = RUNTIME) -> str:
    """SHA-256 over the runtime's C sources and headers and this build script."""
    h = hashlib.sha256()
    files = sorted([*(root / "src").rglob("*.[ch]"), *(root / "include").rglob("*.h"),
                    *(root / "ports" / "host").glob("*.c")]) + [Path(__file__).resolve()]
    for f in files:
        h.update(f.relative_to(root.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def make_builder(relative: bool = True) -> FFI:
    """The cffi builder. setuptools wants source paths relative to the project folder (the working
    directory of `pip install`); a by-hand build compiles elsewhere and needs them absolute."""
    def path(p: Path) -> str:
        return os.path.relpath(p, os.getcwd()) if relative else str(p)
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source("edgesnn.runtime._esn", GLUE % {"digest": source_digest()},
                   sources=[path(RUNTIME / s) for s in C_SOURCES], include_dirs=[path(RUNTIME / "include")],
                   define_macros=DEFINES, extra_compile_args=CFLAGS)
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":  # build in place by hand: python edgesnn/runtime/_build.py
    import shutil
    # the name pip's build gives it (limited API), so that the two never shadow each other
    built = make_builder(relative=False).compile(tmpdir=str(ROOT / "build" / "cffi"), target="_esn.abi3.so")
    shutil.copy(built, ROOT / "edgesnn" / "runtime" / "_esn.abi3.so")
