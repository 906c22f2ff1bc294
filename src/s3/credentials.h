// S3 credentials, found the way the AWS tools find them: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else a
// profile (AWS_PROFILE, default "default") of the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials). Pure functions
// of their inputs; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace castor::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
  // Where they came from, for messages: "environment" or
  // "profile [name] of /path/credentials". Never the secret.
  std::string source;
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment.
EnvLookup ProcessEnvironment();

// Loads credentials. Errors name what was tried:
// - InvalidArgument: only one of AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY is
//   set; a profile lacks a key; the file cannot be parsed.
// - FailedPrecondition: no credentials anywhere, or the chosen profile or
//   file does not exist.
absl::StatusOr<Credentials> LoadCredentials(const EnvLookup& env);

}  // namespace castor::s3
