"""SCons builder for fxlearn's qemu_rv32 board: bare-metal rv32imac with Debian's
riscv64-unknown-elf-gcc. No C library exists for it, so the link is -nostdlib plus the
rv32imac/ilp32 multilib libgcc, named explicitly (an installed picolibc would otherwise
change what the driver links by default)."""
import shutil
import subprocess
import sys

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
gcc = "riscv64-unknown-elf-gcc"
if not shutil.which(gcc):
    sys.stderr.write("Error: %s not found (apt install gcc-riscv64-unknown-elf)\n" % gcc)
    env.Exit(1)

march = board.get("build.march")         # e.g. rv32imac_zicsr (zicsr: CSR instructions)
mabi = board.get("build.mabi")
multilib_march = board.get("build.multilib_march")
libgcc = subprocess.check_output(
    [gcc, "-march=" + multilib_march, "-mabi=" + mabi, "-print-libgcc-file-name"],
    text=True).strip()

arch = ["-march=" + march, "-mabi=" + mabi, "-mcmodel=medany"]
env.Replace(
    AR="riscv64-unknown-elf-ar",
    AS=gcc,
    CC=gcc,
    CXX="riscv64-unknown-elf-g++",
    OBJCOPY="riscv64-unknown-elf-objcopy",
    RANLIB="riscv64-unknown-elf-ranlib",
    SIZETOOL="riscv64-unknown-elf-size",
    SIZEPROGREGEXP=r"^(?:\.text|\.rodata|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
)
if env.get("PROGNAME", "program") == "program":
    env.Replace(PROGNAME="firmware")
env.Append(
    ASFLAGS=arch,
    ASPPFLAGS=arch,
    CCFLAGS=arch + ["-Os", "-ffunction-sections", "-fdata-sections", "-ffreestanding", "-Wall"],
    LINKFLAGS=arch + ["-Os", "-Wl,--gc-sections", "-nostdlib", "-nostartfiles"],
    LIBS=[env.File(libgcc)],
    BUILDERS=dict(ElfToBin=Builder(action=env.VerboseAction(
        "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin")),
)

target_elf = env.BuildProgram()
target_firm = env.ElfToBin("$BUILD_DIR/${PROGNAME}", target_elf)
target_buildprog = env.Alias("buildprog", target_firm, target_firm)
target_size = env.Alias("size", target_elf,
                        env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)
AlwaysBuild(env.Alias("upload", target_firm,
                      [env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE")]))
Default([target_buildprog, target_size])
