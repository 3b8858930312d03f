/*
 * esn_stm32_host_model.c: runs the stm32 port's init (clock tree, UART, pins) on the host against a
 * model of the registers it touches, for the chips no emulator models (F446, F746, H743, L476, L552).
 *
 * The peripheral windows are plain memory mapped at their real addresses (0x4000_0000-0x5FFF_FFFF
 * and the Cortex-M system space); a second thread plays the hardware's part: it raises each ready
 * flag once its enable bit is set (HSERDY after HSEON, PLLRDY after PLLON, SWS after SW, the
 * over-drive and voltage-scaling flags), except the one the command line says never comes.
 * tests/device/test_stm32.py builds it with the board's -D settings (as the firmware build does,
 * plus ESN_STM32_HOST_MODEL) and checks the registers it prints against the reference manuals.
 *
 * usage: model FAIL   FAIL = 0, or the ESN_STM32_CLK_* step whose ready flag never comes
 * prints: the boot text (ESN-CLOCK line), then one "name=0xVALUE" line per register of interest.
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "esn_fw_port.h"
#include "esn_stm32.h"

#define A(base, off) ((uintptr_t)(base) + (uintptr_t)(off))
#define R(a) (*(volatile uint32_t *)(a))

/* what the port calls in the layers it is linked with: nothing to model */
void esn_cortex_m_init(void) {}
void esn_systick_init(void) {}
uint64_t esn_systick_ticks(void) { return 0; }
void esn_fw_port_spin(uint32_t n) { (void)n; }

static char s_text[1024];
static size_t s_len;

void esn_fw_puts(const char *s)
{
    while (*s && s_len + 1 < sizeof s_text) {
        s_text[s_len++] = *s++;
    }
}

/* the firmware layer's clock line (esn_fw_server.c), printed as the firmware prints it */
static char s_clock[128];
static size_t s_clock_len;

void esn_fw_clock_add(const char *s)
{
    while (*s && s_clock_len + 1 < sizeof s_clock) {
        s_clock[s_clock_len++] = *s++;
    }
}

void esn_fw_clock_add_dec(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && i > 0);
    esn_fw_clock_add(&b[i]);
}

void esn_fw_clock_report(void)
{
    esn_fw_puts("\r\nESN-CLOCK ");
    esn_fw_puts(s_clock);
    esn_fw_puts("\r\n");
}

static int s_fail;
static volatile int s_stop;

static void set_bits(uintptr_t a, uint32_t bits) { __atomic_fetch_or((uint32_t *)a, bits, __ATOMIC_SEQ_CST); }
static void clear_bits(uintptr_t a, uint32_t bits) { __atomic_fetch_and((uint32_t *)a, ~bits, __ATOMIC_SEQ_CST); }

/* flag `rdy` of register `ra` follows enable `on` of register `ea`, unless that step is the failing one */
static void follow(uintptr_t ea, uint32_t on, uintptr_t ra, uint32_t rdy, int step)
{
    if ((R(ea) & on) && s_fail != step) {
        set_bits(ra, rdy);
    } else if (!(R(ea) & on)) {
        clear_bits(ra, rdy);
    }
}

