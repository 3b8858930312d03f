/*
 * esn_stm32_clock.c: the clock tree of the STM32 port, from reset clock to the board's rated clock.
 *
 * One PLL fed by the HSE (ESN_CHIP_HSE_HZ > 0: crystal, or an external clock with
 * ESN_CHIP_HSE_BYPASS, e.g. the ST-LINK's 8 MHz MCO) or by the reset oscillator (HSI 16 MHz on
 * F4/F7, HSI 64 MHz on H7, MSI 4 MHz on L4/L5); sysclk = source / PLL_M * PLL_N / PLL_P, checked
 * at compile time against the board's clock_hz. The steps follow each reference manual's order:
 * regulator voltage scale first, oscillator, PLL, over-drive (F4/F7), flash wait states (read back),
 * bus prescalers, then the switch.
 *
 * Every wait on a ready flag is bounded (esn_stm32_wait, ESN_STM32_READY_POLLS polls: tens of ms at
 * the reset clock, several times a crystal's start-up time). When one never comes the set-up stops
 * there, undoes what would change the running clock (PLL off, prescalers back to /1, the switch left
 * on the reset clock) and reports which step failed; the core goes on at the reset clock. Higher
 * flash wait states or a higher voltage scale left behind are safe at the lower clock. This is what
 * happens under QEMU (netduinoplus2), whose RCC is not modelled and reads 0.
 *
 * Not optimal: no spread-spectrum, no clock security system, no HSE failure detection after boot.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_server.h"
#include "esn_stm32.h"

#ifndef ESN_STM32_READY_POLLS
#define ESN_STM32_READY_POLLS 500000u
#endif

#define REG(base, off) ESN_REG((uint32_t)(base) + (uint32_t)(off))
#define RCC(off) REG(ESN_CHIP_RCC_BASE, off)
#define FLASH(off) REG(ESN_CHIP_FLASH_BASE, off)
#define PWR(off) REG(ESN_CHIP_PWR_BASE, off)

/* The PLL's input and output (Hz), and the check against the board file's clock_hz (ESN_FW_UART_CLOCK_HZ
 * is the board's clock_hz, edgesnn/firmware/build.py). */
#if ESN_CHIP_HSE_HZ
#define ESN_STM32_PLL_IN_HZ ESN_CHIP_HSE_HZ
#else
#define ESN_STM32_PLL_IN_HZ ESN_CHIP_RESET_CLOCK_HZ
#endif
#define ESN_STM32_SYSCLK_HZ (ESN_STM32_PLL_IN_HZ / ESN_CHIP_PLL_M * ESN_CHIP_PLL_N / ESN_CHIP_PLL_P)
#if ESN_STM32_PLL_IN_HZ % ESN_CHIP_PLL_M || (ESN_STM32_PLL_IN_HZ / ESN_CHIP_PLL_M * ESN_CHIP_PLL_N) % ESN_CHIP_PLL_P
#error "the PLL factors ([firmware.chip] pll_m, pll_n, pll_p) do not divide the clock exactly"
#endif
#if ESN_STM32_SYSCLK_HZ != ESN_FW_UART_CLOCK_HZ
#error "[firmware.chip] PLL factors: source / pll_m * pll_n / pll_p differs from the board's clock_hz"
#endif

/* Prescaler encodings, the same in every family's RCC (AHB HPRE: 0xxx /1, 1000 /2, 1001 /4,
 * 1010 /8, 1011 /16; APB PPRE: 0xx /1, 100 /2, 101 /4, 110 /8, 111 /16). */
#define ESN_STM32_LOG2(d) ((d) == 2 ? 1u : (d) == 4 ? 2u : (d) == 8 ? 3u : (d) == 16 ? 4u : 0u)
#define ESN_STM32_HPRE(d) ((d) == 1 ? 0u : 7u + ESN_STM32_LOG2(d))
#define ESN_STM32_PPRE(d) ((d) == 1 ? 0u : 3u + ESN_STM32_LOG2(d))
#if ESN_STM32_LOG2(ESN_CHIP_AHB_DIV) == 0 && ESN_CHIP_AHB_DIV != 1
#error "[firmware.chip] ahb_div must be 1, 2, 4, 8 or 16"
#endif
#if (ESN_STM32_LOG2(ESN_CHIP_APB1_DIV) == 0 && ESN_CHIP_APB1_DIV != 1) \
    || (ESN_STM32_LOG2(ESN_CHIP_APB2_DIV) == 0 && ESN_CHIP_APB2_DIV != 1)
