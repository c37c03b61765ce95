// Shared helpers of the addon: an owning fd and a syscall failure as data.
#pragma once

#include <unistd.h>

#include <string>

namespace berth {

// An owned file descriptor, closed when it goes out of scope, so that no early return or thrown
// error can leak one (the addon lives inside a long-running Node process).
class Fd {
 public:
  Fd() = default;
  explicit Fd(long fd) : fd_(static_cast<int>(fd)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    // close(2) errors are not actionable here: the fd is gone either way (see close(2), "Dealing
    // with error returns from close()"), so they are deliberately ignored.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A failed syscall as plain data: the errno, the syscall's name and the path it concerned.
// Thrown by the C++ helpers and turned into a JS error (then a BerthError) at the binding edge.
struct SysError {
  int err;
  std::string syscall;
  std::string path;
};

}  // namespace berth
