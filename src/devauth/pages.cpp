#include "devauth/pages.hpp"

#include "devauth/util.hpp"

namespace jitgate::devauth {

namespace {

std::string frame(const std::string& title, const std::string& body) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" +
         html_escape(title) +
         " - jitgate development authorization server</title>"
         "<style>"
         "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#222}"
         ".dev{background:#fff3cd;border:1px solid #e0b000;padding:.6rem .8rem;border-radius:6px;font-size:.9rem}"
         "form{margin-top:1rem}label{display:block;margin:.6rem 0}"
         "input[type=text],input[type=password]{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}"
         "button{padding:.5rem 1.2rem;font-size:1rem;margin-right:.6rem}"
         ".error{color:#a00;font-weight:bold}.scope{margin:.4rem 0}.scope small{color:#555;display:block;margin-left:1.6rem}"
         "code{background:#f3f3f3;padding:0 .2rem}"
         "</style></head><body>"
         "<p class=\"dev\" id=\"development-banner\"><strong>Development authorization server.</strong> "
         "For demos and tests only: users come from a demo file and keys live in memory. "
         "Production deployments point jitgate at a real identity provider.</p>"
         "<h1>" +
         html_escape(title) + "</h1>" + body + "</body></html>\n";
}

}  // namespace

std::string login_page(const LoginView& v) {
  std::string body;
  body += "<p><strong>" + html_escape(v.client_name) + "</strong> asks you to sign in";
  if (!v.resource.empty()) body += " to use <code>" + html_escape(v.resource) + "</code>";
  body += ".</p>";
  if (!v.error.empty()) body += "<p class=\"error\" id=\"login-error\">" + html_escape(v.error) + "</p>";
  body +=
      "<form method=\"post\" action=\"/login\" id=\"login-form\">"
      "<input type=\"hidden\" name=\"request\" value=\"" +
      html_escape(v.request_id) +
      "\">"
      "<label>Username <input type=\"text\" name=\"username\" id=\"username\" autocomplete=\"username\" value=\"" +
      html_escape(v.username) +
      "\" required autofocus></label>"
      "<label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label>"
      "<button type=\"submit\" id=\"sign-in\">Sign in</button></form>";
  return frame("Sign in", body);
}

std::string consent_page(const ConsentView& v) {
  std::string body;
  body += "<p>Signed in as <strong id=\"user\">" + html_escape(v.user_name) + "</strong>.</p>";
  body += "<p><strong>" + html_escape(v.client_name) + "</strong>";
  if (v.client_name != v.client_id) body += " (<code>" + html_escape(v.client_id) + "</code>)";
  body += " asks for";
  if (!v.granted.empty()) body += " more";
  body += " access";
  if (!v.resource.empty()) body += " to <code>" + html_escape(v.resource) + "</code>";
  body += ". Untick what you do not want to allow.</p>";
  body +=
      "<form method=\"post\" action=\"/consent\" id=\"consent-form\">"
      "<input type=\"hidden\" name=\"request\" value=\"" +
      html_escape(v.request_id) + "\">";
  for (const auto& s : v.asked) {
    std::string id = "scope-" + url_encode(s.name);
    body += "<div class=\"scope\"><label><input type=\"checkbox\" name=\"scope\" value=\"" + html_escape(s.name) + "\" id=\"" +
            html_escape(id) + "\" checked> " + html_escape(s.description) + "<small><code>" + html_escape(s.name) +
            "</code></small></label></div>";
  }
  if (v.asked.empty()) body += "<p>It asks for no specific permission: only that you are signed in.</p>";
  if (!v.granted.empty()) {
    body += "<p>You allowed earlier (kept):</p><ul id=\"granted\">";
    for (const auto& s : v.granted)
      body += "<li>" + html_escape(s.description) + " <code>" + html_escape(s.name) + "</code></li>";
    body += "</ul>";
  }
  body +=
      "<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>"
      "<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>";
  return frame("Allow access", body);
}

std::string error_page(const std::string& error, const std::string& description) {
  return frame("Request refused", "<p class=\"error\">Error <code id=\"error\">" + html_escape(error) +
                                      "</code></p><p id=\"error-description\">" + html_escape(description) + "</p>");
}

std::string home_page(const std::string& issuer) {
  return frame("jitgate development authorization server", "<p>Issuer <code>" + html_escape(issuer) +
                                                               "</code>. Metadata at <code>" + html_escape(issuer) +
                                                               "/.well-known/oauth-authorization-server</code>.</p>");
}

}  // namespace jitgate::devauth
