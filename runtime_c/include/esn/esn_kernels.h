/*
 * esn_kernels.h: the per-layer kernels of one time step. The runtime (esn_runtime.c) calls them
 * in node order; they are public so that unit tests and benchmarks can call them alone.
 *
 * Synaptic layers are event driven: every nonzero input entry x (a spike count, or a sum of
 * several incoming edges) adds x times one row of weights into the output, which was first set
 * to the bias (or zero). A step with no input events costs one scan of the input and one write
 * of the output. Weight layouts, chosen so that the weights one event reads are contiguous:
 *
 *   Linear/Affine  W [in][out]                      (the transpose of the float [out, in])
 *   Conv2d         W [C_in][KH][KW][C_out / groups] (input channel c belongs to group c / (C_in / groups)),
 *                  each kernel row's taps stored in reverse (kx = KW - 1 first): the taps one event reaches along a
 *                  row then add to output pixels left to right in storage order (esn_conv)
 *   Conv1d         as Conv2d with KH = 1 and a height-1 input
 *   Scale          W [n]                            (elementwise)
 *
 * A weight row is what one event reads: [out] (Linear/Affine), [C_out / groups] (conv), the whole [n] (Scale).
 * Weights are stored at 2 or 4 bits (packed two's complement, low bits first, every row starting on a byte,
 * padded with zero bits), 8 or 16 bits (esn_node.pbits); each kernel reads them at the node's width. At 1 bit
 * (weight_bits 1) they are binary, packed 8 a byte the same way: bit 0 adds +wmag, bit 1 adds -wmag
 * (esn_node.wmag, one magnitude per layer), so an event x adds +-x * wmag with no multiply per weight; a zero
 * weight cannot be stored at 1 bit.
 *
 * Tensors are row-major, [C][H][W] for conv/pool and [C][L] for Conv1d, or channel-last ([H][W][C], [L][C]) where
 * esn_node.layout says so (esn_types.h): conv and pool read and write either by strides; with a channel-last
 * output a conv tap adds C_out / groups contiguous outputs, and a run of taps along a kernel row one contiguous
 * block, through the dense row kernel.
 * Inputs are int32 or uint8 buffers (in8[e] != 0: spike counts, Input bytes, small pool sums; esn_node.out_bits):
 * a uint8 input is scanned four entries per word for events. All accumulators are int32: esn_model_validate() proves that no output can leave the int32
 * range for any admissible input, so the kernels need no saturation checks and may add in any
 * order.
 *
 * Where they are not optimal: the reference paths scan every input entry (no event lists); a row-major conv
 * output (kept where a per-channel neuron layer, the Output or a recurrent edge reads it) is written with a
 * stride of OH*OW per channel; an ESN_HAS_DSP path may pack two int16 products per instruction.
 */
#ifndef ESN_KERNELS_H
#define ESN_KERNELS_H

#include <stdint.h>

#include "esn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every kernel adds its activity to the counters c (esn_runtime.h); built without ESN_ENABLE_COUNTERS it counts
 * nothing and never touches c (NULL then). */

/**
 * What a synaptic node outputs at rest (zero input), which a recurrent edge carries at step 0.
 * @param[in]  nd   a Linear, Affine, Conv, pool or Scale node.
 * @param[out] out  int32 [out_size]: the bias broadcast over each channel, or zeros without one.
 */
void esn_rest_out(const esn_node *nd, int32_t *out);

/**
 * Linear / Affine, event driven, weights at their stored bits (esn_node.pbits: packed 1, 2 or 4, int8, int16).
 * @param[in]  nd    the node: in_size, out_size, param[ESN_P_WEIGHT] [in][out], optional bias [out].
 * @param[in]  in    [n_in] pointers to int32 [in_size], or uint8 where in8 says so; the input is their elementwise sum.
 * @param[in]  in8   [n_in]: 1 where input e is uint8; NULL: every input int32.
 * @param[in]  n_in  [1, ESN_MAX_FANIN].
 * @param[out] out   int32 [out_size].
 * @param[in,out] c  spikes_in += nonzero input entries; synops += spikes_in * out_size.
 */
