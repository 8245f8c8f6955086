/* The Cortex-M console: one character out, chosen by the board's -D macros. Only the registers
 * the console needs are touched (the peripheral's clock, the TX pin's mux, the baud rate); no
 * vendor HAL.
 *
 *   FF_CONSOLE_SEMIHOSTING   SYS_WRITEC through BKPT 0xAB: needs a debugger (or QEMU)
 *   FF_CONSOLE_USART_STM32   an STM32 USART, 8N1, polled:
 *       FF_USART_BASE        the USART's base address
 *       FF_USART_V2          defined on F7/L4/G4 parts (CR1 at 0, BRR at 0x0C, ISR at 0x1C,
 *                            TDR at 0x28); F2/F4 parts have SR at 0, DR at 4, BRR at 8, CR1 at 0x0C
 *       FF_USART_BRR         USARTDIV = peripheral clock / baud (16x oversampling)
 *       FF_USART_RCC_EN, FF_USART_RCC_BIT     the RCC enable register and bit of the USART
 *       FF_GPIO_BASE, FF_GPIO_RCC_EN, FF_GPIO_RCC_BIT, FF_UART_TX_PIN, FF_UART_AF
 *                            the TX pin's port, its clock enable, pin number and alternate function
 *       FF_USART_PWR_EN, FF_USART_PWR_EN_BIT, FF_USART_IOSV, FF_USART_IOSV_BIT   (optional)
 *                            a TX pin on the VDDIO2 supply (STM32L4+ port G): the PWR clock's
 *                            enable, then PWR_CR2.IOSV, which declares VDDIO2 valid
 *                            (LPUART1 has the v2 layout; its FF_USART_BRR is 256 * clock / baud)
 *   FF_CONSOLE_UART_RP2040   the RP2040's UART0 (an Arm PL011) on GP0, 115200 8N1, polled. Its
 *                            clock must not be the uncalibrated ring oscillator the part runs
 *                            on (1.8-12 MHz), so clk_peri is switched to the 12 MHz crystal
 *                            (XOSC, started here, its wait bounded); at 12 MHz the divisor
 *                            12e6 / (16 * 115200) = 6.5104 is IBRD 6, FBRD round(0.5104 * 64) = 33.
 *   FF_CONSOLE_UART_NRF      the nRF51/nRF52 UART0 (legacy, non-DMA), 8N1, polled:
 *       FF_UART_BASE         0x40002000
 *       FF_UART_PSELTXD      the TX pin select value (nRF52: pin | port << 5)
 *       FF_UART_BAUD         the BAUDRATE register value (0x01D7E000: 115200)
 *
 * Every wait is bounded (FF_CONSOLE_SPINS polls): a peripheral that never becomes ready (not
 * modelled by an emulator, or clocked off) loses characters instead of hanging the firmware. */
#ifndef FF_CONSOLE_H
#define FF_CONSOLE_H

#include <stdint.h>