#error "[firmware.chip] apb1_div and apb2_div must be 1, 2, 4, 8 or 16"
#endif
#if ESN_CHIP_UART_APB == 1
#define ESN_STM32_UART_DIV ESN_CHIP_APB1_DIV
#else
#define ESN_STM32_UART_DIV ESN_CHIP_APB2_DIV
#endif

int esn_stm32_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    uint32_t n;
    for (n = 0; n < ESN_STM32_READY_POLLS; n++) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

#define WAIT_SET(r, bit) esn_stm32_wait(&(r), (bit), (bit))
#define WAIT_CLEAR(r, bit) esn_stm32_wait(&(r), (bit), 0u)

#if ESN_CHIP_FAMILY == ESN_STM32_F4 || ESN_CHIP_FAMILY == ESN_STM32_F7
/*
 * F4: RM0090 (F405) sec. 7.3 / RM0390 (F446) sec. 6.3, RCC registers; F7: RM0385 sec. 5.3.
 *   RCC_CR 0x00: HSEON 16, HSERDY 17, HSEBYP 18, PLLON 24, PLLRDY 25
 *   RCC_PLLCFGR 0x04: PLLM [5:0], PLLN [14:6], PLLP [17:16] (0: /2 .. 3: /8), PLLSRC 22 (1: HSE), PLLQ [27:24]
 *   RCC_CFGR 0x08: SW [1:0] (2: PLL), SWS [3:2], HPRE [7:4], PPRE1 [12:10], PPRE2 [15:13]
 *   RCC_APB1ENR 0x40: PWREN 28
 * PWR (RM0390 sec. 5.4 PWR_CR/PWR_CSR, RM0385 sec. 4.4 PWR_CR1/PWR_CSR1): CR 0x00 ODEN 16,
 *   ODSWEN 17; CSR 0x04 ODRDY 16, ODSWRDY 17. Over-drive order (RM0390 sec. 5.1.4): PLL on, ODEN,
 *   ODRDY, ODSWEN, ODSWRDY, then wait states and the switch. VOS is scale 1 out of reset.
 * FLASH_ACR 0x00 (RM0390 sec. 3.8.1, RM0090 sec. 3.9.1, RM0385 sec. 3.7.1): LATENCY [3:0],
 *   PRFTEN 8, and ICEN 9 / DCEN 10 (F4: the ART accelerator) or ARTEN 9 (F7).
 */
#define RCC_CR RCC(0x00u)
#define RCC_PLLCFGR RCC(0x04u)
#define RCC_CFGR RCC(0x08u)
#define RCC_APB1ENR RCC(0x40u)
#define PWR_CR PWR(0x00u)
#define PWR_CSR PWR(0x04u)
#define FLASH_ACR FLASH(0x00u)
#if ESN_CHIP_FAMILY == ESN_STM32_F4
#define ACR_CACHES ((1u << 8) | (1u << 9) | (1u << 10)) /* PRFTEN, ICEN, DCEN */
#else
#define ACR_CACHES ((1u << 8) | (1u << 9)) /* PRFTEN, ARTEN */
#endif
#define CFGR_BUS (0xFu << 4 | 7u << 10 | 7u << 13)

static uint8_t esn_stm32_pll_up(void)
{
    RCC_APB1ENR |= 1u << 28; /* PWREN: the over-drive bits live in PWR */
    (void)RCC_APB1ENR;
#if ESN_CHIP_HSE_HZ
#if ESN_CHIP_HSE_BYPASS
    RCC_CR |= 1u << 18; /* HSEBYP before HSEON */
#endif
    RCC_CR |= 1u << 16;
    if (!WAIT_SET(RCC_CR, 1u << 17)) {
        RCC_CR &= ~(1u << 16 | 1u << 18); /* HSEON, HSEBYP */
        return ESN_STM32_CLK_HSE;
    }
#endif
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(0x3Fu | 0x1FFu << 6 | 3u << 16 | 1u << 22 | 0xFu << 24))
        | ESN_CHIP_PLL_M | (uint32_t)ESN_CHIP_PLL_N << 6 | (uint32_t)(ESN_CHIP_PLL_P / 2u - 1u) << 16
        | (ESN_CHIP_HSE_HZ ? 1u << 22 : 0u) | (uint32_t)ESN_CHIP_PLL_Q << 24;
    RCC_CR |= 1u << 24;
    if (!WAIT_SET(RCC_CR, 1u << 25)) {
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_PLL;
    }