void esn_linear(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, int32_t *out,
                esn_counters *c);

/**
 * Conv1d / Conv2d, event driven (scatter), weights at their stored bits.
 * @param[in]  nd    geometry (kernel, stride, pad, dil, groups), in_shape [C_in][H][W] (Conv1d [C_in][L]),
 *                   out_shape [C_out][OH][OW], each stored as layout says (row-major or channel-last), weights
 *                   [C_in][KH][KW reversed][C_out/groups], optional bias [C_out].
 * @param[in]  in    [n_in] pointers to [in_size] entries, int32 or uint8 (in8, as esn_linear's).
 * @param[in]  n_in  [1, ESN_MAX_FANIN].
 * @param[out] out   int32 [out_size].
 * @param[in,out] c  spikes_in += nonzero entries; synops += (C_out/groups) * valid kernel taps per entry.
 */
void esn_conv(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, int32_t *out,
              esn_counters *c);

/**
 * Scale: out[j] = x[j] * w[j], weights at their stored bits.
 * @param[in,out] c  spikes_in += nonzero entries; synops += the same (fan-out 1).
 */
void esn_scale(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, int32_t *out,
               esn_counters *c);

/**
 * SumPool2d / AvgPool2d (a sum; AvgPool's 1/k^2 lives in the next weights), event driven.
 * @param[in]  nd   kernel, stride, pad; in_shape [C][H][W]; out_shape [C][OH][OW], each as layout says.
 * @param[out] out  [out_size]: window sums of the input (zero padding), uint8 where out8 (the caller's bound
 *                  analysis keeps every sum <= 255 and every input >= 0), else int32.
 * @param[in,out] c spikes_in += nonzero entries; synops += windows covering each entry.
 */
void esn_pool(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, void *out, int out8,
              esn_counters *c);

/**
 * One step of a neuron layer (IF, LIF, LI, CubaLIF, CubaLI, ALIF) for its n = out_size neurons,
 * with the equations of edgesnn/sim/fixed_sim.py (see esn_neuron.c).
 * @param[in]  m      the model: bit widths, rounding, seed.
 * @param[in]  nd     the node and its parameter arrays (per neuron, channel or layer; esn_node.pmode).
 * @param[in]  layer  index of this layer among the neuron layers (noise key).
 * @param[in]  t      step since reset (noise key).
 * @param[in]  in     [n_in] pointers to [n] entries, int32 or uint8 (in8 as esn_linear's): this step's input is their
 *                    sum. `out` may be in[0] itself (int32: every loop reads entry j before it writes it).
 * @param[in]  in8    [n_in] or NULL.
 * @param[in]  n_in   [1, ESN_MAX_FANIN].
 * @param[in,out] state  ESN_VAR_COUNT pointers to [n] arrays: v, i (at state_bits), eta
 *                    (int32), pending (int16); NULL for variables the kind lacks, and all NULL for a
 *                    stateless layer (esn_runtime.h: zero decays, nothing carried across steps), which
 *                    then keeps nothing (it uses `out` as scratch).
 * @param[in]  state_bits  ESN_VAR_COUNT: the bits v and i are stored at (8, 16 or 32); ignored for a stateless
 *                    layer.
 * @param[out] out    int32 [n]: spike counts (spiking kinds) or the membrane (LI, CubaLI).
 * @param[in,out] c   neuron_updates += n; spikes_out += spikes emitted.
 */
void esn_neuron_step(const esn_model *m, const esn_node *nd, uint32_t layer, uint32_t t,
                     const void *const *in, const uint8_t *in8, uint32_t n_in, void *const *state,
                     const uint8_t *state_bits, int32_t *out, esn_counters *c);

#ifdef __cplusplus
}
#endif

#endif /* ESN_KERNELS_H */
