/*
 * esn_types.h: status codes, enumerations and the in-memory model the runtime executes.
 *
 * A model is a table of nodes in schedule order (every forward edge goes from an earlier node to
 * a later one) plus a table of edges grouped by destination. It comes either from a blob checked
 * by esn_blob_load() (esn_blob.h) or from C sources written by `edgesnn compile`
 * (edgesnn/emit/csource.py), whose const tables live in flash. Both are checked by
 * esn_model_validate() before a context runs them.
 *
 * The integer semantics are those of the Python specification, edgesnn/sim/fixed_sim.py and
 * edgesnn/quantize/fixedpoint.py; the runtime reproduces them bit for bit.
 */
#ifndef ESN_TYPES_H
#define ESN_TYPES_H

#include <stdint.h>

#include "esn_config.h"
#include "esn_kinds.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every fallible call. ESN_OK is 0; esn_status_str() names the others. */
typedef enum esn_status {
    ESN_OK = 0,
    ESN_ERR_NULL,        /**< a required pointer is NULL */
    ESN_ERR_ARG,         /**< an argument is out of range */
    ESN_ERR_TRUNCATED,   /**< the blob is shorter than its header or than its declared total size */
    ESN_ERR_MAGIC,       /**< the blob does not start with "ESNB" */
    ESN_ERR_VERSION,     /**< the blob's format version is not ESN_BLOB_VERSION */
    ESN_ERR_HEADER,      /**< header size, flags, total size or a reserved header field */
    ESN_ERR_CRC,         /**< the CRC-32 does not match the contents */
    ESN_ERR_SECTION,     /**< section table: type, offset, size, count, overlap or a missing section */
    ESN_ERR_ALIGN,       /**< blob, arena or parameter array not aligned */
    ESN_ERR_LIMIT,       /**< more nodes, edges, inputs per node or elements than configured */
    ESN_ERR_KIND,        /**< unknown node kind, or Input/Output missing, repeated or misplaced */
    ESN_ERR_ENUM,        /**< reset mode, spike rule, rounding, flags or another enumeration */
    ESN_ERR_SHAPE,       /**< rank, dimensions, sizes or conv/pool geometry inconsistent */
    ESN_ERR_EDGE,        /**< edge endpoints, order or grouping */
    ESN_ERR_PARAM,       /**< parameter array missing, unexpected, wrong length or outside the blob */
    ESN_ERR_RANGE,       /**< a parameter or setting outside its documented range */
    ESN_ERR_OVERFLOW,    /**< some input could overflow an int32 accumulator */
    ESN_ERR_ARENA_SMALL, /**< the arena is smaller than esn_arena_size() */
    ESN_ERR_STATE,       /**< call out of order: context not initialised, or stepped after its exit */
    ESN_ERR_ENDIAN,      /**< a big-endian host cannot use a blob in place */
    ESN_ERR_SCHEDULE,    /**< the model's schedule cannot run it (a recurrent edge across groups, early exit) */
    ESN_ERR_PLAN,        /**< the memory plan puts a region outside the arena, misaligned, or over a live one */
    ESN_STATUS_COUNT
} esn_status;

/** Propagates a non-OK status to the caller: `ESN_CHECK(esn_step(ctx, x));` */
#define ESN_CHECK(expr)                      \
    do {                                     \
        esn_status esn_check_s_ = (expr);    \
        if (esn_check_s_ != ESN_OK) {        \
            return esn_check_s_;             \
        }                                    \
    } while (0)

/** Node kinds: one per kind of edgesnn.graph.kinds, from the rows of esn_kinds.h (the blob stores these
 * codes). Linear / Affine: y = W x (+ b), weights [in][out]; Conv1d is stored as a conv2d with a height-1
 * kernel and input; AvgPool2d is a sum (the quantizer folded 1/k^2 into the next weights). */
typedef enum esn_kind {
#define ESN_KIND_ENUM_(name, code, required, optional, flags, state) ESN_KIND_##name = code,
    ESN_KINDS(ESN_KIND_ENUM_)
#undef ESN_KIND_ENUM_
    ESN_KIND_COUNT
} esn_kind;

/** Reset of a spiking neuron after it crosses its threshold. */
typedef enum esn_reset_mode {
    ESN_RESET_ZERO = 0,          /**< v = 0 */
    ESN_RESET_VALUE = 1,         /**< v = v_reset */
    ESN_RESET_SUBTRACT = 2,      /**< v -= s * threshold */
    ESN_RESET_SUBTRACT_LATE = 3, /**< the subtraction happens inside the next step's update */
    ESN_RESET_COUNT
} esn_reset_mode;

/** Spike rule: v > theta or v >= theta. */
typedef enum esn_spike_rule { ESN_SPIKE_GT = 0, ESN_SPIKE_GE = 1, ESN_SPIKE_RULE_COUNT } esn_spike_rule;

