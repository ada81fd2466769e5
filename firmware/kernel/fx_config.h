/* fxlearn kernel: compile-time configuration and portability checks. */
#ifndef FX_CONFIG_H
#define FX_CONFIG_H

#include <stdint.h>
#include <stddef.h>

#define FX_KERNEL_VERSION_MAJOR 0
#define FX_KERNEL_VERSION_MINOR 1

/* The kernel relies on arithmetic right shift of negative signed integers
 * (implementation-defined in C99, arithmetic on every compiler we target).
 * Refuse to build where that is not so rather than compute different integers. */
typedef char fx_check_arithmetic_shift[((-1 >> 1) == -1 && (INT64_C(-3) >> 1) == INT64_C(-2)) ? 1 : -1];

/* Largest fan-in of a dense layer: keeps every exact dot product inside int64
 * (65535 * 2^15 * 2^30 < 2^62). */
#define FX_MAX_FAN_IN 65535u

#endif
