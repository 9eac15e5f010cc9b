// Ctrl-C for every long call of the core, one mechanism.
//
// CPython runs signal handlers only on the main thread and only between
// bytecodes, so a C++ call that holds the caller's thread never sees Ctrl-C. The
// call therefore runs on a worker thread with the GIL released while the calling
// thread waits on a condition variable and, every 50 ms, takes the GIL to run
// PyErr_CheckSignals(). When that reports a pending KeyboardInterrupt (or any
// exception raised by a handler), the cancel flag the computation polls is set,
// the worker unwinds with tda::Cancelled, is joined, and the Python exception is
// raised. Errors of the computation are rethrown on the calling thread.
#pragma once
#include <pybind11/pybind11.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "tda/cancel.hpp"

namespace tda::py {

// Runs compute(const CancelFlag*) interruptibly and returns its result. With
// `inline_call` (inputs known to be small) it runs on the calling thread without
// the GIL and without a flag: a thread start costs more than the whole call.
template <class Compute>
auto run_interruptible(Compute&& compute, bool inline_call = false) {
  using Result = std::invoke_result_t<Compute&, const CancelFlag*>;
  auto rethrow = [](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::overflow_error& e) {  // the core's size limits: a bad argument for the caller
      throw pybind11::value_error(e.what());
    }
  };
  if (inline_call) {
    std::exception_ptr error;
    std::optional<Result> result;
    {
      pybind11::gil_scoped_release release;
      try {
        result.emplace(compute(static_cast<const CancelFlag*>(nullptr)));
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (error) rethrow(error);
    return std::move(*result);
  }
  CancelFlag cancel{false};
  std::optional<Result> result;
  std::exception_ptr error;
  bool done = false, interrupted = false;
  std::mutex mutex;
  std::condition_variable finished;
  {
    pybind11::gil_scoped_release release;
    std::thread worker([&] {
      try {
        result.emplace(compute(static_cast<const CancelFlag*>(&cancel)));
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(mutex);
      done = true;
      finished.notify_one();
    });
    std::unique_lock lock(mutex);
    while (!finished.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; })) {
      lock.unlock();
      {
        pybind11::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) interrupted = true;  // the Python exception stays set
      }
      lock.lock();
      if (interrupted) {
        cancel = true;
        finished.wait(lock, [&] { return done; });
      }
    }
    lock.unlock();
    worker.join();
  }
  if (interrupted) throw pybind11::error_already_set();
  if (error) rethrow(error);
  return std::move(*result);
}

}  // namespace tda::py
