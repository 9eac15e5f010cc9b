// Cooperative cancellation shared by every long computation of the core.
//
// The caller owns a flag and passes its address down; long loops call
// check_cancel() every few thousand iterations, which throws Cancelled once the
// flag is set. Unwinding releases all memory, so the caller can simply catch it.
// A null flag means "not cancellable" and costs one branch per poll.
#pragma once
#include <atomic>
#include <cstddef>
#include <stdexcept>

namespace tda {

using CancelFlag = std::atomic<bool>;

class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("computation cancelled") {}
};

inline void check_cancel(const CancelFlag* flag) {
  if (flag && flag->load(std::memory_order_relaxed)) throw Cancelled();
}

// Polls only on every `period`-th call (period a power of two), so that the
// check can sit in the innermost loop of a computation.
class CancelPoll {
 public:
  explicit CancelPoll(const CancelFlag* flag, std::size_t period = 4096) : flag_(flag), mask_(period - 1) {}
  void operator()() {
    if ((++count_ & mask_) == 0) check_cancel(flag_);
  }
  void now() const { check_cancel(flag_); }

 private:
  const CancelFlag* flag_;
  std::size_t mask_;
  std::size_t count_ = 0;
};

}  // namespace tda
