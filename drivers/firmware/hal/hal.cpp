// Native HAL shim: runs an Arduino sketch on a PC so forcelab records it for real.
//
// - Serial is a pseudo-terminal: at start the shim prints "pty /dev/pts/N" on stdout; a driver
//   opens that path like a USB serial port. Output nobody reads is dropped (as a USB-serial chip
//   does), input arrives byte by byte through Serial.available()/read().
// - Four fake HX711 chips sit on the sketch's pins (shared SCK on pin 2, DOUT on 3..6, RATE on
//   7): each converts at 80 Hz (RATE high) or 10 Hz on its own clock, pulls DOUT low when a
//   conversion is ready and shifts its 24-bit two's complement value out MSB first on SCK
//   rising edges; the 25th pulse selects channel A / gain 128. A conversion not read before the
//   next one ends is lost, as on a real chip.
// - What the chips convert comes from a trace file (FPDIY_TRACE): line 1 the trace rate in Hz,
//   line 2 the four cells' zero offsets (counts), line 3 their sensitivities (counts per N),
//   then one line per sample with the four cells' forces in N. A control file (FPDIY_CONTROL),
//   re-read when it changes, sets the scene: "scene empty" (nothing on the plate), "scene walk"
//   (the trace plays from now on; after its end the plate is empty again), "load <cell> <N>"
//   (a known weight on one cell, 0 removes it); what was applied is copied to "<control>.ack".
//   FPDIY_NOISE is the noise SD in counts.
// - EEPROM is a 512-byte file (FPDIY_EEPROM); millis() counts from the start, wrapping at 2^32,
//   on the MCU's own clock (see now_s below).
// SIGTERM/SIGINT end the program.

#include <Arduino.h>
#include <EEPROM.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <random>
#include <string>
#include <sys/stat.h>
#include <termios.h>
#include <thread>
#include <unistd.h>
#include <vector>

HardwareSerial Serial;
EEPROMClass EEPROM;

namespace {

const uint8_t SCK_PIN = 2;
const uint8_t DOUT_PINS[4] = {3, 4, 5, 6};
const uint8_t RATE_PIN = 7;

using Clock = std::chrono::steady_clock;
const Clock::time_point t_start = Clock::now();
volatile std::sig_atomic_t stop_requested = 0;

int master_fd = -1;
int slave_fd = -1;
std::string rx;
std::string tx;
unsigned long tx_dropped = 0;

// The MCU's time. A real microcontroller reads each conversion within microseconds of DOUT
// going low; this process may be descheduled for tens of ms on a busy PC. So the sketch runs on
// a virtual clock that main() moves to every instant the sketch has work (each conversion as it
// finishes, then the present): a late process emits its lines late, as a slow USB link would,
// but every line carries the millis() and the value a real board would have given it.
double real_s() { return std::chrono::duration<double>(Clock::now() - t_start).count(); }
double mcu_s = 0.0;
double now_s() { return mcu_s; }

// ------------------------------------------------------------------ trace and scene
struct Trace {
  double rate_hz = 1000.0;
  double offsets[4] = {0, 0, 0, 0};
  double scales[4] = {420, 420, 420, 420};
  std::vector<float> forces;  // 4 per sample
};
Trace trace;
double walk_start_s = -1.0;  // <0: empty plate
double extra_load_n[4] = {0, 0, 0, 0};
double noise_counts = 0.0;
std::mt19937 rng(12345);
std::string control_path;
struct timespec control_mtime = {0, 0};
off_t control_size = -1;
double next_control_check_s = 0.0;

void load_trace(const char *path) {
  FILE *f = path ? std::fopen(path, "r") : nullptr;
  if (!f) {
    std::fprintf(stderr, "fpdiy native: no trace file (FPDIY_TRACE); the plate stays empty\n");
    return;
  }
  bool ok = std::fscanf(f, "%lf", &trace.rate_hz) == 1 && trace.rate_hz > 0;
  for (int c = 0; ok && c < 4; c++) ok = std::fscanf(f, "%lf", &trace.offsets[c]) == 1;
  for (int c = 0; ok && c < 4; c++) ok = std::fscanf(f, "%lf", &trace.scales[c]) == 1;
  float v;
  while (ok && std::fscanf(f, "%f", &v) == 1) trace.forces.push_back(v);
  std::fclose(f);
  if (!ok) {
    std::fprintf(stderr, "fpdiy native: the trace file %s is malformed\n", path);
    std::exit(2);
  }
}

void check_control() {
  if (control_path.empty() || now_s() < next_control_check_s) return;
  next_control_check_s = now_s() + 0.02;
  struct stat st;
  if (stat(control_path.c_str(), &st) != 0) return;
  if (st.st_mtim.tv_sec == control_mtime.tv_sec && st.st_mtim.tv_nsec == control_mtime.tv_nsec &&
      st.st_size == control_size) {
    return;
  }
  control_mtime = st.st_mtim;
  control_size = st.st_size;
  FILE *f = std::fopen(control_path.c_str(), "r");
  if (!f) return;
  std::string text;
  char chunk[256];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) text.append(chunk, n);
  std::rewind(f);
  char word[32];
  while (std::fscanf(f, "%31s", word) == 1) {
    if (std::strcmp(word, "scene") == 0 && std::fscanf(f, "%31s", word) == 1) {
      if (std::strcmp(word, "walk") == 0) {
        if (walk_start_s < 0) walk_start_s = now_s();
      } else {
        walk_start_s = -1.0;
      }
    } else if (std::strcmp(word, "load") == 0) {
      int cell;
      double load;
      if (std::fscanf(f, "%d %lf", &cell, &load) == 2 && cell >= 0 && cell < 4) {
        extra_load_n[cell] = load;
      }
    }
  }
  std::fclose(f);
  // "<control>.ack" repeats what was applied, so a test can wait for it instead of sleeping
  std::string ack = control_path + ".ack", tmp = ack + ".tmp";
  if (FILE *a = std::fopen(tmp.c_str(), "w")) {
    std::fwrite(text.data(), 1, text.size(), a);
    std::fclose(a);
    std::rename(tmp.c_str(), ack.c_str());
  }
}

