#include "jitgate/observe/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

using namespace jitgate::observe;

TEST(Metrics, RendersGoldenText) {
  Registry reg;
  reg.counter("jitgate_decisions_total", "Authorization decisions.", {{"decision", "deny"}, {"rule", "writers"}}).inc();
  reg.counter("jitgate_decisions_total", "Authorization decisions.", {{"decision", "allow"}, {"rule", "public"}}).inc(3);
  reg.counter("jitgate_requests_total", "Requests.").inc(0);
  reg.gauge("jitgate_upstreams", "Connected upstreams.").set(2.5);
  int sessions = 41;
  reg.gauge_callback("jitgate_sessions", "Open sessions.", [&] { return ++sessions; });
  auto& h = reg.histogram("jitgate_decide_seconds", "Decision latency.", {0.5, 1, 4}, {{"phase", "invocation"}});
  for (double v : {0.25, 0.5, 2.0, 8.0}) h.observe(v);
  reg.histogram("jitgate_decide_seconds", "Decision latency.", {0.5, 1, 4}, {{"phase", "discovery"}});

  EXPECT_EQ(reg.render(),
            "# HELP jitgate_decide_seconds Decision latency.\n"
            "# TYPE jitgate_decide_seconds histogram\n"
            "jitgate_decide_seconds_bucket{phase=\"discovery\",le=\"0.5\"} 0\n"
            "jitgate_decide_seconds_bucket{phase=\"discovery\",le=\"1\"} 0\n"
            "jitgate_decide_seconds_bucket{phase=\"discovery\",le=\"4\"} 0\n"
            "jitgate_decide_seconds_bucket{phase=\"discovery\",le=\"+Inf\"} 0\n"
            "jitgate_decide_seconds_sum{phase=\"discovery\"} 0\n"
            "jitgate_decide_seconds_count{phase=\"discovery\"} 0\n"
            "jitgate_decide_seconds_bucket{phase=\"invocation\",le=\"0.5\"} 2\n"
            "jitgate_decide_seconds_bucket{phase=\"invocation\",le=\"1\"} 2\n"
            "jitgate_decide_seconds_bucket{phase=\"invocation\",le=\"4\"} 3\n"
            "jitgate_decide_seconds_bucket{phase=\"invocation\",le=\"+Inf\"} 4\n"
            "jitgate_decide_seconds_sum{phase=\"invocation\"} 10.75\n"
            "jitgate_decide_seconds_count{phase=\"invocation\"} 4\n"
            "# HELP jitgate_decisions_total Authorization decisions.\n"
            "# TYPE jitgate_decisions_total counter\n"
            "jitgate_decisions_total{decision=\"allow\",rule=\"public\"} 3\n"
            "jitgate_decisions_total{decision=\"deny\",rule=\"writers\"} 1\n"
            "# HELP jitgate_requests_total Requests.\n"
            "# TYPE jitgate_requests_total counter\n"
            "jitgate_requests_total 0\n"
            "# HELP jitgate_sessions Open sessions.\n"
            "# TYPE jitgate_sessions gauge\n"
            "jitgate_sessions 42\n"
            "# HELP jitgate_upstreams Connected upstreams.\n"
            "# TYPE jitgate_upstreams gauge\n"
            "jitgate_upstreams 2.5\n");
  EXPECT_NE(reg.render().find("jitgate_sessions 43\n"), std::string::npos);  // read at every scrape
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry reg;
  reg.counter("c", "Help with \\ and\nnewline and \"quotes\".", {{"v", "a\\b\"c\nd"}}).inc();
  EXPECT_EQ(reg.render(),
            "# HELP c Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE c counter\n"
            "c{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(Metrics, LabelValuesAreKeptApart) {
  Registry reg;  // ("a,b", "") must not be the same child as ("a", "b,") or ("a", ",b")
  reg.counter("c", "", {{"x", "a,b"}, {"y", ""}}).inc(1);
  reg.counter("c", "", {{"x", "a"}, {"y", "b,"}}).inc(2);
  reg.counter("c", "", {{"x", "a"}, {"y", ",b"}}).inc(4);
  EXPECT_EQ(reg.counter("c", "", {{"x", "a,b"}, {"y", ""}}).value(), 1u);
  EXPECT_EQ(reg.counter("c", "", {{"x", "a"}, {"y", "b,"}}).value(), 2u);
  EXPECT_EQ(reg.counter("c", "", {{"x", "a"}, {"y", ",b"}}).value(), 4u);
}

TEST(Metrics, CounterMemoIsTheRegistrysChild) {
  Registry reg, other;
  CounterMemo memo("d_total", "Decisions.", "rule", "outcome");
  CounterMemo memo2("d_total", "Decisions.", "rule", "outcome");
  // More values than a thread remembers, in turn: every one is the registry's own child.
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < 7; ++k) memo.get(reg, "r" + std::to_string(k), k % 2 ? "allow" : "deny").inc();
  for (int k = 0; k < 7; ++k)
    EXPECT_EQ(&memo.get(reg, "r" + std::to_string(k), k % 2 ? "allow" : "deny"),
              &reg.counter("d_total", "Decisions.", {{"rule", "r" + std::to_string(k)}, {"outcome", k % 2 ? "allow" : "deny"}}));
  EXPECT_EQ(reg.counter("d_total", "Decisions.", {{"rule", "r3"}, {"outcome", "allow"}}).value(), 3u);
  EXPECT_EQ(&memo2.get(reg, "r1", "allow"), &memo.get(reg, "r1", "allow"));
  EXPECT_NE(&memo.get(other, "r1", "allow"), &memo.get(reg, "r1", "allow"));
  EXPECT_NE(&memo.get(reg, "r1", "deny"), &memo.get(reg, "r1", "allow"));
  EXPECT_EQ(reg.render(), [] {
    Registry r;
    for (int k = 0; k < 7; ++k)
      r.counter("d_total", "Decisions.", {{"rule", "r" + std::to_string(k)}, {"outcome", k % 2 ? "allow" : "deny"}}).inc(3);
    r.counter("d_total", "Decisions.", {{"rule", "r1"}, {"outcome", "deny"}});
    return r.render();
  }());
  // A family of another type under that name is refused as the registry refuses it.
  reg.gauge("g_total", "");
  CounterMemo clash("g_total", "", "a", "b");
  EXPECT_THROW(clash.get(reg, "x", "y"), std::invalid_argument);
}