#if ESN_CHIP_OVER_DRIVE
    PWR_CR |= 1u << 16;
    if (!WAIT_SET(PWR_CSR, 1u << 16)) {
        PWR_CR &= ~(1u << 16);
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_OVERDRIVE;
    }
    PWR_CR |= 1u << 17;
    if (!WAIT_SET(PWR_CSR, 1u << 17)) {
        PWR_CR &= ~(1u << 16 | 1u << 17);
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_OVERDRIVE;
    }
#endif
    FLASH_ACR = (uint32_t)ESN_CHIP_FLASH_WAIT_STATES | ACR_CACHES;
    if ((FLASH_ACR & 0xFu) != ESN_CHIP_FLASH_WAIT_STATES) {
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_FLASH;
    }
    RCC_CFGR = (RCC_CFGR & ~CFGR_BUS) | ESN_STM32_HPRE(ESN_CHIP_AHB_DIV) << 4
        | ESN_STM32_PPRE(ESN_CHIP_APB1_DIV) << 10 | ESN_STM32_PPRE(ESN_CHIP_APB2_DIV) << 13;
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;
    if (!esn_stm32_wait(&RCC_CFGR, 3u << 2, 2u << 2)) {
        RCC_CFGR &= ~(3u | CFGR_BUS);
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_SWITCH;
    }
    return ESN_STM32_CLK_OK;
}

static uint8_t esn_stm32_sws(void)
{
    return (uint8_t)((RCC_CFGR >> 2) & 3u);
}

const char *esn_stm32_sws_name(uint8_t sws)
{
    static const char *const names[4] = {"hsi", "hse", "pll", "pll-r"};
    return names[sws & 3u];
}

#elif ESN_CHIP_FAMILY == ESN_STM32_H7
/*
 * RM0433 (STM32H743) sec. 8.7, RCC registers:
 *   RCC_CR 0x00: HSEON 16, HSERDY 17, HSEBYP 18, PLL1ON 24, PLL1RDY 25
 *   RCC_CFGR 0x10: SW [2:0] (3: PLL1), SWS [5:3]
 *   RCC_D1CFGR 0x18: HPRE [3:0], D1PPRE [6:4], D1CPRE [11:8]; RCC_D2CFGR 0x1C: D2PPRE1 [6:4],
 *   D2PPRE2 [10:8]; RCC_D3CFGR 0x20: D3PPRE [6:4]
 *   RCC_PLLCKSELR 0x28: PLLSRC [1:0] (0: HSI, 2: HSE), DIVM1 [9:4]
 *   RCC_PLLCFGR 0x2C: PLL1FRACEN 0, PLL1VCOSEL 1 (0: wide VCO), PLL1RGE [3:2], DIVP1EN 16
 *   RCC_PLL1DIVR 0x30: DIVN1 [8:0] = N - 1, DIVP1 [15:9] = P - 1, DIVQ1 [22:16], DIVR1 [30:24]
 *   RCC_APB4ENR 0xF4: SYSCFGEN 1
 * PWR (RM0433 sec. 6.8): PWR_CSR1 0x04 ACTVOSRDY 13; PWR_CR3 0x0C BYPASS 0, LDOEN 1 (written once
 *   after reset: the supply configuration then locks, sec. 6.4); PWR_D3CR 0x18 VOSRDY 13, VOS
 *   [15:14] (11: VOS1, 10: VOS2, 01: VOS3). VOS0 (480 MHz, revision V only) is VOS1 plus
 *   SYSCFG_PWRCR (0x2C, RM0433 sec. 12.3) ODEN 0, sec. 6.6.2.
 * FLASH_ACR 0x00 (RM0433 sec. 4.9.1): LATENCY [3:0], WRHIGHFREQ [5:4].
 */