/* the switch status field (at sws_shift) follows the switch (at bit 0, `mask` wide) */
static void follow_switch(uintptr_t cfgr, uint32_t mask, unsigned sws_shift)
{
    uint32_t old = R(cfgr), want;
    if (s_fail == ESN_STM32_CLK_SWITCH) {
        return;
    }
    want = (old & ~(mask << sws_shift)) | ((old & mask) << sws_shift);
    if (want != old) {
        __atomic_compare_exchange_n((uint32_t *)cfgr, &old, want, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
}

#define RCC_BASE ESN_CHIP_RCC_BASE
#define PWR_BASE ESN_CHIP_PWR_BASE

static void *hardware(void *arg)
{
    (void)arg;
    while (!s_stop) {
        follow(A(RCC_BASE, 0x00), 1u << 16, A(RCC_BASE, 0x00), 1u << 17, ESN_STM32_CLK_HSE); /* HSEON -> HSERDY */
        follow(A(RCC_BASE, 0x00), 1u << 24, A(RCC_BASE, 0x00), 1u << 25, ESN_STM32_CLK_PLL); /* PLLON -> PLLRDY */
#if ESN_CHIP_FAMILY == ESN_STM32_F4 || ESN_CHIP_FAMILY == ESN_STM32_F7
        follow(A(PWR_BASE, 0x00), 1u << 16, A(PWR_BASE, 0x04), 1u << 16, ESN_STM32_CLK_OVERDRIVE); /* ODEN -> ODRDY */
        follow(A(PWR_BASE, 0x00), 1u << 17, A(PWR_BASE, 0x04), 1u << 17, ESN_STM32_CLK_OVERDRIVE); /* ODSWEN -> ODSWRDY */
        follow_switch(A(RCC_BASE, 0x08), 3u, 2);
#elif ESN_CHIP_FAMILY == ESN_STM32_H7
        if (s_fail != ESN_STM32_CLK_SUPPLY) {
            set_bits(A(PWR_BASE, 0x04), 1u << 13); /* ACTVOSRDY */
        }
        if (s_fail != ESN_STM32_CLK_VOS) {
            set_bits(A(PWR_BASE, 0x18), 1u << 13); /* VOSRDY */
        }
        follow_switch(A(RCC_BASE, 0x10), 7u, 3);
#else
        follow_switch(A(RCC_BASE, 0x08), 3u, 2);
#endif
    }
    return 0;
}

static void reset_values(void)
{
    R(A(ESN_FW_UART_BASE, ESN_CHIP_FAMILY == ESN_STM32_F4 ? 0x00 : 0x1C)) = 0xC0u; /* TXE, TC */
#if ESN_CHIP_FAMILY == ESN_STM32_F4 || ESN_CHIP_FAMILY == ESN_STM32_F7
    R(A(RCC_BASE, 0x00)) = 0x83u;       /* HSION, HSIRDY, HSITRIM */
    R(A(RCC_BASE, 0x04)) = 0x24003010u; /* RCC_PLLCFGR reset value */
    R(A(PWR_BASE, 0x00)) = 0xC000u;     /* VOS scale 1 */
#elif ESN_CHIP_FAMILY == ESN_STM32_H7
    R(A(RCC_BASE, 0x00)) = 0x25u;       /* HSION, HSIRDY, HSIDIV /1 */
    R(A(RCC_BASE, 0x28)) = 0x02020200u; /* RCC_PLLCKSELR */
    R(A(RCC_BASE, 0x2C)) = 0x01FF0000u; /* RCC_PLLCFGR */
    R(A(RCC_BASE, 0x30)) = 0x01010280u; /* RCC_PLL1DIVR */
    R(A(PWR_BASE, 0x0C)) = 0x6u;        /* PWR_CR3: SCUEN, LDOEN */
    R(A(PWR_BASE, 0x18)) = 0x4000u;     /* PWR_D3CR: VOS3 */
    R(A(ESN_CHIP_FLASH_BASE, 0x00)) = 0x37u;
#else
    R(A(RCC_BASE, 0x00)) = 0x63u;   /* MSION, MSIRDY, MSIRANGE 6 (4 MHz) */
    R(A(RCC_BASE, 0x0C)) = 0x1000u; /* RCC_PLLCFGR */
    R(A(PWR_BASE, 0x00)) = ESN_CHIP_FAMILY == ESN_STM32_L4 ? 0x200u : 0x400u; /* range 1 (L4), range 2 (L5) */
    if (s_fail == ESN_STM32_CLK_VOS) {
        R(A(PWR_BASE, 0x14)) = 1u << 10; /* VOSF set from the start: the regulator never settles */
    }
#endif
}

static void show(const char *name, uintptr_t a) { printf("%s=0x%08x\n", name, (unsigned)R(a)); }

int main(int argc, char **argv)
{
    pthread_t hw;
    s_fail = argc > 1 ? atoi(argv[1]) : 0;
    if (mmap((void *)0x40000000u, 0x20000000u, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
             -1, 0) != (void *)0x40000000u
        || mmap((void *)0xE0000000u, 0x100000u, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                -1, 0) != (void *)0xE0000000u) {
        perror("mmap of the peripheral windows");
        return 2;
    }
    reset_values();
    pthread_create(&hw, 0, hardware, 0);
    esn_fw_port_init();
    s_stop = 1;
    pthread_join(hw, 0);

    printf("text=%.*s\n", (int)s_len, s_text + 2); /* past the leading CR LF */
    show("rcc_cr", A(RCC_BASE, 0x00));
#if ESN_CHIP_FAMILY == ESN_STM32_H7
    show("rcc_cfgr", A(RCC_BASE, 0x10));
    show("rcc_d1cfgr", A(RCC_BASE, 0x18));
    show("rcc_d2cfgr", A(RCC_BASE, 0x1C));
    show("rcc_d3cfgr", A(RCC_BASE, 0x20));
    show("rcc_pllckselr", A(RCC_BASE, 0x28));
    show("rcc_pllcfgr", A(RCC_BASE, 0x2C));
    show("rcc_pll1divr", A(RCC_BASE, 0x30));
    show("pwr_cr3", A(PWR_BASE, 0x0C));
    show("pwr_d3cr", A(PWR_BASE, 0x18));
    show("syscfg_pwrcr", A(ESN_CHIP_SYSCFG_BASE, 0x2C));
#elif ESN_CHIP_FAMILY == ESN_STM32_F4 || ESN_CHIP_FAMILY == ESN_STM32_F7
    show("rcc_pllcfgr", A(RCC_BASE, 0x04));
    show("rcc_cfgr", A(RCC_BASE, 0x08));
    show("pwr_cr", A(PWR_BASE, 0x00));
#else
    show("rcc_cfgr", A(RCC_BASE, 0x08));
    show("rcc_pllcfgr", A(RCC_BASE, 0x0C));
    show("pwr_cr1", A(PWR_BASE, 0x00));
    show("pwr_cr2", A(PWR_BASE, 0x04));
#endif
    show("flash_acr", A(ESN_CHIP_FLASH_BASE, 0x00));
    show("uart_en", A(RCC_BASE, ESN_CHIP_UART_EN_REG));
    show("gpio_en", A(RCC_BASE, ESN_CHIP_GPIO_EN_REG));
    show("uart_brr", A(ESN_FW_UART_BASE, ESN_CHIP_FAMILY == ESN_STM32_F4 ? 0x08 : 0x0C));
    show("uart_cr1", A(ESN_FW_UART_BASE, ESN_CHIP_FAMILY == ESN_STM32_F4 ? 0x0C : 0x00));
    show("tx_moder", A(ESN_CHIP_TX_GPIO_BASE, 0x00));
    show("tx_afr", A(ESN_CHIP_TX_GPIO_BASE, 0x20 + 4 * (ESN_CHIP_TX_PIN >> 3)));
    show("rx_moder", A(ESN_CHIP_RX_GPIO_BASE, 0x00));
    show("rx_pupdr", A(ESN_CHIP_RX_GPIO_BASE, 0x0C));
    show("rx_afr", A(ESN_CHIP_RX_GPIO_BASE, 0x20 + 4 * (ESN_CHIP_RX_PIN >> 3)));
    show("scb_ccr", 0xE000ED14u);
    show("demcr", 0xE000EDFCu);
    show("dwt_lar", 0xE0001FB0u);
    return 0;
}
