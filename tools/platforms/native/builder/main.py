"""SCons builder of the offline native stand-in: like the official one, a host program
built with the system's gcc."""
from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()

# Let SCons find the host compiler (the official builder does the same), keeping user flags.
for key in ("CC", "CXX"):
    if key in env:
        del env[key]
backup_cflags = env.get("CFLAGS", [])
backup_cxxflags = env.get("CXXFLAGS", [])
env.Tool("gcc")
env.Tool("g++")
env.Append(CFLAGS=backup_cflags, CXXFLAGS=backup_cxxflags)
env.Replace(SIZEPRINTCMD="size $SOURCES")

target_bin = env.BuildProgram()
target_size = env.Alias("size", target_bin,
                        env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)
Default([target_bin])
