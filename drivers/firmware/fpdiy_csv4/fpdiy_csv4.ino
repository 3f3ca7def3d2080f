// fpdiy_csv4: reference firmware of the CSV4 protocol (forcelab) for a DIY force plate with
// four load cells on four HX711 boards, for Arduino (AVR) and ESP32.
//
// Wiring: the four HX711 share one clock (SCK_PIN) and are read in parallel, so the four cells
// are sampled at the same instant; each has its own data pin (DOUT_PINS, cells TL, TR, BL, BR:
// "top" = forward, "right" = the athlete's right). RATE_PIN drives the HX711 RATE pins
// (HIGH = 80 Hz, LOW = 10 Hz); on breakouts with RATE soldered to GND the plate runs at 10 Hz.
//
// Protocol (docs/protocols.md, CSV4): 115200 8N1, lines end in \r\n. After boot a banner and a
// header, then one line per sample "t_ms,c0,c1,c2,c3" (millis(), raw counts or newtons with two
// decimals). Commands, one per line, replies are '#' lines:
//   ? | i        # fpdiy v1.0 id=<id> cells=4 rate=<80|10> units=<raw|N>
//   s            # ok start
//   x            # ok stop
//   t            # ok tare off=o0,o1,o2,o3               (after averaging 40 samples)
//   r 10 | r 80  # ok rate=<r>
//   u raw | u N  # ok units=<u>
//   k            # cal off=o0,o1,o2,o3 scale=s0,s1,s2,s3 (scale in counts per N)
//   c <cell> <N> # ok cal cell=<cell> scale=<s>         (known load on one cell; 40 samples)
//   other        # err unknown '<line>'   (bad arguments: # err <reason>)
// Offsets, scales, rate, units and the board id live in EEPROM and survive a power cycle.

#include <Arduino.h>
#include <EEPROM.h>

#define FIRMWARE_VERSION "1.0"
#define N_CELLS 4
#define AVERAGE_SAMPLES 40
#define NOMINAL_SCALE 420.0f  // counts per N of a 50 kg half-bridge cell at gain 128
#define EEPROM_MAGIC 0x46504434UL  // "FPD4"

const uint8_t SCK_PIN = 2;
const uint8_t DOUT_PINS[N_CELLS] = {3, 4, 5, 6};
const uint8_t RATE_PIN = 7;

struct Settings {
  uint32_t magic;
  char id[16];
  float offsets[N_CELLS];  // counts
  float scales[N_CELLS];   // counts per N
  uint8_t rate_hz;         // 10 or 80
  uint8_t units_newton;    // 0 raw, 1 N
};

Settings settings;
bool streaming = true;
char line[40];
uint8_t line_len = 0;
bool line_overflow = false;

// averaging for tare and calibration: 0 none, 1 tare, 2 calibration of avg_cell with avg_load
uint8_t avg_kind = 0;
uint8_t avg_cell = 0;
float avg_load_n = 0;
uint8_t avg_count = 0;
int64_t avg_sum[N_CELLS];

// ---------------------------------------------------------------------------- settings
void saveSettings() {
  EEPROM.put(0, settings);
#if defined(ESP32) || defined(ESP8266)
  EEPROM.commit();
#endif
}

void loadSettings() {
#if defined(ESP32) || defined(ESP8266)
  EEPROM.begin(sizeof(Settings));
#endif
  EEPROM.get(0, settings);
  if (settings.magic == EEPROM_MAGIC && (settings.rate_hz == 10 || settings.rate_hz == 80)) {
    return;
  }
  settings.magic = EEPROM_MAGIC;
#if defined(ESP32)
  uint32_t unique = (uint32_t)(ESP.getEfuseMac() & 0xFFFFFF);
#else
  randomSeed(analogRead(A0) * 7919UL + micros());
  uint32_t unique = (uint32_t)random(0, 0xFFFFFF);
#endif
  snprintf(settings.id, sizeof(settings.id), "FPDIY-%06lX", (unsigned long)unique);
  for (uint8_t c = 0; c < N_CELLS; c++) {
    settings.offsets[c] = 0;
    settings.scales[c] = NOMINAL_SCALE;
  }
  settings.rate_hz = 80;
  settings.units_newton = 0;
  saveSettings();
}

