#include "jitgate/observe/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <variant>

namespace jitgate::observe {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i])) throw std::invalid_argument("histogram bounds must be finite");
    if (i > 0 && !(bounds_[i - 1] < bounds_[i])) throw std::invalid_argument("histogram bounds must be strictly increasing");
  }
}

void Histogram::observe(double v) {
  // NaN compares false with every bound, so it falls through to +Inf like in the Go client.
  std::size_t i = std::isnan(v) ? bounds_.size()
                                : static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = running += buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::uint64_t Histogram::count() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) n += buckets_[i].load(std::memory_order_relaxed);
  return n;
}

namespace {

enum class Kind { counter, gauge, histogram, callback };

std::string_view type_name(Kind k) {
  switch (k) {
    case Kind::counter: return "counter";
    case Kind::histogram: return "histogram";
    case Kind::gauge:
    case Kind::callback: return "gauge";
  }
  return "untyped";  // unreachable: every Kind is named above
}

bool valid_name(std::string_view s, bool colons) {
  auto head = [&](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':'); };
  if (s.empty() || !head(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

struct Child {
  template <class M, class... A>
  Child(std::vector<std::string> v, std::in_place_type_t<M> t, A&&... a)
      : values(std::move(v)), metric(t, std::forward<A>(a)...) {}
  std::vector<std::string> values;
  std::variant<Counter, Gauge, Histogram> metric;
};

struct Family {
  std::string name, help;
  Kind kind;
  std::vector<std::string> label_names;
  std::vector<double> bounds;                                           // histograms
  std::function<double()> callback;                                     // callback gauges
  mutable std::shared_mutex mu;                                         // guards children
  std::map<std::string, std::unique_ptr<Child>, std::less<>> children;  // key: encode(values)

  bool same_labels(Labels labels) const {
    if (labels.size() != label_names.size()) return false;
    std::size_t i = 0;
    for (const auto& [name, value] : labels)
      if (name != label_names[i++]) return false;
    return true;
  }
};

// Length-prefixed values, so ("a,b") and ("a","b") can never share a key.
std::string encode(Labels labels) {
  std::string key;
  for (const auto& [name, value] : labels) {
    auto n = static_cast<std::uint32_t>(value.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n);
    key.append(value);
  }
  return key;
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

void append_escaped(std::string& out, std::string_view s, bool quotes) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quotes && c == '"')
      out += "\\\"";
    else
      out.push_back(c);
  }
}

// name{a="x",b="y",le="0.5"} — `le` is the histogram bucket bound, when given.
void append_series(std::string& out, const Family& f, std::string_view suffix, const Child& c, const std::string* le) {
  out += f.name;
  out += suffix;
  if (!c.values.empty() || le) {
    out.push_back('{');
    for (std::size_t i = 0; i < c.values.size(); ++i) {
      if (i) out.push_back(',');
      out += f.label_names[i];
      out += "=\"";
      append_escaped(out, c.values[i], true);
      out.push_back('"');
    }
    if (le) {
      if (!c.values.empty()) out.push_back(',');
      out += "le=\"";
      out += *le;
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
}

constexpr std::string_view histogram_suffixes[] = {"_bucket", "_sum", "_count"};

}  // namespace

struct Registry::Impl {
  mutable std::shared_mutex mu;  // guards families (the map, not the families' children)
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families;

  // Caller holds mu exclusively. A histogram "x" owns the series x_bucket, x_sum and x_count.
  bool clashes(std::string_view name, Kind kind) const {
    for (auto suffix : histogram_suffixes) {
      if (name.ends_with(suffix)) {
        auto it = families.find(name.substr(0, name.size() - suffix.size()));
        if (it != families.end() && it->second->kind == Kind::histogram) return true;
      }
      if (kind == Kind::histogram && families.contains(std::string(name) + std::string(suffix))) return true;
    }
    return false;
  }

  void check_compatible(const Family& f, Kind kind, Labels labels, const std::vector<double>* bounds) const {
    if (f.kind != kind)
      throw std::invalid_argument("metric " + f.name + " is already registered as a " + std::string(type_name(f.kind)));
    if (kind == Kind::callback) throw std::invalid_argument("metric " + f.name + " already has a callback");
    if (!f.same_labels(labels)) throw std::invalid_argument("metric " + f.name + " is registered with other label names");
    if (bounds && *bounds != f.bounds) throw std::invalid_argument("histogram " + f.name + " is registered with other bounds");
  }

  Family& family(std::string_view name, std::string_view help, Kind kind, Labels labels, const std::vector<double>* bounds) {
    {
      std::shared_lock lock(mu);
      if (auto it = families.find(name); it != families.end()) {
        check_compatible(*it->second, kind, labels, bounds);
        return *it->second;
      }
    }
    if (!valid_name(name, true)) throw std::invalid_argument("invalid metric name: " + std::string(name));
    std::vector<std::string> names;
    for (const auto& [label, value] : labels) {
      if (!valid_name(label, false) || label.starts_with("__"))
        throw std::invalid_argument("invalid label name for " + std::string(name) + ": " + std::string(label));
      if (kind == Kind::histogram && label == "le")
        throw std::invalid_argument("histogram " + std::string(name) + " may not use the label le");
      if (std::find(names.begin(), names.end(), label) != names.end())
        throw std::invalid_argument("duplicate label name for " + std::string(name) + ": " + std::string(label));
      names.emplace_back(label);
    }
    if (bounds) (void)Histogram{*bounds};  // validates before anything is registered

    std::unique_lock lock(mu);
    if (auto it = families.find(name); it != families.end()) {  // another thread won the race
      check_compatible(*it->second, kind, labels, bounds);
      return *it->second;
    }
    if (clashes(name, kind)) throw std::invalid_argument("metric " + std::string(name) + " clashes with a histogram's series");
    auto f = std::make_unique<Family>();
    f->name = name;
    f->help = help;
    f->kind = kind;
    f->label_names = std::move(names);
    if (bounds) f->bounds = *bounds;
    return *families.emplace(std::string(name), std::move(f)).first->second;
  }

  template <class M, class... A>
  M& child(Family& f, Labels labels, A&&... args) {
    std::string key = encode(labels);
    {
      std::shared_lock lock(f.mu);
      if (auto it = f.children.find(key); it != f.children.end()) return std::get<M>(it->second->metric);
    }
    std::unique_lock lock(f.mu);
    auto& slot = f.children[key];
    if (!slot) {
      std::vector<std::string> values;
      for (const auto& [label, value] : labels) values.emplace_back(value);
      slot = std::make_unique<Child>(std::move(values), std::in_place_type<M>, std::forward<A>(args)...);
    }
    return std::get<M>(slot->metric);
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

Counter& Registry::counter(std::string_view name, std::string_view help, Labels labels) {
  return impl_->child<Counter>(impl_->family(name, help, Kind::counter, labels, nullptr), labels);
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, Labels labels) {
  return impl_->child<Gauge>(impl_->family(name, help, Kind::gauge, labels, nullptr), labels);
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds, Labels labels) {
  Family& f = impl_->family(name, help, Kind::histogram, labels, &bounds);
  return impl_->child<Histogram>(f, labels, f.bounds);
}

void Registry::gauge_callback(std::string_view name, std::string_view help, std::function<double()> f) {
  if (!f) throw std::invalid_argument("gauge callback for " + std::string(name) + " is empty");
  Family& family = impl_->family(name, help, Kind::callback, {}, nullptr);
  std::unique_lock lock(impl_->mu);
  family.callback = std::move(f);
}

std::string Registry::render() const {
  std::vector<const Family*> families;
  {
    std::shared_lock lock(impl_->mu);
    for (const auto& [name, f] : impl_->families) families.push_back(f.get());
  }
  std::string out;
  std::vector<const Child*> children;
  for (const Family* f : families) {
    std::function<double()> callback;
    children.clear();
    if (f->kind == Kind::callback) {
      std::shared_lock lock(impl_->mu);  // gauge_callback stores the function under this lock
      callback = f->callback;
      if (!callback) continue;  // registered, function not stored yet
    } else {
      std::shared_lock lock(f->mu);
      for (const auto& [key, c] : f->children) children.push_back(c.get());
      if (children.empty()) continue;
    }
    std::sort(children.begin(), children.end(), [](const Child* a, const Child* b) { return a->values < b->values; });

    out += "# HELP ";
    out += f->name;
    out.push_back(' ');
    append_escaped(out, f->help, false);
    out += "\n# TYPE ";
    out += f->name;
    out.push_back(' ');
    out += type_name(f->kind);
    out.push_back('\n');

    if (callback) {
      out += f->name;
      out.push_back(' ');
      append_double(out, callback());  // no lock held: the callback may take its own
      out.push_back('\n');
      continue;
    }
    for (const Child* c : children) {
      if (const auto* counter = std::get_if<Counter>(&c->metric)) {
        append_series(out, *f, "", *c, nullptr);
        out += std::to_string(counter->value());
      } else if (const auto* gauge = std::get_if<Gauge>(&c->metric)) {
        append_series(out, *f, "", *c, nullptr);
        append_double(out, gauge->value());
      } else {
        const auto& h = std::get<Histogram>(c->metric);
        auto counts = h.cumulative();
        std::string le;
        for (std::size_t i = 0; i < counts.size(); ++i) {
          le.clear();
          append_double(le, i < h.bounds().size() ? h.bounds()[i] : INFINITY);
          append_series(out, *f, "_bucket", *c, &le);
          out += std::to_string(counts[i]);
          out.push_back('\n');
        }
        append_series(out, *f, "_sum", *c, nullptr);
        append_double(out, h.sum());
        out.push_back('\n');
        append_series(out, *f, "_count", *c, nullptr);
        out += std::to_string(counts.back());  // == the +Inf bucket, even mid-update
      }
      out.push_back('\n');
    }
  }
  return out;
}

namespace {
std::atomic<std::uint64_t> memo_serials{0};
}  // namespace

CounterMemo::CounterMemo(std::string name, std::string help, std::string label1, std::string label2)
    : name_(std::move(name)),
      help_(std::move(help)),
      label1_(std::move(label1)),
      label2_(std::move(label2)),
      serial_(memo_serials.fetch_add(1, std::memory_order_relaxed) + 1) {}

Counter& CounterMemo::get(Registry& registry, std::string_view value1, std::string_view value2) const {
  struct Slot {
    std::uint64_t serial = 0;  // 0: empty
    const Registry* registry = nullptr;
    std::string value1, value2;
    Counter* counter = nullptr;
  };
  static thread_local std::array<Slot, 4> slots;
  static thread_local std::size_t next = 0;
  for (auto& s : slots)
    if (s.serial == serial_ && s.registry == &registry && s.value1 == value1 && s.value2 == value2) return *s.counter;
  Counter& c = registry.counter(name_, help_, {{label1_, value1}, {label2_, value2}});
  Slot& s = slots[next++ % slots.size()];
  s.serial = serial_;
  s.registry = &registry;
  s.value1.assign(value1);
  s.value2.assign(value2);
  s.counter = &c;
  return c;
}

void count_contained(Registry* registry, std::string_view where, std::string_view what) {
  std::string line = "jitgate: contained an exception in ";
  line += where;
  line += ": ";
  line += what.substr(0, 200);
  line += '\n';
  std::cerr << line << std::flush;
  if (registry)
    registry
        ->counter("jitgate_contained_exceptions_total", "Unexpected exceptions stopped at a request boundary", {{"where", where}})
        .inc();
}

}  // namespace jitgate::observe
