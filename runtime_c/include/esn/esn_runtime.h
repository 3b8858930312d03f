/*
 * esn_runtime.h: runs a model, one time step at a time, in a caller-owned arena.
 *
 *     static uint64_t arena[ARENA_BYTES / 8];          // or esn_arena_size() at run time
 *     esn_ctx ctx;
 *     ESN_CHECK(esn_model_validate(&model, NULL));      // esn_blob_load() does this for blobs
 *     ESN_CHECK(esn_init(&ctx, &model, arena, sizeof arena));
 *     ESN_CHECK(esn_run(&ctx, x, T, out, &steps));     // x [T][input_size] spike counts
 *
 * The runtime never allocates. esn_arena_size() reports the exact bytes a model needs; the arena
 * holds, in this order, each region starting 8-byte aligned:
 *
 *     node table     n_nodes x 16 bytes (buffer and state offsets, layer index)
 *     step counters  n_nodes x esn_counters (64 bytes): the last step's activity
 *     total counters n_nodes x esn_counters: accumulated since the last reset
 *     output         output_size x int64: the last step's output
 *     exit acc       output_size x int64: the output summed since reset (early exit)
 *     buffers        per node except Output and Flatten (which reuses its input's buffer):
 *                    out_size x int32, twice when a recurrent edge reads it (last step's copy)
 *     states         per neuron layer: out_size x int32 for each state variable
 *                    (v; i for CubaLIF/CubaLI; eta for ALIF; pending for subtract-late resets)
 *
 * edgesnn.emit.layout.arena_size() computes the same number in Python.
 *
 * Counters, per node and step (Output, Input and Flatten count nothing). W is the bytes of one
 * weight (1 for int8, 2 for int16; 0 for pools), E the node's incoming edges, n_in/n_out its
 * input and output sizes, P its parameter arrays, S its state variables:
 *
 *     spikes_in           synaptic layers: nonzero entries of the (summed) input
 *     synops              synaptic layers: sum over those entries of their fan-out
 *     neuron_updates      neuron layers: n_out
 *     spikes_out          spiking neuron layers: spikes emitted (a multi-spike step counts each)
 *     param_bytes_read    synaptic: synops x W + (bias ? n_out x 4 : 0)   neurons: n_out x 4 x P
 *     arena_bytes_read    synaptic: E x n_in x 4 + synops x 4             neurons: n_out x 4 x (E + S)
 *     arena_bytes_written synaptic: n_out x 4 + synops x 4                neurons: n_out x 4 x (S + 1)
 *     cycles              esn_port_cycles() elapsed in the node (0 where the port has no counter)
 *
 * that is: every synop reads one weight and read-modify-writes one int32 accumulator; the output
 * is first set from the bias or zero; every incoming buffer is scanned once; every neuron update
 * reads its inputs, its parameters and its state, and writes its state and its output.
 * edgesnn/sim/fixed_sim.py computes the same numbers (all but cycles).
 */
#ifndef ESN_RUNTIME_H
#define ESN_RUNTIME_H

#include <stdint.h>

#include "esn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Per-node entry of the arena's node table (ABI independent: 16 bytes). */
typedef struct esn_node_rt {
    uint32_t buf_off[2]; /**< arena offset of the output buffer at even / odd steps (equal unless double) */
    uint32_t state_off;  /**< arena offset of the first state variable (neurons), else 0 */
    uint16_t layer;      /**< index among the neuron layers (noise key) */
    uint8_t n_state;     /**< state variables S */
    uint8_t flags;       /**< bit 0: has pending (subtract-late reset) */
} esn_node_rt;

/** A running model. Caller-owned; all its pointers point into the model or the arena. */
typedef struct esn_ctx {
    const esn_model *model;
    uint8_t *arena;
    uint32_t arena_size;
    uint32_t t;            /**< steps run since the last reset */
    uint8_t exited;        /**< 1 once early exit fired; esn_step then refuses until esn_reset */
    uint8_t ready;         /**< 1 after a successful esn_init */
    uint16_t reserved;
    esn_node_rt *rt;       /**< [n_nodes] */
    esn_counters *step;    /**< [n_nodes] */
    esn_counters *total;   /**< [n_nodes] */
    int64_t *out;          /**< [output_size] */
    int64_t *exit_acc;     /**< [output_size] */
} esn_ctx;

/**
 * Validates a model before use: settings, enumerations, shapes, geometry, edges, parameter
 * presence and ranges, and that no int32 accumulator can overflow for any input (a bound analysis
 * over the graph, recurrent edges included). O(parameters); esn_blob_load() calls it.
 * @param[in]  m     the model.
 * @param[out] diag  where it failed (may be NULL).
 * @return ESN_OK or the first problem found.
 */
esn_status esn_model_validate(const esn_model *m, esn_diag *diag);