#define RCC_CR RCC(0x00u)
#define RCC_CFGR RCC(0x10u)
#define RCC_D1CFGR RCC(0x18u)
#define RCC_D2CFGR RCC(0x1Cu)
#define RCC_D3CFGR RCC(0x20u)
#define RCC_PLLCKSELR RCC(0x28u)
#define RCC_PLLCFGR RCC(0x2Cu)
#define RCC_PLL1DIVR RCC(0x30u)
#define RCC_APB4ENR RCC(0xF4u)
#define PWR_CSR1 PWR(0x04u)
#define PWR_CR3 PWR(0x0Cu)
#define PWR_D3CR PWR(0x18u)
#define FLASH_ACR FLASH(0x00u)
#define SYSCFG_PWRCR REG(ESN_CHIP_SYSCFG_BASE, 0x2Cu)
#define ESN_STM32_PLL_REF_HZ (ESN_STM32_PLL_IN_HZ / ESN_CHIP_PLL_M)
#define ESN_STM32_PLL_RGE \
    (ESN_STM32_PLL_REF_HZ < 2000000u ? 0u : ESN_STM32_PLL_REF_HZ < 4000000u ? 1u : ESN_STM32_PLL_REF_HZ < 8000000u ? 2u : 3u)

static uint8_t esn_stm32_pll_up(void)
{
    PWR_CR3 = (PWR_CR3 & ~1u) | (1u << 1); /* LDO supply (the H743 has no SMPS); locks the configuration */
    if (!WAIT_SET(PWR_CSR1, 1u << 13)) {
        return ESN_STM32_CLK_SUPPLY;
    }
#if ESN_CHIP_VOS <= 3
    PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | (ESN_CHIP_VOS == 0 ? 3u : 4u - ESN_CHIP_VOS) << 14;
    if (!WAIT_SET(PWR_D3CR, 1u << 13)) {
        return ESN_STM32_CLK_VOS;
    }
#if ESN_CHIP_VOS == 0
    RCC_APB4ENR |= 1u << 1; /* SYSCFGEN */
    (void)RCC_APB4ENR;
    SYSCFG_PWRCR |= 1u; /* ODEN: VOS1 -> VOS0 */
    if (!WAIT_SET(PWR_D3CR, 1u << 13)) {
        return ESN_STM32_CLK_VOS;
    }
#endif
#endif
#if ESN_CHIP_HSE_HZ
#if ESN_CHIP_HSE_BYPASS
    RCC_CR |= 1u << 18;
#endif
    RCC_CR |= 1u << 16;
    if (!WAIT_SET(RCC_CR, 1u << 17)) {
        RCC_CR &= ~(1u << 16 | 1u << 18); /* HSEON, HSEBYP */
        return ESN_STM32_CLK_HSE;
    }
#endif
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(3u | 0x3Fu << 4)) | (ESN_CHIP_HSE_HZ ? 2u : 0u) | (uint32_t)ESN_CHIP_PLL_M << 4;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(1u | 1u << 1 | 3u << 2)) | ESN_STM32_PLL_RGE << 2 | 1u << 16;
    RCC_PLL1DIVR = ((uint32_t)ESN_CHIP_PLL_N - 1u) | ((uint32_t)ESN_CHIP_PLL_P - 1u) << 9
        | ((uint32_t)ESN_CHIP_PLL_Q - 1u) << 16 | 1u << 24;
    RCC_CR |= 1u << 24;
    if (!WAIT_SET(RCC_CR, 1u << 25)) {
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_PLL;
    }
    FLASH_ACR = (uint32_t)ESN_CHIP_FLASH_WAIT_STATES | (uint32_t)ESN_CHIP_FLASH_PROG_DELAY << 4;
    if ((FLASH_ACR & 0x3Fu) != ((uint32_t)ESN_CHIP_FLASH_WAIT_STATES | (uint32_t)ESN_CHIP_FLASH_PROG_DELAY << 4)) {
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_FLASH;
    }
    RCC_D1CFGR = ESN_STM32_HPRE(ESN_CHIP_AHB_DIV) | ESN_STM32_PPRE(ESN_CHIP_APB1_DIV) << 4;
    RCC_D2CFGR = ESN_STM32_PPRE(ESN_CHIP_APB1_DIV) << 4 | ESN_STM32_PPRE(ESN_CHIP_APB2_DIV) << 8;
    RCC_D3CFGR = ESN_STM32_PPRE(ESN_CHIP_APB1_DIV) << 4;
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;
    if (!esn_stm32_wait(&RCC_CFGR, 7u << 3, 3u << 3)) {
        RCC_CFGR &= ~7u;
        RCC_D1CFGR = 0;
        RCC_D2CFGR = 0;
        RCC_D3CFGR = 0;
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_SWITCH;
    }
    return ESN_STM32_CLK_OK;
}

