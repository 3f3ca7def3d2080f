// Arduino.h of the native HAL shim: just enough of the Arduino core to compile and run the
// fpdiy_csv4 sketch on a PC (see hal.cpp). Not for real boards.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define HIGH 0x1
#define LOW 0x0
#define INPUT 0x0
#define OUTPUT 0x1
#define INPUT_PULLUP 0x2
#define DEC 10
#define A0 14

using std::isinf;
using std::lround;
using std::fabs;

typedef uint8_t byte;
typedef bool boolean;

void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
int digitalRead(uint8_t pin);
int analogRead(uint8_t pin);
unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);
void delayMicroseconds(unsigned int us);
void randomSeed(unsigned long seed);
long random(long max);
long random(long min, long max);

// The serial port: a pseudo-terminal whose slave path the shim prints at start.
class HardwareSerial {
 public:
  void begin(unsigned long baud);
  int available();
  int read();
  size_t write(uint8_t byte);
  size_t write(const char *text);
  size_t print(const char *text) { return write(text); }
  size_t print(char c) { return write((uint8_t)c); }
  size_t print(unsigned char value, int base = DEC) { return print((unsigned long)value, base); }
  size_t print(int value, int base = DEC) { return print((long)value, base); }
  size_t print(unsigned int value, int base = DEC) { return print((unsigned long)value, base); }
  size_t print(long value, int base = DEC);
  size_t print(unsigned long value, int base = DEC);
  size_t print(double value, int digits = 2);
  template <typename T>
  size_t println(T value) { size_t n = print(value); return n + write("\r\n"); }
  operator bool() { return true; }
};

extern HardwareSerial Serial;

void setup();
void loop();
