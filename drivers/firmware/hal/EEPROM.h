// EEPROM.h of the native HAL shim: 512 bytes kept in a file (FPDIY_EEPROM), so calibration
// survives a restart of the native firmware like it survives a power cycle of a board.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

class EEPROMClass {
 public:
  static const size_t SIZE = 512;
  uint8_t read(int address) const { return bytes_[address]; }
  void write(int address, uint8_t value) { bytes_[address] = value; save(); }
  template <typename T>
  T &get(int address, T &value) {
    load();
    std::memcpy(&value, bytes_ + address, sizeof(T));
    return value;
  }
  template <typename T>
  const T &put(int address, const T &value) {
    std::memcpy(bytes_ + address, &value, sizeof(T));
    save();
    return value;
  }
  void begin(size_t) {}
  bool commit() { save(); return true; }

 private:
  void load();
  void save();
  uint8_t bytes_[SIZE] = {0};
  bool loaded_ = false;
};

extern EEPROMClass EEPROM;
