/*
 * esn_runtime.h: runs a model, one time step at a time, in a caller-owned arena.
 *
 *     static uint64_t arena[ARENA_BYTES / 8];          // or esn_arena_size() at run time
 *     esn_ctx ctx;
 *     ESN_CHECK(esn_model_validate(&model, NULL));      // esn_blob_load() does this for blobs
 *     ESN_CHECK(esn_init(&ctx, &model, arena, sizeof arena));
 *     ESN_CHECK(esn_run(&ctx, x, T, out, &steps));     // x [T][input_size] inputs (esn_step)
 *
 * That is the time-step-major schedule; the grouped schedules (layer-major, fused layers) of a
 * model that carries one are below (esn_sched_*).
 *
 * The runtime never allocates. esn_arena_size() reports the exact bytes a model needs; the arena
 * holds, each region starting 8-byte aligned, first the runtime's fixed part:
 *
 *     node table     n_nodes x 16 bytes (buffer and state offsets, layer index)
 *     step counters  n_nodes x esn_counters (64 bytes): the last step's activity    } only with
 *     total counters n_nodes x esn_counters: accumulated since the last reset       } ESN_ENABLE_COUNTERS
 *     output         output_size x int64: the last step's output
 *     exit acc       output_size x int64: the output summed since reset (early exit)
 *
 * then the buffers and state blocks where the model's memory plan puts them (esn_model.arena_bytes != 0;
 * every model edgesnn writes has one, planned by edgesnn.lower: Lowered.memory_plan), or, without a
 * plan, each in its own bytes in node order:
 *
 *     buffers        per node except Output and Flatten (which reuses its input's buffer):
 *                    out_size elements at the node's width (esn_node.out_bits: uint8 for the Input,
 *                    spike counts and pool sums <= 255 of uint8 inputs, else int32), twice when a
 *                    recurrent edge reads it (last step's copy); a buffer is alive from its node's step
 *                    to its last reader's in the same step (recurrently read ones: throughout), so a plan
 *                    may give dead ones' bytes to others. A spiking neuron layer with uint8 output may use
 *                    out_size x 4 bytes as int32 scratch while it writes its spikes to the first
 *                    out_size bytes: only those stay alive after its step, and where it writes in place
 *                    over its int32 input, the rest of that region is free from then on (a plan's
 *                    regions: esn_model.c esn_region_of). Without a plan every buffer gets out_size x 4
 *                    bytes, whatever its width.
 *     states         per neuron layer, one block (aligned 8) of its state variables in this order,
 *                    each starting 4-byte aligned: v (int8 when state_bits <= 8, int16 up to 16, else
 *                    int32), i (CubaLIF/CubaLI: likewise by current_bits), eta (ALIF:
 *                    int32), pending (subtract-late resets: int16 spike counts, at most 255).
 *                    A stateless layer keeps none: LIF, LI, CubaLIF or CubaLI whose decays (alpha,
 *                    alpha_syn) are all 0, without synaptic delay or subtract-late reset, carries
 *                    nothing from one step to the next (v and i start every step at 0, which is
 *                    what a zero decay makes of any previous value), so it needs no block at all.
 *
 * esn_model_validate() checks a plan: every region inside [fixed part, arena_bytes), 8-aligned, and no two
 * regions alive at the same node step sharing a byte (ESN_ERR_PLAN), but a neuron layer writing in place over its
 * only input's int32 buffer (at the same offset, its last reader, neither read by a recurrent edge).
 *
 * Counters, per node and step (Output, Input and Flatten count nothing). They describe the
 * arithmetic, whatever the schedule and storage: every element of a buffer or state variable counts
 * 4 bytes (the int32 the kernels compute in), also where it is stored as uint8 (spike and Input buffers, pool sums
 * of spikes, spike T-step buffers),
 * int8 or int16 (narrow state) or not at all (stateless layers); copies a schedule makes between its buffers
 * are not counted. So every schedule gives the same counters, equal to esn_step's. Wb is the stored bits
 * of one weight (2, 4, 8 or 16; 0 for pools), B the bytes the bias array occupies (0 without one), P the
 * bytes all the node's parameter arrays occupy (each at its width, per element, channel or layer), E the
 * node's incoming edges, n_in/n_out its input and output sizes, S its state variables (v; i; eta; pending):
 *
 *     spikes_in           synaptic layers: nonzero entries of the (summed) input
 *     synops              synaptic layers: sum over those entries of their fan-out
 *     neuron_updates      neuron layers: n_out
 *     spikes_out          spiking neuron layers: spikes emitted (a multi-spike step counts each)
 *     param_bytes_read    synaptic: ceil(synops x Wb / 8) + B            neurons: P
 *     arena_bytes_read    synaptic: E x n_in x 4 + synops x 4             neurons: n_out x 4 x (E + S)
 *     arena_bytes_written synaptic: n_out x 4 + synops x 4                neurons: n_out x 4 x (S + 1)
 *     cycles              esn_port_cycles() elapsed in the node (0 where the port has no counter)
 *
 * that is: every synop reads one weight and read-modify-writes one int32 accumulator; the output
 * is first set from the bias or zero; every incoming buffer is scanned once; a neuron layer reads its
 * parameter arrays once per step, and every neuron update reads its inputs and its state, and writes its
 * state and its output.
 * edgesnn/sim/fixed_sim.py computes the same numbers (all but cycles).
 *
 * Built with ESN_ENABLE_COUNTERS 0 (esn_config.h; a release build that reads no counters), the runtime counts
 * nothing: the arena holds no counters (its fixed part is 128 bytes a node smaller; a model's memory plan must
 * be made for it: edgesnn's lower(..., counters=False)), esn_counters_of returns NULL, esn_ctx.step/total and
 * esn_sched_ctx.total are NULL, and esn_sched_run's steps are zeros. Outputs and state are the same bit for bit.
 * A plan made for the counting runtime still runs there (its regions lie beyond the smaller fixed part); one made
 * without counters is refused by a counting runtime (ESN_ERR_PLAN: its regions overlap the counters).
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
    uint8_t flags;       /**< bit 0: has pending (subtract-late reset); bit 1: stateless; others: esn_schedule.c */
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
    esn_counters *step;    /**< [n_nodes]; NULL without ESN_ENABLE_COUNTERS */
    esn_counters *total;   /**< [n_nodes]; NULL without ESN_ENABLE_COUNTERS */
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
 * @param[in]     x    [input_size] values of this step, as esn_model.input_bits says: uint8 spike counts
 *                     (0), int8 (8) or int16 (16, 2-byte aligned) analog values.
 * @return ESN_OK; ESN_ERR_STATE after an early exit (esn_reset first).
 */
