"""Estimated cycles from the instructions a firmware executed and its core's published timings.

QEMU counts instructions, not cycles (`-icount`). This module turns the executed instruction stream of a
firmware (every executed pc, in order: `read_trace` reads it from QEMU's `-singlestep -d exec,nochain` log,
edgesnn.device.qemu.QemuTarget(trace=PATH) writes that log) into cycle-approximate figures:

    code = disassemble(fw.elf)                       # arm-none-eabi-objdump -d: every instruction's size and kind
    pcs = read_trace(path)                           # executed pcs, in order
    est = estimate(code, pcs, "cortex-m4")           # Estimate: cycles per executed instruction
    est.by_function()                                # {function: (instructions, estimated cycles)}
    est.calls("esn_step")                            # [(start, end)) index spans of each call
    runs = per_input(est); layers = per_node(est)    # the runtime's windows (esn_reset, esn_step, esn_port_cycles)

The cost of one executed instruction is TIMINGS[core]'s entry for its class (base + per_reg * registers
transferred), plus the core's pipeline refill P when it is a control transfer that was taken. Taken or
not is read off the stream: an instruction is taken iff the next executed pc is not its fall-through
address (pc + size). Consecutive single loads/stores pipeline on the M3/M4 (TRM: "Neighboring load and
store single instructions can pipeline their address and data phases"): the second costs 1, except
after a store with a register offset.

What it is not (it is an estimate, "estimated cycles"; QEMU's counts are "instructions"):
- memory is zero-wait: the QEMU boards' flash and SRAM have no wait states in the board files, and the
  table's load/store cycles are those of zero-wait memory. A real board's flash wait states (e.g. the
  F446RE's 5 at 180 MHz behind the ART cache) are not added.
- data-dependent timings take one documented value: SDIV/UDIV their worst case (12 on M3/M4), because the
  trace carries no operands and the runtime divides rarely (the early-exit entropy), so the bound is
  cheap; the M3's long multiplies likewise their worst case.
- an instruction inside an IT block whose condition fails is charged as if it executed (the trace holds
  its pc either way); IT itself costs 1 (the M3/M4 may fold it into the previous 16-bit instruction: 0).
- exception entry and exit (12 cycles on M3/M4, 16 on M0) are not charged; the runtime takes no
  interrupts while it computes (SysTick's wrap handler aside).
- Cortex-M7 and Cortex-M33: their TRMs publish no instruction timing tables. The M33 (3-stage pipeline,
  Armv8-M Mainline) is given the M4's table; the M7 (6-stage, dual issue, branch prediction) a single-issue
  table with 1-cycle loads and P = 1 (a mispredicted branch costs more, a dual-issued pair less): both are
  labelled approximations in their `source`.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgesnnError
from ..progress import Progress
from .build import find_tool

# Instruction classes. Every mnemonic the compiler emits for the runtime maps to one class (after its
# width suffix .w/.n, its data-type suffix (.f32, .32) and its condition code are stripped; an `s`
# flag-setting suffix is tried off too). A class the table does not price, or a mnemonic with no class,
# is an error naming it: never a silent 1.
CLASSES = {
    "alu": "mov mvn add addw adc sub subw sbc rsb rsc neg and orr orn eor bic cmp cmn tst teq lsl lsr asr ror rrx "
           "movw movt adr clz rbit rev rev16 revsh sxtb sxth uxtb uxth bfc bfi sbfx ubfx ssat usat "
           "cpy nop sev wfe wfi yield cpsid cpsie",
    "ext_add": "sxtab sxtah uxtab uxtah sxtab16 uxtab16 sxtb16 uxtb16",
    "dsp": "qadd qsub qdadd qdsub qadd8 qadd16 qsub8 qsub16 sadd8 sadd16 ssub8 ssub16 uadd8 uadd16 usub8 usub16 "
           "shadd8 shadd16 shsub8 shsub16 uqadd8 uqadd16 uqsub8 uqsub16 sasx ssax uasx usax qasx qsax "
           "sel usad8 usada8 pkhbt pkhtb ssat16 usat16",
    "mul": "mul",
    "mla": "mla mls",
    "mull": "smull umull",
    "mlal": "smlal umlal",
    "dspmul": "smulbb smulbt smultb smultt smulwb smulwt smmul smmulr smuad smuadx smusd smusdx "
              "smlabb smlabt smlatb smlatt smlawb smlawt smlad smladx smlsd smlsdx smmla smmlar smmls smmlsr "
              "smlalbb smlalbt smlaltb smlaltt smlald smlaldx smlsld smlsldx umaal",
    "div": "sdiv udiv",
    "load": "ldr ldrb ldrh ldrsb ldrsh ldrt ldrbt ldrht ldrsbt ldrsht ldrex ldrexb ldrexh",
    "store": "str strb strh strt strbt strht strex strexb strexh",
    "ldrd": "ldrd",
    "strd": "strd",
    "ldm": "ldm ldmia ldmfd ldmdb ldmea",
    "stm": "stm stmia stmea stmdb stmfd",
    "push": "push",
    "pop": "pop",
    "b": "b",
    "bl": "bl",
    "bx": "bx blx",
    "cbz": "cbz cbnz",
    "tbb": "tbb tbh",
    "it": "it itt ite ittt itte itet itee itttt ittte ittet ittee itett itete iteet iteee",
    "barrier": "dmb dsb isb",
    "sys": "mrs msr svc bkpt udf clrex",
    "fp": "vadd vsub vmul vnmul vabs vneg vcmp vcmpe vmov vcvt vcvtr vmrs vmsr",
    "fpmac": "vmla vmls vnmla vnmls vfma vfms vfnma vfnms",
    "fpdiv": "vdiv vsqrt",
    "vldr": "vldr vstr",
    "vldm": "vldm vldmia vldmdb vstm vstmia vstmdb vpush vpop",
}
MNEMONIC_CLASS = {m: cls for cls, ms in CLASSES.items() for m in ms.split()}
CONTROL = {"b", "bl", "bx", "cbz", "tbb"}   # classes that always or conditionally transfer control
MULTI = {"ldm", "stm", "push", "pop", "vldm"}  # cost grows with the number of registers transferred
SINGLE_LS = {"load", "store"}                  # pipelined neighbours on the M3/M4
_CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")


@dataclass(frozen=True)
class CoreTiming:
    """One core's instruction timings: cycles per class as (base, per register transferred); P is the
    pipeline refill a taken control transfer adds (also a write to pc: pop {..pc}, ldr pc, mov/add pc);
    pipelined_ls: neighbouring single loads/stores cost 1 after the first."""
    core: str
    source: str
    P: int
    pipelined_ls: bool
    costs: dict[str, tuple[int, int]]

    def cost(self, cls: str) -> tuple[int, int]:
        try:
            return self.costs[cls]
        except KeyError:
            raise EdgesnnError(f"{self.core}: no timing for instruction class {cls!r} "
                               f"(edgesnn/firmware/cycles.py TIMINGS)") from None


def _m4_costs(**over) -> dict[str, tuple[int, int]]:
    c = {"alu": (1, 0), "ext_add": (1, 0), "dsp": (1, 0), "mul": (1, 0), "mla": (1, 0), "mull": (1, 0),
         "mlal": (1, 0), "dspmul": (1, 0), "div": (12, 0), "load": (2, 0), "store": (2, 0), "ldrd": (3, 0),
         "strd": (3, 0), "ldm": (1, 1), "stm": (1, 1), "push": (1, 1), "pop": (1, 1), "b": (1, 0),
         "bl": (1, 0), "bx": (1, 0), "cbz": (1, 0), "tbb": (2, 0), "it": (1, 0), "barrier": (2, 0),
         "sys": (2, 0), "fp": (1, 0), "fpmac": (3, 0), "fpdiv": (14, 0), "vldr": (2, 0), "vldm": (1, 1)}
    c.update(over)
    return c


_M0_COSTS = {"alu": (1, 0), "mul": (1, 0), "load": (2, 0), "store": (2, 0), "ldm": (1, 1), "stm": (1, 1),
             "push": (1, 1), "pop": (1, 1), "b": (1, 0), "bl": (2, 0), "bx": (1, 0), "barrier": (4, 0),
             "sys": (4, 0)}

TIMINGS: dict[str, CoreTiming] = {
    # Cortex-M0 TRM (Arm DDI 0432C), sec. 3.3 "Instruction set summary", Table 3-1: data processing 1,
    # MULS 1 (the fast-multiplier option; 32 with the small one: the nRF51's is the fast one),
    # LDR/STR 2, LDM/STM/PUSH/POP 1+N, POP {..,pc} 4+N, B<cc> 1 not taken / 3 taken, B 3, BL 4, BX/BLX 3,
    # ADD/MOV pc 3, DMB/DSB/ISB 4, MRS/MSR 4. P = 2: taken B<cc> 3 = 1 + P, BL 4 = 2 + P, BX 3 = 1 + P,
    # POP {..,pc} 4+N = (1+N) + P + 1 (POP_PC_EXTRA).
    "cortex-m0": CoreTiming("cortex-m0", "Cortex-M0 TRM (DDI 0432C) sec. 3.3, Table 3-1", 2, False, dict(_M0_COSTS)),
    # Cortex-M0+ TRM (Arm DDI 0484C), sec. 3.3 "Instruction set summary", Table 3-1: as the M0 with a
    # 2-stage pipeline: B<cc> taken 2, B 2, BL 3, BX/BLX 2, POP {..,pc} 3+N, ADD/MOV pc 2. P = 1.
    "cortex-m0plus": CoreTiming("cortex-m0plus", "Cortex-M0+ TRM (DDI 0484C) sec. 3.3, Table 3-1", 1, False,
                                dict(_M0_COSTS)),
    # Cortex-M3 TRM (Arm DDI 0337H), sec. 18.2 "Processor instruction timings", Table 18-1: data processing
    # 1, MUL 1, MLA/MLS 2, UMULL/SMULL 3-5 (5 used), UMLAL/SMLAL 4-7 (7 used), SDIV/UDIV 2-12 (12 used),
    # LDR 2, STR 2 (neighbouring single loads/stores pipeline: 1), LDRD/STRD 1+N = 3, LDM/STM/PUSH/POP
    # 1+N, B<cc> 1 or 1+P, B/BL/BX/BLX 1+P, CBZ 1 or 1+P, TBB/TBH 2+P, IT 1 (0 when folded), POP/LDM pc
    # 1+N+P, barriers 1+B (B = 1 used). P = 1..3 ("pipeline refill, depending on alignment and width of
    # the target and whether the address is speculated"): 2 used. No DSP extension, no FPU.
    "cortex-m3": CoreTiming("cortex-m3", "Cortex-M3 TRM (DDI 0337H) sec. 18.2, Table 18-1", 2, True,
                            {k: v for k, v in _m4_costs(mla=(2, 0), mull=(5, 0), mlal=(7, 0)).items()
                             if k not in ("dsp", "dspmul", "fp", "fpmac", "fpdiv", "vldr", "vldm")}),
    # Cortex-M4 TRM (Arm DDI 0439B), sec. 3.3.1 "Cortex-M4 instructions", Table 3-1, and sec. 3.3.2
    # "Load/store timings": data processing 1, MUL/MLA/MLS 1, SMULL/UMULL/SMLAL/UMLAL 1, the DSP
    # multiplies (SMLA*, SMLAD, SMMLA, ...) 1, SXTAB & co. 1, SDIV/UDIV 2-12 (12 used), LDR 2 (1 when
    # pipelined after a single load/store), STR 2 (same), LDRD/STRD 1+N = 3, LDM/STM/PUSH/POP 1+N,
    # B<cc> 1 or 1+P, B/BL/BX/BLX 1+P, CBZ/CBNZ 1 or 1+P, TBB/TBH 2+P, IT 1, POP {..,pc}/LDM pc 1+N+P,
    # barriers 1+B (B = 1 used), MRS/MSR 1-2 (2 used); FPU (Table 7-1, sec. 7.2.3): VADD/VMUL/VCVT 1,
    # VMLA/VFMA 3, VDIV/VSQRT 14, VLDR/VSTR 2, VLDM/VSTM/VPUSH/VPOP 1+N. P = 1..3: 2 used.
    "cortex-m4": CoreTiming("cortex-m4", "Cortex-M4 TRM (DDI 0439B) sec. 3.3.1 Table 3-1, sec. 3.3.2; "
                                         "FPU sec. 7.2.3 Table 7-1", 2, True, _m4_costs()),
    # Cortex-M7 TRM (Arm DDI 0489F) publishes no instruction timings (6-stage dual-issue pipeline, branch
    # prediction). APPROXIMATION: single issue, 1 per instruction, loads/stores 1 (TCM, pipelined), LDM/STM
    # 1+N, SDIV/UDIV 12, P = 1 (a correctly predicted branch costs 0, a mispredicted one ~8).
    "cortex-m7": CoreTiming("cortex-m7", "approximation: the Cortex-M7 TRM (DDI 0489F) publishes no instruction "
                                         "timings; single-issue, 1-cycle loads, P = 1", 1, False,
                            _m4_costs(load=(1, 0), store=(1, 0), ldrd=(2, 0), strd=(2, 0), vldr=(1, 0),
                                      fpmac=(1, 0), fpdiv=(14, 0))),
    # Cortex-M33 TRM (Arm 100230) publishes no instruction timings; its 3-stage Armv8-M Mainline pipeline
    # is the M4's in shape. APPROXIMATION: the M4's table.
    "cortex-m33": CoreTiming("cortex-m33", "approximation: the Cortex-M33 TRM (100230) publishes no instruction "
                                           "timings; the Cortex-M4's table (3-stage pipeline like the M33's)", 2,
                             True, _m4_costs()),
}
TIMINGS["cortex-m4f"] = TIMINGS["cortex-m4"]
TIMINGS["cortex-m7f"] = TIMINGS["cortex-m7"]
POP_PC_EXTRA = {"cortex-m0": 1, "cortex-m0plus": 1}   # M0/M0+: POP {..,pc} costs one more than 1+N+P


def timing(core: str) -> CoreTiming:
    try:
        return TIMINGS[core]
    except KeyError:
        raise EdgesnnError(f"no instruction timings for core {core!r} (known: {', '.join(sorted(TIMINGS))})") \
            from None


def classify(mnemonic: str) -> str:
    """The instruction class of an objdump mnemonic; EdgesnnError naming it if it has none."""
    m = mnemonic.lower().split(".", 1)[0]
    cands = [m]
    for c in _CONDS:
        if m.endswith(c) and len(m) > len(c):
            cands.append(m[:-len(c)])
    if m.endswith("s"):
        cands.append(m[:-1])
        cands += [m[:-1 - len(c)] for c in _CONDS if m[:-1].endswith(c) and len(m) - 1 > len(c)]
    for c in cands:
        if c in MNEMONIC_CLASS:
            return MNEMONIC_CLASS[c]
    raise EdgesnnError(f"instruction {mnemonic!r} has no timing class (edgesnn/firmware/cycles.py CLASSES)")


@dataclass
class Insn:
    addr: int
    size: int
    mnemonic: str
    operands: str
    function: str

    @property
    def cls(self) -> str:
        return classify(self.mnemonic)

    @property
    def regs(self) -> int:
        """Registers a multiple load/store transfers ({r4, r5, r6, r8}: 4; {d8-d9}, {s16-s19}: ranges)."""
        m = re.search(r"\{([^}]*)\}", self.operands)
        if not m:
            return 0
        n = 0
        for part in m.group(1).split(","):
            part = part.strip()
            r = re.fullmatch(r"([rsd])(\d+)\s*-\s*[rsd](\d+)", part)
            n += int(r.group(3)) - int(r.group(2)) + 1 if r else 1
        return n

    @property
    def writes_pc(self) -> bool:
        ops = self.operands.replace(" ", "")
        cls = self.cls
        if cls in ("pop", "ldm"):
            return "pc" in re.findall(r"[a-z0-9]+", ops.split("{", 1)[-1])
        if cls in ("load", "alu"):
            return ops.startswith("pc,")
        return False


_LINE = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{4,8} ?)+)\s*\t(\S+)\s*(.*)$")
_FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")


@dataclass
class Code:
    """A firmware's instructions by address (objdump -d of its ELF)."""
    elf: Path
    insns: dict[int, Insn]
    functions: dict[str, int]   # name -> entry address

    def at(self, pc: int) -> Insn:
        try:
            return self.insns[pc]
        except KeyError:
            raise EdgesnnError(f"{self.elf}: no instruction at {pc:#x} in its disassembly") from None


