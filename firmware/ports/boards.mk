# Board firmware (included from the top Makefile). Outputs go to build/boards/<board>/:
#   make board BOARD=qemu_f405 [APP=echo]   firmware ELF/BIN/map + size for one board
#   make boards [APP=echo]                  every board that builds here (STM32 + qemu_rv32)
#   make board-sizes                        flash/RAM of each by component (kernel, app, ...)
#   make board-run BOARD=qemu_f405          boot it in QEMU on this terminal (Ctrl-A x quits)
#   make xtensa-check                       compile kernel + app for Xtensa (portability only)
# APP=fxlearn (default) links firmware/app + protocol + kernel; APP=echo the bring-up app.
BOARDS_STM32   := qemu_f405 qemu_f100 nucleo_f446re bluepill_f103c8
BOARDS_RV32    := qemu_rv32
BOARDS_ALL     := $(BOARDS_STM32) $(BOARDS_RV32)
BOARD          ?= qemu_f405
APP            ?= fxlearn

BOARD_OUT      := $(BUILD)/boards/$(BOARD)
# The board's fx_board_config.h also configures the app (FX_APP_CONFIG_HEADER).
BOARD_INC      := -Ifirmware -Ifirmware/kernel -Ifirmware/protocol -Ifirmware/app \
                  -Ifirmware/ports/common -Iboards/$(BOARD) \
                  -DFX_APP_CONFIG_HEADER='"fx_board_config.h"'
# Kernel feature flags per board: bluepill's kernel must stay within 16 KiB of flash, so it
# leaves out the optimizer's lattice search (fx_optim.h; the Makefile's SMALL_FLAGS, tested
# on the host by tests/test_kernel_small.py).
KERNEL_FLAGS_bluepill_f103c8 := $(SMALL_FLAGS)
BOARD_CFLAGS   := $(WARN) -Os -g -ffunction-sections -fdata-sections \
                  -MMD -MP $(BOARD_INC) $(KERNEL_FLAGS_$(BOARD))

ifeq ($(APP),echo)
APP_SRC        := firmware/ports/common/echo_app.c
else
APP_SRC        := $(sort $(wildcard firmware/app/*.c firmware/protocol/*.c)) $(KERNEL_SRC)
endif
COMMON_SRC     := firmware/ports/common/fx_main.c firmware/ports/common/fx_port.c

ifneq ($(filter $(BOARD),$(BOARDS_STM32)),)
BOARD_CC       := $(ARM_CC)
BOARD_SIZE     := $(ARM_SIZE)
BOARD_OBJCOPY  := arm-none-eabi-objcopy
BOARD_CPU      := $(if $(filter qemu_f405 nucleo_f446re,$(BOARD)),$(CM4_FLAGS),$(CM3_FLAGS))
PORT_SRC       := $(wildcard firmware/ports/stm32/*.c)
# newlib-nano for the few string routines GCC may call; no startup files, no syscalls.
BOARD_LDLIBS   := -nostdlib -Wl,--start-group -lc_nano -lgcc -Wl,--end-group
BOARD_QEMU     := $(if $(filter qemu_f405,$(BOARD)),qemu-system-arm -M netduinoplus2,qemu-system-arm -M stm32vldiscovery)
else ifeq ($(BOARD),qemu_rv32)
RV32_CC        := riscv64-unknown-elf-gcc
BOARD_CC       := $(RV32_CC)
BOARD_SIZE     := riscv64-unknown-elf-size
BOARD_OBJCOPY  := riscv64-unknown-elf-objcopy
# No C library exists for this target: GCC's own stdint.h (-ffreestanding), our string.h.
# zicsr is needed by the assembler for CSR access; the libgcc is the rv32imac/ilp32 multilib
# (GCC 12 maps an arch string with _zicsr to the 64-bit default one), named explicitly.
BOARD_CPU      := -march=rv32imac_zicsr -mabi=ilp32 -mcmodel=medany -ffreestanding \
                  -Ifirmware/ports/common/libc
PORT_SRC       := $(wildcard firmware/ports/rv32/*.c firmware/ports/rv32/*.S) \
                  firmware/ports/common/libc/fx_string.c
BOARD_LDLIBS   := -nostdlib $(shell $(RV32_CC) -march=rv32imac -mabi=ilp32 -print-libgcc-file-name 2>/dev/null)
BOARD_QEMU     := qemu-system-riscv32 -M virt -bios none
endif

BOARD_SRC      := $(APP_SRC) $(COMMON_SRC) $(PORT_SRC)
BOARD_OBJ      := $(patsubst %,$(BOARD_OUT)/obj/%.o,$(BOARD_SRC))
BOARD_ELF      := $(BOARD_OUT)/$(APP).elf

.PHONY: board boards board-check board-run board-sizes xtensa-check

board: board-check $(BOARD_ELF)
	@$(BOARD_SIZE) $(BOARD_ELF)

board-sizes: boards
	@$(PYTHON) -m fxlearn.fwsize $(foreach b,$(BOARDS_ALL),$(BUILD)/boards/$(b)/$(APP).map)

board-check:
	@$(if $(filter $(BOARD),$(BOARDS_ALL)),true,echo "unknown BOARD=$(BOARD); boards: $(BOARDS_ALL)" >&2; false)

boards:
	@for b in $(BOARDS_ALL); do $(MAKE) -s --no-print-directory board BOARD=$$b APP=$(APP) || exit 1; done

$(BOARD_OUT)/obj/%.c.o: %.c
	@mkdir -p $(@D)
	$(BOARD_CC) $(BOARD_CPU) $(BOARD_CFLAGS) -c -o $@ $<

$(BOARD_OUT)/obj/%.S.o: %.S
	@mkdir -p $(@D)
	$(BOARD_CC) $(BOARD_CPU) -c -o $@ $<

$(BOARD_ELF): $(BOARD_OBJ) boards/$(BOARD)/link.ld boards/cortexm_sections.ld
	$(BOARD_CC) $(BOARD_CPU) -Wl,--gc-sections -Wl,-Map=$(@:.elf=.map) -Lboards \
	    -Tboards/$(BOARD)/link.ld -o $@ $(BOARD_OBJ) $(BOARD_LDLIBS)
	$(BOARD_OBJCOPY) -O binary $@ $(@:.elf=.bin)

board-run: board-check $(BOARD_ELF)
	$(BOARD_QEMU) -icount shift=0 -nographic -kernel $(BOARD_ELF)

-include $(BOARD_OBJ:.o=.d)

# Xtensa (ESP32's instruction set) through Debian's lx106 compiler: compile only, no link.
XTENSA_CC      := xtensa-lx106-elf-gcc
XTENSA_SRC     := $(KERNEL_SRC) $(sort $(wildcard firmware/app/*.c firmware/protocol/*.c))
xtensa-check:
	@mkdir -p $(BUILD)/boards/xtensa
	@for f in $(XTENSA_SRC); do \
	    $(XTENSA_CC) $(WARN) -Os -mlongcalls -ffreestanding -Ifirmware -Ifirmware/kernel \
	        -Ifirmware/protocol -Ifirmware/app -Ifirmware/ports/common/libc -Iboards/esp32dev \
	        -DFX_APP_CONFIG_HEADER='"fx_board_config.h"' \
	        -c -o $(BUILD)/boards/xtensa/$$(basename $$f .c).o $$f || exit 1; done
	@xtensa-lx106-elf-size -t $(BUILD)/boards/xtensa/*.o | tail -1
