/* Compile-time sizes of the firmware application: every buffer is static and sized here.
 * A port picks a profile (-DFX_APP_PROFILE_SMALL=1 for 8 KiB boards, -DFX_APP_PROFILE_LARGE=1
 * for the virtual board and 128 KiB parts; the default suits 16-20 KiB boards), or overrides
 * any single macro with -D, or names a header of its own with -DFX_APP_CONFIG_HEADER='"x.h"'. */
#ifndef FX_APP_CONFIG_H
#define FX_APP_CONFIG_H

#ifdef FX_APP_CONFIG_HEADER
#include FX_APP_CONFIG_HEADER
#endif

#define FX_APP_FW_MAJOR 0
#define FX_APP_FW_MINOR 1
#define FX_APP_FW_PATCH 0

#if defined(FX_APP_PROFILE_SMALL) && FX_APP_PROFILE_SMALL
/* STM32F100 (8 KiB RAM): ~5 KiB for the app. */
#define FX_APP_DEF_RX_MAX 256u
#define FX_APP_DEF_TX_MAX 160u
#define FX_APP_DEF_MODEL_MAX 1536u
#define FX_APP_DEF_WORK_MAX 384u
#define FX_APP_DEF_MAX_LAYERS 4u
#define FX_APP_DEF_WINDOW 2u
#define FX_APP_DEF_TRAIN_MAX 0u   /* no room left beside two slots: training answers TOO_BIG */
#elif defined(FX_APP_PROFILE_LARGE) && FX_APP_PROFILE_LARGE
/* Virtual board, STM32F4 (128 KiB RAM). */
#define FX_APP_DEF_RX_MAX 4096u
#define FX_APP_DEF_TX_MAX 1024u
#define FX_APP_DEF_MODEL_MAX 32768u
#define FX_APP_DEF_WORK_MAX 4096u
#define FX_APP_DEF_MAX_LAYERS 16u
#define FX_APP_DEF_WINDOW 8u
#define FX_APP_DEF_TRAIN_MAX 40960u /* all layers of 64-32-10, error feedback included (~30 KiB) */
#else
/* 16-20 KiB boards (bluepill): a BATCH of 16 int8 digits (8x8) fits one frame. */
#define FX_APP_DEF_RX_MAX 1100u
#define FX_APP_DEF_TX_MAX 288u
#define FX_APP_DEF_MODEL_MAX 5120u
#define FX_APP_DEF_WORK_MAX 768u
#define FX_APP_DEF_MAX_LAYERS 6u
#define FX_APP_DEF_WINDOW 2u
#define FX_APP_DEF_TRAIN_MAX 4096u /* the last layer of 64-32-10 (~3.3 KiB) */
#endif

/* Largest request payload (a BATCH or an UPLOAD_CHUNK). */
#ifndef FX_APP_RX_FRAME_MAX
#define FX_APP_RX_FRAME_MAX FX_APP_DEF_RX_MAX
#endif
/* Largest reply payload (INFER outputs, READ_MODEL data, STATS). At least 128. */
#ifndef FX_APP_TX_FRAME_MAX
#define FX_APP_TX_FRAME_MAX FX_APP_DEF_TX_MAX
#endif
/* Bytes of one model slot; there are two (the active model and the upload/training copy). */
#ifndef FX_APP_MODEL_MAX
#define FX_APP_MODEL_MAX FX_APP_DEF_MODEL_MAX
#endif
/* Bytes of inference scratch: one int16 input and output vector plus fx_mlp's workspace. */
#ifndef FX_APP_WORK_MAX
#define FX_APP_WORK_MAX FX_APP_DEF_WORK_MAX
#endif
/* Layers a model may have. */
#ifndef FX_APP_MAX_LAYERS
#define FX_APP_MAX_LAYERS FX_APP_DEF_MAX_LAYERS
#endif
/* Frames the host may have in flight; the port's receive buffer should hold what arrives
 * while one frame is being processed. */
#ifndef FX_APP_WINDOW
#define FX_APP_WINDOW FX_APP_DEF_WINDOW
#endif
/* Bytes of the trainer's arena (optimizer, theta, fx_train workspace; fx_trainer.c). */
#ifndef FX_APP_TRAIN_MAX
#define FX_APP_TRAIN_MAX FX_APP_DEF_TRAIN_MAX
#endif
/* A partial frame or a raw echo with no byte for this long is dropped with a TIMEOUT reply. */
#ifndef FX_APP_RX_TIMEOUT_MS
#define FX_APP_RX_TIMEOUT_MS 500u
#endif
/* Bytes taken from fx_board_read at a time. */
#ifndef FX_APP_READ_CHUNK
#define FX_APP_READ_CHUNK 64u
#endif
/* Placement of the model store: a port whose RAM survives a software reset defines this as
 * a section the startup code does not clear (e.g. __attribute__((section(".noinit")))) and
 * FX_APP_KEEPS_MODEL 1; the store is validated (magic, CRC) at every boot. */
#ifndef FX_APP_NOINIT
#define FX_APP_NOINIT
#endif
#ifndef FX_APP_KEEPS_MODEL
#define FX_APP_KEEPS_MODEL 0
#endif

#if FX_APP_TX_FRAME_MAX < 128u
#error "FX_APP_TX_FRAME_MAX must be at least 128 (a STATS reply)"
#endif
#if FX_APP_RX_FRAME_MAX < 64u
#error "FX_APP_RX_FRAME_MAX must be at least 64"
#endif

#endif
