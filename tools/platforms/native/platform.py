"""fxlearn's offline stand-in for the native dev-platform (see tools/platforms/README.md)."""
from platformio.public import PlatformBase


class NativePlatform(PlatformBase):
    pass
