#include "s3/s3_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/hex.h"
#include "base/status.h"
#include "s3/sigv4.h"

namespace castor::s3 {
namespace {

absl::Status Bad(std::string_view address, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad S3 address \"", ToAbslView(address), "\": ", ToAbslView(what)));
}

bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return absl::ascii_isalnum(static_cast<unsigned char>(b.front())) &&
         absl::ascii_isalnum(static_cast<unsigned char>(b.back()));
}

// Checks scheme://host[:port][/] and returns it without the trailing '/'.
absl::StatusOr<std::string> ParseEndpoint(std::string_view address, std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else {
    return Bad(address, absl::StrCat("endpoint \"", ToAbslView(url),
                                     "\" must start with http:// or https://"));
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.empty())
    return Bad(address, absl::StrCat("endpoint \"", ToAbslView(url), "\" has no host"));
  for (char c : rest) {
    if (c == '/' || c == '?' || c == '#' || c == '@' || c == ' ') {
      return Bad(address, absl::StrCat("endpoint \"", ToAbslView(url),
                                       "\" must be scheme://host[:port] (no path, query or user)"));
    }
  }
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    std::string_view port = rest.substr(colon + 1);
    int value = 0;
    bool ok = !port.empty() && port.size() <= 5;
    for (char c : port) {
      ok = ok && absl::ascii_isdigit(static_cast<unsigned char>(c));
      if (ok) value = value * 10 + (c - '0');
    }
    if (!ok || value == 0 || value > 65535) {
      return Bad(address, absl::StrCat("endpoint \"", ToAbslView(url), "\" has a bad port"));
    }
  }
  return std::string(url.substr(0, url.size() - (url.ends_with("/") ? 1 : 0)));
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      const bool room = i + 2 < s.size();
      const int hi = room ? HexDigitValue(s[i + 1]) : -1;
      const int lo = room ? HexDigitValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad percent escape in \"", ToAbslView(s), "\""));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

absl::StatusOr<S3Address> S3Address::Parse(std::string_view address) {
  std::string_view rest = address;
  if (!rest.starts_with("s3://")) return Bad(address, "the scheme must be s3://");
  rest.remove_prefix(5);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Address a;
  size_t slash = rest.find('/');
  std::string_view bucket = rest.substr(0, slash);
  if (!ValidBucket(bucket)) {
    return Bad(address, absl::StrCat("bucket name \"", ToAbslView(bucket),
                                     "\" must be 3-63 letters, digits, '.', '-' or '_'"));
  }
  a.bucket = std::string(bucket);
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash);
    while (prefix.starts_with("/")) prefix.remove_prefix(1);
    while (prefix.ends_with("/")) prefix.remove_suffix(1);
    if (prefix.find("//") != std::string_view::npos) {
      return Bad(address, "the prefix has an empty path segment");
    }
    a.prefix = std::string(prefix);
  }
  bool path_style_set = false;
  for (absl::string_view split : absl::StrSplit(ToAbslView(query), '&', absl::SkipEmpty())) {
    std::string_view param = ToStdView(split);
    size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    ASSIGN_OR_RETURN(std::string value,
                     PercentDecode(eq == std::string_view::npos ? "" : param.substr(eq + 1)));
    if (name == "endpoint") {
      ASSIGN_OR_RETURN(a.endpoint, ParseEndpoint(address, value));
      a.custom_endpoint = true;
    } else if (name == "region") {
      if (value.empty()) return Bad(address, "region is empty");
      a.region = value;
    } else if (name == "force_path_style") {
      if (value == "true") {
        a.path_style = true;
      } else if (value == "false") {
        a.path_style = false;
      } else {
        return Bad(address, "force_path_style must be true or false");
      }
      path_style_set = true;
    } else {
      return Bad(address, absl::StrCat("unknown parameter \"", ToAbslView(name),
                                       "\" (known: endpoint, region, force_path_style)"));
    }
  }
  if (a.region.empty()) a.region = "us-east-1";
  if (!a.custom_endpoint) a.endpoint = absl::StrCat("https://s3.", a.region, ".amazonaws.com");
  if (!path_style_set) a.path_style = a.custom_endpoint;
  return a;
}

std::string S3Address::Display() const {
  return prefix.empty() ? absl::StrCat("s3://", bucket)
                        : absl::StrCat("s3://", bucket, "/", prefix);
}

std::string S3Address::FullKey(std::string_view key) const {
  return prefix.empty() ? std::string(key) : absl::StrCat(prefix, "/", ToAbslView(key));
}

std::string S3Address::Host() const {
  std::string_view authority = endpoint;
  authority.remove_prefix(authority.find("://") + 3);
  return path_style ? std::string(authority) : absl::StrCat(bucket, ".", ToAbslView(authority));
}

std::string S3Address::Path(std::string_view full_key) const {
  std::string path = path_style ? absl::StrCat("/", bucket) : std::string();
  if (!full_key.empty() || !path_style) absl::StrAppend(&path, "/", UriEncode(full_key, false));
  return path;
}

std::string S3Address::BaseUrl() const {
  return absl::StrCat(endpoint.substr(0, endpoint.find("://") + 3), Host());
}

}  // namespace castor::s3