static uint8_t esn_stm32_sws(void)
{
    return (uint8_t)((RCC_CFGR >> 3) & 7u);
}

const char *esn_stm32_sws_name(uint8_t sws)
{
    static const char *const names[8] = {"hsi", "csi", "hse", "pll", "?", "?", "?", "?"};
    return names[sws & 7u];
}

#elif ESN_CHIP_FAMILY == ESN_STM32_L4 || ESN_CHIP_FAMILY == ESN_STM32_L5
/*
 * L4: RM0351 (STM32L476) sec. 6.4, RCC registers; L5: RM0438 (STM32L552) sec. 9.8.
 *   RCC_CR 0x00: HSEON 16, HSERDY 17, HSEBYP 18, PLLON 24, PLLRDY 25 (MSI 4 MHz runs out of reset)
 *   RCC_CFGR 0x08: SW [1:0] (0: MSI, 3: PLL), SWS [3:2], HPRE [7:4], PPRE1 [10:8], PPRE2 [13:11]
 *   RCC_PLLCFGR 0x0C: PLLSRC [1:0] (1: MSI, 3: HSE), PLLM [6:4] (L5: [7:4]) = M - 1, PLLN [14:8],
 *   PLLREN 24, PLLR [26:25] (0: /2 .. 3: /8)
 *   RCC_APB1ENR1 0x58: PWREN 28
 * PWR (RM0351 sec. 5.4, RM0438 sec. 8.6): PWR_CR1 0x00 VOS [10:9] (L5 00: range 0; 01: range 1,
 *   10: range 2); PWR_SR2 0x14 VOSF 10 (set while the regulator moves).
 * FLASH_ACR 0x00 (RM0351 sec. 3.7.1: LATENCY [2:0], PRFTEN 8, ICEN 9, DCEN 10;
 *   RM0438 sec. 6.9.1: LATENCY [3:0]; the L5's instruction cache is a separate ICACHE, left off).
 * Above 80 MHz (L5 range 0) the AHB prescaler is /2 across the switch for at least 1 us
 * (RM0438 sec. 9.3.9), so the current step stays within what the regulator can follow.
 */
#define RCC_CR RCC(0x00u)
#define RCC_CFGR RCC(0x08u)
#define RCC_PLLCFGR RCC(0x0Cu)
#define RCC_APB1ENR1 RCC(0x58u)
#define PWR_CR1 PWR(0x00u)
#define PWR_SR2 PWR(0x14u)
#define FLASH_ACR FLASH(0x00u)
#if ESN_CHIP_FAMILY == ESN_STM32_L4
#define ACR_CACHES ((1u << 8) | (1u << 9) | (1u << 10)) /* PRFTEN, ICEN, DCEN */
#else
#define ACR_CACHES 0u
#endif
#define CFGR_BUS (0xFu << 4 | 7u << 8 | 7u << 11)

