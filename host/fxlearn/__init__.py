"""fxlearn: integer-only machine learning that trains and runs on microcontrollers.

Host package: float reference models, quantizers, the bit-exact integer reference of every
kernel routine (modules named like the kernel's: ``fixed``, ``quant``, ``dense``, ``mlp``,
``optim`` ...), model export, the serial client and the ``fxlearn`` command line.
"""

__version__ = "0.1.0"