TEST(Metrics, GaugeSetAddAndSpecialValues) {
  Registry reg;
  Gauge& g = reg.gauge("g", "");
  g.set(1.5);
  g.add(2);
  EXPECT_EQ(g.value(), 3.5);
  g.add(-4);
  EXPECT_EQ(g.value(), -0.5);
  struct Case {
    double v;
    const char* text;
  };
  for (auto [v, text] : std::vector<Case>{{std::numeric_limits<double>::infinity(), "g +Inf\n"},
                                          {-std::numeric_limits<double>::infinity(), "g -Inf\n"},
                                          {std::nan(""), "g NaN\n"},
                                          {1e-7, "g 1e-07\n"},
                                          {123456789.0, "g 123456789\n"}}) {
    g.set(v);
    EXPECT_NE(reg.render().find(text), std::string::npos) << text << reg.render();
  }
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  Histogram h({1, 2, 3});
  for (double v : {0.0, 1.0, 1.5, 2.0, 3.0, 3.5, -1.0}) h.observe(v);
  EXPECT_EQ(h.cumulative(), (std::vector<std::uint64_t>{3, 5, 6, 7}));
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.sum(), 10.0);
  h.observe(std::nan(""));
  EXPECT_EQ(h.cumulative(), (std::vector<std::uint64_t>{3, 5, 6, 8}));

  Histogram only_inf({});
  only_inf.observe(1);
  EXPECT_EQ(only_inf.cumulative(), (std::vector<std::uint64_t>{1}));
}

TEST(Metrics, LatencyBucketsAreIncreasingFromMicrosecondToSecond) {
  const auto& b = latency_buckets_seconds();
  EXPECT_EQ(b.front(), 1e-6);
  EXPECT_EQ(b.back(), 1.0);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  Registry reg;
  reg.histogram("lat_seconds", "", b).observe(3e-6);
  auto text = reg.render();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"2.5e-06\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"5e-06\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, ChildrenAreStableReferences) {
  Registry reg;
  Counter* first = &reg.counter("c", "", {{"k", "0"}});
  Histogram* hist = &reg.histogram("h", "", {1}, {{"k", "0"}});
  for (int i = 1; i < 2000; ++i) {
    reg.counter("c", "", {{"k", std::to_string(i)}});
    reg.histogram("h", "", {1}, {{"k", std::to_string(i)}});
    reg.gauge("g" + std::to_string(i), "");
  }
  EXPECT_EQ(&reg.counter("c", "", {{"k", "0"}}), first);
  EXPECT_EQ(&reg.histogram("h", "", {1}, {{"k", "0"}}), hist);
}

