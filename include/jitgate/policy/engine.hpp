// The policy seam: who (a Principal) may do what (an Action). One engine serves library mode and
// gateway mode; the local policy file is one implementation, an external decision point another.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jitgate/auth/challenge.hpp"
#include "jitgate/auth/principal.hpp"
#include "jitgate/policy/requirement.hpp"

namespace jitgate::policy {

enum class Kind : std::uint8_t { tool, resource, resource_template, prompt, method };
// Discovery decides from identity alone (lists); invocation also sees the arguments (calls).
enum class Phase : std::uint8_t { discovery, invocation };

std::string_view to_string(Kind k);
std::string_view to_string(Phase p);

struct Action {
  Kind kind = Kind::method;
  Phase phase = Phase::invocation;
  std::string_view method;                         // the JSON-RPC method
  std::string_view name;                           // tool or prompt name, resource URI, template; the method for Kind::method
  std::string_view via_template;                   // a resource URI that only a registered template serves: that template
  const boost::json::object* arguments = nullptr;  // invocation of a tool or prompt
  const Requirement* declared = nullptr;           // what the primitive declared when it was registered
  // False when the caller only needs the outcome (a list that hides locked entries): a deny then
  // skips working out which scopes would turn it into an allow.
  bool explain = true;
};

enum class Outcome : std::uint8_t { allow, deny, conditional };
// What would turn a deny into an allow (auth/challenge.hpp turns it into the client's challenge).
using Remedy = auth::Remedy;

std::string_view to_string(Outcome o);

struct Decision {
  Outcome outcome = Outcome::deny;
  Remedy remedy = Remedy::none;
  std::string rule;                  // id of the deciding rule; "default" when none matched
  std::string tier;                  // with a remedy: the tier of the rule that would allow, if it names one
  std::vector<std::string> scopes;   // with a remedy: every scope that rule needs (one challenge names all)
  std::vector<std::string> missing;  // the part of `scopes` the caller lacks
  bool unlockable = false;           // a token with `scopes` (signing in, when anonymous) would allow it
  // Shadow policy: evaluated and logged beside the enforced one, never enforced.
  std::optional<Outcome> shadow;
  std::string shadow_rule;

  bool allowed() const { return outcome == Outcome::allow; }
  bool listed() const { return outcome != Outcome::deny; }  // discovery: allow or conditional
};

// How entries the caller may not use appear in lists.
enum class Locked : std::uint8_t { hide, advertise };

class PolicyEngine {
 public:
  // One caller prepared once per request (scope closure, role set) and reused for every decision
  // of that request: a list decides once per entry. It keeps the policy it was prepared against, so
  // one request sees one policy even across a reload.
  class Caller {
   public:
    virtual ~Caller() = default;
    virtual const auth::Principal& principal() const = 0;
  };

  virtual ~PolicyEngine() = default;
  virtual std::unique_ptr<Caller> prepare(std::shared_ptr<const auth::Principal> who) const = 0;
  virtual Decision decide(const Caller& who, const Action& what) const = 0;
  // Every action for one caller, in order: a list page or a view fingerprint decides a whole
  // family at once, so an engine that asks a remote decision point can send one batch. The
  // default decides them one by one.
  virtual std::vector<Decision> decide_all(const Caller& who, std::span<const Action> what) const;
  // True for an engine whose decisions may wait (a remote decision point): servers then decide on
  // their worker pool, never on an I/O thread, as token verification already does.
  virtual bool may_block() const { return false; }
  virtual Locked locked() const = 0;
  // Changes whenever decisions may have changed (a reload); listeners run after the swap.
  virtual std::uint64_t generation() const = 0;
  virtual void on_change(std::function<void()> listener) = 0;

  Decision decide(std::shared_ptr<const auth::Principal> who, const Action& what) const {
    return decide(*prepare(std::move(who)), what);
  }
};

// Whether a refused `what` is concealed from `who`: a primitive (not a method) that this caller
// cannot see in a list and that no token would unlock, for which the refusal itself would tell
// that it exists. Servers answer such a call exactly as they answer an unknown name. `refused` is
// the engine's decision on `what`; only a deny without a remedy costs a second (discovery) decision.
bool conceals(const PolicyEngine& engine, const PolicyEngine::Caller& who, const Action& what, const Decision& refused);

}  // namespace jitgate::policy