// ---------------------------------------------------------------------------- HX711
bool cellsReady() {
  for (uint8_t c = 0; c < N_CELLS; c++) {
    if (digitalRead(DOUT_PINS[c]) == HIGH) return false;  // DOUT low = conversion ready
  }
  return true;
}

// Clock 24 bits out of the four chips at once, then a 25th pulse: channel A, gain 128.
void readCells(long counts[N_CELLS]) {
  uint32_t raw[N_CELLS] = {0, 0, 0, 0};
  for (uint8_t bit = 0; bit < 24; bit++) {
    digitalWrite(SCK_PIN, HIGH);
    delayMicroseconds(1);
    for (uint8_t c = 0; c < N_CELLS; c++) {
      raw[c] = (raw[c] << 1) | (digitalRead(DOUT_PINS[c]) == HIGH ? 1UL : 0UL);
    }
    digitalWrite(SCK_PIN, LOW);
    delayMicroseconds(1);
  }
  digitalWrite(SCK_PIN, HIGH);
  delayMicroseconds(1);
  digitalWrite(SCK_PIN, LOW);
  for (uint8_t c = 0; c < N_CELLS; c++) {
    if (raw[c] & 0x800000UL) raw[c] |= 0xFF000000UL;  // two's complement, 24 -> 32 bits
    counts[c] = (long)(int32_t)raw[c];
  }
}

void applyRate() { digitalWrite(RATE_PIN, settings.rate_hz == 80 ? HIGH : LOW); }

// ---------------------------------------------------------------------------- replies
void printBanner() {
  Serial.print("# fpdiy v" FIRMWARE_VERSION " id=");
  Serial.print(settings.id);
  Serial.print(" cells=4 rate=");
  Serial.print(settings.rate_hz);
  Serial.print(" units=");
  Serial.print(settings.units_newton ? "N" : "raw");
  Serial.print("\r\n");
}

void printList(const float *values, uint8_t digits) {
  for (uint8_t c = 0; c < N_CELLS; c++) {
    if (c) Serial.print(',');
    Serial.print(values[c], digits);
  }
}

void printCalibration() {
  Serial.print("# cal off=");
  printList(settings.offsets, 0);
  Serial.print(" scale=");
  printList(settings.scales, 4);
  Serial.print("\r\n");
}

void reply(const char *text) {
  Serial.print(text);
  Serial.print("\r\n");
}

// ---------------------------------------------------------------------------- commands
void startAverage(uint8_t kind, uint8_t cell, float load_n) {
  avg_kind = kind;
  avg_cell = cell;
  avg_load_n = load_n;
  avg_count = 0;
  for (uint8_t c = 0; c < N_CELLS; c++) avg_sum[c] = 0;
}

void finishAverage() {
  float mean[N_CELLS];
  for (uint8_t c = 0; c < N_CELLS; c++) mean[c] = (float)((double)avg_sum[c] / AVERAGE_SAMPLES);
  uint8_t kind = avg_kind;
  avg_kind = 0;
  if (kind == 1) {
    for (uint8_t c = 0; c < N_CELLS; c++) settings.offsets[c] = (float)lround(mean[c]);
    saveSettings();
    Serial.print("# ok tare off=");
    printList(settings.offsets, 0);
    Serial.print("\r\n");
    return;
  }
  float scale = (mean[avg_cell] - settings.offsets[avg_cell]) / avg_load_n;
  if (fabs(scale) < 1e-6f) {
    reply("# err no load seen on that cell");
    return;
  }
  settings.scales[avg_cell] = scale;
  saveSettings();
  Serial.print("# ok cal cell=");
  Serial.print(avg_cell);
  Serial.print(" scale=");
  Serial.print(scale, 4);
  Serial.print("\r\n");
}