esn_status esn_step(esn_ctx *ctx, const void *x);

/**
 * Resets, then runs one whole input, stopping after the step at which early exit fires.
 * @param[in,out] ctx    an initialised context.
 * @param[in]     x      [T][input_size] input values (esn_step).
 * @param[in]     T      steps, >= 1.
 * @param[out]    out    [T][output_size] outputs per step, rows after an exit zero (may be NULL).
 * @param[out]    steps  steps run, [1, T] (may be NULL).
 */
esn_status esn_run(esn_ctx *ctx, const void *x, uint32_t T, int64_t *out, uint32_t *steps);

/** The last step's output, [output_size]. */
const int64_t *esn_output(const esn_ctx *ctx);

/**
 * Counters of node `node`: of the last step (total = 0) or since the last reset (total = 1).
 * @return NULL when node is out of range, ctx not initialised, or the runtime built without ESN_ENABLE_COUNTERS.
 */
const esn_counters *esn_counters_of(const esn_ctx *ctx, uint32_t node, int total);

/**
 * Copies a neuron layer's state variable, widened to int32.
 * @param[in]  ctx  an initialised context.
 * @param[in]  node the node.
 * @param[in]  var  the variable.
 * @param[out] dst  int32 [out_size].
 * @return ESN_OK; ESN_ERR_ARG when the node is not a neuron layer, lacks that variable or is stateless;
 *         ESN_ERR_NULL, ESN_ERR_STATE (not initialised).
 */
esn_status esn_state_read(const esn_ctx *ctx, uint32_t node, esn_var var, int32_t *dst);

