#include "s3/xml.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "base/hex.h"
#include "base/status.h"

namespace castor::s3 {
namespace {

constexpr size_t kMaxDocument = 64 << 20;
constexpr int kMaxDepth = 32;
constexpr size_t kMaxElements = 1 << 20;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  absl::StatusOr<XmlElement> Document() {
    RETURN_IF_ERROR(SkipMisc());
    if (!Starts("<")) return Error("expected the root element");
    XmlElement root;
    RETURN_IF_ERROR(Element(0, &root));
    RETURN_IF_ERROR(SkipMisc());
    if (pos_ != s_.size()) return Error("content after the root element");
    return root;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed XML at byte ", pos_, ": ", ToAbslView(what)));
  }
  bool Starts(std::string_view p) const { return s_.substr(pos_).starts_with(p); }
  void SkipSpace() {
    while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  }
  // Moves past the next `end`; false when there is none.
  bool SkipPast(std::string_view end) {
    size_t at = s_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }

  // Whitespace, <?...?> and comments around the root.
  absl::Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (Starts("<?")) {
        if (!SkipPast("?>")) return Error("unterminated processing instruction");
      } else if (Starts("<!--")) {
        if (!SkipPast("-->")) return Error("unterminated comment");
      } else if (Starts("<!")) {
        return Error("document type declarations are not accepted");
      } else {
        return absl::OkStatus();
      }
    }
  }

  std::string_view Name() {
    size_t start = pos_;
    while (pos_ < s_.size() && !IsSpace(s_[pos_]) && s_[pos_] != '>' && s_[pos_] != '/' &&
           s_[pos_] != '=' && s_[pos_] != '<') {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  absl::Status Text(std::string_view raw, std::string* out) {
    for (size_t i = 0; i < raw.size();) {
      if (raw[i] != '&') {
        out->push_back(raw[i++]);
        continue;
      }
      size_t semi = raw.find(';', i);
      if (semi == std::string_view::npos || semi - i > 12) return Error("bad entity reference");
      std::string_view ref = raw.substr(i + 1, semi - i - 1);
      if (ref == "amp") {
        out->push_back('&');
      } else if (ref == "lt") {
        out->push_back('<');
      } else if (ref == "gt") {
        out->push_back('>');
      } else if (ref == "quot") {
        out->push_back('"');
      } else if (ref == "apos") {
        out->push_back('\'');
      } else if (ref.size() >= 2 && ref[0] == '#') {
        const bool hex = ref[1] == 'x';
        std::string_view digits = ref.substr(hex ? 2 : 1);
        if (digits.empty()) return Error("bad character reference");
        uint32_t cp = 0;
        for (char c : digits) {
          const int d = hex ? HexDigitValue(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
          if (d < 0) return Error("bad character reference");
          cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
          if (cp > 0x10ffff) return Error("character reference out of range");
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return Error("bad character reference");
        AppendUtf8(cp, out);
      } else {
        return Error("unknown entity");
      }
      i = semi + 1;
    }
    return absl::OkStatus();
  }

  // At '<' of a start tag.
  absl::Status Element(int depth, XmlElement* out) {
    if (depth >= kMaxDepth) return Error("elements nested too deeply");
    if (++elements_ > kMaxElements) return Error("too many elements");
    ++pos_;
    std::string_view qname = Name();
    if (qname.empty()) return Error("empty element name");
    size_t colon = qname.rfind(':');
    out->name = std::string(colon == std::string_view::npos ? qname : qname.substr(colon + 1));
    // Attributes: name="value" or name='value', skipped.
    for (;;) {
      SkipSpace();
      if (pos_ >= s_.size()) return Error("unterminated start tag");
      if (Starts("/>")) {
        pos_ += 2;
        return absl::OkStatus();
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      if (Name().empty()) return Error("bad attribute");
      SkipSpace();
      if (!Starts("=")) return Error("attribute without a value");
      ++pos_;
      SkipSpace();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) {
        return Error("unquoted attribute value");
      }
      char quote = s_[pos_++];
      size_t end = s_.find(quote, pos_);
      if (end == std::string_view::npos) return Error("unterminated attribute value");
      pos_ = end + 1;
    }
    // Content up to the matching end tag.
    for (;;) {
      size_t lt = s_.find('<', pos_);
      if (lt == std::string_view::npos) return Error("missing end tag");
      RETURN_IF_ERROR(Text(s_.substr(pos_, lt - pos_), &out->text));
      pos_ = lt;
      if (Starts("</")) {
        pos_ += 2;
        if (Name() != qname)
          return Error(absl::StrCat("end tag does not match <", ToAbslView(qname), ">"));
        SkipSpace();
        if (!Starts(">")) return Error("bad end tag");
        ++pos_;
        return absl::OkStatus();
      }
      if (Starts("<!--")) {
        if (!SkipPast("-->")) return Error("unterminated comment");
      } else if (Starts("<![CDATA[")) {
        size_t start = pos_ + 9;
        if (!SkipPast("]]>")) return Error("unterminated CDATA section");
        out->text.append(s_.substr(start, pos_ - 3 - start));
      } else if (Starts("<?")) {
        if (!SkipPast("?>")) return Error("unterminated processing instruction");
      } else if (Starts("<!")) {
        return Error("unexpected markup declaration");
      } else {
        out->children.emplace_back();
        RETURN_IF_ERROR(Element(depth + 1, &out->children.back()));
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child) const {
  for (const XmlElement& c : children) {
    if (c.name == child) return &c;
  }
  return nullptr;
}

std::string XmlElement::ChildText(std::string_view child) const {
  const XmlElement* c = Child(child);
  return c == nullptr ? std::string() : c->text;
}

absl::StatusOr<XmlElement> ParseXml(std::string_view document) {
  if (document.size() > kMaxDocument) {
    return absl::InvalidArgumentError(
        absl::StrCat("XML document of ", document.size(), " bytes exceeds ", kMaxDocument));
  }
  return Parser(document).Document();
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace castor::s3
