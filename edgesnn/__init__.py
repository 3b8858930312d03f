"""edgesnn: spiking neural networks on microcontrollers, planned, quantized and measured."""

__version__ = "0.1.0"
