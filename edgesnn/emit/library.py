"""A drop-in C library of one model for the user's own firmware: `edgesnn export-c` (api.export_c).

    library_files(qgraph, target, name, ...) -> {relative path: bytes}   the whole tree, in memory
    write_tree(out_dir, files, force=False)                              all or nothing

The tree holds
- the runtime's sources, copied from the shipped runtime_c (edgesnn.resources.RUNTIME_C, so an installed
  wheel exports too): every header, and every .c file but those OPTIONAL_SOURCES says this model does not
  need. Today the runtime dispatches every node kind from one switch (esn_runtime.c esn__compute) into one
  synaptic and one neuron kernel file, so all kernel files are referenced and copied; what a compiled-in
  model leaves out is the blob loader, and the grouped-schedule runner unless the plan chose a grouped
  schedule. A new file under runtime_c/src is copied without a change here;
- the model as const tables: edgesnn.emit.csource's model.c / model.h, renamed NAME_model.c / .h;
- NAME.h / NAME.c: a small API over the runtime (init, reset, step, infer with the model's early exit,
  predict, counters) whose context holds the arena the model's memory plan sizes (NAME_ARENA_BYTES);
- counters: a release library (counters=False, `export-c`'s default) has the runtime built without them
  (its copied esn_config.h sets ESN_ENABLE_COUNTERS 0): the arena's fixed part holds none (128 B a node
  fewer, the memory plan made for that: lower(counters=False)), no step is spent counting, NAME_counters
  returns NULL and NAME_COUNTERS is 0; counters=True keeps them (NAME_COUNTERS 1);
- NAME_port.c: the runtime's board hooks (esn_port.h) as no-ops, left out with -DNAME_USER_PORT;
- an example main, a README, and the build files of the target (TARGETS): CMake (+ an arm-none-eabi
  toolchain file), an Arduino library, a Zephyr module, a PlatformIO library.

Inputs: uint8 spike counts per step, or for an analog model (input_bits 8 / 16) int8 / int16 values, the sensor's
readings divided by the model's input scale (NAME_INPUT_SCALE, or NAME_input_scales per channel; NAME_quantize_input
does it). What one input value is (its C type, its .npy dtype) is decided in one place, input_binding().
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import EmitError
from ..graph.kinds import KINDS
from ..lower import Lowered, lower
from ..quantize.qgraph import QGraph, analog_limit, input_dtype
from ..resources import RUNTIME_C
from .cgen import c_comment
from .csource import c_sources

TARGETS = ("cmake", "arduino", "zephyr", "platformio")

# Runtime sources (runtime_c/src, by path) a compiled-in model may leave out: (what they are, whether this
# lowered model needs them). Every other .c file there is copied. tests/emit/test_library.py checks, from the
# compiled objects' symbols, that nothing kept calls into a file left out.
OPTIONAL_SOURCES = {
    "esn_blob.c": ("the blob loader (the model is compiled in)", lambda low: False),
    "esn_schedule.c": ("the grouped-schedule runner (esn_sched_*)", lambda low: low.steps > 0),
}

_C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
               "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
               "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
               "volatile", "while", "main", "model"}


@dataclass(frozen=True)
class InputBinding:
    """What one input value is in the exported API: the seam of analog input layers."""
    ctype: str      # the C type of one value
    npy_descr: str  # its numpy dtype as a .npy header writes it
    what: str       # in words, for the header and README
    step_call: str  # the runtime call of one step, {ctx} and {x} filled in


def input_binding(low: Lowered) -> InputBinding:
    """Spike counts (uint8), or an analog model's quantized readings (int8 / int16: esn_model.input_bits)."""
    bits = low.qgraph.config.input_bits
    dt = input_dtype(bits)
    what = (f"an analog reading quantized to int{bits} (real value / input scale, -{analog_limit(bits)}.."
            f"{analog_limit(bits)})" if bits else "a spike count, 0..255")
    return InputBinding(f"{dt.name}_t", dt.str, what, "esn_step({ctx}, {x})")


def _input_scale_definition(name: str, q: QGraph) -> str:
    if not q.analog:
        return ""
    values = ", ".join(repr(float(v)) for v in q.input_scale)
    return f"const double {name}_input_scales[{len(q.input_scale)}] = {{{values}}};\n"


def _input_scale_c(name: str, q: QGraph) -> str:
    """An analog model's input scale and a helper that quantizes one reading as edgesnn does (round to nearest,
    saturate); nothing for spike-count input."""
    if not q.analog:
        return ""
    up, top = name.upper(), analog_limit(q.config.input_bits)
    ch = len(q.input_scale)
    per = q.config.input_scale == "channel"
    plane = int(np.prod(q.graph.input.shape[1:], dtype=np.int64))   # values of one input channel
    scales = "one per input channel" if per else "one for the whole input"
    return f"""
/* Analog input: one value is the real reading divided by its scale, rounded to nearest and saturated to
 * +-{top}; edgesnn chose the scale from its calibration data ({scales}). */
#define {up}_INPUT_CHANNELS {ch}u
extern const double {name}_input_scales[{ch}];   /* real value of one input unit (per channel, or [0] for all) */
#define {up}_INPUT_SCALE ({name}_input_scales[0])

/** The value of input element j (row-major in one step's input) for a reading `real` in the model's units: as
 * QGraph.quantize_inputs, in double precision, ties away from zero. */
static inline {name}_input_t {name}_quantize_input(double real, uint32_t j)
{{
    const double q = real / {name}_input_scales[{f"j / {plane}u" if per else "0"}];{"" if per else "  (void)j;"}
    const double r = q >= 0.0 ? q + 0.5 : q - 0.5;
    return ({name}_input_t)(r >= {top}.0 ? {top} : r <= -{top}.0 ? -{top} : (int32_t)r);
}}
"""


@dataclass
class Library:
    files: dict[str, bytes]      # relative path -> content
    runtime_kept: list[str]      # runtime_c/src files copied
    runtime_left_out: dict[str, str]  # file -> what it is
    arena_bytes: int
    weight_bytes: int
    ctx_bytes_estimate: int      # the context: arena + scores + runtime context (an upper estimate, 64-bit host)


def check_name(name: str) -> str:
    if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name) or name in _C_KEYWORDS \
            or name.startswith(("esn_", "ESN_", "__")):
        raise EmitError(f"--name {name!r}: the library's C prefix must be a C identifier (letters, digits, _), "
                        "not a C keyword and not starting with esn_")
    return name


