// The policy file (YAML, schema version 1): loading with file:line diagnostics, the compiled
// immutable Policy, and the local engine that swaps it atomically on reload.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "jitgate/policy/engine.hpp"

namespace jitgate::policy {

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::string where;  // file:line:column
  std::string message;
  std::string to_string() const;  // "file:line:column: error: message"
};

// Every error of a file, one diagnostic per line in what().
class PolicyError : public std::runtime_error {
 public:
  explicit PolicyError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// What a server has registered, for warnings about rules that name nothing.
struct Inventory {
  std::vector<std::string> tools, resources, resource_templates, prompts;
  // Tools' input schemas, where known: an argument the schema describes as a path (its format or
  // description) is warned about like one whose name says so.
  std::vector<std::pair<std::string, boost::json::object>> tool_schemas;
};

struct Compiled;  // private: rules, indexes, interned scopes

class Policy {
 public:
  explicit Policy(std::unique_ptr<Compiled> c);
  ~Policy();
  const Compiled& compiled() const { return *c_; }
  Locked locked() const;
  std::size_t rule_count() const;
  const std::string& source() const;  // the file name it was loaded from
  // Warnings for primitive patterns that match nothing registered, declared tiers that do not exist,
  // and raw-text matchers on arguments that the tools' input schemas describe as paths.
  std::vector<Diagnostic> check(const Inventory& inventory) const;

 private:
  std::unique_ptr<Compiled> c_;
};

// Throws PolicyError on any error; warnings go to `warnings` when given.
std::shared_ptr<const Policy> parse_policy(const std::string& yaml_text, const std::string& name = "<policy>",
                                           std::vector<Diagnostic>* warnings = nullptr);
std::shared_ptr<const Policy> load_policy(const std::string& path, std::vector<Diagnostic>* warnings = nullptr);

class LocalPolicyEngine : public PolicyEngine {
 public:
  explicit LocalPolicyEngine(std::shared_ptr<const Policy> enforced, std::shared_ptr<const Policy> shadow = nullptr);
  // From files; reload() and reload_if_changed() read them again.
  static std::shared_ptr<LocalPolicyEngine> from_files(const std::string& path, const std::string& shadow_path = {});

  std::unique_ptr<Caller> prepare(std::shared_ptr<const auth::Principal> who) const override;
  Decision decide(const Caller& who, const Action& what) const override;
  using PolicyEngine::decide;
  Locked locked() const override;
  std::uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  void on_change(std::function<void()> listener) override;

  std::shared_ptr<const Policy> current() const { return enforced_.load(std::memory_order_acquire); }
  std::shared_ptr<const Policy> shadow() const { return shadow_.load(std::memory_order_acquire); }
  // Swaps in new policies atomically and tells the listeners. A null shadow removes it.
  void replace(std::shared_ptr<const Policy> enforced, std::shared_ptr<const Policy> shadow = nullptr);
  // Reads the files again. A file that does not load leaves the old policy in force; the
  // diagnostics are returned (empty on success).
  std::vector<Diagnostic> reload();
  // Reloads when a file's modification time changed since the last load. True when it swapped.
  bool reload_if_changed(std::vector<Diagnostic>* diagnostics = nullptr);

 private:
  std::atomic<std::shared_ptr<const Policy>> enforced_;
  std::atomic<std::shared_ptr<const Policy>> shadow_;
  std::atomic<std::uint64_t> generation_{1};
  std::uint64_t serial_;  // this engine among all, never reused: the key of its prepared callers
  std::mutex mu_;         // reloads and listeners
  std::vector<std::function<void()>> listeners_;
  std::string path_, shadow_path_;
  std::filesystem::file_time_type mtime_{}, shadow_mtime_{};
};

}  // namespace jitgate::policy