/** How a product is shifted back (edgesnn.quantize.fixedpoint.rshift). */
typedef enum esn_rounding {
    ESN_ROUND_TRUNCATE = 0,   /**< floor(p / 2^s) */
    ESN_ROUND_NEAREST = 1,    /**< floor((p + 2^(s-1)) / 2^s) */
    ESN_ROUND_STOCHASTIC = 2, /**< floor((p + (noise mod 2^s)) / 2^s), counter-based noise */
    ESN_ROUNDING_COUNT
} esn_rounding;

/** Parameter arrays of a node; which ones a kind has is its row of esn_kinds.h. Each is stored at its own width
 * (esn_node.pbits) and, except the weights, once per element, per channel or per layer (esn_node.pmode). */
typedef enum esn_param {
    ESN_P_WEIGHT = 0, /**< 1-, 2- or 4-bit packed, int8 or int16 (pbits); layouts in esn_kernels.h */
    ESN_P_BIAS,       /**< weighted: [out channels]; neurons: [n] (state units) */
    ESN_P_THRESHOLD,  /**< [n], [1, 2^(state_bits-1)) */
    ESN_P_V_RESET,    /**< [n], within state_bits */
    ESN_P_ALPHA,      /**< [n], membrane decay, Q decay_bits, [0, 2^decay_bits] */
    ESN_P_ALPHA_SYN,  /**< [n], current decay, Q decay_bits, [0, 2^decay_bits] */
    ESN_P_CUR_MULT,   /**< [n], Q16 current-to-membrane multiplier */
    ESN_P_RHO,        /**< [n], adaptation decay, Q decay_bits, [0, 2^decay_bits] */
    ESN_P_B0,         /**< [n], base threshold, [1, 2^(state_bits-1)) */
    ESN_P_BETA,       /**< [n], adaptation strength, >= 0 (state units per unit eta) */
    ESN_P_ETA_INC,    /**< [n], (1 - rho) in Q adapt_bits, [0, 2^adapt_bits] */
    ESN_P_COUNT
} esn_param;

/** State variables of a neuron layer (esn_state_read()). */
typedef enum esn_var {
    ESN_VAR_V = 0,   /**< membrane, state units */
    ESN_VAR_I,       /**< synaptic current (CubaLIF, CubaLI), current units */
    ESN_VAR_ETA,     /**< adaptation (ALIF), Q adapt_bits */
    ESN_VAR_PENDING, /**< spikes whose reset is still due (subtract one step late) */
    ESN_VAR_COUNT
} esn_var;

/** One edge, grouped by destination: the destination reads `src`'s output of this step, or of the
 * previous step when `back` is 1 (a recurrent edge; zeros at the first step). */
typedef struct esn_edge {
    uint16_t src;
    uint8_t back;
    uint8_t reserved; /**< 0 */
} esn_edge;

/** How a parameter array covers its node's outputs (esn_node.pmode). The weights are always ESN_PM_ELEM. */
typedef enum esn_param_mode {
    ESN_PM_ELEM = 0,    /**< one value per element: the counts of esn_types.h's esn_param comments */
    ESN_PM_CHANNEL = 1, /**< neuron layers of rank >= 2: one value per channel (out_shape[0]), shared by its plane */
    ESN_PM_LAYER = 2,   /**< one value for the whole node */
    ESN_PM_COUNT
} esn_param_mode;

/** esn_node.flags: a schedule group starts at this node (never at the Input; esn_schedule.c). */
#define ESN_NODE_NEW_GROUP 1u
/** esn_node.flags, weighted nodes of a grouped schedule: copy the weights into the arena once per run,
 * before the node's group runs its T steps, and read them there (weights in slow external flash). */
#define ESN_NODE_STAGE_WEIGHTS 2u

/** esn_node.layout: the node's output (OUT) or input (IN) buffer is stored channel-last: a [C][H][W] ([C][L])
 * tensor as [H][W][C] ([L][C]), so that the C_out weights one conv tap adds are contiguous outputs
 * (esn_kernels.h). Set by lowering (edgesnn/lower) on the chains conv/pool -> neuron -> pool/conv/Flatten ->
 * Linear; the tensors a neuron layer with per-channel parameters or under stochastic rounding (its noise is keyed
 * by the row-major index), the Output, a Scale or a recurrent edge reads, and the Input, stay row-major. A tensor's flat order is its producer's (a neuron layer and a Flatten keep their input's
 * layout; a Linear after a Flatten of a channel-last tensor has its weight rows, a neuron layer its per-element
 * parameters, in that order): only the conv and pool kernels read the bits. */
#define ESN_LAYOUT_OUT_CL 1u
#define ESN_LAYOUT_IN_CL 2u