def default_name(stem: str) -> str:
    """A C prefix from a file name: digits_mlp.plan -> digits_mlp_plan."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", stem).strip("_").lower() or "snn"
    s = s if not s[0].isdigit() else f"m_{s}"
    return s if s not in _C_KEYWORDS and not s.startswith("esn_") else f"{s}_snn"


# ---------------------------------------------------------------------------------------------------------
# The runtime's files

def _runtime_files(low: Lowered, runtime: Path) -> tuple[dict[str, bytes], dict[str, bytes], list[str], dict]:
    """(headers under include/esn by name, sources under src by relative path, kept .c, left-out .c)."""
    inc, src = runtime / "include" / "esn", runtime / "src"
    if not inc.is_dir() or not src.is_dir():
        raise EmitError(f"{runtime}: the C runtime's sources are missing (include/esn, src); reinstall edgesnn")
    headers = {p.name: p.read_bytes() for p in sorted(inc.glob("*.h"))}
    sources, kept, left = {}, [], {}
    for p in sorted(src.rglob("*")):
        if not p.is_file() or p.suffix not in (".c", ".h"):
            continue
        rel = p.relative_to(src).as_posix()
        if p.suffix == ".c" and rel in OPTIONAL_SOURCES and not OPTIONAL_SOURCES[rel][1](low):
            left[rel] = OPTIONAL_SOURCES[rel][0]
            continue
        sources[rel] = p.read_bytes()
        if p.suffix == ".c":
            kept.append(rel)
    return headers, sources, kept, left


def _config_header(text: bytes, counters: bool, low: Lowered) -> bytes:
    """The runtime's esn_config.h with this library's defaults: ESN_ENABLE_COUNTERS, and ESN_KINDS_BUILT the model's
    node kinds, so that only the kernels it uses are called (and linked, where unused sections are dropped). Every
    build system (CMake, Arduino, Zephyr, PlatformIO) compiles it as is, no -D to pass."""
    line, kinds_line = b"#define ESN_ENABLE_COUNTERS 1\n", b"#define ESN_KINDS_BUILT 0xFFFFFFFFu\n"
    if text.count(line) != 1 or text.count(kinds_line) != 1:
        raise EmitError("runtime_c's esn_config.h no longer defines ESN_ENABLE_COUNTERS 1 and ESN_KINDS_BUILT "
                        "0xFFFFFFFFu once: update emit/library.py")
    kinds = sorted({nd.kind for nd in low.nodes}, key=lambda k: KINDS[k].code)
    mask = sum(1 << KINDS[k].code for k in kinds)
    text = text.replace(kinds_line, f"#define ESN_KINDS_BUILT 0x{mask:08X}u /* {', '.join(kinds)} */\n".encode())
    if counters:
        return text
    return text.replace(line, b"#define ESN_ENABLE_COUNTERS 0 /* edgesnn export-c --no-counters: a release build */\n")


# ---------------------------------------------------------------------------------------------------------
# The generated C

def _head(what: str, source: str) -> str:
    return c_comment(f"{what}. Generated by edgesnn {__version__} (edgesnn.emit.library) from {source}. Do not edit.")


def _wrap(text: str) -> str:
    """A paragraph of a block comment: ' * ' lines of at most 110 characters."""
    return "\n".join(" * " + ln for ln in textwrap.wrap(text, 106))


def _api_header(name: str, low: Lowered, inp: InputBinding, facts: dict, source: str) -> str:
    up = name.upper()
    counters = low.counters
    counters_text = f"1: the runtime counts (ESN_ENABLE_COUNTERS 1); 0: exported --no-counters, {name}_counters is NULL"
    sched = low.steps > 0
    ctx_rt = "esn_sched_ctx" if sched else "esn_ctx"
    exit_on = facts["exit"]
    return f"""{_head(f"{name}: the model's C API", source)}
/*
{_wrap(f"The model {source} as a library: quantized {facts['quant']}; {facts['exit_text']}; schedule: "
        f"{facts['schedule_text']}.")}
 *
 *     static {name}_ctx ctx;                       // holds the arena: {up}_ARENA_BYTES = {low.arena_bytes} B
 *     if ({name}_init(&ctx) < 0) {{ ... }}          // validates the model, lays out the arena
 *     int cls = {name}_infer(&ctx, x, T, NULL);     // x [T][{up}_INPUT_SIZE]; the class, or < 0 on error
 *
 * or step by step, as a sensor delivers (one step = {up}_INPUT_SIZE values, {inp.what} each):
 *
 *     {name}_reset(&ctx);
 *     while (have_step(x)) {{
 *         if ({name}_step(&ctx, x, NULL) == {up}_DONE) break;   // the early exit fired: answer ready
 *     }}
 *     cls = {name}_predict(&ctx);                   // argmax of the outputs summed so far
 *
 * Return codes: {up}_OK (0), {up}_DONE (1), or a negative esn_status (-ESN_ERR_...; {name}_error_str()).
 * Thread safety: a context is used by one thread at a time; every function touches only its context and
 * the const model, so one context per thread (each {up}_ARENA_BYTES) runs in parallel.
 * Memory: the context (sizeof({name}_ctx)): the arena, {up}_OUTPUT_SIZE x 8 B of scores and the runtime's
 * context; the weights are const ({facts['weight_bytes']:,} B in flash). No heap, no libc beyond string.h.
 */
#ifndef {up}_H
#define {up}_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#include "esn/esn_runtime.h"

#define {up}_INPUT_SIZE {low.input_size}u    {c_comment(f"values per step: {inp.what}")}
#define {up}_OUTPUT_SIZE {low.output_size}u   {c_comment("outputs per step; the classes of predict")}
#define {up}_ARENA_BYTES {low.arena_bytes}u  {c_comment("the runtime arena the memory plan sizes, inside the context")}
#define {up}_SCHED_STEPS {low.steps}u    {c_comment("0: any number of steps, one at a time; else T of the grouped schedule")}
#define {up}_EARLY_EXIT {1 if exit_on else 0}     {c_comment("1: an input stops once the output is confident")}
#define {up}_NUM_LAYERS {len(low.nodes)}u     {c_comment("nodes of the model, in run order (counters)")}
#define {up}_COUNTERS {int(counters)}       {c_comment(counters_text)}

#define {up}_OK 0    {c_comment("the step ran; feed the next")}
#define {up}_DONE 1  {c_comment("the input is finished (early exit, or a grouped schedule's last step)")}

typedef {inp.ctype} {name}_input_t;  {c_comment(f"one input value: {inp.what}")}
{_input_scale_c(name, low.qgraph)}
/** A running model. Declare it static (or global): it holds the arena. One per thread. */
typedef struct {name}_ctx {{
    {ctx_rt} rt;                              /**< the runtime's context */
    uint64_t arena[({up}_ARENA_BYTES + 7u) / 8u];  /**< the arena, 8-byte aligned */
    int64_t scores[{up}_OUTPUT_SIZE];          /**< outputs summed over the steps run since reset */
    uint32_t steps;                           /**< steps fed since reset */
    uint8_t ready;                            /**< 1 after a successful init */
    uint8_t done;                             /**< 1 once the input is finished */
}} {name}_ctx;