#define FF_CONSOLE_SPINS 100000u
#define FF_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if defined(FF_CONSOLE_SEMIHOSTING) || defined(FF_EXIT_SEMIHOSTING)
/* One semihosting call: operation in r0, argument block in r1, result in r0. */
static int32_t ff_semihost(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
#endif

#if defined(FF_CONSOLE_SEMIHOSTING)
#define FF_SYS_WRITEC 0x03

static void ff_console_init(void) {}

static void ff_console_putc(char c) { (void)ff_semihost(FF_SYS_WRITEC, &c); }

#elif defined(FF_CONSOLE_USART_STM32)
#if defined(FF_USART_V2)
#define FF_USART_CR1 FF_REG(FF_USART_BASE + 0x00u)
#define FF_USART_BRR_REG FF_REG(FF_USART_BASE + 0x0Cu)
#define FF_USART_STATUS FF_REG(FF_USART_BASE + 0x1Cu)
#define FF_USART_TX FF_REG(FF_USART_BASE + 0x28u)
#define FF_USART_UE (1u << 0)
#else
#define FF_USART_STATUS FF_REG(FF_USART_BASE + 0x00u)
#define FF_USART_TX FF_REG(FF_USART_BASE + 0x04u)
#define FF_USART_BRR_REG FF_REG(FF_USART_BASE + 0x08u)
#define FF_USART_CR1 FF_REG(FF_USART_BASE + 0x0Cu)
#define FF_USART_UE (1u << 13)
#endif
#define FF_USART_TE (1u << 3)
#define FF_USART_TXE (1u << 7) /* the same bit of SR (F2/F4) and ISR (F7/L4) */

static void ff_console_init(void) {
#if defined(FF_USART_PWR_EN)
    FF_REG(FF_USART_PWR_EN) |= 1u << FF_USART_PWR_EN_BIT;
    (void)FF_REG(FF_USART_PWR_EN);
    FF_REG(FF_USART_IOSV) |= 1u << FF_USART_IOSV_BIT;
#endif
    FF_REG(FF_GPIO_RCC_EN) |= 1u << FF_GPIO_RCC_BIT;
    FF_REG(FF_USART_RCC_EN) |= 1u << FF_USART_RCC_BIT;
    (void)FF_REG(FF_USART_RCC_EN); /* the enable takes effect before the peripheral is used */
    const uint32_t pin = FF_UART_TX_PIN;
    volatile uint32_t *afr = &FF_REG(FF_GPIO_BASE + 0x20u + 4u * (pin / 8u));
    *afr = (*afr & ~(0xFu << (4u * (pin % 8u)))) | ((uint32_t)FF_UART_AF << (4u * (pin % 8u)));
    volatile uint32_t *moder = &FF_REG(FF_GPIO_BASE + 0x00u);
    *moder = (*moder & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* alternate function */
    FF_USART_BRR_REG = FF_USART_BRR;
    FF_USART_CR1 = FF_USART_UE | FF_USART_TE;
}

static void ff_console_putc(char c) {
    for (uint32_t i = 0; i < FF_CONSOLE_SPINS && !(FF_USART_STATUS & FF_USART_TXE); i++) {
    }
    FF_USART_TX = (uint32_t)(uint8_t)c;
}

#elif defined(FF_CONSOLE_UART_NRF)
#define FF_UART_STARTTX FF_REG(FF_UART_BASE + 0x008u)
#define FF_UART_TXDRDY FF_REG(FF_UART_BASE + 0x11Cu)
#define FF_UART_ENABLE FF_REG(FF_UART_BASE + 0x500u)
#define FF_UART_PSEL_TXD FF_REG(FF_UART_BASE + 0x50Cu)
#define FF_UART_TXD FF_REG(FF_UART_BASE + 0x51Cu)
#define FF_UART_BAUDRATE FF_REG(FF_UART_BASE + 0x524u)

static void ff_console_init(void) {
    FF_UART_PSEL_TXD = FF_UART_PSELTXD;
    FF_UART_BAUDRATE = FF_UART_BAUD;
    FF_UART_ENABLE = 4u; /* UART (not UARTE) */
    FF_UART_STARTTX = 1u;
}

static void ff_console_putc(char c) {
    FF_UART_TXDRDY = 0u;
    FF_UART_TXD = (uint32_t)(uint8_t)c;
    for (uint32_t i = 0; i < FF_CONSOLE_SPINS && FF_UART_TXDRDY == 0u; i++) {
    }
}

#elif defined(FF_CONSOLE_UART_RP2040)
#define FF_RP_RESETS 0x4000C000u
#define FF_RP_CLEAR 0x3000u /* the atomic bit-clear alias of a register block */
#define FF_RP_RESET_BITS ((1u << 5) | (1u << 8) | (1u << 22)) /* io_bank0, pads_bank0, uart0 */
#define FF_RP_XOSC 0x40024000u
#define FF_RP_CLK_PERI_CTRL FF_REG(0x40008048u)
#define FF_RP_GPIO0_CTRL FF_REG(0x40014004u)
#define FF_RP_UART 0x40034000u
#define FF_RP_UART_FR FF_REG(FF_RP_UART + 0x018u)

static void ff_console_init(void) {
    FF_REG(FF_RP_XOSC + 0x0Cu) = 47u;                       /* STARTUP: (12 MHz / 1000 + 128) / 256 */
    FF_REG(FF_RP_XOSC + 0x00u) = (0xFABu << 12) | 0xAA0u;  /* CTRL: enable, 1-15 MHz range */
    for (uint32_t i = 0; i < FF_CONSOLE_SPINS && !(FF_REG(FF_RP_XOSC + 0x04u) & (1u << 31)); i++) {
    }
    FF_RP_CLK_PERI_CTRL = (1u << 11) | (4u << 5);          /* ENABLE, AUXSRC = xosc_clksrc */
    FF_REG(FF_RP_RESETS + FF_RP_CLEAR) = FF_RP_RESET_BITS;  /* take them out of reset */
    for (uint32_t i = 0; i < FF_CONSOLE_SPINS &&
                         (FF_REG(FF_RP_RESETS + 0x08u) & FF_RP_RESET_BITS) != FF_RP_RESET_BITS;
         i++) {
    }
    FF_REG(FF_RP_UART + 0x024u) = 6u;                       /* IBRD */
    FF_REG(FF_RP_UART + 0x028u) = 33u;                      /* FBRD */
    FF_REG(FF_RP_UART + 0x02Cu) = (3u << 5) | (1u << 4);    /* LCR_H: 8 bits, FIFOs on */
    FF_REG(FF_RP_UART + 0x030u) = (1u << 0) | (1u << 8);    /* CR: UARTEN, TXE */
    FF_RP_GPIO0_CTRL = 2u;                                  /* FUNCSEL: UART0 TX */
}

static void ff_console_putc(char c) {
    for (uint32_t i = 0; i < FF_CONSOLE_SPINS && (FF_RP_UART_FR & (1u << 5)); i++) { /* TXFF */
    }
    FF_REG(FF_RP_UART + 0x000u) = (uint32_t)(uint8_t)c;
}

#else
#error "cortex-m: the board defines no console (FF_CONSOLE_SEMIHOSTING, FF_CONSOLE_USART_STM32 or FF_CONSOLE_UART_NRF)"
#endif

#endif /* FF_CONSOLE_H */
