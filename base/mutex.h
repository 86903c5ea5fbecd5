// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with the lock discipline
// stated for clang's -Wthread-safety (base/thread_annotations.h), as leveldb's port::Mutex.
// libstdc++'s std::mutex carries no annotations, so a field GUARDED_BY a std::mutex is not checked.
//
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_);
//   void Add() EXCLUDES(mu_) { MutexLock lock(&mu_); ++count_; }
//   void AddLocked() REQUIRES(mu_) { ++count_; }
//
// Thread-safety: a Mutex is what makes other things thread-safe. Ownership: a MutexLock and a
// CondVar point at a Mutex they do not own; it must outlive them.
#ifndef HPSWEEP_BASE_MUTEX_H_
#define HPSWEEP_BASE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace hpsweep {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Tells the analysis the lock is held where it cannot see it (a lambda run under the lock).
  void AssertHeld() ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds mu from construction to destruction; Unlock() and Lock() let go and take it again in
// between (the destructor releases it only if held).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    held_ = false;
    mu_->Unlock();
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// A condition variable waited on with its Mutex held, as std::condition_variable with a
// std::unique_lock over that mutex.
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // REQUIRES: mu held (not stated for the analysis: it cannot tie mu to the caller's field).
  // Releases mu while waiting; holds it again on return. May wake spuriously: wait in a loop.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, at most `seconds`. False if the time ran out.
  bool WaitFor(double seconds) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    const bool woke =
        cv_.wait_for(lock, std::chrono::duration<double>(seconds)) == std::cv_status::no_timeout;
    lock.release();
    return woke;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_BASE_MUTEX_H_
