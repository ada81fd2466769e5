/* The part of <string.h> the firmware uses, for toolchains that ship no C library (Debian's
 * riscv64-unknown-elf-gcc and xtensa-lx106-elf-gcc); implemented in fx_string.c. */
#ifndef FX_LIBC_STRING_H
#define FX_LIBC_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