/** Validates the model and lays out the arena in ctx, then resets. @return {up}_OK or < 0. */
int {name}_init({name}_ctx *ctx);

/** Starts a new input: zeroes state, scores, counters and the step count. @return {up}_OK or < 0. */
int {name}_reset({name}_ctx *ctx);

/**
 * Feeds one time step.
 * @param[in,out] ctx     an initialised context.
 * @param[in]     input   [{up}_INPUT_SIZE] values of this step.
 * @param[out]    output  [{up}_OUTPUT_SIZE] this step's output (may be NULL).{
    " With the grouped schedule the whole input runs at its last step: output is written then, zeros before." if sched else ""}
 * @return {up}_OK: feed the next step; {up}_DONE: the input is finished (the early exit fired{
    ", or the schedule's T steps were fed" if sched else ""}); later steps do nothing and return {up}_DONE
 *         until {name}_reset; < 0: an error.
 */
int {name}_step({name}_ctx *ctx, const {name}_input_t *input, int64_t *output);

/**
 * Resets, feeds inputs [T][{up}_INPUT_SIZE] until the early exit fires or T steps ran, and classifies.
 * @param[out] scores  [{up}_OUTPUT_SIZE] the outputs summed over the steps run (may be NULL).
 * @return the class (argmax of the scores, ties to the lowest index), or < 0 on error{
    f" (T must be {up}_SCHED_STEPS)" if sched else ""}.
 */
int {name}_infer({name}_ctx *ctx, const {name}_input_t *inputs, uint32_t T, int64_t *scores);

/** The class of the scores so far: argmax, ties to the lowest index. @return the class or < 0. */
int {name}_predict(const {name}_ctx *ctx);

/** Steps fed since the last reset (after an early exit: the step at which it fired). */
uint32_t {name}_steps(const {name}_ctx *ctx);

/**
 * Activity counters of layer `layer` (0..{up}_NUM_LAYERS - 1, {name}_layer_name): synaptic operations,
 * spikes, neuron updates, bytes read and written, cycles (esn_runtime.h defines each).
 * @param total  1: since reset; 0: of the last step{" (NULL: the grouped schedule keeps totals only)" if sched else ""}.
 * @return NULL when layer is out of range or ctx is not initialised{"" if counters else f'''; ALWAYS NULL in this
 *         library: exported with --no-counters, its runtime counts nothing (ESN_ENABLE_COUNTERS 0, {up}_COUNTERS 0;
 *         its arena holds no counters). Export with --counters to read them'''}.
 */
const esn_counters *{name}_counters(const {name}_ctx *ctx, uint32_t layer, int total);

/** The name of layer `layer` in the model ("" when out of range). */
const char *{name}_layer_name(uint32_t layer);

/** What a return code means. */
const char *{name}_error_str(int code);

#ifdef __cplusplus
}}
#endif

#endif {c_comment(f"{up}_H")}
"""


def _api_source(name: str, low: Lowered, inp: InputBinding, source: str) -> str:
    up = name.upper()
    counters = low.counters
    names = ", ".join(json.dumps(nd.name) for nd in low.nodes)
    common_head = f"""{_head(f"{name}: the model's C API over the edgesnn runtime", source)}
#include <string.h>

#include "{name}.h"
#include "{name}_model.h"

#if {up}_ARENA_BYTES < {up.upper()}_MODEL_ARENA_BYTES
#error "the context's arena is smaller than the model's"
#endif
#if ESN_ENABLE_COUNTERS != {up}_COUNTERS
#error "the model's memory plan is made for its runtime's ESN_ENABLE_COUNTERS: do not redefine it (export-c --[no-]counters)"
#endif

/* Scores saturate at +-2^62 as the runtime's exit accumulator does: one step's output is < 2^48. */
#define {up}_SCORE_LIM ((int64_t)1 << 62)

static const char *const {name}_layer_names[{up}_NUM_LAYERS] = {{{names}}};
{_input_scale_definition(name, low.qgraph)}
static void {name}_add(int64_t *acc, int64_t v)
{{
    const int64_t a = *acc + v;
    *acc = a > {up}_SCORE_LIM ? {up}_SCORE_LIM : (a < -{up}_SCORE_LIM ? -{up}_SCORE_LIM : a);
}}

int {name}_predict(const {name}_ctx *ctx)
{{
    uint32_t j, best = 0u;
    if (ctx == NULL) {{
        return -(int)ESN_ERR_NULL;
    }}
    if (!ctx->ready) {{
        return -(int)ESN_ERR_STATE;
    }}
    for (j = 1u; j < {up}_OUTPUT_SIZE; ++j) {{
        if (ctx->scores[j] > ctx->scores[best]) {{
            best = j;
        }}
    }}
    return (int)best;
}}

uint32_t {name}_steps(const {name}_ctx *ctx)
{{
    return ctx == NULL ? 0u : ctx->steps;
}}

const char *{name}_layer_name(uint32_t layer)
{{
    return layer < {up}_NUM_LAYERS ? {name}_layer_names[layer] : "";
}}

const char *{name}_error_str(int code)
{{
    if (code == {up}_OK) {{
        return "ok";
    }}
    if (code == {up}_DONE) {{
        return "done: the input is finished";
    }}
    return code < 0 ? esn_status_str((esn_status)-code) : "unknown code";
}}

int {name}_infer({name}_ctx *ctx, const {name}_input_t *inputs, uint32_t T, int64_t *scores)
{{
    uint32_t t;
    int r;
    if (inputs == NULL) {{
        return -(int)ESN_ERR_NULL;
    }}
    if (T == 0u{f" || T != {up}_SCHED_STEPS" if low.steps else ""}) {{
        return -(int)ESN_ERR_ARG;
    }}
    r = {name}_reset(ctx);
    for (t = 0u; r == {up}_OK && t < T; ++t) {{
        r = {name}_step(ctx, inputs + (size_t)t * {up}_INPUT_SIZE, NULL);
    }}
    if (r < 0) {{
        return r;
    }}
    if (scores != NULL) {{
        memcpy(scores, ctx->scores, sizeof ctx->scores);
    }}
    return {name}_predict(ctx);
}}
"""
    step = inp.step_call.format(ctx="&ctx->rt", x="input")
    init = f"""int {name}_init({name}_ctx *ctx)
{{
    esn_status s;
    if (ctx == NULL) {{
        return -(int)ESN_ERR_NULL;
    }}
    ctx->ready = 0u;
    s = esn_model_validate(&{name}_model, NULL);
    if (s == ESN_OK) {{
        s = {"esn_sched_init" if low.steps else "esn_init"}(&ctx->rt, &{name}_model, ctx->arena, (uint32_t)sizeof ctx->arena);
    }}
    if (s != ESN_OK) {{
        return -(int)s;
    }}
    ctx->ready = 1u;
    return {name}_reset(ctx);
}}
"""
    # time-step-major resets the runtime here; a grouped schedule resets it when it runs the staged input
    runtime_reset = """    s = esn_reset(&ctx->rt);
    if (s != ESN_OK) {
        return -(int)s;
    }