/**
 * Exact arena bytes `m` needs (layout above).
 * @param[in]  m      a validated model.
 * @param[out] bytes  the size, a multiple of 8.
 * @return ESN_OK, ESN_ERR_NULL, or ESN_ERR_LIMIT when it exceeds 2^32 - 8.
 */
esn_status esn_arena_size(const esn_model *m, uint32_t *bytes);

/**
 * Lays out the arena and resets the model.
 * @param[out] ctx    the context to fill.
 * @param[in]  m      a validated model; must outlive ctx.
 * @param[in]  arena  8-byte aligned memory; must outlive ctx.
 * @param[in]  size   its bytes: at least esn_arena_size(m).
 * @return ESN_OK, ESN_ERR_NULL, ESN_ERR_ALIGN, or ESN_ERR_ARENA_SMALL (nothing is written then).
 */
esn_status esn_init(esn_ctx *ctx, const esn_model *m, void *arena, uint32_t size);

/** Zeroes every state, buffer, output and counter and restarts time at step 0. */
esn_status esn_reset(esn_ctx *ctx);

/**
 * Runs one time step.
 * @param[in,out] ctx  an initialised context that has not exited.
 * @param[in]     x    [input_size] spike counts of this step, 0..255.
 * @return ESN_OK; ESN_ERR_STATE after an early exit (esn_reset first).
 */
esn_status esn_step(esn_ctx *ctx, const uint8_t *x);

/**
 * Resets, then runs one whole input, stopping after the step at which early exit fires.
 * @param[in,out] ctx    an initialised context.
 * @param[in]     x      [T][input_size] spike counts.
 * @param[in]     T      steps, >= 1.
 * @param[out]    out    [T][output_size] outputs per step, rows after an exit zero (may be NULL).
 * @param[out]    steps  steps run, [1, T] (may be NULL).
 */
esn_status esn_run(esn_ctx *ctx, const uint8_t *x, uint32_t T, int64_t *out, uint32_t *steps);

/** The last step's output, [output_size]. */
const int64_t *esn_output(const esn_ctx *ctx);

/**
 * Counters of node `node`: of the last step (total = 0) or since the last reset (total = 1).
 * @return NULL when node is out of range.
 */
const esn_counters *esn_counters_of(const esn_ctx *ctx, uint32_t node, int total);

/**
 * A neuron layer's state variable, [out_size] int32.
 * @return NULL when the node is not a neuron layer or lacks that variable.
 */
const int32_t *esn_state(const esn_ctx *ctx, uint32_t node, esn_var var);

/*
 * Layer-major schedule (esn_schedule.c): for a model without recurrent edges or early exit, each
 * node runs all T steps before the next; T-step buffers replace the per-step ones and one neuron
 * layer's state is resident at a time. Outputs and counters equal esn_run's bit for bit. Arena:
 * 64 bytes of scratch counters, the largest neuron layer's state, then T x out_size x 4 bytes per
 * node except Output and Flatten, placed first fit over each buffer's lifetime (node to last reader).
 * edgesnn.emit.layout.arena_size_layer_major() computes the same number in Python.
 */

/**
 * Exact arena bytes of esn_run_layer_major(m, ..., T, ...).
 * @param[in]  m      a validated model.
 * @param[in]  T      steps, >= 1.
 * @param[out] bytes  the size, a multiple of 8.
 * @return ESN_OK, ESN_ERR_NULL, ESN_ERR_ARG (T = 0), ESN_ERR_SCHEDULE (a recurrent edge, or early
 *         exit enabled), or ESN_ERR_LIMIT (over 2^32 - 8 bytes, or more than ESN_MAX_NODES nodes).
 */
esn_status esn_arena_size_layer_major(const esn_model *m, uint32_t T, uint32_t *bytes);

/**
 * Runs one whole input layer-major (no early exit: all T steps run).
 * @param[in]  m      a validated model without recurrent edges or early exit.
 * @param[in]  arena  8-byte aligned scratch memory, at least esn_arena_size_layer_major(m, T).
 * @param[in]  size   its bytes.
 * @param[in]  x      [T][input_size] spike counts.
 * @param[in]  T      steps, >= 1.
 * @param[out] out    [T][output_size] outputs per step (may be NULL).
 * @param[out] steps  [T][n_nodes] counters per step and node, as esn_counters_of(ctx, k, 0) after
 *                    step t of esn_run (may be NULL).
 * @param[out] total  [n_nodes] counters summed over the T steps (may be NULL).
 * @return ESN_OK, ESN_ERR_NULL, ESN_ERR_ARG, ESN_ERR_ALIGN, ESN_ERR_SCHEDULE, ESN_ERR_LIMIT or
 *         ESN_ERR_ARENA_SMALL (nothing is written then).
 */
esn_status esn_run_layer_major(const esn_model *m, void *arena, uint32_t size, const uint8_t *x, uint32_t T,
                               int64_t *out, esn_counters *steps, esn_counters *total);

#ifdef __cplusplus
}
#endif

#endif /* ESN_RUNTIME_H */
