// SPDX-License-Identifier: Apache-2.0
// Little-endian and varint encoding for the binary formats of doc/format.md,
// and a bounds-checked reader for untrusted input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/result.h"

namespace rwd::store {

class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(static_cast<std::byte>(v)); }
  void u16(uint16_t v) { put_le(v, 2); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<uint8_t>(v));
  }
  void svarint(int64_t v) {
    varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void bytes(std::span<const std::byte> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void raw(const void* p, size_t n) {
    auto* b = static_cast<const std::byte*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void str(std::string_view s) {
    varint(s.size());
    raw(s.data(), s.size());
  }
  std::vector<std::byte>& buffer() { return buf_; }
  size_t size() const { return buf_.size(); }

 private:
  void put_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<std::byte> buf_;
};

// Every read checks bounds; a failure is kCorruptedData naming `what_`.
class Reader {
 public:
  Reader(std::span<const std::byte> data, std::string_view what) : data_(data), what_(what) {}
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool done() const { return pos_ == data_.size(); }

  Result<uint8_t> u8() {
    if (remaining() < 1) return truncated();
    return static_cast<uint8_t>(data_[pos_++]);
  }
  Result<uint16_t> u16() { return get_le<uint16_t>(2); }
  Result<uint32_t> u32() { return get_le<uint32_t>(4); }
  Result<uint64_t> u64() { return get_le<uint64_t>(8); }
  Result<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (remaining() < 1) return truncated();
      auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return fail(Error::corrupted_data("{}: bad varint", what_));
  }
  Result<int64_t> svarint() {
    REWIND_ASSIGN_OR_RETURN(uint64_t u, varint());
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  Result<std::span<const std::byte>> bytes(size_t n) {
    if (remaining() < n) return truncated();
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  Result<std::string> str(size_t max_len) {
    REWIND_ASSIGN_OR_RETURN(uint64_t n, varint());
    if (n > max_len)
      return fail(
          Error::corrupted_data("{}: string of {} bytes exceeds limit {}", what_, n, max_len));
    REWIND_ASSIGN_OR_RETURN(auto b, bytes(static_cast<size_t>(n)));
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }

 private:
  template <typename T>
  Result<T> get_le(int n) {
    if (remaining() < static_cast<size_t>(n)) return truncated();
    uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return static_cast<T>(v);
  }
  tl::unexpected<Error> truncated() {
    return fail(Error::corrupted_data("{}: truncated at byte {}", what_, pos_));
  }
  std::span<const std::byte> data_;
  std::string what_;
  size_t pos_ = 0;
};

}  // namespace rwd::store
