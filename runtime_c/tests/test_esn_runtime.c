/*
 * test_esn_runtime.c: unit tests of the runtime that need no Python.
 *
 * Fixed-point primitives against values computed with edgesnn.quantize.fixedpoint (quoted below),
 * the conv and pool scatter kernels against naive gather loops on pseudo-random data, a small
 * recurrent model worked out by hand, validation refusals, the arena and the call order.
 * Prints ~~~ALL TESTS PASSED~~~ on success (the marker tests/runtime/test_runtime_unit.py and the
 * device harness scan for); exits 1 on the first failure.
 *
 * Build: make -C runtime_c test (runtime_c/Makefile), or see tests/runtime/test_runtime_unit.py.
 */
#include <stdio.h>
#include <string.h>

#include "esn/esn_blob.h"
#include "esn/esn_fixedpoint.h"
#include "esn/esn_kernels.h"
#include "esn/esn_runtime.h"

static int failures = 0;

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            ++failures;                                                       \
        }                                                                     \
    } while (0)

#define EXPECT_EQ(a, b)                                                                           \
    do {                                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                                       \
        if (a_ != b_) {                                                                           \
            printf("FAIL %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, a_, #b, b_); \
            ++failures;                                                                           \
        }                                                                                         \
    } while (0)

static uint32_t lcg_state = 12345u;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

/* ------------------------------------------------------------------------------------------- */

static void test_fixedpoint(void)
{
    static const int64_t acc_a[4] = {0, 0, 0, 0};
    static const int64_t acc_b[4] = {40, 0, 0, 0};
    static const int64_t acc_c[3] = {5, 3, -2};
    esn_status s;
    uint32_t i;
    /* floor division by 2^s, whatever the sign */
    EXPECT_EQ(esn_asr64(-1, 1), -1);
    EXPECT_EQ(esn_asr64(-7, 2), -2);
    EXPECT_EQ(esn_asr64(7, 2), 1);
    EXPECT_EQ(esn_asr64(INT64_MIN, 62), -2);
    EXPECT_EQ(esn_rshift(-6, 2, ESN_ROUND_NEAREST, 0), -1);  /* floor(-4/4) */
    EXPECT_EQ(esn_rshift(-7, 2, ESN_ROUND_NEAREST, 0), -2);  /* floor(-5/4) */
    EXPECT_EQ(esn_rshift(-7, 2, ESN_ROUND_TRUNCATE, 0), -2);
    EXPECT_EQ(esn_rshift(-7, 2, ESN_ROUND_STOCHASTIC, 3), -1); /* floor((-7 + 3) / 4) */
    EXPECT_EQ(esn_rshift(5, 0, ESN_ROUND_NEAREST, 0), 5);
    EXPECT_EQ(esn_sat64(300, 8), 127);
    EXPECT_EQ(esn_sat64(-300, 8), -128);
    EXPECT_EQ(esn_sat64(INT64_C(1) << 40, 32), INT32_MAX);
    /* fixedpoint.hash32([0, 1, 0xdeadbeef, 0xffffffff]) */
    EXPECT_EQ(esn_hash32(0u), 0x0u);
    EXPECT_EQ(esn_hash32(1u), 0x688990c0u);
    EXPECT_EQ(esn_hash32(0xdeadbeefu), 0xe628c683u);
    EXPECT_EQ(esn_hash32(0xffffffffu), 0x6768824au);
    {   /* fixedpoint.noise(42, 3, 17, 4, 2) */
        static const uint32_t want[4] = {816652209u, 1422766566u, 256468394u, 3595625512u};
        const uint32_t key = esn_noise_key(42u, 3u, 17u, 2u);
        for (i = 0; i < 4u; ++i) {
            EXPECT_EQ(esn_noise(key, i), want[i]);
        }
    }
    /* fixedpoint.entropy_q8: uniform over 4 classes = ln 4 (354 / 256 nat); one certain class; a mix */
    EXPECT_EQ(esn_entropy_q8(acc_a, 4u, 1u, 65536), 354);
    EXPECT_EQ(esn_entropy_q8(acc_b, 4u, 1u, 65536), 0);
    EXPECT_EQ(esn_entropy_q8(acc_c, 3u, 2u, 3 << 15), 126);
    EXPECT_EQ(esn_crc32(0u, (const uint8_t *)"123456789", 9u), 0xCBF43926u);
    for (s = ESN_OK; s < ESN_STATUS_COUNT; s = (esn_status)(s + 1)) {
        EXPECT(esn_status_str(s) != NULL && esn_status_str(s)[0] != '\0');
    }
    EXPECT(strcmp(esn_status_str(ESN_STATUS_COUNT), "unknown status") == 0);
}

/* ------------------------------------------------------------------------------------------- */
/* Conv and pool scatter against a naive gather over pseudo-random geometries and inputs.       */

static void naive_conv(const esn_node *nd, const int32_t *x, const int8_t *w, int32_t *y, uint64_t *synops)
{
    const int rank3 = nd->in_rank == 3u;
    const uint32_t c_in = nd->in_shape[0], h = rank3 ? nd->in_shape[1] : 1u, wd = rank3 ? nd->in_shape[2] : nd->in_shape[1];
    const uint32_t c_out = nd->out_shape[0], oh = rank3 ? nd->out_shape[1] : 1u,
                   ow = rank3 ? nd->out_shape[2] : nd->out_shape[1];
    const int pool = nd->kind == ESN_KIND_SUMPOOL2D;
    const uint32_t g = pool ? c_in : nd->groups, cin_g = c_in / g, cout_g = c_out / g;
    uint32_t o, oy, ox, cl, ky, kx;
    *synops = 0u;
    for (o = 0; o < c_out; ++o) {
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                int32_t acc = 0;
                const uint32_t grp = o / cout_g;
                for (cl = 0; cl < (pool ? 1u : cin_g); ++cl) {
                    const uint32_t c = pool ? o : grp * cin_g + cl;
                    for (ky = 0; ky < nd->kernel[0]; ++ky) {
                        for (kx = 0; kx < nd->kernel[1]; ++kx) {
                            const int32_t iy = (int32_t)(oy * nd->stride[0] + ky * nd->dil[0]) - (int32_t)nd->pad[0];
                            const int32_t ix = (int32_t)(ox * nd->stride[1] + kx * nd->dil[1]) - (int32_t)nd->pad[1];
                            int32_t v;
                            if (iy < 0 || ix < 0 || (uint32_t)iy >= h || (uint32_t)ix >= wd) {
                                continue;
                            }
                            v = x[(c * h + (uint32_t)iy) * wd + (uint32_t)ix];
                            if (v != 0) {
                                *synops += 1u;
                            }
                            acc += pool ? v
                                        : v * w[((c * nd->kernel[0] + ky) * nd->kernel[1] + (nd->kernel[1] - 1u - kx)) *
                                                    cout_g + o % cout_g]; /* taps of a kernel row reversed */
                        }
                    }
                }
                y[(o * oh + oy) * ow + ox] = acc + (nd->param[ESN_P_BIAS] ? ((const int32_t *)nd->param[ESN_P_BIAS])[o] : 0);
            }
        }
    }
}

static uint32_t out_len(uint32_t n, uint32_t k, uint32_t s, uint32_t p, uint32_t d)
{
    const int32_t span = (int32_t)(n + 2u * p) - (int32_t)(d * (k - 1u)) - 1;
    return span < 0 ? 0u : (uint32_t)span / s + 1u;
}

/* Index of row-major element j of a [C][P] tensor in the layout `cl` stores it in ([P][C] when cl). */
static uint32_t at_layout(uint32_t j, uint32_t c, uint32_t p, int cl)
{
    return cl ? (j % p) * c + j / p : j;
}

static void test_conv_and_pool_scatter(void)
{
    static int8_t w[4096];
    static uint8_t packed[4096];
    static int32_t bias[16], x[2048], xs[2048], y[4096], want[4096];
    uint32_t trial;
    for (trial = 0; trial < 600u; ++trial) {
        esn_node nd;
        esn_counters c;
        const int32_t *in[1];
        uint64_t synops = 0u;
        uint32_t i, n;
        const int pool = trial % 3u == 0u;
        const int conv1d = !pool && trial % 3u == 1u;
        const int nibbles = !pool && (trial & 8u); /* 4-bit weights, packed rows (esn_kernels.h) */
        const int in_cl = (trial & 16u) != 0u, out_cl = (trial & 32u) != 0u; /* channel-last tensors */
        memset(&nd, 0, sizeof nd);
        memset(&c, 0, sizeof c);
        nd.kind = pool ? ESN_KIND_SUMPOOL2D : (conv1d ? ESN_KIND_CONV1D : ESN_KIND_CONV2D);
        nd.groups = pool ? 0u : 1u + lcg() % 2u;
        nd.in_shape[0] = (pool ? 1u + lcg() % 3u : nd.groups * (1u + lcg() % 2u));
        nd.out_shape[0] = pool ? nd.in_shape[0] : nd.groups * (1u + lcg() % 3u);
        nd.kernel[0] = conv1d ? 1u : (uint16_t)(1u + lcg() % 3u);
        nd.kernel[1] = (uint16_t)(1u + lcg() % 3u);
        for (i = 0; i < 2u; ++i) {
            nd.stride[i] = (uint16_t)((conv1d && i == 0u) ? 1u : 1u + lcg() % 2u);
            nd.pad[i] = (uint16_t)((conv1d && i == 0u) ? 0u : lcg() % 2u);
            nd.dil[i] = (uint16_t)((conv1d && i == 0u) || pool ? 1u : 1u + lcg() % 2u);
        }
        nd.in_rank = nd.out_rank = conv1d ? 2u : 3u;
        if (conv1d) {
            nd.in_shape[1] = 3u + lcg() % 8u;
            nd.out_shape[1] = out_len(nd.in_shape[1], nd.kernel[1], nd.stride[1], nd.pad[1], nd.dil[1]);
            if (nd.out_shape[1] == 0u) {
                continue;
            }
            nd.in_size = nd.in_shape[0] * nd.in_shape[1];
            nd.out_size = nd.out_shape[0] * nd.out_shape[1];
        } else {
            nd.in_shape[1] = 3u + lcg() % 6u;
            nd.in_shape[2] = 3u + lcg() % 6u;
            nd.out_shape[1] = out_len(nd.in_shape[1], nd.kernel[0], nd.stride[0], nd.pad[0], nd.dil[0]);
            nd.out_shape[2] = out_len(nd.in_shape[2], nd.kernel[1], nd.stride[1], nd.pad[1], nd.dil[1]);
            if (nd.out_shape[1] == 0u || nd.out_shape[2] == 0u) {
                continue;
            }
            nd.in_size = nd.in_shape[0] * nd.in_shape[1] * nd.in_shape[2];
            nd.out_size = nd.out_shape[0] * nd.out_shape[1] * nd.out_shape[2];
        }
        n = nd.in_shape[0] * nd.kernel[0] * nd.kernel[1] * (pool ? 1u : nd.out_shape[0] / nd.groups);
        for (i = 0; i < n; ++i) {
            w[i] = (int8_t)(nibbles ? (int32_t)(lcg() % 16u) - 8 : (int32_t)(lcg() % 255u) - 127);
        }
        for (i = 0; i < nd.out_shape[0]; ++i) {
            bias[i] = (int32_t)(lcg() % 100u) - 50;
        }
        for (i = 0; i < nd.in_size; ++i) {
            const uint32_t r = lcg() % 10u;
            x[i] = r < 6u ? 0 : (r < 9u ? 1 : (int32_t)(lcg() % 5u));
        }
        if (!pool) {
            nd.param[ESN_P_WEIGHT] = w;
            nd.param[ESN_P_BIAS] = (trial & 4u) ? bias : NULL;
        }
        if (nibbles) { /* rows of C_out / groups weights, each starting on a byte */
            const uint32_t len = nd.out_shape[0] / nd.groups;
            const uint32_t rb = (len + 1u) / 2u;
            memset(packed, 0, sizeof packed);
            for (i = 0; i < n; ++i) {
                packed[(i / len) * rb + (i % len) / 2u] |= (uint8_t)(((uint32_t)w[i] & 15u) << (4u * ((i % len) & 1u)));
            }
            nd.param[ESN_P_WEIGHT] = packed;
            nd.pbits[ESN_P_WEIGHT] = 4u;
        }
        nd.layout = (uint8_t)((in_cl ? ESN_LAYOUT_IN_CL : 0u) | (out_cl ? ESN_LAYOUT_OUT_CL : 0u));
        for (i = 0; i < nd.in_size; ++i) {
            xs[at_layout(i, nd.in_shape[0], nd.in_size / nd.in_shape[0], in_cl)] = x[i];
        }
        in[0] = xs;
        naive_conv(&nd, x, w, want, &synops);
        if (pool) {
            esn_pool(&nd, (const void *const *)in, NULL, 1u, y, 0, &c);
        } else {
            esn_conv(&nd, (const void *const *)in, NULL, 1u, y, &c);
        }
        for (i = 0; i < nd.out_size; ++i) {
            const int32_t got = y[at_layout(i, nd.out_shape[0], nd.out_size / nd.out_shape[0], out_cl)];
            if (got != want[i]) {
                printf("FAIL conv trial %u: out[%u] = %d, expected %d\n", trial, i, (int)got, (int)want[i]);
                ++failures;
                break;
            }
        }
        EXPECT_EQ(c.synops, synops);
    }
}

/* ------------------------------------------------------------------------------------------- */
/* A small recurrent model worked out by hand:
 *   input[3] -> fc (Affine, int8) -> lif[2] -> output, and lif -> rec (Linear) -> lif (recurrent).
 * decay_bits 2 with alpha = 4 (no leak), threshold 4, reset by subtraction, truncation. */

static const int8_t fc_w[6] = {1, 2, 3, -4, 5, 6}; /* [in][out] */
static const int32_t fc_b[2] = {1, -1};
static const int8_t rec_w[4] = {-1, 0, 0, -1};
static const int32_t lif_thr[2] = {4, 4}, lif_vr[2] = {0, 0}, lif_bias[2] = {0, 0}, lif_alpha[2] = {4, 4};

static const esn_edge hand_edges[5] = {
    {.src = 0, .back = 0}, /* fc  <- input */
    {.src = 1, .back = 0}, /* lif <- fc */
    {.src = 4, .back = 1}, /* lif <- rec, last step's */
    {.src = 2, .back = 0}, /* output <- lif */
    {.src = 2, .back = 0}, /* rec <- lif */
};

static const esn_node hand_nodes[5] = {
    {.kind = ESN_KIND_INPUT, .max_spikes = 1, .in_rank = 1, .out_rank = 1, .in_shape = {3}, .out_shape = {3},
     .in_size = 3, .out_size = 3},
    {.kind = ESN_KIND_AFFINE, .max_spikes = 1, .first_edge = 0, .n_edges = 1, .in_rank = 1, .out_rank = 1,
     .in_shape = {3}, .out_shape = {2}, .in_size = 3, .out_size = 2,
     .param = {[ESN_P_WEIGHT] = fc_w, [ESN_P_BIAS] = fc_b}},
    {.kind = ESN_KIND_LIF, .reset = ESN_RESET_SUBTRACT, .max_spikes = 1, .first_edge = 1, .n_edges = 2,
     .in_rank = 1, .out_rank = 1, .in_shape = {2}, .out_shape = {2}, .in_size = 2, .out_size = 2,
     .param = {[ESN_P_THRESHOLD] = lif_thr, [ESN_P_V_RESET] = lif_vr, [ESN_P_BIAS] = lif_bias,
               [ESN_P_ALPHA] = lif_alpha}},
    {.kind = ESN_KIND_OUTPUT, .max_spikes = 1, .first_edge = 3, .n_edges = 1, .in_rank = 1, .out_rank = 1,
     .in_shape = {2}, .out_shape = {2}, .in_size = 2, .out_size = 2},
    {.kind = ESN_KIND_LINEAR, .max_spikes = 1, .first_edge = 4, .n_edges = 1, .in_rank = 1, .out_rank = 1,
     .in_shape = {2}, .out_shape = {2}, .in_size = 2, .out_size = 2,
     .param = {[ESN_P_WEIGHT] = rec_w}},
};

static const esn_model hand_model = {
    .n_nodes = 5, .n_edges = 5, .input_node = 0, .output_node = 3, .weight_bits = 8, .state_bits = 16,
    .current_bits = 16, .adapt_bits = 12, .threshold_bits = 16, .decay_bits = 2, .rounding = ESN_ROUND_TRUNCATE,
    .input_size = 3, .output_size = 2, .nodes = hand_nodes, .edges = hand_edges,
};

static void test_hand_model(void)
{
    static uint64_t arena[512];
    static const uint8_t x[3][3] = {{1, 0, 0}, {1, 1, 0}, {0, 0, 1}};
    int64_t out[3][2];
    int32_t vstate[2];
    esn_ctx ctx;
    uint32_t need = 0u, steps = 0u;
    const esn_counters *c;
    EXPECT_EQ(esn_model_validate(&hand_model, NULL), ESN_OK);
    EXPECT_EQ(esn_arena_size(&hand_model, &need), ESN_OK);
    EXPECT(need > 0u && need % 8u == 0u && need <= sizeof arena);
    EXPECT_EQ(esn_init(&ctx, &hand_model, arena, need - 1u), ESN_ERR_ARENA_SMALL);
    EXPECT_EQ(esn_step(&ctx, x[0]), ESN_ERR_STATE);
    EXPECT_EQ(esn_init(&ctx, &hand_model, arena, need), ESN_OK);
    EXPECT_EQ(esn_run(&ctx, &x[0][0], 3u, &out[0][0], &steps), ESN_OK);
    EXPECT_EQ(steps, 3);
    /* step 0: v = (2, 1); step 1: v = (7, -2) -> spike, v = (3, -2); step 2: rec adds (-1, 0): v = (8, 3) -> (4, 3) */
    EXPECT_EQ(out[0][0], 0);
    EXPECT_EQ(out[0][1], 0);
    EXPECT_EQ(out[1][0], 1);
    EXPECT_EQ(out[1][1], 0);
    EXPECT_EQ(out[2][0], 1);
    EXPECT_EQ(out[2][1], 0);
    EXPECT_EQ(esn_state_read(&ctx, 2u, ESN_VAR_V, vstate), ESN_OK);
    EXPECT_EQ(vstate[0], 4);
    EXPECT_EQ(vstate[1], 3);
    EXPECT_EQ(esn_state_read(&ctx, 2u, ESN_VAR_I, vstate), ESN_ERR_ARG);
    c = esn_counters_of(&ctx, 4u, 0); /* rec at step 2: one event (lif spiked), two synops */
    EXPECT_EQ(c->spikes_in, 1);
    EXPECT_EQ(c->synops, 2);
    EXPECT_EQ(c->param_bytes_read, 2);          /* 2 synops x 1-byte weights, no bias */
    EXPECT_EQ(c->arena_bytes_read, 4 * (2 + 2)); /* scan 2 inputs + 2 accumulator reads */
    EXPECT_EQ(c->arena_bytes_written, 4 * (2 + 2));
    c = esn_counters_of(&ctx, 2u, 1); /* lif over the 3 steps */
    EXPECT_EQ(c->neuron_updates, 6);
    EXPECT_EQ(c->spikes_out, 2);
    EXPECT_EQ(c->param_bytes_read, 3 * 2 * 4 * 4);   /* 4 parameter arrays */
    EXPECT_EQ(c->arena_bytes_read, 3 * 2 * 4 * 3);   /* 2 inputs + v */
    EXPECT_EQ(c->arena_bytes_written, 3 * 2 * 4 * 2); /* v + output */
    c = esn_counters_of(&ctx, 1u, 1); /* fc: 4 events of 2 synops, bias read every step */
    EXPECT_EQ(c->synops, 8);
    EXPECT_EQ(c->param_bytes_read, 8 + 3 * 2 * 4);
}

/* The hand model grouped: [input], [fc], [lif, output, rec] (the recurrent edge stays in one group), and
 * with fc's weights staged: the same outputs and totals as esn_run; the refusals. */
static void test_grouped_schedule(void)
{
    static uint64_t arena[512];
    static uint64_t ref_arena[512];
    static const uint8_t x[3][3] = {{1, 0, 0}, {1, 1, 0}, {0, 0, 1}};
    int64_t out[3][2];
    esn_node nodes[5];
    esn_model m = hand_model;
    esn_ctx ctx;
    esn_sched_ctx sc;
    esn_diag d;
    uint32_t need = 0u, steps = 0u, k, j;
    memcpy(nodes, hand_nodes, sizeof nodes);
    m.nodes = nodes;
    EXPECT_EQ(esn_init(&ctx, &hand_model, ref_arena, sizeof ref_arena), ESN_OK);
    EXPECT_EQ(esn_run(&ctx, &x[0][0], 3u, &out[0][0], &steps), ESN_OK);
    EXPECT_EQ(esn_arena_size_sched(&m, &need), ESN_ERR_SCHEDULE); /* no schedule */
    m.sched_steps = 3u;
    nodes[1].flags = ESN_NODE_NEW_GROUP | ESN_NODE_STAGE_WEIGHTS;
    nodes[2].flags = ESN_NODE_NEW_GROUP;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_OK);
    EXPECT_EQ(esn_arena_size_sched(&m, &need), ESN_OK);
    EXPECT(need % 8u == 0u && need <= sizeof arena);
    EXPECT_EQ(esn_sched_init(&sc, &m, arena, need - 1u), ESN_ERR_ARENA_SMALL);
    EXPECT_EQ(esn_sched_run(&sc, NULL), ESN_ERR_STATE);
    EXPECT_EQ(esn_sched_init(&sc, &m, arena, need), ESN_OK);
    memcpy(esn_sched_input(&sc), x, sizeof x);
    EXPECT_EQ(esn_sched_run(&sc, NULL), ESN_OK);
    EXPECT_EQ(sc.staged_bytes, 6);
    for (j = 0u; j < 6u; ++j) {
        EXPECT_EQ(esn_sched_output(&sc, j / 2u, j % 2u), out[j / 2u][j % 2u]);
    }
    for (k = 0u; k < 5u; ++k) {
        EXPECT(memcmp(&sc.total[k], esn_counters_of(&ctx, k, 1), 7u * sizeof(uint64_t)) == 0);
    }
    nodes[4].flags = ESN_NODE_NEW_GROUP; /* rec in a group after lif: the recurrent edge crosses */
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_SCHEDULE);
    EXPECT_EQ(d.edge, 2);
    nodes[4].flags = 0u;
    nodes[2].flags = ESN_NODE_STAGE_WEIGHTS | ESN_NODE_NEW_GROUP; /* a neuron layer has no weights */
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_ENUM);
    nodes[2].flags = ESN_NODE_NEW_GROUP;
    m.sched_steps = 0u; /* group flags without a schedule */
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_SCHEDULE);
}

