/*
 * esn_boot2_rp2040.c: the RP2040's second-stage boot loader (boot2), for any 25-series QSPI flash.
 *
 * RP2040 datasheet sec. 2.8.1.3 (flash boot): the boot ROM copies the first 256 bytes of flash to
 * SRAM (0x20041F00), checks that their last 4 bytes are the CRC-32 of the first 252 and runs them.
 * They must set the SSI up for execute-in-place and enter the image, whose vector table follows at
 * 0x10000100. edgesnn/firmware/build.py compiles this file alone, checks that it is one code
 * section without relocations (it runs from its SRAM copy), pads it and appends the CRC
 * (port.toml `boot2`).
 *
 * The slow, universal setup: serial 03h READ DATA, one bit wide, 24-bit address, which every
 * 25-series flash answers after reset, no status register to program. SSI (DW_apb_ssi), datasheet
 * sec. 4.10.13, base XIP_SSI 0x18000000: CTRLR0 0x00 (DFS_32 bits 20:16, TMOD bits 9:8 = 3 EEPROM
 * read, SPI_FRF bits 22:21 = 0 standard), CTRLR1 0x04 (NDF: frames per transfer - 1), SSIENR 0x08,
 * BAUDR 0x14 (even divider of clk_sys), SPI_CTRLR0 0xF4 (XIP_CMD bits 31:24, INST_L bits 9:8 = 2
 * 8-bit instruction, ADDR_L bits 5:2 in 4-bit units, TRANS_TYPE bits 1:0 = 0 instruction and
 * address both one bit wide).
 *
 * The divider must suit the fastest clk_sys the firmware runs later (it does not change the SSI):
 * 125 MHz / ESN_CHIP_XIP_CLKDIV 4 = 31 MHz SCK, within the 50 MHz 03h limit of the Pico's W25Q16JV.
 */
#include <stdint.h>

#ifndef ESN_CHIP_XIP_CLKDIV
#define ESN_CHIP_XIP_CLKDIV 4u
#endif
#if (ESN_CHIP_XIP_CLKDIV) < 2 || (ESN_CHIP_XIP_CLKDIV) % 2 != 0
#error "the SSI's BAUDR takes an even divider >= 2 (chip setting xip_clkdiv)"
#endif

#define SSI_BASE 0x18000000u
#define SSI_REG(off) (*(volatile uint32_t *)(SSI_BASE + (off)))

void esn_boot2(void);

void esn_boot2(void)
{
    uint32_t lr;
    /* The boot ROM enters with LR = 0 (datasheet sec. 2.8.1.3); a caller that wants XIP set up
     * again (a flash tool running it from RAM) passes its return address. */
    __asm volatile("mov %0, lr" : "=r"(lr));

    SSI_REG(0x08) = 0u;                                   /* SSIENR: off while configuring */
    SSI_REG(0x14) = ESN_CHIP_XIP_CLKDIV;                  /* BAUDR */
    SSI_REG(0x00) = (31u << 16) | (3u << 8);              /* CTRLR0: 32-bit frames, EEPROM read, standard SPI */
    SSI_REG(0xF4) = (0x03u << 24) | (2u << 8) | (6u << 2); /* SPI_CTRLR0: 03h, 8-bit instruction, 24-bit address */
    SSI_REG(0x04) = 0u;                                   /* CTRLR1: one 32-bit frame per XIP access */
    SSI_REG(0x08) = 1u;                                   /* SSIENR: on; the XIP window now reads flash */
    if (lr != 0u) {
        return;
    }
    /* Enter the image: VTOR (0xE000ED08) at its vector table, MSP from entry 0, jump to entry 1. */
    __asm volatile(".syntax unified\n\t"
                   "ldr r0, =0x10000100\n\t"
                   "ldr r1, =0xE000ED08\n\t"
                   "str r0, [r1]\n\t"
                   "ldmia r0!, {r1, r2}\n\t"
                   "msr msp, r1\n\t"
                   "bx r2\n\t"
                   ".ltorg\n" ::: "r0", "r1", "r2", "memory");
}
