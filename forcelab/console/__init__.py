"""forcelab.console: the PyQt5 operator console (``forcelab console``).

The only part of forcelab that imports PyQt5 and pyqtgraph. It runs a session from one window:
connect devices (serial ports or the built-in simulators ``sim:treadmill``, ``sim:plate``,
``sim:insoles``, ``sim:diy``), pick or create an athlete (the list persists between runs), tare,
weigh with a stillness light, record trial after trial into one session file (names, tags,
speed, shoe, notes, named markers, fixed durations, start on step-on), watch the scrolling
left/right vertical force, insole pressure maps, per-stride mid-stance peaks and the live
asymmetry readout, read each trial's summary when it stops, review session files and export
them, and follow an athlete's asymmetry across sessions.

Modules
-------
app          ``run_console`` / ``make_app``: QApplication and main window start-up
window       ``ConsoleWindow``: the main window (layout, shortcuts, timers, close handling)
backend      ``ConsoleBackend``: the window's adapter over the SessionController
widgets      live plot, insole map, stride bars, stride table, asymmetry readout, stillness light
summary      the Summary tab: the finished trial in panels, per-stride table, stance curve
review       the Review tab: open a session file, overview and zoom, strides, mean curves
history      the History tab: an athlete's sessions, trials and asymmetry trend
feedback     the Feedback tab: live biofeedback protocols, the big cue display
audio        feedback cues played through Qt Multimedia
exports      export buttons running ``forcelab export`` / ``forcelab report``
athletes     the persistent athlete list (JSON, no Qt)
settings     configuration folder and QSettings (``FORCELAB_CONFIG_DIR`` overrides the folder)
jobs         the worker thread for slow operations (connect, tare, weigh, analysis)
screenshots  ``python -m forcelab.console.screenshots OUTDIR``: render the console with a
             simulated session running and save PNGs (no display needed)

Keyboard shortcuts: F5 or Ctrl+R start/stop a trial, F9 or Ctrl+M marker, Ctrl+N new session
file, Ctrl+T tare, Ctrl+G weigh, Ctrl+O open a session file for review, Ctrl+1…5 tabs, Ctrl+Q
quit (docs/console.md lists all).

The acquisition never waits on the GUI: the window only peeks at the controller's ring buffers
(~33 Hz) and reads its status snapshot (5 Hz); devices, writer and live analysis run on the
controller's own threads.
"""