double cell_force_n(int cell, double t_s) {
  double f = extra_load_n[cell];
  if (walk_start_s >= 0 && !trace.forces.empty()) {
    long k = (long)((t_s - walk_start_s) * trace.rate_hz);
    long n = (long)(trace.forces.size() / 4);
    if (k >= 0 && k < n) f += trace.forces[(size_t)(4 * k + cell)];
  }
  return f;
}

// ------------------------------------------------------------------ fake HX711
struct Hx711 {
  double next_ready_s = 0.1;  // the next conversion the sketch has not read yet
  int pulses = 0;             // SCK rising edges of the current read-out
  int32_t value = 0;
  bool dout = true;
};
Hx711 chips[4];
bool sck = false;
bool rate_high = false;
// The chips convert on their own oscillator: conversion k ends at grid0_s + k * period, read
// or not. A conversion the sketch reads late is still the one of its grid time; one it does not
// read before the next ends is lost (overwritten), as on a real HX711.
double grid0_s = 0.1;

double period_s() { return rate_high ? 1.0 / 80.0 : 1.0 / 10.0; }

int32_t convert(int cell, double t_s) {
  std::normal_distribution<double> noise(0.0, noise_counts);
  double counts = trace.offsets[cell] + trace.scales[cell] * cell_force_n(cell, t_s);
  if (noise_counts > 0) counts += noise(rng);
  counts = std::round(counts);
  if (counts > 0x7FFFFF) counts = 0x7FFFFF;
  if (counts < -0x800000) counts = -0x800000;
  return (int32_t)counts;
}

void set_rate(bool high) {
  if (high == rate_high) return;
  rate_high = high;
  grid0_s = now_s() + period_s();  // the chips restart converting at the new rate
  for (Hx711 &chip : chips) chip.next_ready_s = grid0_s;
}

void clock_edge(bool high) {
  if (high == sck) return;
  sck = high;
  if (!high) return;
  double t = now_s();
  for (int c = 0; c < 4; c++) {
    Hx711 &chip = chips[c];
    if (chip.pulses == 0) {
      if (t < chip.next_ready_s) continue;  // not ready: a pulse does nothing useful
      double k = std::floor((t - grid0_s) / period_s() + 1e-6);  // t may be a grid instant
      double done_s = grid0_s + k * period_s();  // the newest finished conversion
      chip.value = convert(c, done_s);
      chip.next_ready_s = done_s + period_s();
    }
    chip.pulses++;
    if (chip.pulses <= 24) {
      chip.dout = (((uint32_t)chip.value) >> (24 - chip.pulses)) & 1u;
    } else {  // 25th pulse: gain 128, channel A
      chip.dout = true;
      chip.pulses = 0;
    }
  }
}

// ------------------------------------------------------------------ pty
void open_pty() {
  master_fd = posix_openpt(O_RDWR | O_NOCTTY);
  if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
    std::perror("fpdiy native: cannot create a pseudo-terminal");
    std::exit(1);
  }
  const char *name = ptsname(master_fd);
  slave_fd = open(name, O_RDWR | O_NOCTTY);  // kept open: no hang-up when a driver closes
  struct termios tio;
  tcgetattr(slave_fd, &tio);
  cfmakeraw(&tio);
  tcsetattr(slave_fd, TCSANOW, &tio);
  fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
  std::printf("pty %s\n", name);
  std::fflush(stdout);
}