TEST(Metrics, ConcurrentIncrementsSumExactly) {
  Registry reg;
  constexpr int threads = 4, per_thread = 100'000;
  Counter& shared = reg.counter("shared_total", "");
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&reg, &shared, t] {
      std::string mine = std::to_string(t);
      for (int i = 0; i < per_thread; ++i) {
        shared.inc();
        reg.counter("looked_up_total", "", {{"parity", i % 2 ? "odd" : "even"}}).inc(2);
        reg.counter("per_thread_total", "", {{"thread", mine}}).inc();
        reg.histogram("obs", "", {0.5}).observe(i % 2);
        reg.gauge("level", "").add(1);
        if (i % 1000 == 0) (void)reg.render();  // scrapes race with updates and creation
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(shared.value(), std::uint64_t{threads * per_thread});
  EXPECT_EQ(reg.counter("looked_up_total", "", {{"parity", "odd"}}).value(), std::uint64_t{threads * per_thread});
  EXPECT_EQ(reg.counter("looked_up_total", "", {{"parity", "even"}}).value(), std::uint64_t{threads * per_thread});
  for (int t = 0; t < threads; ++t)
    EXPECT_EQ(reg.counter("per_thread_total", "", {{"thread", std::to_string(t)}}).value(), std::uint64_t{per_thread});
  auto& h = reg.histogram("obs", "", {0.5});
  EXPECT_EQ(h.cumulative(), (std::vector<std::uint64_t>{threads * per_thread / 2, threads * per_thread}));
  EXPECT_EQ(h.sum(), threads * per_thread / 2);
  EXPECT_EQ(reg.gauge("level", "").value(), threads * per_thread);
}

TEST(Metrics, MetricNamesAreValidated) {
  for (const char* good : {"a", "_a", "a:b", ":x", "jitgate_decisions_total", "A9"}) {
    Registry reg;
    EXPECT_NO_THROW(reg.counter(good, "")) << good;
  }
  for (const char* bad : {"", "1abc", "a-b", "a b", "caf\xc3\xa9", "a{b}", "a\n"}) {
    Registry reg;
    EXPECT_THROW(reg.counter(bad, ""), std::invalid_argument) << bad;
    EXPECT_THROW(reg.gauge(bad, ""), std::invalid_argument) << bad;
    EXPECT_THROW(reg.histogram(bad, "", {1}), std::invalid_argument) << bad;
    EXPECT_THROW(reg.gauge_callback(bad, "", [] { return 0.0; }), std::invalid_argument) << bad;
    EXPECT_EQ(reg.render(), "") << bad;
  }
}

TEST(Metrics, LabelNamesAreValidated) {
  Registry reg;
  for (const char* bad : {"", "1a", "a:b", "__reserved", "a-b"})
    EXPECT_THROW(reg.counter("c", "", {{bad, "v"}}), std::invalid_argument) << bad;
  EXPECT_THROW(reg.counter("c", "", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("h", "", {1}, {{"le", "1"}}), std::invalid_argument);
  EXPECT_NO_THROW(reg.counter("c", "", {{"le", "1"}}));  // only histograms reserve le
  EXPECT_NO_THROW(reg.counter("d", "", {{"_a1", "1"}}));
}

TEST(Metrics, ConflictingRegistrationsAreRejected) {
  Registry reg;
  reg.counter("x", "", {{"a", "1"}});
  EXPECT_THROW(reg.gauge("x", ""), std::invalid_argument);
  EXPECT_THROW(reg.histogram("x", "", {1}), std::invalid_argument);
  EXPECT_THROW(reg.gauge_callback("x", "", [] { return 0.0; }), std::invalid_argument);
  EXPECT_THROW(reg.counter("x", "", {{"b", "1"}}), std::invalid_argument);              // other label name
  EXPECT_THROW(reg.counter("x", "", {{"a", "1"}, {"b", "2"}}), std::invalid_argument);  // more labels
  EXPECT_THROW(reg.counter("x", ""), std::invalid_argument);                            // fewer labels

  reg.histogram("h", "", {1, 2});
  EXPECT_THROW(reg.histogram("h", "", {1, 3}), std::invalid_argument);
  EXPECT_THROW(reg.counter("h_count", ""), std::invalid_argument);
  EXPECT_THROW(reg.gauge("h_bucket", ""), std::invalid_argument);
  reg.counter("g_sum", "");
  EXPECT_THROW(reg.histogram("g", "", {1}), std::invalid_argument);

  reg.gauge_callback("cb", "", [] { return 1.0; });
  EXPECT_THROW(reg.gauge_callback("cb", "", [] { return 2.0; }), std::invalid_argument);
  EXPECT_THROW(reg.gauge("cb", ""), std::invalid_argument);
  EXPECT_THROW(reg.gauge_callback("empty", "", {}), std::invalid_argument);
}

TEST(Metrics, HistogramBoundsAreValidated) {
  struct Case {
    std::vector<double> bounds;
  };
  for (const auto& c : std::vector<Case>{{{1, 1}}, {{2, 1}}, {{std::nan("")}}, {{1, std::numeric_limits<double>::infinity()}}}) {
    EXPECT_THROW(Histogram{c.bounds}, std::invalid_argument);
    Registry reg;
    EXPECT_THROW(reg.histogram("h", "", c.bounds), std::invalid_argument);
    EXPECT_EQ(reg.render(), "");  // nothing half-registered
  }
}

TEST(Metrics, ContentTypeIsTextFormat004) { EXPECT_EQ(Registry::content_type, "text/plain; version=0.0.4; charset=utf-8"); }