""" if not low.steps else ""
    reset = f"""int {name}_reset({name}_ctx *ctx)
{{
{"    esn_status s;" + chr(10) if not low.steps else ""}    if (ctx == NULL) {{
        return -(int)ESN_ERR_NULL;
    }}
    if (!ctx->ready) {{
        return -(int)ESN_ERR_STATE;
    }}
{runtime_reset}    memset(ctx->scores, 0, sizeof ctx->scores);
    ctx->steps = 0u;
    ctx->done = 0u;
    return {up}_OK;
}}
"""
    if not low.steps:
        body = f"""
{init}
{reset}
int {name}_step({name}_ctx *ctx, const {name}_input_t *input, int64_t *output)
{{
    const int64_t *y;
    uint32_t j;
    esn_status s;
    if (ctx == NULL || input == NULL) {{
        return -(int)ESN_ERR_NULL;
    }}
    if (!ctx->ready) {{
        return -(int)ESN_ERR_STATE;
    }}
    if (ctx->done) {{
        return {up}_DONE;
    }}
    s = {step};
    if (s != ESN_OK) {{
        return -(int)s;
    }}
    y = esn_output(&ctx->rt);
    for (j = 0u; j < {up}_OUTPUT_SIZE; ++j) {{
        {name}_add(&ctx->scores[j], y[j]);
        if (output != NULL) {{
            output[j] = y[j];
        }}
    }}
    ctx->steps += 1u;
    if (ctx->rt.exited) {{ /* the runtime's early exit fired after this step: the answer is ready */
        ctx->done = 1u;
        return {up}_DONE;
    }}
    return {up}_OK;
}}

{_counters_source(name, counters, "(ctx == NULL || !ctx->ready) ? NULL : esn_counters_of(&ctx->rt, layer, total)")}
"""
    else:
        body = f"""
/* The grouped schedule runs every group over all T steps before the next one (esn_schedule.c), so the
 * steps are staged in the runtime's input buffer and the whole input runs when the last one arrives. */
{init}
{reset}
int {name}_step({name}_ctx *ctx, const {name}_input_t *input, int64_t *output)
{{
    uint32_t t, j;
    esn_status s;
    if (ctx == NULL || input == NULL) {{
        return -(int)ESN_ERR_NULL;
    }}
    if (!ctx->ready) {{
        return -(int)ESN_ERR_STATE;
    }}
    if (ctx->done) {{
        return {up}_DONE;
    }}
    memcpy(esn_sched_input(&ctx->rt) + (size_t)ctx->steps * {up}_INPUT_SIZE, input,
           {up}_INPUT_SIZE * sizeof(*input));
    ctx->steps += 1u;
    if (ctx->steps < {up}_SCHED_STEPS) {{
        if (output != NULL) {{
            memset(output, 0, {up}_OUTPUT_SIZE * sizeof(*output));
        }}
        return {up}_OK;
    }}
    s = esn_sched_run(&ctx->rt, NULL);
    if (s != ESN_OK) {{
        return -(int)s;
    }}
    for (t = 0u; t < {up}_SCHED_STEPS; ++t) {{
        for (j = 0u; j < {up}_OUTPUT_SIZE; ++j) {{
            {name}_add(&ctx->scores[j], esn_sched_output(&ctx->rt, t, j));
        }}
    }}
    if (output != NULL) {{
        for (j = 0u; j < {up}_OUTPUT_SIZE; ++j) {{
            output[j] = esn_sched_output(&ctx->rt, {up}_SCHED_STEPS - 1u, j);
        }}
    }}
    ctx->done = 1u;
    return {up}_DONE;
}}

{_counters_source(name, counters, f"(ctx == NULL || !ctx->ready || !total || layer >= {up}_NUM_LAYERS) ? NULL "
                  ": &ctx->rt.total[layer]")}
"""
    return common_head + body


def _counters_source(name: str, counters: bool, expr: str) -> str:
    """NAME_counters: `expr` where the runtime counts; NULL, said so, in a library exported without counters."""
    if counters:
        return f"""const esn_counters *{name}_counters(const {name}_ctx *ctx, uint32_t layer, int total)
{{
    return {expr};
}}"""
    return f"""const esn_counters *{name}_counters(const {name}_ctx *ctx, uint32_t layer, int total)
{{
    (void)ctx;
    (void)layer;
    (void)total;
    return NULL; /* exported with --no-counters: the runtime counts nothing (ESN_ENABLE_COUNTERS 0) */
}}"""


def _port_source(name: str, source: str) -> str:
    up = name.upper()
    return f"""{_head(f"{name}: the runtime's board hooks, as no-ops", source)}
/*
 * The runtime calls two hooks (esn/esn_port.h): esn_port_cycles() around every layer of every step (its
 * counters' `cycles`; only where it counts: {up}_COUNTERS) and esn_port_log(). These return 0 and drop the message. Compile with
 * -D{up}_USER_PORT and define the three functions yourself to count cycles (DWT->CYCCNT on a Cortex-M3/4/7/33,
 * k_cycle_get_32() on Zephyr) or to see log lines; -DESN_ENABLE_CYCLES=0 removes the calls altogether.
 */
#ifndef {up}_USER_PORT

#include "esn/esn_port.h"

void esn_port_init(void) {{}}

uint32_t esn_port_cycles(void)
{{
    return 0u;
}}

void esn_port_log(const char *msg)
{{
    (void)msg;
}}

#else
typedef int {name}_user_port; /* ISO C wants a translation unit to declare something */
#endif
"""


def _host_example(name: str, inp: InputBinding, source: str) -> str:
    up = name.upper()
    return f"""{_head(f"{name}_example: one predicted class per line for the inputs of a .npy file", source)}
