// Error values for calls into the kernel and other fallible operations.
//
// STYLE.md: kernel calls return an error value with errno context; the caller
// decides (retry, degrade, log). No exceptions cross these interfaces.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace pmip {

struct Error {
    int code = 0;      // errno value, or 0 when not from the kernel
    std::string what;  // "creating TUN device pm6-1a2b3c4d: Operation not permitted"

    static Error from_errno(std::string context, int errno_value = errno);
};

// Success, or an Error.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit on purpose

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool failed_ = false;
};

// A value, or an Error.
template <typename T>
class [[nodiscard]] Expected {
public:
    Expected(T value) : v_(std::move(value)) {}    // NOLINT: implicit on purpose
    Expected(Error error) : v_(std::move(error)) {}  // NOLINT: implicit on purpose

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    const Error& error() const { return std::get<1>(v_); }
    Status status() const { return ok() ? Status{} : Status{error()}; }

private:
    std::variant<T, Error> v_;
};

}  // namespace pmip
