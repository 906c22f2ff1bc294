// A small XML reader for S3 response bodies (Error, ListBucketResult,
// InitiateMultipartUploadResult, CompleteMultipartUploadResult): elements,
// text, the five named entities and numeric character references, CDATA;
// declarations, comments and processing instructions are skipped, attributes
// and namespace prefixes dropped. Bounded: input size, depth and element
// count are limited, so a hostile body cannot exhaust memory or the stack.
// Pure functions; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace castor::s3 {

struct XmlElement {
  std::string name;  // local name (any "prefix:" removed)
  std::string text;  // the element's own character data, entities decoded
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* Child(std::string_view name) const;
  // The text of the first child named `name`, or "" when there is none.
  std::string ChildText(std::string_view name) const;
};

// Parses a whole document; InvalidArgument (with the offset) when it is not
// well-formed or exceeds the limits.
absl::StatusOr<XmlElement> ParseXml(std::string_view document);

// Escapes & < > " ' for element text.
std::string XmlEscape(std::string_view text);

}  // namespace castor::s3
