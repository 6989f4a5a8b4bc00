// Bounds-checked reader and writer over octet spans (the bgpd ibuf pattern),
// shared by the Mobility Header codec (pmip_mh) and the MLD codec
// (pmip_mcast) as the header-only target pmip_octets, which depends on
// nothing, so the pure codecs stay free of the kernel plumbing in pmip_common.
//
// Reader: every get_* checks the remaining length first and reports failure
// through ok(); nothing reads past the span. Writer: keeps counting past the
// end of its buffer (so the same code computes sizes) and reports overflow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace pmip::octets {

class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

    std::size_t offset() const { return pos_; }
    std::size_t remaining() const { return data_.size() - pos_; }
    bool ok() const { return ok_; }

    std::uint8_t u8() {
        if (!need(1))
            return 0;
        return data_[pos_++];
    }
    std::uint16_t u16() {
        if (!need(2))
            return 0;
        const std::uint16_t v = static_cast<std::uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    std::uint32_t u32() {
        if (!need(4))
            return 0;
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = v << 8 | data_[pos_ + i];
        pos_ += 4;
        return v;
    }
    std::uint64_t u64() {
        if (!need(8))
            return 0;
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | data_[pos_ + i];
        pos_ += 8;
        return v;
    }
    template <std::size_t N>
    void copy_to(std::uint8_t (&out)[N]) {
        copy_to(std::span<std::uint8_t>(out, N));
    }
    void copy_to(std::span<std::uint8_t> out) {
        if (!need(out.size()))
            return;
        if (!out.empty())
            std::memcpy(out.data(), data_.data() + pos_, out.size());
        pos_ += out.size();
    }
    std::span<const std::uint8_t> bytes(std::size_t n) {
        if (!need(n))
            return {};
        auto s = data_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    void skip(std::size_t n) {
        if (need(n))
            pos_ += n;
    }

  private:
    bool need(std::size_t n) {
        if (!ok_ || remaining() < n) {
            ok_ = false;
            return false;
        }
        return true;
    }

    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

class Writer {
  public:
    explicit Writer(std::span<std::uint8_t> out) : out_(out) {}

    std::size_t offset() const { return pos_; }
    bool overflow() const { return pos_ > out_.size(); }

    void u8(std::uint8_t v) {
        if (pos_ < out_.size())
            out_[pos_] = v;
        ++pos_;
    }
    void u16(std::uint16_t v) {
        u8(static_cast<std::uint8_t>(v >> 8));
        u8(static_cast<std::uint8_t>(v));
    }
    void u32(std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) u8(static_cast<std::uint8_t>(v >> shift));
    }
    void u64(std::uint64_t v) {
        for (int shift = 56; shift >= 0; shift -= 8) u8(static_cast<std::uint8_t>(v >> shift));
    }
    void bytes(std::span<const std::uint8_t> b) {
        if (pos_ + b.size() <= out_.size() && !b.empty()) {
            std::memcpy(out_.data() + pos_, b.data(), b.size());
            pos_ += b.size();
            return;
        }
        for (auto v : b) u8(v);
    }
    void zeros(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) u8(0);
    }
    // Overwrites an octet already written (no-op when it lies past the buffer).
    void patch_u8(std::size_t at, std::uint8_t v) {
        if (at < out_.size())
            out_[at] = v;
    }

  private:
    std::span<std::uint8_t> out_;
    std::size_t pos_ = 0;
};

}  // namespace pmip::octets
