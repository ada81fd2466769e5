"""fxlearn's offline stand-in for the ststm32 dev-platform (see tools/platforms/README.md)."""
from platformio.public import PlatformBase


class Ststm32Platform(PlatformBase):
    pass
