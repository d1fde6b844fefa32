// Password hashing for the demo users: argon2id (libargon2) in its PHC string encoding.
#pragma once

#include <string>
#include <string_view>

namespace jitgate::devauth {

// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" with a fresh random salt.
std::string hash_password(std::string_view password);
// False for a wrong password and for anything that is not an argon2id encoding.
bool verify_password(std::string_view encoded, std::string_view password);

}  // namespace jitgate::devauth