/*
 *     {name}_example INPUTS.npy
 *
 * INPUTS.npy: [N, T, ...] values of dtype {inp.npy_descr!s} (numpy's {inp.ctype}), C order, the trailing axes
 * {up}_INPUT_SIZE values in all. Prints, per input, the class {name}_infer returns (the model's early exit
 * applied), as `edgesnn simulate --engine fixed-c` predicts it. Exit status 1 with one line on stderr on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "{name}.h"

static {name}_ctx ctx;

static int fail(const char *path, const char *what)
{{
    fprintf(stderr, "{name}_example: %s: %s\\n", path, what);
    return 1;
}}

/* The .npy header (format versions 1 to 3): magic, version, header length, then a Python dict literal
 * {{'descr': ..., 'fortran_order': False, 'shape': (N, T, ...)}}; reads the shape into dims. */
static const char *read_npy_header(FILE *f, unsigned long dims[8], int *rank)
{{
    unsigned char pre[10];
    char *hdr, *p;
    unsigned long len;
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\\x93NUMPY", 6) != 0) {{
        return "not a .npy file";
    }}
    if (pre[6] == 1u) {{
        if (fread(pre + 8, 1, 2, f) != 2) {{
            return "truncated header";
        }}
        len = (unsigned long)pre[8] | ((unsigned long)pre[9] << 8);
    }} else if (pre[6] == 2u || pre[6] == 3u) {{
        unsigned char l4[4];
        if (fread(l4, 1, 4, f) != 4) {{
            return "truncated header";
        }}
        len = (unsigned long)l4[0] | ((unsigned long)l4[1] << 8) | ((unsigned long)l4[2] << 16)
            | ((unsigned long)l4[3] << 24);
    }} else {{
        return "unknown .npy version";
    }}
    if (len == 0ul || len > 65536ul) {{
        return "bad header length";
    }}
    hdr = (char *)malloc(len + 1ul);
    if (hdr == NULL || fread(hdr, 1, len, f) != len) {{
        free(hdr);
        return "truncated header";
    }}
    hdr[len] = '\\0';
    p = strstr(hdr, "'descr'");
    if (p == NULL || strstr(p, "'{inp.npy_descr}'") == NULL || strstr(p, "'{inp.npy_descr}'") > strchr(p, ',')) {{
        free(hdr);
        return "dtype must be {inp.npy_descr} ({inp.ctype})";
    }}
    if (strstr(hdr, "'fortran_order': False") == NULL) {{
        free(hdr);
        return "must be in C order (fortran_order False)";
    }}
    p = strstr(hdr, "'shape'");
    p = p == NULL ? NULL : strchr(p, '(');
    *rank = 0;
    while (p != NULL && *p != ')' && *rank < 8) {{
        char *end;
        unsigned long v = strtoul(p + 1, &end, 10);
        if (end == p + 1) {{
            break;
        }}
        dims[(*rank)++] = v;
        p = end;
        while (*p == ' ' || *p == ',') {{
            ++p;
        }}
        --p;
        if (p[1] == ')') {{
            break;
        }}
    }}
    free(hdr);
    return p == NULL ? "no shape" : NULL;
}}

int main(int argc, char **argv)
{{
    unsigned long dims[8], n, T, size = 1ul, i;
    int rank = 0, k, r;
    const char *err;
    {name}_input_t *x;
    FILE *f;
    if (argc != 2) {{
        fprintf(stderr, "usage: %s INPUTS.npy   ([N, T, ...] {inp.npy_descr}; prints one class per line)\\n", argv[0]);
        return 2;
    }}
    f = fopen(argv[1], "rb");
    if (f == NULL) {{
        return fail(argv[1], "cannot open");
    }}
    err = read_npy_header(f, dims, &rank);
    if (err != NULL) {{
        fclose(f);
        return fail(argv[1], err);
    }}
    if (rank < 3) {{
        fclose(f);
        return fail(argv[1], "need shape [N, T, ...]");
    }}
    for (k = 2; k < rank; ++k) {{
        size *= dims[k];
    }}
    n = dims[0];
    T = dims[1];
    if (size != {up}_INPUT_SIZE || T == 0ul) {{
        fclose(f);
        return fail(argv[1], "each step must hold {up}_INPUT_SIZE values");
    }}
    x = ({name}_input_t *)malloc(T * size * sizeof(*x));
    if (x == NULL) {{
        fclose(f);
        return fail(argv[1], "out of memory");
    }}
    r = {name}_init(&ctx);
    if (r < 0) {{
        free(x);
        fclose(f);
        return fail("init", {name}_error_str(r));
    }}
    for (i = 0ul; i < n; ++i) {{
        if (fread(x, sizeof(*x), T * size, f) != T * size) {{
            free(x);
            fclose(f);
            return fail(argv[1], "truncated data");
        }}
        r = {name}_infer(&ctx, x, (uint32_t)T, NULL);
        if (r < 0) {{
            free(x);
            fclose(f);
            return fail("infer", {name}_error_str(r));
        }}
        printf("%d\\n", r);
    }}
    free(x);
    fclose(f);
    return 0;
}}
"""


def _mcu_loop(name: str, steps: int) -> str:
    """The body every MCU example shares: a stand-in sensor fed step by step, one class per window."""
    up = name.upper()
    return f"""#define EXAMPLE_STEPS {steps}u  /* steps per window: the schedule's or the plan's T */

static {name}_ctx ctx; /* holds the model's arena ({up}_ARENA_BYTES): static, not on the stack */

/* Stand-in for your sensor: one step's values. Replace it with your own: spike counts per step, or an analog
 * model's readings through {name}_quantize_input. */
static void read_sensor({name}_input_t *x, uint32_t t)
{{
    uint32_t j;
    for (j = 0u; j < {up}_INPUT_SIZE; ++j) {{
        x[j] = ({name}_input_t)(((j * 7u + t * 3u) % 5u) == 0u);
    }}
}}

/* One window of up to EXAMPLE_STEPS steps, stopped early when the model is confident: its class, or < 0. */
static int classify_window(void)
{{
    {name}_input_t x[{up}_INPUT_SIZE];
    uint32_t t;
    int r = {name}_reset(&ctx);
    for (t = 0u; r == {up}_OK && t < EXAMPLE_STEPS; ++t) {{
        read_sensor(x, t);
        r = {name}_step(&ctx, x, NULL);
    }}
    return r < 0 ? r : {name}_predict(&ctx);
}}
"""


def _mcu_example_c(name: str, steps: int, source: str, *, zephyr: bool = False) -> str:
    up = name.upper()
    inc = "#include <zephyr/kernel.h>\n#include <zephyr/sys/printk.h>\n" if zephyr else "#include <stdio.h>\n"
    out = "printk" if zephyr else "printf"
    return f"""{_head(f"{name}: example main for a microcontroller", source)}
{inc}
#include "{name}.h"

