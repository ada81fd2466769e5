# Virtual board (firmware/ports/native) and the protocol codec as a shared library for the
# tests. Included by the top Makefile; `make firmware` builds both into build/native-board/.
NATIVE_BOARD_DIR := $(BUILD)/native-board
FW_APP_SRC       := $(sort $(wildcard firmware/app/*.c))
FW_PROTO_SRC     := $(sort $(wildcard firmware/protocol/*.c))
FW_NATIVE_SRC    := $(sort $(wildcard firmware/ports/native/*.c))
FW_HDR           := firmware/fx_board.h $(wildcard firmware/app/*.h firmware/protocol/*.h \
                    firmware/ports/native/*.h) $(KERNEL_HDR)
FW_INC           := -Ifirmware -Ifirmware/kernel -Ifirmware/protocol -Ifirmware/app
# The virtual board keeps its memory over a (longjmp) reset, so the model survives it.
NATIVE_BOARD_DEFS := -DFX_APP_PROFILE_LARGE=1 -DFX_APP_KEEPS_MODEL=1

$(NATIVE_BOARD_DIR)/fxboard: $(FW_APP_SRC) $(FW_PROTO_SRC) $(FW_NATIVE_SRC) $(KERNEL_SRC) $(FW_HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g $(FW_INC) -Ifirmware/ports/native $(NATIVE_BOARD_DEFS) -o $@ \
	    $(FW_APP_SRC) $(FW_PROTO_SRC) $(FW_NATIVE_SRC) $(KERNEL_SRC)

# The same board under AddressSanitizer + UBSan (FXLEARN_NATIVE_BOARD=<it> runs tests/hil on it).
$(NATIVE_BOARD_DIR)/fxboard-asan: $(FW_APP_SRC) $(FW_PROTO_SRC) $(FW_NATIVE_SRC) $(KERNEL_SRC) $(FW_HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer $(FW_INC) -Ifirmware/ports/native $(NATIVE_BOARD_DEFS) -o $@ \
	    $(FW_APP_SRC) $(FW_PROTO_SRC) $(FW_NATIVE_SRC) $(KERNEL_SRC)

$(NATIVE_BOARD_DIR)/libfxproto.so: $(FW_PROTO_SRC) $(wildcard firmware/protocol/*.h)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fPIC -shared -Ifirmware/protocol -o $@ $(FW_PROTO_SRC)

$(NATIVE_BOARD_DIR)/libfxproto-asan.so: $(FW_PROTO_SRC) $(wildcard firmware/protocol/*.h)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fPIC -shared -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer -Ifirmware/protocol -o $@ $(FW_PROTO_SRC)

# The app and protocol for Cortex-M3 with the 8 KiB profile: warnings are errors, and
# `size` shows the RAM the app takes on the smallest board.
FW_CM3_DIR := $(BUILD)/cm3-app
FW_CM3_OBJ := $(patsubst firmware/%.c,$(FW_CM3_DIR)/%.o,$(FW_APP_SRC) $(FW_PROTO_SRC))
$(FW_CM3_DIR)/%.o: firmware/%.c $(FW_HDR)
	@mkdir -p $(@D)
	$(ARM_CC) $(WARN) -Os -ffunction-sections -fdata-sections $(CM3_FLAGS) $(FW_INC) \
	    -DFX_APP_PROFILE_SMALL=1 -c -o $@ $<

firmware: $(NATIVE_BOARD_DIR)/fxboard $(NATIVE_BOARD_DIR)/libfxproto.so
firmware-asan: $(NATIVE_BOARD_DIR)/fxboard-asan $(NATIVE_BOARD_DIR)/libfxproto-asan.so
firmware-cross: $(FW_CM3_OBJ)
	@$(ARM_SIZE) -t $(FW_CM3_OBJ) | tail -1