static void test_validation_refusals(void)
{
    esn_node nodes[5];
    esn_edge edges[6];
    esn_model m = hand_model;
    esn_diag d;
    static const int32_t zero_thr[2] = {0, 4};
    static const int8_t big_w[4] = {127, 127, 127, 127};
    memcpy(nodes, hand_nodes, sizeof nodes);
    memcpy(edges, hand_edges, sizeof hand_edges);
    m.nodes = nodes;
    m.edges = edges;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_OK);
    nodes[2].kind = 99u;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_KIND);
    EXPECT_EQ(d.node, 2);
    nodes[2].kind = ESN_KIND_LIF;
    nodes[2].param[ESN_P_THRESHOLD] = zero_thr;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_RANGE);
    nodes[2].param[ESN_P_THRESHOLD] = lif_thr;
    nodes[2].param[ESN_P_ALPHA_SYN] = lif_thr;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_PARAM);
    nodes[2].param[ESN_P_ALPHA_SYN] = NULL;
    edges[3].src = 4u; /* output reading a later node through a forward edge */
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_EDGE);
    edges[3].src = 2u;
    nodes[1].out_shape[0] = 3u;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_SHAPE);
    nodes[1].out_shape[0] = 2u;
    nodes[2].max_spikes = 3u; /* several spikes per step need a subtracting reset: fine here */
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_OK);
    nodes[2].reset = ESN_RESET_ZERO;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_ENUM);
    nodes[2].reset = ESN_RESET_SUBTRACT;
    nodes[2].max_spikes = 1u;
    m.state_bits = 7u;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_RANGE);
    m.state_bits = 16u;
    /* 4-bit weights: 127 does not fit */
    nodes[4].param[ESN_P_WEIGHT] = big_w;
    m.weight_bits = 4u;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_RANGE);
    m.weight_bits = 8u;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_OK);
    /* a cycle with no neuron in it: rec also reads its own last output (the bound never settles) */
    edges[5].src = 4u;
    edges[5].back = 1u;
    edges[5].reserved = 0u;
    nodes[4].n_edges = 2u;
    m.n_edges = 6u;
    EXPECT_EQ(esn_model_validate(&m, &d), ESN_ERR_OVERFLOW);
    EXPECT_EQ(esn_model_validate(NULL, &d), ESN_ERR_NULL);
}

