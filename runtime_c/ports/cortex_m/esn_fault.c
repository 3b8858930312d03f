/*
 * esn_fault.c: report any fault or unexpected exception, then stop with a distinct exit code.
 *
 * esn_fault_entry (esn_startup.c) finds the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2) and calls
 * esn_fw_fault_report, which writes one text line for people,
 *   ESN-FAULT UsageFault exc=6 pc=0x000001f2 lr=... xpsr=... cfsr=0x00010000 hfsr=... bfar=... sp=...
 * then a FAULT frame for the host (esn_fw_proto.h), drains the UART and exits with
 * ESN_FW_EXIT_FAULT_BASE + exception number (semihosting; a real board parks the core).
 *
 * The reporter runs on its own small stack (esn_startup.c), so a broken main stack does not stop
 * the report. A stack overflow (esn_startup.c) is a UsageFault STKOF on ARMv8-M mainline (MSPLIM;
 * nothing was stacked) and a MemManage fault in the guard below the stack on ARMv7-M (MSTKERR: the
 * frame's stacking failed too). Either way the frame is not in memory: it is read only when it lies
 * wholly inside the main stack or the fault stack, else pc, lr and xpsr are reported as 0. ARMv6-M
 * cannot take a fault on an overflowed stack (the core locks up before any handler runs; QEMU stops
 * with "Lockup", which the host reports as FirmwareLockup).
 * The text line ends with the main stack's high-water mark: stack_used=<bytes> stack_bytes=<size>.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_port.h"
#include "esn_fw_proto.h"
#include "esn_fw_server.h"

void esn_fw_fault_report(uint32_t *frame, uint32_t exc_return) __attribute__((used, noreturn));

extern uint32_t __stack_bottom[], __stack_top[];
extern uint64_t esn_fault_stack[];

/* Whether the 8-word basic frame at f lies inside the main stack or the fault stack (a nested fault
 * in the reporter), i.e. whether reading it cannot fault again. */
static int esn_frame_readable(const uint32_t *f)
{
    uintptr_t a = (uintptr_t)f, fs = (uintptr_t)esn_fault_stack;
    return (a >= (uintptr_t)__stack_bottom && a + 32u <= (uintptr_t)__stack_top)
           || (a >= fs && a + 32u <= fs + ESN_FAULT_STACK_BYTES);
}

static const char *esn_exc_name(uint32_t n)
{
    switch (n) {
    case 2: return "NMI";
    case 3: return "HardFault";
    case 4: return "MemManage";
    case 5: return "BusFault";
    case 6: return "UsageFault";
    case 7: return "SecureFault";
    case 11: return "SVCall";
    case 12: return "DebugMonitor";
    case 14: return "PendSV";
    case 15: return "SysTick";
    default: return n >= 16 ? "IRQ" : "Reserved";
    }
}

static void esn_put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    int i;
    esn_fw_puts("0x");
    for (i = 28; i >= 0; i -= 4) {
        esn_fw_port_putc((uint8_t)digits[(v >> i) & 15u]);
    }
}

static void esn_field(const char *name, uint32_t v)
{
    esn_fw_puts(name);
    esn_put_hex(v);
}

static void esn_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void esn_fw_fault_report(uint32_t *frame, uint32_t exc_return)
{
    uint32_t ipsr, cfsr = 0, hfsr = 0, mmfar = 0, bfar = 0, i;
    uint32_t regs[8];
    uint8_t payload[ESN_FW_FAULT_PAYLOAD_BYTES];
    (void)exc_return;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1FFu;
#if ESN_CM_MAINLINE
    cfsr = ESN_SCB_CFSR;
    hfsr = ESN_SCB_HFSR;
    mmfar = ESN_SCB_MMFAR;
    bfar = ESN_SCB_BFAR;
#endif
    if ((cfsr & (1u << 20)) || !esn_frame_readable(frame)) { /* STKOF, or SP outside the stack: no frame */
        regs[0] = regs[1] = regs[2] = 0;
    } else {
        regs[0] = frame[6]; /* pc */
        regs[1] = frame[5]; /* lr */
        regs[2] = frame[7]; /* xpsr */
    }
    regs[3] = cfsr;
    regs[4] = hfsr;
    regs[5] = mmfar;
    regs[6] = bfar;
    regs[7] = (uint32_t)(uintptr_t)frame;

    esn_fw_puts("\r\n" ESN_FW_FAULT_PREFIX " ");
    esn_fw_puts(esn_exc_name(ipsr));
    esn_fw_puts(" exc=");
    esn_fw_put_dec(ipsr);
    esn_field(" pc=", regs[0]);
    esn_field(" lr=", regs[1]);
    esn_field(" xpsr=", regs[2]);
    esn_field(" cfsr=", cfsr);
    esn_field(" hfsr=", hfsr);
    esn_field(" mmfar=", mmfar);
    esn_field(" bfar=", bfar);
    esn_field(" sp=", regs[7]);
    esn_fw_puts(" stack_used=");
    esn_fw_put_dec(esn_cortex_m_stack_used());
    esn_fw_puts(" stack_bytes=");
    esn_fw_put_dec((uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom));
    esn_fw_puts("\r\n");

    payload[0] = (uint8_t)ipsr;
    payload[1] = payload[2] = payload[3] = 0;
    for (i = 0; i < 8; i++) {
        esn_put_le32(payload + 4 + 4 * i, regs[i]);
    }
    esn_fw_send_frame(ESN_FW_T_FAULT, payload, sizeof payload);
    esn_fw_port_flush();
    esn_fw_port_exit((int)(ESN_FW_EXIT_FAULT_BASE + ipsr));
    for (;;) {
    }
}