void handleCommand(char *cmd) {
  while (*cmd == ' ' || *cmd == '\t') cmd++;
  size_t n = strlen(cmd);
  while (n && (cmd[n - 1] == ' ' || cmd[n - 1] == '\t')) cmd[--n] = '\0';
  if (!n) return;
  char *arg = cmd + 1;
  while (*arg == ' ' || *arg == '\t') arg++;
  bool single = cmd[1] == '\0' || cmd[1] == ' ' || cmd[1] == '\t';
  char c = single ? cmd[0] : '\0';
  if ((c == '?' || c == 'i') && !*arg) {
    printBanner();
  } else if (c == 's' && !*arg) {
    streaming = true;
    reply("# ok start");
  } else if (c == 'x' && !*arg) {
    streaming = false;
    reply("# ok stop");
  } else if (c == 't' && !*arg) {
    if (avg_kind) {
      reply("# err busy");
    } else {
      startAverage(1, 0, 0);  // replies when 40 samples are averaged
    }
  } else if (c == 'r') {
    if (strcmp(arg, "10") && strcmp(arg, "80")) {
      reply("# err rate must be 10 or 80");
    } else {
      settings.rate_hz = (uint8_t)atoi(arg);
      applyRate();
      saveSettings();
      Serial.print("# ok rate=");
      Serial.print(settings.rate_hz);
      Serial.print("\r\n");
    }
  } else if (c == 'u') {
    if (strcmp(arg, "raw") && strcmp(arg, "N")) {
      reply("# err units must be raw or N");
    } else {
      settings.units_newton = strcmp(arg, "N") == 0;
      saveSettings();
      Serial.print("# ok units=");
      Serial.print(settings.units_newton ? "N" : "raw");
      Serial.print("\r\n");
    }
  } else if (c == 'k' && !*arg) {
    printCalibration();
  } else if (c == 'c') {
    char *end = NULL;
    long cell = strtol(arg, &end, 10);
    if (end == arg || (*end != ' ' && *end != '\t')) {
      reply("# err usage: c <cell 0-3> <newtons>");
      return;
    }
    char *load_text = end;
    while (*load_text == ' ' || *load_text == '\t') load_text++;
    double load = strtod(load_text, &end);
    if (end == load_text || *end != '\0') {
      reply("# err usage: c <cell 0-3> <newtons>");
    } else if (cell < 0 || cell > 3) {
      reply("# err cell must be 0..3");
    } else if (!(load > 0) || isinf(load)) {
      reply("# err load must be > 0 N");
    } else if (avg_kind) {
      reply("# err busy");
    } else {
      startAverage(2, (uint8_t)cell, (float)load);
    }
  } else {
    Serial.print("# err unknown '");
    Serial.print(cmd);
    Serial.print("'\r\n");
  }
}

void readCommands() {
  while (Serial.available() > 0) {
    int ch = Serial.read();
    if (ch < 0) return;
    if (ch == '\r') continue;
    if (ch == '\n') {
      line[line_len] = '\0';
      if (line_overflow) {
        reply("# err line too long");
      } else {
        handleCommand(line);
      }
      line_len = 0;
      line_overflow = false;
    } else if (line_len < sizeof(line) - 1) {
      line[line_len++] = (char)ch;
    } else {
      line_overflow = true;
    }
  }
}

// ---------------------------------------------------------------------------- samples
void sample() {
  long counts[N_CELLS];
  unsigned long t_ms = millis();
  readCells(counts);
  if (avg_kind) {
    for (uint8_t c = 0; c < N_CELLS; c++) avg_sum[c] += counts[c];
    if (++avg_count >= AVERAGE_SAMPLES) finishAverage();
  }
  if (!streaming) return;
  Serial.print(t_ms);
  for (uint8_t c = 0; c < N_CELLS; c++) {
    Serial.print(',');
    if (settings.units_newton) {
      Serial.print((counts[c] - settings.offsets[c]) / settings.scales[c], 2);
    } else {
      Serial.print(counts[c]);
    }
  }
  Serial.print("\r\n");
}

void setup() {
  Serial.begin(115200);
  pinMode(SCK_PIN, OUTPUT);
  digitalWrite(SCK_PIN, LOW);
  pinMode(RATE_PIN, OUTPUT);
  for (uint8_t c = 0; c < N_CELLS; c++) pinMode(DOUT_PINS[c], INPUT);
  loadSettings();
  applyRate();
  printBanner();
  Serial.print("t_ms,c0,c1,c2,c3\r\n");
}

void loop() {
  readCommands();
  if (cellsReady()) sample();
}
