"""PlatformIO post-script for the STM32 boards, for the official ststm32 platform and the
offline stand-in alike: bare metal with our own startup code (boards/, firmware/ports/stm32)."""
import os

Import("env")  # noqa: F821 (SCons injects it)

# The float ABI chosen in build_flags must reach the linker too: it selects the multilib.
fpu = [f for f in env["CCFLAGS"] if isinstance(f, str) and f.startswith(("-mfloat-abi=", "-mfpu="))]
env.Append(
    LINKFLAGS=fpu + ["-nostdlib", "-Wl,-Map=${BUILD_DIR}/${PROGNAME}.map"],
    # board link.ld files INCLUDE cortexm_sections.ld from here
    LIBPATH=[os.path.join(env.subst("$PROJECT_DIR"), "boards")],
)
# No startup files, no syscalls: newlib-nano only for the string routines GCC may call.
env.Replace(LIBS=["c_nano", "gcc"])