{_mcu_loop(name, steps)}
int main(void)
{{
    int r = {name}_init(&ctx);
    if (r < 0) {{
        {out}("{name}: init failed: %s\\n", {name}_error_str(r));
        return 1;
    }}
    r = classify_window();
    if (r < 0) {{
        {out}("{name}: %s\\n", {name}_error_str(r));
        return 1;
    }}
    {out}("class %d after %u of %u steps\\n", r, (unsigned){name}_steps(&ctx), (unsigned)EXAMPLE_STEPS);
    return 0;
}}
"""


def _arduino_sketch(name: str, steps: int, source: str) -> str:
    return f"""// {name}: example sketch. Generated by edgesnn {__version__} (edgesnn.emit.library) from {source}.
// Classifies one window of a stand-in sensor every second and prints the class on Serial.
#include <{name}.h>

{_mcu_loop(name, steps)}
void setup()
{{
    Serial.begin(115200);
    int r = {name}_init(&ctx);
    if (r < 0) {{
        Serial.print("{name}: init failed: ");
        Serial.println({name}_error_str(r));
    }}
}}

void loop()
{{
    int r = classify_window();
    Serial.print("class ");
    Serial.print(r);
    Serial.print(" after ");
    Serial.print((unsigned){name}_steps(&ctx));
    Serial.println(" steps");
    delay(1000);
}}
"""


# ---------------------------------------------------------------------------------------------------------
# Build files

def _cmake_lists(name: str, lib_sources: list[str], source: str) -> str:
    srcs = "\n".join(f"    {s}" for s in lib_sources)
    return f"""# {name}: the model {source} and the edgesnn runtime as a static library.
# Generated by edgesnn {__version__} (edgesnn.emit.library). Do not edit.
#
#   host:       cmake -S . -B build && cmake --build build && ./build/{name}_example INPUTS.npy
#   Cortex-M:   cmake -S . -B build-m4 -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake -DEDGESNN_CPU=cortex-m4 \
#                     -DCMAKE_BUILD_TYPE=MinSizeRel
#               cmake --build build-m4        (lib{name}.a; EDGESNN_CPU: cortex-m0plus, cortex-m4, cortex-m33, ...)
#   in your project: add_subdirectory(path/to/{name}) and target_link_libraries(app PRIVATE {name})
cmake_minimum_required(VERSION 3.13)
project({name} LANGUAGES C)

option({name.upper()}_EXAMPLE "build the example program" ON)
option({name.upper()}_USER_PORT "your own esn_port_init/cycles/log instead of {name}_port.c's no-ops" OFF)

add_library({name} STATIC
{srcs}
)
set_target_properties({name} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_include_directories({name} PUBLIC include runtime/include PRIVATE src runtime/src)
if({name.upper()}_USER_PORT)
    target_compile_definitions({name} PRIVATE {name.upper()}_USER_PORT)
endif()

if({name.upper()}_EXAMPLE)
    if(CMAKE_CROSSCOMPILING)
        # the microcontroller example, compiled (linking it needs your board's startup code and linker script)
        add_library({name}_example_mcu OBJECT examples/mcu/main.c)
        target_link_libraries({name}_example_mcu PRIVATE {name})
    else()
        add_executable({name}_example examples/host/main.c)
        target_link_libraries({name}_example PRIVATE {name})
    endif()
endif()
"""


_TOOLCHAIN = """# arm-none-eabi-gcc for Cortex-M. Generated by edgesnn {version} (edgesnn.emit.library).
#
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake -DEDGESNN_CPU=cortex-m4 \
#         -DCMAKE_BUILD_TYPE=MinSizeRel
#
# Extra compiler flags: the CFLAGS environment variable or add_compile_options(); setting CMAKE_C_FLAGS on the
# command line replaces the core's flags below.
# EDGESNN_CPU: the core (-mcpu): cortex-m0, cortex-m0plus, cortex-m3, cortex-m4 (hard float, DSP kernels),
# cortex-m7, cortex-m33 (hard float, DSP kernels), cortex-m55. EDGESNN_ARM_PREFIX: the compiler's prefix
# (default arm-none-eabi-, found on PATH). Sections per function let the linker drop what is not called.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)  # no startup code here: check the compiler with a library
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGESNN_CPU EDGESNN_ARM_PREFIX)

if(NOT EDGESNN_CPU)
    set(EDGESNN_CPU cortex-m4)
endif()
if(NOT EDGESNN_ARM_PREFIX)
    set(EDGESNN_ARM_PREFIX arm-none-eabi-)
