"""CRC-16 checksums of the wire protocols.

- :func:`crc16_ccitt_false` (FPB1): poly 0x1021, init 0xFFFF, no reflection, no final xor;
  ``crc16_ccitt_false(b"123456789") == 0x29B1``. Uses :func:`binascii.crc_hqx` (C speed).
- :func:`crc16_modbus` (INS1): reflected poly 0xA001, init 0xFFFF;
  ``crc16_modbus(b"123456789") == 0x4B37``. Table-driven.
"""

from __future__ import annotations

import binascii


def crc16_ccitt_false(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (FPB1 frames)."""
    return binascii.crc_hqx(data, init)


def _modbus_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_MODBUS_TABLE = _modbus_table()


def crc16_modbus(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/MODBUS of ``data`` (INS1 frames)."""
    crc = init
    table = _MODBUS_TABLE
    for b in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc
