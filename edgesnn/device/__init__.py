"""Running on a microcontroller: firmware build (firmware.py), the serial protocol (protocol.py,
serial_link.py), QEMU (qemu.py) and flashing real boards (flash.py)."""
