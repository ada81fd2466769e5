# libFuzzer targets of the device-side parsers (tests/fuzz, docs/reliability.md) and the app on
# the memory board as a library for tests/test_malformed.py. Included by the top Makefile.
#   make fuzz        - build/fuzz/fuzz_{frame,blob,dispatch} (clang, ASan + UBSan + libFuzzer)
#   make fuzz-lib    - build/fuzz/libfxapp_mem.so (the app, 8 KiB profile, on the memory board)
# tools/fuzz.sh builds and runs them.
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all
FUZZ_HDR     := $(FW_HDR) $(wildcard tests/fuzz/*.h)
FUZZ_APP_SRC := $(FW_APP_SRC) $(FW_PROTO_SRC) $(KERNEL_SRC) tests/fuzz/fx_board_mem.c \
                tests/fuzz/fx_mem_app.c
FUZZ_INC     := $(FW_INC) -Itests/fuzz
FUZZ_WARN    := $(WARN)   # -Werror as in every other build: clang must stay warning-free too

.PHONY: fuzz fuzz-lib
fuzz: $(FUZZ_DIR)/fuzz_frame $(FUZZ_DIR)/fuzz_blob $(FUZZ_DIR)/fuzz_dispatch
fuzz-lib: $(FUZZ_DIR)/libfxapp_mem.so

$(FUZZ_DIR)/fuzz_frame: tests/fuzz/fuzz_frame.c $(FW_PROTO_SRC) $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_WARN) $(FUZZ_FLAGS) $(FUZZ_INC) -o $@ $< $(FW_PROTO_SRC)

$(FUZZ_DIR)/fuzz_blob: tests/fuzz/fuzz_blob.c $(KERNEL_SRC) $(FW_PROTO_SRC) $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_WARN) $(FUZZ_FLAGS) $(FUZZ_INC) -o $@ $< $(KERNEL_SRC) $(FW_PROTO_SRC)

# The smallest profile: the tightest buffers are where a missing bound shows first.
$(FUZZ_DIR)/fuzz_dispatch: tests/fuzz/fuzz_dispatch.c $(FUZZ_APP_SRC) $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_WARN) $(FUZZ_FLAGS) $(FUZZ_INC) -DFX_APP_PROFILE_SMALL=1 -o $@ $< $(FUZZ_APP_SRC)

$(FUZZ_DIR)/libfxapp_mem.so: $(FUZZ_APP_SRC) $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fPIC -shared $(FUZZ_INC) -DFX_APP_PROFILE_SMALL=1 -o $@ $(FUZZ_APP_SRC)
