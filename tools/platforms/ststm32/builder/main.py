"""SCons builder of the offline ststm32 stand-in: the official platform's bare-metal flags
(builder/main.py + builder/frameworks/_bare.py), with the toolchain taken from PATH."""
import shutil
import sys

from SCons.Script import COMMAND_LINE_TARGETS, AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

if env.get("PIOFRAMEWORK"):
    sys.stderr.write("Error: the offline ststm32 stand-in builds bare metal only; "
                     "frameworks need the official platform (network access).\n")
    env.Exit(1)
if not shutil.which("arm-none-eabi-gcc"):
    sys.stderr.write("Error: arm-none-eabi-gcc not found (apt install gcc-arm-none-eabi "
                     "libnewlib-arm-none-eabi)\n")
    env.Exit(1)

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.text.align|\.ARM.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
)
if env.get("PROGNAME", "program") == "program":
    env.Replace(PROGNAME="firmware")

cpu = "-mcpu=%s" % board.get("build.cpu")
env.Append(
    ASFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=["-Os", "-ffunction-sections", "-fdata-sections", "-Wall", "-mthumb", cpu],
    CXXFLAGS=["-fno-rtti", "-fno-exceptions"],
    CPPDEFINES=[("F_CPU", "$BOARD_F_CPU"), board.get("build.variant", "").upper()],
    LINKFLAGS=["-Os", "-Wl,--gc-sections,--relax", "-mthumb", cpu],
    LIBS=["c", "gcc", "m", "stdc++"],
    BUILDERS=dict(
        ElfToBin=Builder(action=env.VerboseAction(
            "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin"),
    ),
)
env.Append(ASFLAGS=env.get("CCFLAGS", [])[:])

if "nobuild" in COMMAND_LINE_TARGETS:
    target_elf = "$BUILD_DIR/${PROGNAME}.elf"
    target_firm = "$BUILD_DIR/${PROGNAME}.bin"
else:
    target_elf = env.BuildProgram()
    target_firm = env.ElfToBin("$BUILD_DIR/${PROGNAME}", target_elf)
AlwaysBuild(env.Alias("nobuild", target_firm))
target_buildprog = env.Alias("buildprog", target_firm, target_firm)

target_size = env.Alias("size", target_elf,
                        env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)

# Upload: only a custom command works offline (fxlearn uses it to boot QEMU).
if env.subst("$UPLOAD_PROTOCOL") == "custom":
    upload_actions = [env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE")]
else:
    def _no_uploader(*args, **kwargs):
        sys.stderr.write("Error: the offline ststm32 stand-in has no flashing tools; use the "
                         "official platform (network access) to flash a real board.\n")
        env.Exit(1)
    upload_actions = [env.VerboseAction(_no_uploader, "Uploading $SOURCE")]
AlwaysBuild(env.Alias("upload", target_firm, upload_actions))

Default([target_buildprog, target_size])
