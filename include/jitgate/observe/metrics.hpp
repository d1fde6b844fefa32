// Metrics in the Prometheus text exposition format 0.0.4. Counters, gauges and histograms are
// updated with relaxed atomics and no lock; a Registry owns them in named families with fixed
// label names and renders the scrape page. Hot paths should look a child up once and keep the
// reference (children never move and live as long as the Registry).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jitgate::observe {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // Upper bounds (inclusive, "le"), finite and strictly increasing; the +Inf bucket is implicit.
  // Throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);  // NaN lands in +Inf only, and is added to the sum as Prometheus does

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts, one per bound, then +Inf (== count()).
  std::vector<std::uint64_t> cumulative() const;
  std::uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Get or create the child with these label values in the family `name`. The first call fixes
  // the family's type, help and label names (in order); a later call with another type, other
  // label names or (histograms) other bounds throws std::invalid_argument, as do invalid metric
  // names ([a-zA-Z_:][a-zA-Z0-9_:]*), invalid or reserved label names ([a-zA-Z_][a-zA-Z0-9_]*,
  // not "__…", not "le" on a histogram) and names that clash with a histogram's _bucket, _sum or
  // _count series. Looking up an existing child takes only shared locks.
  Counter& counter(std::string_view name, std::string_view help, Labels labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, Labels labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds, Labels labels = {});

  // A gauge without labels whose value f returns at scrape time (e.g. the current session
  // count). f runs on the scraping thread with no registry lock held. A name may have one
  // callback; registering it again throws std::invalid_argument.
  void gauge_callback(std::string_view name, std::string_view help, std::function<double()> f);

  // The scrape page: families sorted by name, children by label values; # HELP and # TYPE once
  // per family; histograms as cumulative _bucket{le=…} series ending in +Inf, then _sum, _count.
  std::string render() const;

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One counter family with two labels whose values a hot path learns per call (a decision's rule
// and outcome): each thread remembers the last few children it looked up, so a repeat costs two
// string compares instead of the registry's lookup. A miss is exactly Registry::counter (the same
// family checks, at the same first use). Give a memo the one Registry that outlives it.
class CounterMemo {
 public:
  CounterMemo(std::string name, std::string help, std::string label1, std::string label2);
  Counter& get(Registry& registry, std::string_view value1, std::string_view value2) const;

 private:
  std::string name_, help_, label1_, label2_;
  std::uint64_t serial_;  // this memo's key in the per-thread slots; never reused
};

// An exception that a request's handling did not expect, stopped at a boundary (a request, a
// pool, an I/O thread) so that only that request fails and the process goes on: one log line on
// stderr (where, and the exception's message, which must not carry input) and one count of
// jitgate_contained_exceptions_total{where}. `registry` may be null.
void count_contained(Registry* registry, std::string_view where, std::string_view what);

// Request latency buckets from 1 µs to 1 s in 1-2.5-5 steps.
inline const std::vector<double>& latency_buckets_seconds() {
  static const std::vector<double> buckets{1e-6,   2.5e-6, 5e-6, 1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
                                           2.5e-3, 5e-3,   1e-2, 2.5e-2, 5e-2,   0.1,  0.25, 0.5,    1.0};
  return buckets;
}

}  // namespace jitgate::observe
