"""Pure wire-format codecs: bytes in, frames and values out; no I/O, no clocks, no threads.

One module per protocol (:mod:`~forcelab.drivers.protocols.fpb1`,
:mod:`~forcelab.drivers.protocols.ins1`, :mod:`~forcelab.drivers.protocols.csv4`), each with an
incremental parser that never raises on any input and counts what it threw away (CRC errors,
resyncs, bytes discarded, bad lines). The device modules beside this package drive them.
"""