/** One node. Fields a kind does not use are 0 / NULL. */
typedef struct esn_node {
    uint8_t kind;           /**< esn_kind */
    uint8_t reset;          /**< esn_reset_mode (IF, LIF, CubaLIF), else 0 */
    uint8_t spike_rule;     /**< esn_spike_rule (spiking neurons), else 0 */
    uint8_t syn_delay;      /**< CubaLIF/CubaLI: drive v with last step's current (0/1) */
    uint16_t max_spikes;    /**< spikes one neuron may emit per step: [1, 255]; 1 for non-spiking kinds */
    uint16_t first_edge;    /**< index of the node's first incoming edge in esn_model.edges */
    uint16_t n_edges;       /**< incoming edges: [1, ESN_MAX_FANIN]; 0 for the Input */
    uint8_t in_rank;        /**< [1, 4] */
    uint8_t out_rank;       /**< [1, 4] */
    int8_t flat_start;      /**< Flatten: first merged axis of the input, [0, in_rank) */
    int8_t flat_end;        /**< Flatten: last merged axis, [flat_start, in_rank) */
    uint8_t layout;         /**< ESN_LAYOUT_OUT_CL | ESN_LAYOUT_IN_CL: which of its tensors are channel-last */
    uint8_t flags;          /**< ESN_NODE_NEW_GROUP, ESN_NODE_STAGE_WEIGHTS; other bits 0 */
    /** Bits each element of the output buffer is stored at: 8 (uint8) for the Input (bytes), a spiking neuron
     * layer (spike counts <= max_spikes <= 255) and a pool whose every input is uint8 and whose window sums the
     * bound analysis keeps <= 255; a Flatten's is its input's; 32 (int32) otherwise. 0 reads as 32. Readers of
     * a buffer take its owner's width (esn__out_u8). */
    uint8_t out_bits;
    uint32_t in_shape[ESN_MAX_RANK];  /**< per-step input shape, unused axes 0 */
    uint32_t out_shape[ESN_MAX_RANK]; /**< per-step output shape, unused axes 0 */
    uint32_t in_size;       /**< product of in_shape */
    uint32_t out_size;      /**< product of out_shape */
    uint16_t kernel[2];     /**< conv/pool (KH, KW); Conv1d (1, K) */
    uint16_t stride[2];     /**< >= 1 */
    uint16_t pad[2];        /**< zero padding on both sides */
    uint16_t dil[2];        /**< conv dilation >= 1; pools 1 */
    uint32_t groups;        /**< conv groups >= 1, else 0 */
    const void *param[ESN_P_COUNT]; /**< esn_param-indexed arrays; NULL where absent */
    /** Bits per stored element of each array, two's complement: weights 2 or 4 (packed low bits first, each
     * weight row starting on a byte: esn_kernels.h), 8 or 16, at least the model's weight_bits; other
     * arrays 8, 16 or 32. 0 reads as the default: 8 for the weights, 32 for the others. Weights of a model
     * with weight_bits 1 are binary, stored at 1 bit (packed like 2 and 4): bit 0 is +wmag, bit 1 is -wmag. */
    uint8_t pbits[ESN_P_COUNT];
    uint8_t pmode[ESN_P_COUNT]; /**< esn_param_mode of each array */
    /** Binary (1-bit) weights: their one magnitude for the layer, in the target's units, [1, 127] (so that an
     * event of one spike adds a signed byte, esn_kernels.h); 0 for every other node. */
    uint8_t wmag;
    /** Linear/Affine/Conv reading an analog input: its accumulator (bias included) is shifted right by this many bits,
     * rounding to nearest (floor((acc + 2^(s-1)) / 2^s)), into its target's units: the weights of a multiply-accumulate
     * then keep their precision (requantization, as CMSIS-NN's output shift). [0, 30]; 0 for every other node. */
    uint8_t acc_shift;
    /** The memory plan (esn_model.arena_bytes != 0): arena offsets of the node's output buffer at even and
     * odd steps (different only when a recurrent edge reads it; a Flatten's are its input's, the Output's 0)
     * and of its state block (0 without one). esn_runtime.h says what lives where and when. */
    uint32_t buf_off[2];
    uint32_t state_off;
} esn_node;

/** Whether nd's output buffer holds uint8 elements (esn_node.out_bits 8), else int32. */
static inline int esn_out_u8(const esn_node *nd)
{
    return nd->out_bits == 8u;
}

/** Bits per stored element of parameter array `slot` of nd (esn_node.pbits, its default resolved). */
static inline uint32_t esn_param_bits(const esn_node *nd, uint32_t slot)
{
    const uint32_t b = nd->pbits[slot];
    return b != 0u ? b : (slot == (uint32_t)ESN_P_WEIGHT ? 8u : 32u);
}

