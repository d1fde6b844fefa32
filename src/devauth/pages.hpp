// The HTML the development authorization server serves: self-contained (no external assets, no
// scripts), every value escaped, each page marked as a development server.
#pragma once

#include <string>
#include <vector>

namespace jitgate::devauth {

struct LoginView {
  std::string request_id;  // hidden field `request`
  std::string client_name;
  std::string resource;
  std::string error;     // shown above the form when non-empty
  std::string username;  // refilled after a failed attempt
};

struct ScopeLine {
  std::string name;
  std::string description;
};

struct ConsentView {
  std::string request_id;
  std::string client_name;
  std::string client_id;
  std::string user_name;
  std::string resource;
  std::vector<ScopeLine> asked;    // new scopes: one checkbox each, checked
  std::vector<ScopeLine> granted;  // granted before, listed for context only
};

std::string login_page(const LoginView& view);
std::string consent_page(const ConsentView& view);
std::string error_page(const std::string& error, const std::string& description);
std::string home_page(const std::string& issuer);

}  // namespace jitgate::devauth