static uint8_t esn_stm32_pll_up(void)
{
    RCC_APB1ENR1 |= 1u << 28; /* PWREN */
    (void)RCC_APB1ENR1;
#if ESN_CHIP_VOS <= 3
    PWR_CR1 = (PWR_CR1 & ~(3u << 9)) | (uint32_t)ESN_CHIP_VOS << 9;
    if (!WAIT_CLEAR(PWR_SR2, 1u << 10)) {
        return ESN_STM32_CLK_VOS;
    }
#endif
#if ESN_CHIP_HSE_HZ
#if ESN_CHIP_HSE_BYPASS
    RCC_CR |= 1u << 18;
#endif
    RCC_CR |= 1u << 16;
    if (!WAIT_SET(RCC_CR, 1u << 17)) {
        RCC_CR &= ~(1u << 16 | 1u << 18); /* HSEON, HSEBYP */
        return ESN_STM32_CLK_HSE;
    }
#endif
    RCC_PLLCFGR = (ESN_CHIP_HSE_HZ ? 3u : 1u) | ((uint32_t)ESN_CHIP_PLL_M - 1u) << 4 | (uint32_t)ESN_CHIP_PLL_N << 8
        | 1u << 24 | (uint32_t)(ESN_CHIP_PLL_P / 2u - 1u) << 25;
    RCC_CR |= 1u << 24;
    if (!WAIT_SET(RCC_CR, 1u << 25)) {
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_PLL;
    }
    FLASH_ACR = (uint32_t)ESN_CHIP_FLASH_WAIT_STATES | ACR_CACHES;
    if ((FLASH_ACR & 0xFu) != ESN_CHIP_FLASH_WAIT_STATES) {
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_FLASH;
    }
    RCC_CFGR = (RCC_CFGR & ~CFGR_BUS) | (ESN_STM32_SYSCLK_HZ > 80000000u ? ESN_STM32_HPRE(2) : 0u) << 4
        | ESN_STM32_PPRE(ESN_CHIP_APB1_DIV) << 8 | ESN_STM32_PPRE(ESN_CHIP_APB2_DIV) << 11;
    RCC_CFGR = (RCC_CFGR & ~3u) | 3u;
    if (!esn_stm32_wait(&RCC_CFGR, 3u << 2, 3u << 2)) {
        RCC_CFGR &= ~(3u | CFGR_BUS);
        RCC_CR &= ~(1u << 24 | 1u << 16 | 1u << 18); /* PLLON, HSEON, HSEBYP */
        return ESN_STM32_CLK_SWITCH;
    }
    if (ESN_STM32_SYSCLK_HZ > 80000000u) {
        esn_fw_port_spin(ESN_STM32_SYSCLK_HZ / 2u / 1000000u + 1u); /* > 1 us at sysclk / 2 */
    }
    RCC_CFGR = (RCC_CFGR & ~(0xFu << 4)) | ESN_STM32_HPRE(ESN_CHIP_AHB_DIV) << 4;
    return ESN_STM32_CLK_OK;
}

static uint8_t esn_stm32_sws(void)
{
    return (uint8_t)((RCC_CFGR >> 2) & 3u);
}

const char *esn_stm32_sws_name(uint8_t sws)
{
    static const char *const names[4] = {"msi", "hsi", "hse", "pll"};
    return names[sws & 3u];
}

#else
#error "ESN_CHIP_FAMILY: 1 F4, 2 F7, 3 H7, 4 L4, 5 L5 (runtime_c/ports/stm32/port.toml)"
#endif

const char *esn_stm32_clock_error_name(uint8_t error)
{
    static const char *const names[] = {
        [ESN_STM32_CLK_OK] = "none",
        [ESN_STM32_CLK_SUPPLY] = "supply-not-ready",
        [ESN_STM32_CLK_VOS] = "vos-not-ready",
        [ESN_STM32_CLK_HSE] = "hse-not-ready",
        [ESN_STM32_CLK_PLL] = "pll-not-locked",
        [ESN_STM32_CLK_OVERDRIVE] = "overdrive-not-ready",
        [ESN_STM32_CLK_FLASH] = "flash-latency-not-set",
        [ESN_STM32_CLK_SWITCH] = "switch-not-done",
    };
    return error < sizeof names / sizeof names[0] ? names[error] : "?";
}

esn_stm32_clock esn_stm32_clock_init(void)
{
    esn_stm32_clock c;
    c.error = esn_stm32_pll_up();
    if (c.error == ESN_STM32_CLK_OK) {
        c.sysclk_hz = ESN_STM32_SYSCLK_HZ;
        c.uart_clk_hz = ESN_STM32_SYSCLK_HZ / ESN_CHIP_AHB_DIV / ESN_STM32_UART_DIV;
    } else { /* the reset clock, every prescaler at /1 */
        c.sysclk_hz = ESN_CHIP_RESET_CLOCK_HZ;
        c.uart_clk_hz = ESN_CHIP_RESET_CLOCK_HZ;
    }
    c.sws = esn_stm32_sws();
    return c;
}