def disassemble(elf: str | Path) -> Code:
    objdump = find_tool("arm-none-eabi-objdump", "run `make setup` or `apt-get install binutils-arm-none-eabi`")
    out = subprocess.run([objdump, "-d", str(elf)], check=True,
                         capture_output=True, text=True).stdout
    insns, funcs, func = {}, {}, "?"
    for line in out.splitlines():
        f = _FUNC.match(line)
        if f:
            func = f.group(2)
            funcs.setdefault(func, int(f.group(1), 16))
            continue
        m = _LINE.match(line)
        if not m or m.group(3).startswith("."):   # .word, .short: literal pools
            continue
        raw = m.group(2).split()
        size = sum(len(h) // 2 for h in raw)
        ops = m.group(4).split(";")[0].split("@")[0].strip()
        insns[int(m.group(1), 16)] = Insn(int(m.group(1), 16), size, m.group(3), ops, func)
    return Code(Path(elf), insns, funcs)


def static_returns(code: Code, targets: tuple[str, ...], within: tuple[str, ...] | None = None) -> list[int]:
    """Return addresses of every BL/BLX to one of `targets` (in functions `within`, or anywhere)."""
    entries = {code.functions[t] for t in targets if t in code.functions}
    out = []
    for a, ins in code.insns.items():
        if ins.cls == "bl" and (within is None or ins.function in within):
            try:
                if int(ins.operands.split()[0], 16) in entries:
                    out.append(a + ins.size)
            except (ValueError, IndexError):
                continue
    return sorted(out)


def runtime_ranges(code: Code, roots: tuple[str, ...] = ("esn_step", "esn_reset")) -> str:
    """QEMU `-dfilter` ranges that keep a trace to the code the runtime's windows need: every function but the
    firmware's serial server (esn_fw_*: it spins on the UART while the host prepares the next request; under
    -icount sleep=off that spin would fill the log), except the server functions `roots` reach by direct
    calls (the port's cycle-counter hooks); in the server functions left out, only the return point of each
    call of a root. Every esn_step and esn_reset call, and all they execute, stays in the log, so the
    windows' figures are those of an unfiltered trace (tests/firmware/test_cycles.py checks it). Keeping
    only what the roots reach directly would be smaller (no model loader) but loses the kernels the runtime
    reaches through function pointers: measured, digits_mlp's windows came out 7 % short."""
    order = sorted(code.insns)
    by_func: dict[str, list[int]] = {}
    for a in order:
        by_func.setdefault(code.insns[a].function, []).append(a)
    entry = {a: f for f, a in code.functions.items()}
    callees: dict[str, set] = {f: set() for f in by_func}
    for f, addrs in by_func.items():
        for a in addrs:
            ins = code.insns[a]
            if ins.mnemonic.split(".")[0] in ("bl", "b", "blx") and ins.operands.split(" ")[0]:
                try:
                    t = int(ins.operands.split()[0], 16)
                except ValueError:
                    continue
                if t in entry and entry[t] != f:
                    callees[f].add(entry[t])
    keep = {f for f in by_func if not f.startswith("esn_fw_")}
    todo, seen = list(roots), set(roots)
    while todo:                       # what the roots reach by direct calls (the port's hooks among them)
        for c in callees.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    keep |= seen
    # in the server functions left out, only the return point of each call of a root (the block after the
    # BL): there the root's call ends (Estimate.calls with filtered=True)
    rets = [(r, r + 2, False) for f in by_func if f not in keep for r in static_returns(code, roots, (f,))]
    spans = list(rets)
    for a in order:                   # runs of kept code in address order (two static functions may share a name)
        ins = code.insns[a]
        if ins.function in keep:
            if spans and spans[-1][1] == a and spans[-1][2]:
                spans[-1] = (spans[-1][0], a + ins.size, True)
            else:
                spans.append((a, a + ins.size, True))
    spans = sorted((lo, hi) for lo, hi, *_ in spans)
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return ",".join(f"{lo:#x}..{hi - 1:#x}" for lo, hi in merged)


# -- the executed stream --------------------------------------------------------------------------

_TRACE = re.compile(rb"^(?:Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/"
                    rb"|cpu_io_recompile: rewound execution of TB to ([0-9a-f]+)"
                    rb"|Stopped execution of TB chain before 0x[0-9a-f]+ \[([0-9a-f]+)\])", re.M)


def read_trace(path: str | Path, *, label: str | None = None, chunk_bytes: int = 32 << 20) -> np.ndarray:
    """Executed pcs, in order, from QEMU's `-singlestep -d exec,nochain` log (one translation block per
    instruction, each logged as it is entered). A block QEMU enters and then leaves unexecuted is logged
    again when it runs: "cpu_io_recompile: rewound execution of TB to PC" (an I/O access under -icount
    re-runs its block) and "Stopped execution of TB chain before ... [PC]" (an interrupt or the icount
    budget stopped it at its start) each take back the entry just logged for PC.

    The log is ~80 bytes per executed instruction (a digits-MLP input, ~750 k instructions: ~60 MB), so it
    is read in chunks of whole lines; `label`: a progress line on a terminal (edgesnn.progress), in MiB."""
    parts: list[np.ndarray] = []
    cur: list[int] = []
    for text in _whole_lines(path, chunk_bytes, label):
        for exec_pc, rewound, stopped in _TRACE.findall(text):
            if exec_pc:
                cur.append(int(exec_pc, 16))
            else:
                back = int(rewound or stopped, 16)
                if not cur and parts and len(parts[-1]) and parts[-1][-1] == back:
                    parts[-1] = parts[-1][:-1]
                elif cur and cur[-1] == back:
                    cur.pop()
        if len(cur) >= 1 << 20:
            parts.append(np.asarray(cur, np.int64))
            cur = []
    parts.append(np.asarray(cur, np.int64))
    return np.concatenate(parts)


def _whole_lines(path, chunk_bytes: int, label: str | None):
    """A log file read in chunks of `chunk_bytes`, each cut after its last newline (the rest waits for the next
    chunk), with a progress line in MiB when `label` is given."""
    path = Path(path)
    mib = 1 << 20
    with open(path, "rb") as f, Progress(-(-path.stat().st_size // mib), label or "", min_seconds=0.5) as bar:
        bar.enabled = bar.enabled and label is not None
        buf, read = b"", 0
        while True:
            block = f.read(chunk_bytes)
            if block:
                buf += block
                cut = buf.rfind(b"\n") + 1
                text, buf = buf[:cut], buf[cut:]
            else:
                text, buf = buf, b""
            yield text
            bar.update((read + len(block)) // mib - read // mib)
            read += len(block)
            if not block:
                return


# -- the executed translation blocks ----------------------------------------------------------------

CF_COUNT_MASK = 0x1ff   # QEMU 7.2 include/exec/exec-all.h: a TB's cflags carry its instruction limit (0: none)
PAGE_BYTES = 1024       # TARGET_PAGE_SIZE on M-profile cores (target/arm/cpu.c: 1 KiB pages for PMSA/M)
# instructions that end a translation block besides control transfers and writes to pc
# (target/arm/tcg/translate.c: DISAS_UPDATE/DISAS_WFI/DISAS_YIELD/DISAS_NORETURN)
_TB_END = {"svc", "bkpt", "udf", "msr", "cpsid", "cpsie", "isb", "wfi", "wfe", "yield"}

_BLOCK = re.compile(rb"^(?:Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]{8})/[0-9a-f]+/([0-9a-f]{8})\]"
                    rb"|cpu_io_recompile: rewound execution of TB to ([0-9a-f]{8})"
                    rb"|Stopped execution of TB chain before 0x[0-9a-f]+ \[([0-9a-f]{8})\])", re.M)


@dataclass
class Blocks:
    """Executed translation blocks, in order: each one's first pc, its instruction limit (cflags; 0: none) and
    where it was cut (-1: not cut; else the pc of the instruction an I/O access under -icount rewound it to,
    which re-runs in the next block: the block executed the instructions before it)."""
    start: np.ndarray
    limit: np.ndarray
    cut: np.ndarray


def read_blocks(path: str | Path, *, label: str | None = None, chunk_bytes: int = 32 << 20) -> Blocks:
    """The executed translation blocks of QEMU's `-d exec,nochain` log (no -singlestep: a block per straight
    line of code, each logged as it is entered; nochain: every entry is logged). A block entered and left
    before its first instruction ("Stopped execution of TB chain before ... [PC]": an interrupt or the icount
    budget) is taken back; one that an I/O access rewound ("cpu_io_recompile: rewound execution of TB to PC")
    ran up to PC, and the instruction at PC re-runs in a one-instruction block (cflags limit 1) next.
    ~20 bytes of log per executed instruction (a block is ~4 instructions), a quarter of the per-instruction
    trace (read_trace)."""
    kinds, vals, flags = [], [], []      # per logged line: 0 Trace, 1 rewound, 2 stopped; its pc; its cflags
    for text in _whole_lines(path, chunk_bytes, label):
        found = _BLOCK.findall(text)
        if found:   # the hex fields decoded in numpy: a Python int() per line was most of the time
            kinds.append(np.asarray([0 if t[0] else 1 if t[2] else 2 for t in found], np.int8))
            vals.append(_hex8(b"".join([t[0] or t[2] or t[3] for t in found])))
            flags.append(_hex8(b"".join([t[1] or b"00000000" for t in found])))
    kind = np.concatenate(kinds) if kinds else np.zeros(0, np.int8)
    val = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    flag = np.concatenate(flags) if flags else np.zeros(0, np.int64)
    is_tb = kind == 0
    start, limit = val[is_tb], flag[is_tb] & CF_COUNT_MASK
    cut = np.full(len(start), -1, np.int64)
    keep = np.ones(len(start), bool)
    last = np.cumsum(is_tb) - 1          # per line: the index of the last block logged at or before it
    for i in np.flatnonzero(~is_tb).tolist():   # rare: I/O rewinds and stopped chains
        j = int(last[i])
        while j >= 0 and not keep[j]:
            j -= 1
        if j < 0:
            continue
        if kind[i] == 1:
            if start[j] == val[i]:       # rewound to its first instruction: it ran nothing
                keep[j] = False
            else:
                cut[j] = val[i]
        elif start[j] == val[i]:         # stopped before its first instruction
            keep[j] = False
    return Blocks(start[keep], limit[keep], cut[keep])


def _hex8(text: bytes) -> np.ndarray:
    """Fixed 8-digit lowercase hex numbers, concatenated, as int64."""
    d = np.frombuffer(text, np.uint8).reshape(-1, 8).astype(np.int64)
    d = np.where(d >= ord("a"), d - (ord("a") - 10), d - ord("0"))
    return d @ (16 ** np.arange(7, -1, -1, dtype=np.int64))



# -- the estimate ----------------------------------------------------------------------------------

@dataclass
class Estimate:
    """Estimated cycles of an executed stream, held per executed block (a translation block of QEMU's block
    log, or a single instruction of the per-instruction trace): positions index blocks; every call's entry
    and return address starts one (a branch ends a translation block)."""
    core: str
    code: Code
    pcs: np.ndarray          # each block's first pc
    insns: np.ndarray        # its instructions
    cycles: np.ndarray       # its estimated cycles
    last: np.ndarray         # its last instruction's pc
    func: np.ndarray         # function index of its first instruction (into `names`)
    names: list[str]
    filtered: bool = False   # the log was filtered (runtime_ranges): a call's caller may be left out of it
    _cum: np.ndarray = field(init=False, repr=False)
    _icum: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self._cum = np.concatenate([[0], np.cumsum(self.cycles)])
        self._icum = np.concatenate([[0], np.cumsum(self.insns)])

    @property
    def instructions(self) -> int:
        return int(self._icum[-1])

    @property
    def total_cycles(self) -> int:
        return int(self._cum[-1])

    def span(self, start: int, end: int) -> tuple[int, int]:
        """(instructions, estimated cycles) of stream positions (blocks) [start, end)."""
        return int(self._icum[end] - self._icum[start]), int(self._cum[end] - self._cum[start])

    def by_function(self, start: int = 0, end: int | None = None) -> dict[str, tuple[int, int]]:
        """{function: (instructions, estimated cycles)}, each block counted in the function it starts in."""
        end = len(self.pcs) if end is None else end
        f = self.func[start:end]
        n = np.bincount(f, weights=self.insns[start:end], minlength=len(self.names))
        c = np.bincount(f, weights=self.cycles[start:end], minlength=len(self.names))
        return {self.names[i]: (int(n[i]), int(c[i])) for i in np.flatnonzero(n)}

    def calls(self, function: str, within: tuple[int, int] | None = None) -> list[tuple[int, int]]:
        """Stream spans [entry, return) of each call of `function` (entered by a BL/BLX; the call returns
        where the executed stream reaches the caller's return address)."""
        entry = self.code.functions.get(function)
        if entry is None:
            raise EdgesnnError(f"{self.code.elf}: no function {function!r}")
        lo, hi = within if within else (0, len(self.pcs))
        idx = lo + np.flatnonzero(self.pcs[lo:hi] == entry)
        out = []
        cache: dict[int, np.ndarray] = {}
        static = tuple(static_returns(self.code, (function,))) if self.filtered else ()
        for i in idx:
            caller = self.code.insns.get(int(self.last[i - 1])) if i > 0 else None
            if caller is not None and caller.cls in ("bl", "bx") and not self.filtered:
                rets = (caller.addr + caller.size,)
            elif self.filtered and (caller is None or caller.function != function):
                # the BL's block may be left out of a filtered log (the block before may be anything logged
                # earlier): the call ends at the first return point of any BL to the function
                rets = static + ((caller.addr + caller.size,) if caller is not None and caller.cls == "bl" else ())
            else:
                continue
            end = hi
            for ret in rets:
                if ret not in cache:
                    cache[ret] = lo + np.flatnonzero(self.pcs[lo:hi] == ret)
                pos = cache[ret]
                k = np.searchsorted(pos, i)
                if k < len(pos):
                    end = min(end, int(pos[k]))
            out.append((int(i), end))
        return out


@dataclass
class _Priced:
    """The static price of each instruction of a Code on one core (TIMINGS), computed once per pc."""
    t: CoreTiming
    code: Code
    cache: dict = field(default_factory=dict)

    def __call__(self, pc: int) -> tuple[int, int, bool, bool, bool, str]:
        """(base cycles, size, control transfer, single load/store, store with a register offset, function)"""
        got = self.cache.get(pc)
        if got is None:
            ins = self.code.at(pc)
            try:
                cls = ins.cls
            except EdgesnnError as e:
                raise EdgesnnError(f"{e} at {ins.addr:#x} in {ins.function} ({self.code.elf})") from None
            b, per = self.t.cost(cls)
            base = b + per * (ins.regs if cls in MULTI else 0)
            wpc = ins.writes_pc
            if cls == "pop" and wpc:
                base += POP_PC_EXTRA.get(self.t.core, 0)
            got = (base, ins.size, cls in CONTROL or wpc, cls in SINGLE_LS and not wpc,
                   cls == "store" and bool(re.search(r"\[\w+,\s*r\d+", ins.operands)), ins.function)
            self.cache[pc] = got
        return got

    def ends_block(self, pc: int) -> bool:
        """Whether QEMU ends a translation block after this instruction: a control transfer, a write to pc, or
        an instruction that changes the core's state (_TB_END)."""
        if self(pc)[2]:
            return True
        m = self.code.at(pc).mnemonic.lower().split(".", 1)[0]
        return m in _TB_END or m.rstrip("s") in _TB_END


def _walk(pr: _Priced, start: int, limit: int, cut: int) -> list[int]:
    """The pcs one translation block executed: from `start` in address order, up to and including the first
    instruction that ends a block, at most `limit` (0: no limit) and before `cut`; a block never crosses a
    1 KiB page (the translator stops once the next instruction starts on, or a 32-bit one reaches, the next page)."""
    out, pc, page = [], start, start & ~(PAGE_BYTES - 1)
    while True:
        if pc == cut:
            break
        out.append(pc)
        size = pr(pc)[1]
        if pr.ends_block(pc) or (limit and len(out) >= limit):
            break
        pc += size
        if pc - page >= PAGE_BYTES:
            break
        if pc - page >= PAGE_BYTES - 3 and pc in pr.code.insns and pr.code.insns[pc].size == 4:
            break
        if len(out) > 512:
            raise EdgesnnError(f"{pr.code.elf}: a translation block from {start:#x} runs past 512 instructions "
                               "(QEMU's TCG_MAX_INSNS): the block log and the disassembly disagree")
    if not out:
        raise EdgesnnError(f"{pr.code.elf}: an empty translation block at {start:#x} (cut at {cut:#x})")
    return out


def _price(pr: _Priced, pcs: np.ndarray, insns: np.ndarray, base: np.ndarray, last: np.ndarray, control: np.ndarray,
           first_single: np.ndarray, first_base: np.ndarray, last_ok: np.ndarray, func: np.ndarray,
           names: list[str]) -> Estimate:
    """The Estimate of executed blocks given each one's static figures: its cycles within itself (`base`), plus
    the refill P where its last instruction transfers control and the next block does not start at its
    fall-through, minus the pipelining of its first instruction where it is a single load/store after one."""
    t = pr.t
    cyc = base.copy()
    u, uinv = np.unique(last, return_inverse=True)
    fall = last + np.asarray([pr(int(p))[1] for p in u.tolist()], np.int64)[uinv.reshape(-1)]
    taken = np.zeros(len(pcs), bool)
    taken[:-1] = control[:-1] & (pcs[1:] != fall[:-1])    # the last block's: unknown, not charged
    cyc += np.where(taken, t.P, 0)
    if t.pipelined_ls and len(pcs) > 1:
        pipe = np.zeros(len(pcs), bool)
        pipe[1:] = first_single[1:] & last_ok[:-1]
        cyc -= np.where(pipe & (first_base > 1), first_base - 1, 0)
    return Estimate(t.core, pr.code, pcs, insns, cyc, last, func, names)


def estimate_blocks(code: Code, blocks: Blocks, core: str, *, filtered: bool = False) -> Estimate:
    """Estimated cycles of executed translation blocks (read_blocks) on `core`: each distinct block priced
    once from its instructions (walked in the disassembly), then per execution only the taken-branch refill
    (decided by the next block's pc) and the load/store pipelining across the block boundary. The same figure,
    instruction for instruction, as `estimate` of the per-instruction stream (expand() gives that stream)."""
    pr = _Priced(timing(core), code)
    # one int64 key per block (np.unique over rows is ~20x slower): start, limit (9 bits), which cut (the
    # rewound-to pcs are few: an index into their table, 0 for none)
    cuts, cut_ix = np.unique(blocks.cut, return_inverse=True)
    if len(cuts) >= 1 << 20:
        raise EdgesnnError(f"{len(cuts)} distinct rewound pcs in a block log: more than its keys hold")
    keys = (blocks.start << 29) | (blocks.limit << 20) | cut_ix.reshape(-1)
    ukeys, inv = np.unique(keys, return_inverse=True)
    inv = inv.reshape(-1)
    uniq = np.stack([ukeys >> 29, (ukeys >> 20) & CF_COUNT_MASK, cuts[ukeys & ((1 << 20) - 1)]], axis=1)
    n = len(uniq)
    s = {k: np.zeros(n, np.int64) for k in ("insns", "base", "last", "first_base")}
    b = {k: np.zeros(n, bool) for k in ("control", "first_single", "last_ok")}
    fn = np.zeros(n, np.int64)
    names: list[str] = []
    name_ix: dict[str, int] = {}
    for j, (st, lim, ct) in enumerate(uniq.tolist()):
        body = _walk(pr, st, lim, ct)
        costs = [pr(p) for p in body]
        total, prev_ok = 0, False
        for c in costs:
            cy = c[0]
            if pr.t.pipelined_ls and c[3] and prev_ok and cy > 1:
                cy = 1
            total += cy
            prev_ok = c[3] and not c[4]
        s["insns"][j], s["base"][j], s["last"][j], s["first_base"][j] = len(body), total, body[-1], costs[0][0]
        b["control"][j], b["first_single"][j], b["last_ok"][j] = costs[-1][2], costs[0][3], prev_ok
        fn[j] = name_ix.setdefault(costs[0][5], len(names))
        if fn[j] == len(names):
            names.append(costs[0][5])
    # a block that starts with a pipelined load/store: its static total counted the first at full price
    est = _price(pr, blocks.start, s["insns"][inv], s["base"][inv], s["last"][inv], b["control"][inv],
                 b["first_single"][inv], s["first_base"][inv], b["last_ok"][inv], fn[inv], names)
    est.filtered = filtered
    return est


def expand(code: Code, blocks: Blocks) -> np.ndarray:
    """The per-instruction pc stream of executed blocks (what `-singlestep` would have logged)."""
    pr = _Priced(TIMINGS["cortex-m4"], code)
    bodies: dict[tuple, list[int]] = {}
    out: list[int] = []
    for key in zip(blocks.start.tolist(), blocks.limit.tolist(), blocks.cut.tolist()):
        body = bodies.get(key)
        if body is None:
            body = bodies[key] = _walk(pr, *key)
        out += body
    return np.asarray(out, np.int64)


def estimate(code: Code, pcs: np.ndarray, core: str) -> Estimate:
    """Estimated cycles of each executed pc of `pcs` (the per-instruction stream, read_trace) on `core`
    (TIMINGS): every instruction its own block."""
    pr = _Priced(timing(core), code)
    uniq, inv = np.unique(pcs, return_inverse=True)
    n = len(uniq)
    base, ctl, single, ok, fn = (np.zeros(n, np.int64) for _ in range(5))
    names: list[str] = []
    name_ix: dict[str, int] = {}
    for j, pc in enumerate(uniq.tolist()):
        c = pr(pc)
        base[j], ctl[j], single[j], ok[j] = c[0], c[2], c[3], c[3] and not c[4]
        fn[j] = name_ix.setdefault(c[5], len(names))
        if fn[j] == len(names):
            names.append(c[5])
    pcs = np.asarray(pcs, np.int64)
    return _price(pr, pcs, np.ones(len(pcs), np.int64), base[inv], pcs, ctl[inv].astype(bool),
                  single[inv].astype(bool), base[inv], ok[inv].astype(bool), fn[inv], names)


# -- the runtime's windows ---------------------------------------------------------------------------

@dataclass
class Window:
    instructions: int
    cycles: int


def input_spans(est: Estimate) -> list[tuple[int, int]]:
    """Trace spans of each input: from one esn_reset call to the next (the last to the trace's end), those
    that run at least one esn_step (a reset at load or before shutdown runs none)."""
    resets = [a for a, _ in est.calls("esn_reset")]
    steps = np.asarray([a for a, _ in est.calls("esn_step")], np.int64)
    return [(lo, hi) for lo, hi in zip(resets, resets[1:] + [len(est.pcs)])
            if np.any((steps >= lo) & (steps < hi))]


def per_input(est: Estimate) -> list[Window]:
    """Each input's esn_step calls together (an input starts at its esn_reset): instructions and estimated
    cycles inside esn_step, what the firmware's whole-run figure (`run_cycles`) times."""
    out = []
    for lo, hi in input_spans(est):
        w = Window(0, 0)
        for s, e in est.calls("esn_step", (lo, hi)):
            n, c = est.span(s, e)
            w.instructions += n
            w.cycles += c
        out.append(w)
    return out


def per_node(est: Estimate, n_nodes: int, within: tuple[int, int] | None = None) -> list[Window]:
    """Per node of the model (its schedule order), summed over the esn_step calls (within a trace span,
    e.g. one of input_spans): the instructions and estimated cycles between the two esn_port_cycles()
    calls that time the node (esn_runtime.c), so they line up with the firmware's per-layer counters."""
    out = [Window(0, 0) for _ in range(n_nodes)]
    for s, e in est.calls("esn_step", within):
        ticks = est.calls("esn_port_cycles", (s, e))
        if len(ticks) != 2 * n_nodes:
            raise EdgesnnError(f"esn_step called esn_port_cycles {len(ticks)} times for {n_nodes} nodes "
                               f"(expected 2 per node): was the firmware built without ESN_ENABLE_CYCLES?")
        for k in range(n_nodes):
            n, c = est.span(ticks[2 * k][1], ticks[2 * k + 1][0])
            out[k].instructions += n
            out[k].cycles += c
    return out


@dataclass
class RunEstimate:
    """A traced device run, per input: the instructions and estimated cycles of each node (the schedule's
    order, as the firmware times them) and of the whole run (every esn_step call, the firmware's
    `run_cycles`)."""
    core: str
    source: str                    # the timing table's reference (TIMINGS[core].source)
    nodes: list[str]
    instructions: np.ndarray       # [inputs, nodes]
    cycles: np.ndarray             # [inputs, nodes]
    run_instructions: np.ndarray   # [inputs]
    run_cycles: np.ndarray         # [inputs]

    def node(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(instructions, estimated cycles) per input of node `name`."""
        j = self.nodes.index(name)
        return self.instructions[:, j], self.cycles[:, j]


def estimate_run(elf: str | Path, trace: str | Path, core: str, nodes: list[str], *,
                 inputs: int | None = None, label: str | None = None, filtered: bool = False) -> RunEstimate:
    """The RunEstimate of a runtime firmware's traced run (QemuTarget(trace=)): `nodes` the model's schedule
    order; `inputs` the number of inputs run (an EdgesnnError when the trace holds another number)."""
    t = timing(core)
    est = estimate_blocks(disassemble(elf), read_blocks(trace, label=label), core, filtered=filtered)
    spans = input_spans(est)
    if inputs is not None and len(spans) != inputs:
        raise EdgesnnError(f"{trace}: the trace holds {len(spans)} inputs (esn_reset ... esn_step), {inputs} were run")
    n = len(nodes)
    ins, cyc = np.zeros((len(spans), n), np.int64), np.zeros((len(spans), n), np.int64)
    run_ins, run_cyc = np.zeros(len(spans), np.int64), np.zeros(len(spans), np.int64)
    for i, span in enumerate(spans):
        for k, w in enumerate(per_node(est, n, span)):
            ins[i, k], cyc[i, k] = w.instructions, w.cycles
        for s, e in est.calls("esn_step", span):
            a, c = est.span(s, e)
            run_ins[i] += a
            run_cyc[i] += c
    return RunEstimate(t.core, t.source, list(nodes), ins, cyc, run_ins, run_cyc)