endif()
set(CMAKE_C_COMPILER ${EDGESNN_ARM_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${EDGESNN_ARM_PREFIX}g++)
set(CMAKE_ASM_COMPILER ${EDGESNN_ARM_PREFIX}gcc)
set(CMAKE_AR ${EDGESNN_ARM_PREFIX}ar)
set(CMAKE_RANLIB ${EDGESNN_ARM_PREFIX}ranlib)
set(CMAKE_OBJCOPY ${EDGESNN_ARM_PREFIX}objcopy)
set(CMAKE_SIZE ${EDGESNN_ARM_PREFIX}size)

set(_edgesnn_fpu "-mfloat-abi=soft")
if(EDGESNN_CPU STREQUAL "cortex-m4")
    set(_edgesnn_fpu "-mfpu=fpv4-sp-d16 -mfloat-abi=hard")
elseif(EDGESNN_CPU STREQUAL "cortex-m7")
    set(_edgesnn_fpu "-mfpu=fpv5-d16 -mfloat-abi=hard")
elseif(EDGESNN_CPU STREQUAL "cortex-m33")
    set(_edgesnn_fpu "-mfpu=fpv5-sp-d16 -mfloat-abi=hard")
endif()
set(CMAKE_C_FLAGS_INIT "-mcpu=${EDGESNN_CPU} -mthumb ${_edgesnn_fpu} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
"""


def _zephyr_files(name: str, lib_sources: list[str], steps: int, source: str) -> dict[str, str]:
    up = name.upper()
    cfg = f"EDGESNN_{up}"
    srcs = "\n".join(f"    ${{ZEPHYR_CURRENT_MODULE_DIR}}/{s}" for s in lib_sources)
    return {
        "zephyr/module.yml": f"""# Zephyr module: the model {source} and the edgesnn runtime.
# Generated by edgesnn {__version__} (edgesnn.emit.library).
name: {name.replace("_", "-")}
build:
  cmake: zephyr
  kconfig: zephyr/Kconfig
""",
        "zephyr/CMakeLists.txt": f"""# Generated by edgesnn {__version__} (edgesnn.emit.library). Enabled by CONFIG_{cfg}.
if(CONFIG_{cfg})
  zephyr_library_named({name})
  zephyr_library_sources(
{srcs}
  )
  zephyr_include_directories(
    ${{ZEPHYR_CURRENT_MODULE_DIR}}/include
    ${{ZEPHYR_CURRENT_MODULE_DIR}}/runtime/include
  )
  zephyr_library_include_directories(
    ${{ZEPHYR_CURRENT_MODULE_DIR}}/src
    ${{ZEPHYR_CURRENT_MODULE_DIR}}/runtime/src
  )
  zephyr_library_compile_definitions_ifdef(CONFIG_{cfg}_USER_PORT {up}_USER_PORT)
endif()
""",
        "zephyr/Kconfig": f"""# Generated by edgesnn {__version__} (edgesnn.emit.library).
config {cfg}
	bool "edgesnn model {name}"
	help
	  The spiking neural network {source} compiled in (weights const, in
	  flash) with the edgesnn runtime: include {name}.h and call
	  {name}_init, {name}_step / {name}_infer. No heap; the arena is
	  inside {name}_ctx.

config {cfg}_USER_PORT
	bool "Own runtime hooks (esn_port_init, esn_port_cycles, esn_port_log)"
	depends on {cfg}
	help
	  Leave out {name}_port.c's no-op hooks and define them in the
	  application, e.g. esn_port_cycles() returning k_cycle_get_32(), to
	  fill the counters' cycles.
""",
        f"samples/{name}/CMakeLists.txt": f"""# Generated by edgesnn {__version__} (edgesnn.emit.library).
#   west build -b <board> samples/{name}      (from the module's folder)
cmake_minimum_required(VERSION 3.20.0)
list(APPEND ZEPHYR_EXTRA_MODULES ${{CMAKE_CURRENT_SOURCE_DIR}}/../..)
find_package(Zephyr REQUIRED HINTS $ENV{{ZEPHYR_BASE}})
project({name}_sample)
target_sources(app PRIVATE src/main.c)
""",
        f"samples/{name}/prj.conf": f"CONFIG_{cfg}=y\nCONFIG_PRINTK=y\n",
        f"samples/{name}/src/main.c": _mcu_example_c(name, steps, source, zephyr=True),
    }


def _arduino_properties(name: str, source: str) -> str:
    return f"""name={name}
version={_semver()}
author=edgesnn {__version__}
maintainer=edgesnn
sentence=The spiking neural network {Path(source).name} with the edgesnn runtime, compiled in.
paragraph=Generated by edgesnn export-c: const weights in flash, a static arena, no heap. Call {name}_init, then {name}_step per time step or {name}_infer per input.
category=Data Processing
url=https://pypi.org/project/edgesnn/
architectures=*
includes={name}.h
"""


def _semver() -> str:
    parts = (re.findall(r"\d+", __version__) + ["0", "0", "0"])[:3]
    return ".".join(parts)


def _pio_manifest(name: str, source: str) -> str:
    return json.dumps({
        "name": name,
        "version": _semver(),
        "description": f"The spiking neural network {Path(source).name} with the edgesnn runtime, compiled in "
                       "(generated by edgesnn export-c)",
        "keywords": ["snn", "spiking", "neural network", "edgesnn", "tinyml"],
        "license": "Apache-2.0",
        "frameworks": "*",
        "platforms": "*",
        "headers": [f"{name}.h"],
        "build": {"srcDir": "src", "includeDir": "src", "flags": ["-std=gnu99"]},
        "examples": [{"name": "stream", "base": "examples/stream", "files": ["main.c"]}],
    }, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------------------
# The tree

def library_files(qgraph: QGraph, target: str, name: str, *, schedule="time", steps: int | None = None,
                  source: str = "model", example_steps: int | None = None, facts: dict | None = None,
                  runtime: Path | None = None, counters: bool = False) -> Library:
    """Every file of the library, by path relative to its folder.

    schedule / steps: the plan's schedule (edgesnn.lower); facts: what the README states about the model
    (quant, exit_text, schedule_text, plan lines); example_steps: the window of the MCU examples; counters:
    whether the runtime counts (module docstring; default off: a release build)."""
    if target not in TARGETS:
        raise EmitError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    check_name(name)
    low = lower(qgraph, schedule, steps, counters=counters)
    inp = input_binding(low)
    model = c_sources(qgraph, f"{name}", schedule, steps, counters=counters)
    model_c = model["model.c"].decode()
    if model_c.count('#include "model.h"') != 1:
        raise EmitError("edgesnn.emit.csource's model.c no longer includes \"model.h\" once: update emit/library.py")
    model_c = model_c.replace('#include "model.h"', f'#include "{name}_model.h"')
    model_h = model["model.h"].decode().replace(f"{name.upper()}_ARENA_BYTES", f"{name.upper()}_MODEL_ARENA_BYTES")
    for k in ("INPUT_SIZE", "OUTPUT_SIZE", "SCHED_STEPS"):
        model_h = model_h.replace(f"#define {name.upper()}_{k} ", f"#define {name.upper()}_MODEL_{k} ")
    weights = sum(nd.param_nbytes(s) for nd in low.nodes for s in nd.params)
    facts = {"quant": "", "exit": qgraph.exit is not None, "exit_text": "no early exit",
             "schedule_text": "time-step-major", "weight_bytes": weights, "plan": [], **(facts or {})}
    facts["weight_bytes"] = weights
    window = low.steps or example_steps or 16
    headers, rt_sources, kept, left = _runtime_files(low, Path(runtime or RUNTIME_C))
    headers["esn_config.h"] = _config_header(headers["esn_config.h"], counters, low)

    ours = {f"{name}.c": _api_source(name, low, inp, source), f"{name}_model.c": model_c,
            f"{name}_model.h": model_h, f"{name}_port.c": _port_source(name, source)}
    public = _api_header(name, low, inp, facts, source)
    files: dict[str, str | bytes] = {}
    if target in ("cmake", "zephyr"):
        files[f"include/{name}.h"] = public
        files.update({f"src/{k}": v for k, v in ours.items()})
        files.update({f"runtime/include/esn/{k}": v for k, v in headers.items()})
        files.update({f"runtime/src/{k}": v for k, v in rt_sources.items()})
        lib_sources = [f"src/{k}" for k in ours if k.endswith(".c")] + [f"runtime/src/{k}" for k in kept]
        if target == "cmake":
            files["CMakeLists.txt"] = _cmake_lists(name, lib_sources, source)
            files["cmake/arm-none-eabi.cmake"] = _TOOLCHAIN.replace("{version}", __version__)
            files["examples/host/main.c"] = _host_example(name, inp, source)
            files["examples/mcu/main.c"] = _mcu_example_c(name, window, source)
        else:
            files.update(_zephyr_files(name, lib_sources, window, source))
    else:  # arduino, platformio: one src/ folder is the include root (esn/ headers beside the API header)
        files[f"src/{name}.h"] = public
        files.update({f"src/{k}": v for k, v in ours.items()})
        files.update({f"src/esn/{k}": v for k, v in headers.items()})
        files.update({f"src/runtime/{k}": v for k, v in rt_sources.items()})
        if target == "arduino":
            files["library.properties"] = _arduino_properties(name, source)
            files[f"examples/{name}_stream/{name}_stream.ino"] = _arduino_sketch(name, window, source)
        else:
            files["library.json"] = _pio_manifest(name, source)
            files["examples/stream/main.c"] = _mcu_example_c(name, window, source)
    files["README.md"] = _readme(name, target, low, inp, facts, source, kept, left, window)
    ctx_bytes = low.arena_bytes + 8 * low.output_size + 128
    return Library({k: (v.encode() if isinstance(v, str) else v) for k, v in sorted(files.items())}, kept, left,
                   low.arena_bytes, weights, ctx_bytes)


def _readme(name, target, low, inp, facts, source, kept, left, window) -> str:
    up = name.upper()
    build = {
        "cmake": f"""```sh
cmake -S . -B build && cmake --build build          # host: lib{name}.a and {name}_example
./build/{name}_example INPUTS.npy                   # [N, T, ...] {inp.npy_descr}: one class per line
cmake -S . -B build-m4 -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake -DEDGESNN_CPU=cortex-m4 \
      -DCMAKE_BUILD_TYPE=MinSizeRel
cmake --build build-m4                              # lib{name}.a for a Cortex-M4 (cortex-m0plus, cortex-m33, ...)
```

In your own CMake project: `add_subdirectory({name})` and `target_link_libraries(app PRIVATE {name})`.
`examples/mcu/main.c` shows the step-by-step loop on a microcontroller.""",
        "arduino": f"""Copy this folder into your sketchbook's `libraries/` (or Sketch > Include Library > Add .ZIP Library
on a zip of it), then open File > Examples > {name} > {name}_stream. The Arduino builder compiles
everything under `src/` (the runtime in `src/runtime/`, its headers in `src/esn/`).""",
        "zephyr": f"""A Zephyr module: add this folder to `ZEPHYR_EXTRA_MODULES` (or to your west manifest), set
`CONFIG_EDGESNN_{up}=y` in `prj.conf`, and `#include "{name}.h"`. The sample:

```sh
west build -b <board> samples/{name}
```""",
        "platformio": f"""A PlatformIO library: put this folder in your project's `lib/` (or refer to it in `lib_deps`) and
`#include "{name}.h"`; `examples/stream/main.c` is an example main.""",
    }[target]
    plan = "".join(f"- {line}\n" for line in facts.get("plan", []))
    lefts = "".join(f"  `{k}` ({v})\n" for k, v in left.items()) or "  nothing\n"
    return f"""# {name}: {Path(source).name} as a C library ({target})

Generated by edgesnn {__version__} (`edgesnn export-c`) from `{source}`. The model's weights are const
tables (flash), the runtime is edgesnn's portable C99 runtime: no heap, nothing from libc beyond
`string.h`, bit-exact with `edgesnn simulate --engine fixed-c`.

## The model

- quantized {facts['quant']}
- {facts['exit_text']}
- schedule: {facts['schedule_text']}
- input: {low.input_size} values per step ({up}_INPUT_SIZE), each {inp.what} (`{name}_input_t`, `{inp.ctype}`)
- output: {low.output_size} values per step ({up}_OUTPUT_SIZE); the class is the argmax of their sum
- weights and parameters: {facts['weight_bytes']:,} B const; arena: {low.arena_bytes:,} B ({up}_ARENA_BYTES)
- counters: {"on (exported with --counters): the runtime counts each layer's activity, 128 B of the arena a layer"
              if low.counters else "off (exported with --no-counters, a release build): the runtime counts nothing, "
              f"its arena holds no counters and `{name}_counters` returns NULL; export with --counters to read them"}
{plan}
## Memory

`{name}_ctx` holds everything that changes: the arena ({low.arena_bytes:,} B, planned offline by edgesnn,
exact), the summed outputs ({8 * low.output_size} B) and the runtime's context (under 100 B). Declare it
`static` or global (not on a small stack). One context per thread; contexts never share state.

## API (`{name}.h`)

```c
static {name}_ctx ctx;
{name}_init(&ctx);                               /* validates the model, lays out the arena */
int cls = {name}_infer(&ctx, x, T, scores);      /* x [T][{up}_INPUT_SIZE]: reset, run with the early exit, argmax */
/* or, as a sensor delivers: */
{name}_reset(&ctx);
while ({name}_step(&ctx, x_t, NULL) == {up}_OK && more_steps()) read_next(x_t);
cls = {name}_predict(&ctx);                      /* {name}_steps(&ctx): how many steps it took */
{name}_counters(&ctx, layer, 1);                 /* synops, spikes, bytes, cycles per layer{
    "" if low.counters else ": NULL here (--no-counters)"} */
```

Negative returns are `-esn_status` codes; `{name}_error_str(code)` names them. The example's window is
{window} steps. See edgesnn's docs/c-api.md for the whole API.

## Building

{build}

## The runtime's files

Copied from edgesnn's runtime_c: every header, and the sources this model runs
({", ".join(f"`{k}`" for k in kept)}). Left out, not needed by a compiled-in model with this schedule:
{lefts}
The board hooks are `src/{name}_port.c`'s no-ops (cycles read 0); define `{up}_USER_PORT` and your own
`esn_port_init`, `esn_port_cycles`, `esn_port_log` to count cycles. One exported library per firmware:
two would define the runtime twice.
"""


# ---------------------------------------------------------------------------------------------------------
# Writing

def write_tree(out_dir: str | os.PathLike, files: dict[str, bytes], force: bool = False) -> Path:
    """Writes `files` (relative path -> bytes) as the folder out_dir, all or nothing: into a fresh temporary
    folder beside it, then renamed into place. An existing non-empty out_dir is refused unless `force`, which
    replaces it whole (the old one is moved aside first and put back if the rename fails)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EmitError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise EmitError(f"{out}: exists and is not empty; give another -o, or --force to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise EmitError(f"{out}: cannot write the library ({e.strerror or e})") from None
    old = None
    try:
        for rel, data in files.items():
            p = tmp / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise EmitError(f"{rel!r}: not a path inside the library")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # as mkdir would make it: mkdtemp's 0700 would keep it private
        if out.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.rename(out, old / "dir")
        try:
            os.rename(tmp, out)
        except OSError:
            if old is not None:
                os.rename(old / "dir", out)
            raise
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EmitError(f"{out}: cannot write the library ({e.strerror or e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out