/*
 * Grouped schedule (esn_schedule.c): a model with sched_steps = T >= 1 has its node order cut into
 * contiguous groups by the nodes' ESN_NODE_NEW_GROUP flags. Each group runs all T steps (time-step-
 * major inside) before the next. Outputs and counters equal esn_run's bit for bit. One group is
 * esn_step's order; one group per node is layer-major; a weighted layer with its neuron layer "fused".
 * Early exit and recurrent edges across groups are refused (ESN_ERR_SCHEDULE).
 *
 *     static uint64_t arena[ARENA_BYTES / 8];           // ARENA_BYTES >= esn_arena_size_sched()
 *     esn_sched_ctx sc;
 *     ESN_CHECK(esn_sched_init(&sc, &model, arena, sizeof arena));
 *     memcpy(esn_sched_input(&sc), x, T * input_size);   // stage the whole input (or in chunks)
 *     ESN_CHECK(esn_sched_run(&sc, NULL));               // esn_sched_output(&sc, t, j), sc.total [n_nodes]
 *
 * Arena (each region 8-byte aligned):
 *
 *     node table     n_nodes x 16 bytes (buffer and state offsets, layer index, flags)
 *     edge views     n_edges x 8 bytes (where each edge reads its source's step)
 *     total counters n_nodes x esn_counters: of the last run (only with ESN_ENABLE_COUNTERS)
 *     outputs        T x output_size, every step's output of the last run: int32 when the Output node
 *                    has one incoming edge (it copies an int32 buffer), else int64 (a sum)
 *     input          T x input_size uint8: the staged input (the Input's T-step buffer)
 *     states         the largest group's neuron state blocks (laid out as esn_step's, above)
 *     weights        the largest group's staged weights (nodes flagged ESN_NODE_STAGE_WEIGHTS: their
 *                    weight arrays, each aligned 8), copied in when the group starts
 *     buffers        placed first fit by the groups they live in (esn_schedule.c):
 *                      per-step buffers: out_size x int32 for a node read in its own group or
 *                      whose T-step buffer is uint8 (twice when a recurrent edge reads it);
 *                      T-step buffers: T x out_size for a node read by a later group, uint8
 *                      for spiking neuron layers, int32 otherwise (written in place);
 *                      widened views: out_size x int32 per edge from a uint8 T-step buffer.
 *
 * edgesnn.emit.layout.Lowered.arena_size_sched() computes the same number in Python.
 */

/** A model running the grouped schedule. Caller-owned; its pointers point into the arena. */
typedef struct esn_sched_ctx {
    const esn_model *model;
    uint8_t *arena;
    uint32_t arena_size;
    uint32_t T;            /**< the model's sched_steps */
    uint32_t n_groups;
    uint8_t ready;
    uint8_t reserved[3];
    esn_node_rt *rt;       /**< [n_nodes] */
    uint32_t *view;        /**< [n_edges][2]: arena offset, mode */
    esn_counters *total;   /**< [n_nodes]: counters summed over the last run's T steps (NULL without
                                ESN_ENABLE_COUNTERS) */
    void *out;             /**< [T][output_size] int32 or int64 (out_bytes): the last run's outputs */
    uint8_t *input;        /**< [T][input_size]: the input to stage before esn_sched_run */
    uint32_t staged_bytes; /**< weight bytes the last run copied into the arena (ESN_NODE_STAGE_WEIGHTS) */
    uint32_t out_bytes;    /**< 4 or 8 */
} esn_sched_ctx;

/**
 * Exact arena bytes of the grouped schedule of `m` (layout above).
 * @param[in]  m      a validated model with sched_steps >= 1.
 * @param[out] bytes  the size, a multiple of 8.
 * @return ESN_OK, ESN_ERR_NULL, ESN_ERR_SCHEDULE (no schedule, early exit, a recurrent edge across
 *         groups) or ESN_ERR_LIMIT (over 2^32 - 8 bytes).
 */
esn_status esn_arena_size_sched(const esn_model *m, uint32_t *bytes);

/**
 * Lays out the arena (zeroed) for the grouped schedule.
 * @param[out] ctx    the context to fill.
 * @param[in]  m      a validated model with sched_steps >= 1; must outlive ctx.
 * @param[in]  arena  8-byte aligned memory; must outlive ctx.
 * @param[in]  size   its bytes: at least esn_arena_size_sched(m).
 * @return ESN_OK, ESN_ERR_NULL, ESN_ERR_SCHEDULE, ESN_ERR_LIMIT, ESN_ERR_ALIGN or ESN_ERR_ARENA_SMALL.
 */
esn_status esn_sched_init(esn_sched_ctx *ctx, const esn_model *m, void *arena, uint32_t size);

/** Output element j of step t of the last run (0 when out of range or not initialised). */
int64_t esn_sched_output(const esn_sched_ctx *ctx, uint32_t t, uint32_t j);

/** Where to stage the input, [T][input_size] spike counts (NULL before esn_sched_init). */
uint8_t *esn_sched_input(const esn_sched_ctx *ctx);

/**
 * Runs the staged input, all T steps (no early exit).
 * @param[in,out] ctx    an initialised context; the outputs (esn_sched_output) and ctx->total receive
 *                       the results.
 * @param[out]    steps  [T][n_nodes] counters per step and node, as esn_counters_of(ctx, k, 0) after
 *                       step t of esn_run (may be NULL; zeros without ESN_ENABLE_COUNTERS).
 * @return ESN_OK, ESN_ERR_NULL or ESN_ERR_STATE (not initialised).
 */
esn_status esn_sched_run(esn_sched_ctx *ctx, esn_counters *steps);

#ifdef __cplusplus
}
#endif

#endif /* ESN_RUNTIME_H */
