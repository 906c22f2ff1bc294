#include "s3/credentials.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace castor::s3 {
namespace {

std::optional<std::string> NonEmpty(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> v = env(name);
  if (v.has_value() && v->empty()) return std::nullopt;
  return v;
}

// One profile of an INI-style credentials file: its keys (lower-cased) and
// values; nullopt when the file has no such section.
absl::StatusOr<std::optional<std::vector<std::pair<std::string, std::string>>>> ReadProfile(
    const std::string& path, std::string_view contents, std::string_view profile) {
  std::optional<std::vector<std::pair<std::string, std::string>>> found;
  bool in_profile = false;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(ToAbslView(contents), '\n')) {
    ++line_number;
    std::string_view line = ToStdView(absl::StripAsciiWhitespace(raw));
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_number, ": unterminated section header"));
      }
      std::string_view name =
          ToStdView(absl::StripAsciiWhitespace(ToAbslView(line.substr(1, line.size() - 2))));
      in_profile = name == profile;
      if (in_profile && !found) found.emplace();
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected key = value"));
    }
    if (!in_profile) continue;
    std::string key =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbslView(line.substr(0, eq))));
    std::string value(absl::StripAsciiWhitespace(ToAbslView(line.substr(eq + 1))));
    found->emplace_back(std::move(key), std::move(value));
  }
  return found;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<Credentials> LoadCredentials(const EnvLookup& env) {
  std::optional<std::string> id = NonEmpty(env, "AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = NonEmpty(env, "AWS_SECRET_ACCESS_KEY");
  if (id.has_value() != secret.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY", " is set but ",
        id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID", " is not: set both or neither"));
  }
  if (id) {
    return Credentials{.access_key_id = *id,
                       .secret_access_key = *secret,
                       .session_token = NonEmpty(env, "AWS_SESSION_TOKEN").value_or(""),
                       .source = "environment"};
  }

  std::optional<std::string> profile_env = NonEmpty(env, "AWS_PROFILE");
  const std::string profile = profile_env.value_or("default");
  std::optional<std::string> file_env = NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE");
  std::string path;
  if (file_env) {
    path = *file_env;
  } else if (std::optional<std::string> home = NonEmpty(env, "HOME")) {
    path = absl::StrCat(*home, "/.aws/credentials");
  }
  const std::string tried = absl::StrCat(
      "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a [", profile, "] profile to ",
      path.empty() ? "~/.aws/credentials" : path,
      " (AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE choose another file and profile)");
  std::ifstream in(path, std::ios::binary);
  if (path.empty() || !in) {
    // Without an explicit file or profile, a missing file just means "no
    // credentials configured".
    const int err = errno;
    if (file_env || profile_env) {
      return absl::FailedPreconditionError(absl::StrCat("S3 credentials: cannot read ",
                                                        path.empty() ? "~/.aws/credentials" : path,
                                                        ": ", std::strerror(err), "; ", tried));
    }
    return absl::FailedPreconditionError(absl::StrCat("no S3 credentials found: ", tried));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  ASSIGN_OR_RETURN(auto entries, ReadProfile(path, ss.str(), profile));
  if (!entries) {
    return absl::FailedPreconditionError(
        absl::StrCat("S3 credentials: ", path, " has no [", profile, "] profile; ", tried));
  }
  Credentials c;
  c.source = absl::StrCat("profile [", profile, "] of ", path);
  for (const auto& [key, value] : *entries) {
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  for (auto [key, value] :
       {std::pair<const char*, const std::string*>{"aws_access_key_id", &c.access_key_id},
        {"aws_secret_access_key", &c.secret_access_key}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("S3 credentials: ", c.source, " has no ", key));
    }
  }
  return c;
}

}  // namespace castor::s3
