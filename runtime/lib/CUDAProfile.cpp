//===- CUDAProfile.cpp - Where a CUDA model's run spends its time ---------===//

#include "CUDAProfile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace attnres::cuda;

namespace {

using Clock = std::chrono::steady_clock;

struct Entry {
  double seconds = 0;
  uint64_t calls = 0, bytes = 0;
};

struct Profile {
  std::mutex mutex;
  std::map<void *, std::string> names;
  std::map<void *, std::pair<void *, Clock::time_point>> pending;
  std::map<std::string, Entry> entries;

  ~Profile() {
    if (entries.empty())
      return;
    std::vector<std::pair<std::string, Entry>> rows(entries.begin(),
                                                    entries.end());
    std::sort(rows.begin(), rows.end(), [](auto &a, auto &b) {
      return a.second.seconds > b.second.seconds;
    });
    double total = 0;
    for (auto &[name, e] : rows)
      total += e.seconds;
    std::fprintf(stderr,
                 "attnres: CUDA profile, %.3f ms in all (kernels: host time "
                 "from launch to synchronization)\n%10s %8s %9s %10s  %s\n",
                 1e3 * total, "total ms", "calls", "mean us", "MiB", "what");
    for (auto &[name, e] : rows)
      std::fprintf(stderr, "%10.3f %8llu %9.1f %10.1f  %s\n", 1e3 * e.seconds,
                   (unsigned long long)e.calls, 1e6 * e.seconds / e.calls,
                   double(e.bytes) / (1 << 20), name.c_str());
  }
};

Profile &state() {
  static Profile profile;
  return profile;
}

} // namespace

bool profile::enabled() {
  static const bool on = [] {
    const char *v = std::getenv("ATTNRES_CUDA_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void profile::nameFunction(void *function, const char *name) {
  if (!enabled())
    return;
  Profile &p = state();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.names[function] = name;
}

void profile::launched(void *function, void *stream) {
  if (!enabled())
    return;
  Profile &p = state();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.pending[stream] = {function, Clock::now()};
}

void profile::synchronized(void *stream) {
  if (!enabled())
    return;
  Profile &p = state();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.pending.find(stream);
  if (it == p.pending.end())
    return;
  auto [function, start] = it->second;
  p.pending.erase(it);
  auto name = p.names.find(function);
  Entry &e = p.entries["kernel " + (name == p.names.end() ? std::string("?")
                                                          : name->second)];
  e.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  ++e.calls;
}

void profile::add(const char *what, double seconds, uint64_t bytes) {
  Profile &p = state();
  std::lock_guard<std::mutex> lock(p.mutex);
  Entry &e = p.entries[what];
  e.seconds += seconds;
  e.bytes += bytes;
  ++e.calls;
}