void pump_pty() {
  char buf[256];
  for (;;) {
    ssize_t n = ::read(master_fd, buf, sizeof buf);
    if (n <= 0) break;
    rx.append(buf, (size_t)n);
  }
  if (!tx.empty()) {
    ssize_t n = ::write(master_fd, tx.data(), tx.size());
    if (n > 0) tx.erase(0, (size_t)n);
    if (tx.size() > 65536) {  // nobody reads (~20 s): drop, as a USB-serial chip without a host
      tx_dropped += tx.size();
      tx.clear();
    }
  }
}

void on_signal(int) { stop_requested = 1; }

}  // namespace

// ------------------------------------------------------------------ Arduino API
void pinMode(uint8_t, uint8_t) {}

void digitalWrite(uint8_t pin, uint8_t value) {
  if (pin == SCK_PIN) clock_edge(value != LOW);
  if (pin == RATE_PIN) set_rate(value != LOW);
}

int digitalRead(uint8_t pin) {
  for (int c = 0; c < 4; c++) {
    if (pin == DOUT_PINS[c]) {
      const Hx711 &chip = chips[c];
      if (chip.pulses == 0) return now_s() >= chip.next_ready_s ? LOW : HIGH;
      return chip.dout ? HIGH : LOW;
    }
  }
  return LOW;
}

int analogRead(uint8_t) { return (int)(rng() % 1024); }
unsigned long millis() { return (unsigned long)(uint32_t)(uint64_t)(now_s() * 1000.0); }
unsigned long micros() { return (unsigned long)(uint32_t)(uint64_t)(now_s() * 1e6); }
void delay(unsigned long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
void delayMicroseconds(unsigned int) {}  // the fake chips need no settling time
void randomSeed(unsigned long seed) { rng.seed((uint32_t)seed); }
long random(long max) { return max > 0 ? (long)(rng() % (unsigned long)max) : 0; }
long random(long min, long max) { return max > min ? min + random(max - min) : min; }

void HardwareSerial::begin(unsigned long) {}
int HardwareSerial::available() { return (int)rx.size(); }
int HardwareSerial::read() {
  if (rx.empty()) return -1;
  int c = (unsigned char)rx[0];
  rx.erase(0, 1);
  return c;
}
size_t HardwareSerial::write(uint8_t byte) { tx.push_back((char)byte); return 1; }
size_t HardwareSerial::write(const char *text) { tx.append(text); return std::strlen(text); }
size_t HardwareSerial::print(long value, int) { return write(std::to_string(value).c_str()); }
size_t HardwareSerial::print(unsigned long value, int) {
  return write(std::to_string(value).c_str());
}
size_t HardwareSerial::print(double value, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return write(buf);
}

void EEPROMClass::load() {
  if (loaded_) return;
  loaded_ = true;
  std::memset(bytes_, 0xFF, SIZE);  // erased EEPROM reads 0xFF
  const char *path = std::getenv("FPDIY_EEPROM");
  FILE *f = path ? std::fopen(path, "rb") : nullptr;
  if (f) {
    size_t got = std::fread(bytes_, 1, SIZE, f);
    (void)got;
    std::fclose(f);
  }
}

void EEPROMClass::save() {
  load();
  const char *path = std::getenv("FPDIY_EEPROM");
  if (!path) return;
  std::string tmp = std::string(path) + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) return;
  std::fwrite(bytes_, 1, SIZE, f);
  std::fclose(f);
  std::rename(tmp.c_str(), path);
}

int main() {
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  load_trace(std::getenv("FPDIY_TRACE"));
  if (const char *c = std::getenv("FPDIY_CONTROL")) control_path = c;
  if (const char *n = std::getenv("FPDIY_NOISE")) noise_counts = std::atof(n);
  open_pty();
  mcu_s = real_s();
  setup();
  while (!stop_requested) {
    double real = real_s();
    // every conversion that finished by now, each at its own instant (see now_s)
    for (double due = chips[0].next_ready_s; due <= real; due = chips[0].next_ready_s) {
      mcu_s = due > mcu_s ? due : mcu_s;
      check_control();
      pump_pty();
      loop();
      if (chips[0].next_ready_s <= due) break;  // the sketch did not read it: go on in real time
    }
    mcu_s = real > mcu_s ? real : mcu_s;
    check_control();
    pump_pty();
    loop();
    pump_pty();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return 0;
}
