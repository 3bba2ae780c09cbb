// Large CPU scratch (channels-last copies of feature maps) reused across calls: a
// process-wide cache of blocks, bounded in total size, that calls lease from and give
// back. A fresh map-sized block costs a page fault per page on first touch, more than
// the copy written into it; a reused one costs nothing.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace roipool {

// One block of uninitialised memory; large blocks are 2 MiB aligned and offered
// transparent huge pages (fewer page faults and TLB misses on a 60 MB map copy).
class ScratchBlock {
 public:
  static constexpr size_t kHugePage = size_t{1} << 21;

  ScratchBlock() = default;
  explicit ScratchBlock(size_t bytes) {
    const bool huge = bytes >= kHugePage;
    bytes_ = huge ? (bytes + kHugePage - 1) / kHugePage * kHugePage : bytes;
    data_ = huge ? std::aligned_alloc(kHugePage, bytes_) : std::malloc(bytes_);
    if (data_ == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (huge) madvise(data_, bytes_, MADV_HUGEPAGE);  // advice only: may keep small pages
#endif
  }
  ScratchBlock(ScratchBlock&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  ScratchBlock& operator=(ScratchBlock&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ScratchBlock(const ScratchBlock&) = delete;
  ScratchBlock& operator=(const ScratchBlock&) = delete;
  ~ScratchBlock() { std::free(data_); }

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// The cache. Blocks in use belong to their lease; idle blocks beyond kMaxCachedBytes
// are freed when given back, so the cache never holds more than that while idle.
class Workspace {
 public:
  // 256 MiB: four fp32 copies of a 256 x 200 x 304 FPN level (62 MB each), i.e. a few
  // concurrent calls on detector-sized maps, a small fraction of a serving host's RAM.
  static constexpr size_t kMaxCachedBytes = size_t{256} << 20;

  static Workspace& instance() {
    static Workspace* workspace = new Workspace;  // leaked: usable during static teardown
    return *workspace;
  }

  // The smallest idle block of at least `bytes`, else a new one (throws bad_alloc).
  ScratchBlock take(size_t bytes) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      size_t best = idle_.size();
      for (size_t i = 0; i < idle_.size(); ++i) {
        if (idle_[i].bytes() >= bytes && (best == idle_.size() || idle_[i].bytes() < idle_[best].bytes())) {
          best = i;
        }
      }
      if (best != idle_.size()) {
        ScratchBlock block = std::move(idle_[best]);
        idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(best));
        idle_bytes_ -= block.bytes();
        return block;
      }
    }
    return ScratchBlock(bytes);
  }

  // Keeps `block` for later calls while the cache has room (the smallest idle blocks
  // are dropped first to make room), else frees it.
  void give_back(ScratchBlock block) {
    if (block.data() == nullptr || block.bytes() > kMaxCachedBytes) return;
    std::vector<ScratchBlock> dropped;  // freed outside the lock
    const std::lock_guard<std::mutex> lock(mutex_);
    while (idle_bytes_ + block.bytes() > kMaxCachedBytes) {
      size_t smallest = 0;
      for (size_t i = 1; i < idle_.size(); ++i) {
        if (idle_[i].bytes() < idle_[smallest].bytes()) smallest = i;
      }
      idle_bytes_ -= idle_[smallest].bytes();
      dropped.push_back(std::move(idle_[smallest]));
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(smallest));
    }
    idle_bytes_ += block.bytes();
    idle_.push_back(std::move(block));
  }

 private:
  std::mutex mutex_;
  std::vector<ScratchBlock> idle_;
  size_t idle_bytes_ = 0;
};

// A block leased from the Workspace for one scope, grown on demand.
class WorkspaceLease {
 public:
  WorkspaceLease() = default;
  WorkspaceLease(const WorkspaceLease&) = delete;
  WorkspaceLease& operator=(const WorkspaceLease&) = delete;
  ~WorkspaceLease() { Workspace::instance().give_back(std::move(block_)); }

  // At least `bytes` of uninitialised memory; earlier contents are not kept.
  void* reserve(size_t bytes) {
    if (block_.bytes() < bytes) {
      Workspace::instance().give_back(std::move(block_));  // leaves block_ empty
      block_ = Workspace::instance().take(bytes);
    }
    return block_.data();
  }

 private:
  ScratchBlock block_;
};

}  // namespace roipool