static void test_blob_loader_basics(void)
{
    static esn_blob_model bm;
    static uint64_t buf[16];
    EXPECT_EQ(esn_blob_load(&bm, buf, 10u), ESN_ERR_TRUNCATED);
    EXPECT_EQ(esn_blob_load(&bm, buf, sizeof buf), ESN_ERR_MAGIC);
    memcpy(buf, "ESNB\x06\x00", 6u);
    EXPECT_EQ(esn_blob_load(&bm, buf, sizeof buf), ESN_ERR_VERSION);
    EXPECT_EQ(bm.version, 6);
    memcpy(buf, "ESNB\x04\x00", 6u); /* version 4: every buffer int32, refused */
    EXPECT_EQ(esn_blob_load(&bm, buf, sizeof buf), ESN_ERR_VERSION);
    EXPECT_EQ(bm.version, 4);
    memcpy(buf, "ESNB\x03\x00", 6u); /* version 3: no tensor layouts, conv taps in order, refused */
    EXPECT_EQ(esn_blob_load(&bm, buf, sizeof buf), ESN_ERR_VERSION);
    EXPECT_EQ(bm.version, 3);
    memcpy(buf, "ESNB\x02\x00", 6u); /* version 2: int32 parameters, refused */
    EXPECT_EQ(esn_blob_load(&bm, buf, sizeof buf), ESN_ERR_VERSION);
    EXPECT_EQ(bm.version, 2);
    EXPECT_EQ(esn_blob_load(NULL, buf, sizeof buf), ESN_ERR_NULL);
}

int main(void)
{
    test_fixedpoint();
    test_conv_and_pool_scatter();
    test_hand_model();
    test_grouped_schedule();
    test_validation_refusals();
    test_blob_loader_basics();
    if (failures != 0) {
        printf("%d FAILURES\n", failures);
        return 1;
    }
    printf("~~~ALL TESTS PASSED~~~\n");
    return 0;
}