/** Element i of an 8-, 16- or 32-bit parameter array stored at `bits` (no sub-byte: those are weights). */
static inline int32_t esn_param_load(const void *p, uint32_t bits, uint32_t i)
{
    return bits == 8u ? ((const int8_t *)p)[i] : bits == 16u ? ((const int16_t *)p)[i] : ((const int32_t *)p)[i];
}

/** Element i of a row of packed 4-bit (or 2-bit) weights: two's complement, low bits first. */
static inline int32_t esn_nibble(const uint8_t *row, uint32_t i)
{
    return (int32_t)(((uint32_t)(row[i >> 1] >> ((i & 1u) << 2)) & 15u) ^ 8u) - 8;
}

static inline int32_t esn_crumb(const uint8_t *row, uint32_t i)
{
    return (int32_t)(((uint32_t)(row[i >> 2] >> ((i & 3u) << 1)) & 3u) ^ 2u) - 2;
}

/** Element i of a row of 1-bit (binary) weights as a sign: bit 0 -> +1, bit 1 -> -1 (times esn_node.wmag). */
static inline int32_t esn_bit_sign(const uint8_t *row, uint32_t i)
{
    return 1 - 2 * (int32_t)((row[i >> 3] >> (i & 7u)) & 1u);
}

/** A model: quantization settings, exit policy, nodes in schedule order and their edges. */
typedef struct esn_model {
    uint16_t n_nodes;         /**< [2, ESN_MAX_NODES] */
    uint16_t n_edges;         /**< [1, ESN_MAX_EDGES] */
    uint16_t input_node;      /**< always 0: the Input comes first in schedule order */
    uint16_t output_node;     /**< index of the Output node */
    uint8_t weight_bits;      /**< [1, 16]; 1: binary weights +-wmag (esn_node.wmag) */
    uint8_t state_bits;       /**< [8, 32], membrane v */
    uint8_t current_bits;     /**< [8, 32], synaptic current i */
    uint8_t adapt_bits;       /**< [4, 16], fraction bits of eta */
    uint8_t threshold_bits;   /**< [2, state_bits] (informational) */
    uint8_t decay_bits;       /**< [2, 16], fraction bits of alpha, alpha_syn, rho */
    uint8_t rounding;         /**< esn_rounding */
    uint8_t exit_enabled;     /**< 1: early exit (DT-SNN) on */
    /** What one input value is: 0, a spike count (uint8, 0..255); 8 or 16, an analog value (int8 / int16, the
     * quantized sensor reading: real = value x the model's input scale), which only Linear/Affine/Conv layers may
     * read (a multiply-accumulate per value) and which the Input keeps as int32 (esn_input_bytes()). */
    uint8_t input_bits;
    uint32_t seed;            /**< stochastic rounding seed */
    int32_t exit_threshold_q8; /**< [0, 2^31): exit once the entropy (1/256 nat) is below this */
    int32_t exit_beta_q16;     /**< (0, 2^31): output unit in Q16 */
    uint32_t input_size;      /**< elements of one input step */
    uint32_t output_size;     /**< elements of one output step */
    uint32_t arena_bytes;     /**< esn_init's arena as planned offline (the nodes' buf_off, state_off); 0: no
                                   plan, esn_init lays the arena out itself */
    uint32_t sched_steps;     /**< 0: no schedule (esn_init/esn_step, time-step-major); T >= 1: the grouped
                                   schedule the nodes' ESN_NODE_NEW_GROUP flags define, over T steps
                                   (esn_sched_init/esn_sched_run) */
    const esn_node *nodes;    /**< [n_nodes], schedule order */
    const esn_edge *edges;    /**< [n_edges], grouped by destination in node order */
} esn_model;

/** Bytes one input value takes in the caller's buffer (esn_step, esn_run): 2 for int16 analog input, else 1. */
static inline uint32_t esn_input_bytes(const esn_model *m)
{
    return m->input_bits == 16u ? 2u : 1u;
}

/** Activity of one node over one step (or accumulated). Definitions: esn_runtime.h. */
typedef struct esn_counters {
    uint64_t spikes_in;
    uint64_t synops;
    uint64_t neuron_updates;
    uint64_t spikes_out;
    uint64_t param_bytes_read;
    uint64_t arena_bytes_read;
    uint64_t arena_bytes_written;
    uint64_t cycles;
} esn_counters;

#define ESN_N_COUNTERS 8

/** Where validation failed: the node (or -1), the edge (or -1), and the offending value. */
typedef struct esn_diag {
    int32_t node;
    int32_t edge;
    int64_t value;
} esn_diag;

/**
 * Names a status.
 * @param[in] s  any value; unknown values give "unknown status".
 * @return a static string ("" when built with ESN_STRIP_LOG).
 */
const char *esn_status_str(esn_status s);

#ifdef __cplusplus
}
#endif

#endif /* ESN_TYPES_H */
