/*
 * esn_fw_port_stm32.c: the firmware port for STM32 boards (F4, F7, H7, L4, L5), real or emulated by
 * QEMU's netduinoplus2 (STM32F405): the clock tree (esn_stm32_clock.c), the serial link on the
 * USART or LPUART wired to the board's ST-LINK virtual COM port (firmware.uart_base), SysTick for
 * ticks, the DWT cycle counter, and the Cortex-M7's caches.
 *
 * The boot prints one text line before the ready line, naming the clock that runs and, when the
 * PLL could not be brought up, why (the protocol's HELLO has no field for it):
 *   ESN-CLOCK sysclk_hz=16000000 source=hsi uart_clk_hz=16000000 rated_hz=168000000 error=hse-not-ready
 * The UART's baud divider comes from the clock that actually runs, so the link works either way.
 *
 * Serial, polled (nothing else runs between requests; an overrun costs the protocol a retry):
 *   F4 USART (RM0090 sec. 30.6, RM0390 sec. 25.6): SR 0x00 (ORE 3, RXNE 5, TC 6, TXE 7), DR 0x04,
 *     BRR 0x08 (fck / baud with OVER8 = 0), CR1 0x0C (RE 2, TE 3, UE 13). ORE clears by reading
 *     SR then DR, which getc does.
 *   F7/H7/L4/L5 USART (RM0385 sec. 34.8, RM0433 sec. 48.7, RM0351 sec. 40.8, RM0438 sec. 55.8) and
 *   LPUART (RM0438 sec. 56.7): CR1 0x00 (UE 0, RE 2, TE 3), BRR 0x0C (USART: fck / baud;
 *   LPUART: 256 fck / baud), ISR 0x1C (FE 1, NE 2, ORE 3, RXNE 5, TC 6, TXE 7), ICR 0x20 (FECF 1,
 *   NECF 2, ORECF 3), RDR 0x24, TDR 0x28. FIFO mode (H7, L5) stays off.
 *   GPIO, the same on every family (RM0390 sec. 7.4, RM0385 sec. 6.4, RM0433 sec. 11.4, RM0351
 *   sec. 8.5, RM0438 sec. 12.5): MODER 0x00 (2 bits a pin, 10: alternate function), OSPEEDR 0x08,
 *   PUPDR 0x0C (01: pull-up), AFRL 0x20 / AFRH 0x24 (4 bits a pin).
 *   L5 port G (PG2..PG15) is powered from VDDIO2: PWR_CR2 (0x04) IOSV (bit 9) must be set first
 *   (RM0438 sec. 8.6.2), ESN_CHIP_VDDIO2.
 * Cortex-M7 (F7, H7): DWT registers are locked until the lock access register (0xE0001FB0) gets
 *   0xC5ACCE55 (Cortex-M7 TRM, sec. 3.5 / CoreSight LAR); I- and D-cache enabled per ARMv7-M ARM
 *   sec. B2.2.7 (ICIALLU 0xE000EF50, DCISW 0xE000EF60, CCSIDR 0xE000ED80, CSSELR 0xE000ED84,
 *   CCR IC 17 / DC 16). No DMA touches cached memory, so no maintenance is needed afterwards.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"
#include "esn_fw_server.h"
#include "esn_stm32.h"

#ifndef ESN_FW_UART_BASE
#error "ESN_FW_UART_BASE must name the USART (boards/<id>.toml, firmware.uart_base)"
#endif
#ifndef ESN_FW_BAUD
#define ESN_FW_BAUD 115200u
#endif

#define REG(base, off) ESN_REG((uint32_t)(base) + (uint32_t)(off))

#if ESN_CHIP_FAMILY == ESN_STM32_F4
#define UART_SR REG(ESN_FW_UART_BASE, 0x00u)
#define UART_RX REG(ESN_FW_UART_BASE, 0x04u)
#define UART_TX REG(ESN_FW_UART_BASE, 0x04u)
#define UART_BRR REG(ESN_FW_UART_BASE, 0x08u)
#define UART_CR1 REG(ESN_FW_UART_BASE, 0x0Cu)
#define UART_CR1_ON ((1u << 13) | (1u << 3) | (1u << 2)) /* UE, TE, RE */
#else
#define UART_CR1 REG(ESN_FW_UART_BASE, 0x00u)
#define UART_BRR REG(ESN_FW_UART_BASE, 0x0Cu)
#define UART_SR REG(ESN_FW_UART_BASE, 0x1Cu) /* ISR */
#define UART_ICR REG(ESN_FW_UART_BASE, 0x20u)
#define UART_RX REG(ESN_FW_UART_BASE, 0x24u)
#define UART_TX REG(ESN_FW_UART_BASE, 0x28u)
#define UART_CR1_ON ((1u << 0) | (1u << 3) | (1u << 2)) /* UE, TE, RE */
#endif
#define UART_ERRORS ((1u << 1) | (1u << 2) | (1u << 3)) /* FE, NE, ORE */
#define UART_RXNE (1u << 5)
#define UART_TC (1u << 6)
#define UART_TXE (1u << 7)

