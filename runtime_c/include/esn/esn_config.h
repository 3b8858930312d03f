/*
 * esn_config.h: compile-time configuration of the edgesnn runtime.
 *
 * Every setting has a default here and can be overridden on the compiler command line
 * (-DESN_MAX_NODES=128) or by a generated board header: define ESN_BOARD_CONFIG and put
 * esn_board_config.h on the include path.
 */
#ifndef ESN_CONFIG_H
#define ESN_CONFIG_H

#ifdef ESN_BOARD_CONFIG
#include "esn_board_config.h"
#endif

/* Most nodes (Input and Output included) a model may have: bounds the stack the loader's
 * overflow analysis uses (8 bytes per node) and the node table of esn_blob_model. */
#ifndef ESN_MAX_NODES
#define ESN_MAX_NODES 64
#endif

/* Most edges a model may have (esn_blob_model holds that many esn_edge). */
#ifndef ESN_MAX_EDGES
#define ESN_MAX_EDGES 128
#endif

/* Most incoming edges one node may have (the kernels take that many input pointers). */
#ifndef ESN_MAX_FANIN
#define ESN_MAX_FANIN 8
#endif

/* Largest number of elements of one tensor (keeps every byte offset within uint32). */
#ifndef ESN_MAX_ELEMS
#define ESN_MAX_ELEMS (1UL << 26)
#endif

/* 1: count each node's activity per step and since reset (esn_counters_of, esn_sched_ctx.total; definitions in
 * esn_runtime.h). 0, a release build whose counters nobody reads: the arena holds no counters (2 x 64 bytes per
 * node fewer: esn_arena_size, and edgesnn's lowering with counters=False, which plans such a model), no kernel
 * spends an instruction on counting, outputs stay the same bit for bit, and esn_counters_of returns NULL. */
#ifndef ESN_ENABLE_COUNTERS
#define ESN_ENABLE_COUNTERS 1
#endif

/* ESN_TALLY(n): n where the counters are compiled in, else 0. The kernels keep their tallies (events, taps,
 * spikes) as `t += ESN_TALLY(x)` and store them under `if (ESN_ENABLE_COUNTERS)`, so without counters the
 * compiler drops both (dead code), with no #if in the loops. */
#define ESN_TALLY(n) (ESN_ENABLE_COUNTERS ? (n) : 0u)

/* 1: time every node of every step with esn_port_cycles() (two calls per node and step) into the counters'
 * `cycles`; so it follows ESN_ENABLE_COUNTERS unless set. */
#ifndef ESN_ENABLE_CYCLES
#define ESN_ENABLE_CYCLES ESN_ENABLE_COUNTERS
#endif

/* The node kinds this build runs: a set of (1 << ESN_KIND_<NAME>) bits (esn_kinds.h). The kernels of the others are
 * never called, so a link that drops unused sections (-ffunction-sections, --gc-sections) leaves them out of the
 * image, and esn_model_validate refuses a model that has one (ESN_ERR_KIND). Default: every kind; `edgesnn
 * export-c` sets its model's. */
#ifndef ESN_KINDS_BUILT
#define ESN_KINDS_BUILT 0xFFFFFFFFu
#endif

/* ESN_STRIP_LOG: define it to drop every log message and error string from the image
 * (esn_status_str() then returns ""), as TFLM's TF_LITE_STRIP_ERROR_STRINGS. */

/* Feature macros come from the compiler; the portable reference path always exists. */
#if defined(__ARM_FEATURE_DSP) && !defined(ESN_HAS_DSP)
#define ESN_HAS_DSP 1
#endif

/* ESN_ALIGN(n): a static array starts on an n-byte boundary (generated model tables: word reads of weights). */
#ifndef ESN_ALIGN
#if defined(__GNUC__) || defined(__clang__)
#define ESN_ALIGN(n) __attribute__((aligned(n)))
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define ESN_ALIGN(n) _Alignas(n)
#else
#define ESN_ALIGN(n) /* the kernels stay correct on any alignment, only slower */
#endif
#endif

/* Format constant, not a setting: tensors have at most 4 axes (batch and time excluded). */
#define ESN_MAX_RANK 4

#if ESN_MAX_NODES < 2 || ESN_MAX_NODES > 65535
#error "ESN_MAX_NODES must lie in [2, 65535]"
#endif
#if ESN_MAX_EDGES < 1 || ESN_MAX_EDGES > 65535
#error "ESN_MAX_EDGES must lie in [1, 65535]"
#endif
#if ESN_ENABLE_CYCLES && !ESN_ENABLE_COUNTERS
#error "ESN_ENABLE_CYCLES needs ESN_ENABLE_COUNTERS: the cycles are a counter"
#endif
#if ESN_MAX_FANIN < 1
#error "ESN_MAX_FANIN must be at least 1"
#endif

#endif /* ESN_CONFIG_H */
