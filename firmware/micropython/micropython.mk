# fxlearn as a MicroPython user C module (make-based ports: unix, qemu, stm32, rp2 via make ...).
# Build a port with USER_C_MODULES=<fxlearn>/firmware (the folder that holds this module's
# folder), e.g.  make -C ports/stm32 BOARD=PYBV11 USER_C_MODULES=/path/to/fxlearn/firmware
FXLEARN_MOD_DIR := $(USERMOD_DIR)
FXLEARN_KERNEL_DIR := $(abspath $(FXLEARN_MOD_DIR)/../kernel)

# The module source is scanned for QSTRs; the kernel (plain C99, no MicroPython API) is not.
SRC_USERMOD_C += $(FXLEARN_MOD_DIR)/modfxlearn.c
SRC_USERMOD_LIB_C += $(sort $(wildcard $(FXLEARN_KERNEL_DIR)/*.c))
CFLAGS_USERMOD += -I$(FXLEARN_KERNEL_DIR)