#define GPIO_MODER(b) REG(b, 0x00u)
#define GPIO_OSPEEDR(b) REG(b, 0x08u)
#define GPIO_PUPDR(b) REG(b, 0x0Cu)
#define GPIO_AFR(b, pin) REG(b, 0x20u + 4u * ((pin) >> 3))

#define DWT_LAR ESN_REG(0xE0001FB0u)
#define SCB_CCSIDR ESN_REG(0xE000ED80u)
#define SCB_CSSELR ESN_REG(0xE000ED84u)
#define SCB_ICIALLU ESN_REG(0xE000EF50u)
#define SCB_DCISW ESN_REG(0xE000EF60u)

#define ESN_STM32_M7 (ESN_CHIP_FAMILY == ESN_STM32_F7 || ESN_CHIP_FAMILY == ESN_STM32_H7)

static esn_stm32_clock s_clock;

#ifdef ESN_STM32_HOST_MODEL /* tests/esn_stm32_host_model.c runs this file on the host against a register model */
#define BARRIERS() __asm volatile("" ::: "memory")
#else
#define BARRIERS() __asm volatile("dsb\n\tisb" ::: "memory")
#endif

#if ESN_STM32_M7
static void esn_stm32_caches_on(void)
{
    uint32_t ccsidr, sets, ways, set, way, way_shift;
    BARRIERS();
    SCB_ICIALLU = 0;
    BARRIERS();
    ESN_SCB_CCR |= 1u << 17; /* IC */
    BARRIERS();

    SCB_CSSELR = 0; /* level 1 data cache */
    BARRIERS();
    ccsidr = SCB_CCSIDR;
    sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
    for (set = 0; set < sets; set++) {
        for (way = 0; way < ways; way++) {
            /* set at bit log2(line bytes) = (CCSIDR.LineSize + 4), way in the top bits */
            SCB_DCISW = (set << ((ccsidr & 7u) + 4u)) | (ways > 1u ? way << way_shift : 0u);
        }
    }
    BARRIERS();
    ESN_SCB_CCR |= 1u << 16; /* DC */
    BARRIERS();
}
#endif

static void esn_stm32_pin_af(uint32_t gpio, uint32_t pin, uint32_t pull)
{
    GPIO_AFR(gpio, pin) = (GPIO_AFR(gpio, pin) & ~(0xFu << 4 * (pin & 7u))) | (uint32_t)ESN_CHIP_UART_AF << 4 * (pin & 7u);
    GPIO_OSPEEDR(gpio) = (GPIO_OSPEEDR(gpio) & ~(3u << 2 * pin)) | 2u << 2 * pin;
    GPIO_PUPDR(gpio) = (GPIO_PUPDR(gpio) & ~(3u << 2 * pin)) | pull << 2 * pin;
    GPIO_MODER(gpio) = (GPIO_MODER(gpio) & ~(3u << 2 * pin)) | 2u << 2 * pin;
}

