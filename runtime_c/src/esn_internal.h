/*
 * esn_internal.h: helpers shared by the runtime's source files; not part of the API.
 */
#ifndef ESN_INTERNAL_H
#define ESN_INTERNAL_H

#include <stdint.h>

#include "esn/esn_types.h"

/* Kind properties. */
int esn__is_neuron(uint32_t kind);
int esn__is_spiking(uint32_t kind);
int esn__is_weighted(uint32_t kind);   /* Linear, Affine, Conv1d, Conv2d, Scale */
int esn__is_synaptic(uint32_t kind);   /* weighted or pool */
int esn__is_conv_like(uint32_t kind);  /* Conv1d, Conv2d, pools */

/* Bitmask over esn_param of the arrays a kind must have / may have. */
uint32_t esn__params_required(uint32_t kind);
uint32_t esn__params_optional(uint32_t kind);

/* Number of state variables S of a neuron node (0 for other kinds), and whether it keeps `pending`. */
uint32_t esn__n_state(const esn_node *nd);

/* t += s, counter by counter (one step's counters into a running total). */
void esn__counters_add(esn_counters *t, const esn_counters *s);

/* Everything but the parameter arrays (settings, enums, shapes, geometry, edges). */
esn_status esn__validate_structure(const esn_model *m, esn_diag *diag);

/* Element count the parameter array `slot` of a structurally valid node must have (0: none). */
uint32_t esn__param_count(const esn_node *nd, uint32_t slot);

/* Parameter presence, value ranges and the accumulator bound analysis. */
esn_status esn__validate_params(const esn_model *m, esn_diag *diag);

/* Records where validation failed and returns `s`. */
esn_status esn__fail(esn_diag *diag, esn_status s, int32_t node, int32_t edge, int64_t value);

/* Memory-traffic counters of one node's step from its synops (esn_runtime.h); n_state = S. */
void esn__traffic(const esn_node *nd, uint32_t n_state, esn_counters *c);

/* One step of a synaptic or neuron node (others: traffic only): the kernel on `in`, into `out`, with
 * the state variables at state_base (v, then i / eta, then pending), then its traffic counters. */
void esn__compute(const esn_model *m, const esn_node *nd, const int32_t *const *in, int32_t *out, int32_t *state_base,
                  uint32_t layer, uint32_t t, esn_counters *c);

/* Logs a line through the port unless ESN_STRIP_LOG. */
#ifdef ESN_STRIP_LOG
#define ESN_LOG(msg) ((void)0)
#else
#include "esn/esn_port.h"
#define ESN_LOG(msg) esn_port_log(msg)
#endif

#endif /* ESN_INTERNAL_H */
