# fxlearn top-level build. `make help` lists the targets.
# Kernel sources: every .c in firmware/kernel (one concept per file).
KERNEL_DIR  := firmware/kernel
KERNEL_SRC  := $(sort $(wildcard $(KERNEL_DIR)/*.c))
KERNEL_HDR  := $(wildcard $(KERNEL_DIR)/*.h)
BUILD       := build
WARN        := -std=c99 -Wall -Wextra -Wconversion -Wsign-conversion -Wshadow -Werror
CC          ?= gcc
ARM_CC      := arm-none-eabi-gcc
ARM_SIZE    := arm-none-eabi-size
PYTHON      := .venv/bin/python

.PHONY: help setup test demo lib lib-asan cross size clean

help:
	@echo "make setup   - install system packages (apt) and the Python venv (.venv)"
	@echo "make test    - setup, then the full test suite (what CI runs)"
	@echo "make demo    - setup, then the main job"
	@echo "make lib     - native shared kernel library (build/native)"
	@echo "make lib-asan- same, with -fsanitize=address,undefined (build/asan)"
	@echo "make cross   - kernel objects for Cortex-M4F and Cortex-M3, warnings are errors"
	@echo "make size    - arm-none-eabi-size of the kernel objects"
	@echo "make firmware - virtual board build/native-board/fxboard (+ protocol codec library)"

setup:
	bash tools/setup.sh

test: setup
	bash tools/run_tests.sh

demo: setup
	$(PYTHON) -m fxlearn.cli demo

lib: $(BUILD)/native/libfxkernel.so
lib-asan: $(BUILD)/asan/libfxkernel.so
lib-small: $(BUILD)/native-small/libfxkernel.so

$(BUILD)/native/libfxkernel.so: $(KERNEL_SRC) $(KERNEL_HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -fPIC -shared -o $@ $(KERNEL_SRC)

# The small-flash feature profile (the kernel flags boards.mk gives bluepill_f103c8), tested on
# the host by tests/test_kernel_small.py.
SMALL_FLAGS := -DFX_OPTIM_LATTICE=0
$(BUILD)/native-small/libfxkernel.so: $(KERNEL_SRC) $(KERNEL_HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -fPIC -shared $(SMALL_FLAGS) -o $@ $(KERNEL_SRC)

$(BUILD)/asan/libfxkernel.so: $(KERNEL_SRC) $(KERNEL_HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fPIC -shared -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer -o $@ $(KERNEL_SRC)

CM4_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
CM3_FLAGS := -mcpu=cortex-m3 -mthumb -mfloat-abi=soft

define cross_rule
$(BUILD)/$(1)/kernel/%.o: $(KERNEL_DIR)/%.c $(KERNEL_HDR)
	@mkdir -p $$(@D)
	$(ARM_CC) $(WARN) -Os -ffunction-sections -fdata-sections $(2) -c -o $$@ $$<
endef
$(eval $(call cross_rule,cm4,$(CM4_FLAGS)))
$(eval $(call cross_rule,cm3,$(CM3_FLAGS)))

CM4_OBJ := $(patsubst $(KERNEL_DIR)/%.c,$(BUILD)/cm4/kernel/%.o,$(KERNEL_SRC))
CM3_OBJ := $(patsubst $(KERNEL_DIR)/%.c,$(BUILD)/cm3/kernel/%.o,$(KERNEL_SRC))

cross: $(CM4_OBJ) $(CM3_OBJ)

size: cross
	@echo "== Cortex-M4F (-Os)"; $(ARM_SIZE) -t $(CM4_OBJ)
	@echo "== Cortex-M3 (-Os)";  $(ARM_SIZE) -t $(CM3_OBJ)

clean:
	rm -rf $(BUILD)

# Board firmware, PlatformIO and emulators (make board BOARD=..., make boards).
-include firmware/ports/boards.mk

# Virtual board and protocol codec (firmware/ports/native/native.mk).
.PHONY: firmware firmware-asan firmware-cross
include firmware/ports/native/native.mk

# Fuzz targets and the app on a memory board (tests/fuzz/fuzz.mk, docs/reliability.md).
include tests/fuzz/fuzz.mk