static void esn_stm32_uart_init(uint32_t clk_hz)
{
    const uint32_t baud = ESN_FW_BAUD;
#if ESN_CHIP_VDDIO2
    REG(ESN_CHIP_PWR_BASE, 0x04u) |= 1u << 9; /* PWR_CR2 IOSV (the clock set-up enabled PWR) */
#endif
    REG(ESN_CHIP_RCC_BASE, ESN_CHIP_GPIO_EN_REG) |= (1u << ESN_CHIP_TX_GPIO_EN_BIT) | (1u << ESN_CHIP_RX_GPIO_EN_BIT);
    REG(ESN_CHIP_RCC_BASE, ESN_CHIP_UART_EN_REG) |= 1u << ESN_CHIP_UART_EN_BIT;
    (void)REG(ESN_CHIP_RCC_BASE, ESN_CHIP_UART_EN_REG); /* the enable takes effect before the first access */
    esn_stm32_pin_af(ESN_CHIP_TX_GPIO_BASE, ESN_CHIP_TX_PIN, 0u);
    esn_stm32_pin_af(ESN_CHIP_RX_GPIO_BASE, ESN_CHIP_RX_PIN, 1u); /* pull-up: an idle line reads 1 */
    UART_CR1 = 0;
#if ESN_CHIP_LPUART
    /* 256 fck / baud without a 64-bit division */
    UART_BRR = (clk_hz / baud) * 256u + ((clk_hz % baud) * 256u + baud / 2u) / baud;
#else
    UART_BRR = (clk_hz + baud / 2u) / baud;
#endif
    UART_CR1 = UART_CR1_ON;
}

/* The clock line (esn_fw_server.h): printed before the ready line and carried by HELLO. */
static void esn_stm32_report_clock(void)
{
    esn_fw_clock_add(s_clock.error == ESN_STM32_CLK_OK ? "rated sysclk_hz=" : "fallback sysclk_hz=");
    esn_fw_clock_add_dec(s_clock.sysclk_hz);
    esn_fw_clock_add(" source=");
    esn_fw_clock_add(esn_stm32_sws_name(s_clock.sws));
    esn_fw_clock_add(" uart_clk_hz=");
    esn_fw_clock_add_dec(s_clock.uart_clk_hz);
    esn_fw_clock_add(" rated_hz=");
    esn_fw_clock_add_dec(ESN_FW_UART_CLOCK_HZ);
    esn_fw_clock_add(" error=");
    esn_fw_clock_add(esn_stm32_clock_error_name(s_clock.error));
    esn_fw_clock_report();
}

void esn_fw_port_init(void)
{
    s_clock = esn_stm32_clock_init();
#if ESN_STM32_M7
    esn_stm32_caches_on();
    ESN_DEMCR |= 1u << 24; /* TRCENA: the DWT answers only with it set */
    DWT_LAR = 0xC5ACCE55u;
#endif
    esn_cortex_m_init(); /* DWT CYCCNT on */
    esn_stm32_uart_init(s_clock.uart_clk_hz);
    esn_systick_init();
    esn_stm32_report_clock();
}

int esn_fw_port_getc(void)
{
    uint32_t sr = UART_SR;
#if ESN_CHIP_FAMILY != ESN_STM32_F4
    if (sr & UART_ERRORS) {
        UART_ICR = UART_ERRORS; /* an overrun stops reception until cleared; the lost byte costs a retry */
    }
#endif
    if (sr & UART_RXNE) {
        return (int)(UART_RX & 0xFFu);
    }
    return -1;
}

void esn_fw_port_putc(uint8_t byte)
{
    while (!(UART_SR & UART_TXE)) {
    }
    UART_TX = byte;
}

void esn_fw_port_flush(void)
{
    while (!(UART_SR & UART_TC)) {
    }
}

uint64_t esn_fw_port_ticks(void)
{
    return esn_systick_ticks();
}
