#include "nix/narinfo.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {
namespace {

// Decimal digits only, no sign, no leading zero (but "0"), within 64 bits.
absl::StatusOr<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) {
    return absl::InvalidArgumentError(absl::StrCat("invalid number ", QuoteText(text)));
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(absl::StrCat("invalid number ", QuoteText(text)));
    }
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return absl::InvalidArgumentError(absl::StrCat("number ", QuoteText(text), " too large"));
    }
    v = v * 10 + d;
  }
  return v;
}

absl::StatusOr<NixHash> ParseSha256(std::string_view text) {
  ASSIGN_OR_RETURN(NixHash h, NixHash::Parse(text));
  if (h.algo() != HashAlgo::kSha256) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a sha256 hash, got ", ToAbslView(HashAlgoName(h.algo()))));
  }
  return h;
}

// Values are copied into fields only after they parse; the optional holders
// below track "seen" for the duplicate check.
struct Fields {
  std::optional<StorePath> store_path;
  std::optional<std::string> url;
  std::optional<std::string> compression;
  std::optional<NixHash> file_hash;
  std::optional<uint64_t> file_size;
  std::optional<NixHash> nar_hash;
  std::optional<uint64_t> nar_size;
  std::optional<std::vector<StorePath>> references;
  std::optional<std::optional<StorePath>> deriver;
  std::optional<std::string> system;
  std::vector<Signature> signatures;
  std::optional<ContentAddress> ca;
};

std::vector<Signature> SortedUnique(std::vector<Signature> sigs) {
  std::sort(sigs.begin(), sigs.end(),
            [](const Signature& a, const Signature& b) { return a.ToString() < b.ToString(); });
  sigs.erase(std::unique(sigs.begin(), sigs.end()), sigs.end());
  return sigs;
}

}  // namespace

std::string Fingerprint(const StorePath& path, const NixHash& nar_hash, uint64_t nar_size,
                        std::span<const StorePath> references, std::string_view store_dir) {
  CASTOR_CHECK(nar_hash.algo() == HashAlgo::kSha256);
  std::vector<std::string> refs;
  for (const StorePath& r : references) refs.push_back(r.ToAbsolutePath(store_dir));
  std::sort(refs.begin(), refs.end());
  return absl::StrCat("1;", path.ToAbsolutePath(store_dir), ";", nar_hash.ToNixBase32(), ";",
                      nar_size, ";", absl::StrJoin(refs, ","));
}

absl::StatusOr<NarInfo> NarInfo::Parse(std::string_view text, std::string_view store_dir) {
  RETURN_IF_ERROR(ValidateStoreDir(store_dir));
  Fields f;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t eol = text.find('\n');
    if (eol == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("narinfo line ", line_no, ": missing newline at the end"));
    }
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    size_t sep = line.find(": ");
    if (sep == std::string_view::npos || sep == 0) {
      return absl::InvalidArgumentError(absl::StrCat("narinfo line ", line_no, " ", QuoteText(line),
                                                     ": expected '<field>: <value>'"));
    }
    std::string_view key = line.substr(0, sep);
    std::string_view value = line.substr(sep + 2);
    auto field_error = [&](const absl::Status& s) {
      return absl::InvalidArgumentError(
          absl::StrCat("narinfo line ", line_no, ", field ", ToAbslView(key), ": ", s.message()));
    };
    auto once = [&](bool seen) -> absl::Status {
      if (!seen) return absl::OkStatus();
      return field_error(absl::InvalidArgumentError("appears more than once"));
    };
    auto check = [&](absl::Status s) { return s.ok() ? s : field_error(s); };

    if (key == "StorePath") {
      RETURN_IF_ERROR(once(f.store_path.has_value()));
      auto p = StorePath::FromAbsolutePath(value, store_dir);
      RETURN_IF_ERROR(check(p.status()));
      f.store_path = *std::move(p);
    } else if (key == "URL") {
      RETURN_IF_ERROR(once(f.url.has_value()));
      if (value.empty()) return field_error(absl::InvalidArgumentError("empty"));
      f.url = std::string(value);
    } else if (key == "Compression") {
      RETURN_IF_ERROR(once(f.compression.has_value()));
      if (value.empty()) return field_error(absl::InvalidArgumentError("empty"));
      f.compression = std::string(value);
    } else if (key == "FileHash") {
      RETURN_IF_ERROR(once(f.file_hash.has_value()));
      auto h = ParseSha256(value);
      RETURN_IF_ERROR(check(h.status()));
      f.file_hash = *std::move(h);
    } else if (key == "FileSize") {
      RETURN_IF_ERROR(once(f.file_size.has_value()));
      auto n = ParseDecimal(value);
      RETURN_IF_ERROR(check(n.status()));
      f.file_size = *n;
    } else if (key == "NarHash") {
      RETURN_IF_ERROR(once(f.nar_hash.has_value()));
      auto h = ParseSha256(value);
      RETURN_IF_ERROR(check(h.status()));
      f.nar_hash = *std::move(h);
    } else if (key == "NarSize") {
      RETURN_IF_ERROR(once(f.nar_size.has_value()));
      auto n = ParseDecimal(value);
      RETURN_IF_ERROR(check(n.status()));
      if (*n == 0) return field_error(absl::InvalidArgumentError("must not be 0"));
      f.nar_size = *n;
    } else if (key == "References") {
      RETURN_IF_ERROR(once(f.references.has_value()));
      std::vector<StorePath> refs;
      for (absl::string_view name : absl::StrSplit(ToAbslView(value), ' ', absl::SkipEmpty())) {
        auto r = StorePath::FromBaseName(ToStdView(name));
        RETURN_IF_ERROR(check(r.status()));
        refs.push_back(*std::move(r));
      }
      std::sort(refs.begin(), refs.end());
      for (size_t i = 1; i < refs.size(); ++i) {
        if (refs[i] == refs[i - 1]) {
          return field_error(
              absl::InvalidArgumentError(absl::StrCat("lists ", refs[i].BaseName(), " twice")));
        }
      }
      f.references = std::move(refs);
    } else if (key == "Deriver") {
      RETURN_IF_ERROR(once(f.deriver.has_value()));
      if (value == "unknown-deriver") {
        f.deriver.emplace(std::nullopt);
      } else {
        auto d = StorePath::FromBaseName(value);
        RETURN_IF_ERROR(check(d.status()));
        f.deriver.emplace(*std::move(d));
      }
    } else if (key == "System") {
      RETURN_IF_ERROR(once(f.system.has_value()));
      f.system = std::string(value);
    } else if (key == "Sig") {
      auto s = Signature::Parse(value);
      RETURN_IF_ERROR(check(s.status()));
      f.signatures.push_back(*std::move(s));
    } else if (key == "CA") {
      RETURN_IF_ERROR(once(f.ca.has_value()));
      auto ca = ContentAddress::Parse(value);
      RETURN_IF_ERROR(check(ca.status()));
      f.ca = *std::move(ca);
    }
    // Other fields are skipped, as Nix does.
  }
  auto missing = [](std::string_view field) {
    return absl::InvalidArgumentError(
        absl::StrCat("narinfo has no ", ToAbslView(field), " field (it is required)"));
  };
  if (!f.store_path) return missing("StorePath");
  if (!f.url) return missing("URL");
  if (!f.nar_hash) return missing("NarHash");
  if (!f.nar_size) return missing("NarSize");
  return NarInfo{
      .store_path = *std::move(f.store_path),
      .url = *std::move(f.url),
      .compression = f.compression.value_or("bzip2"),
      .file_hash = std::move(f.file_hash),
      .file_size = f.file_size,
      .nar_hash = *std::move(f.nar_hash),
      .nar_size = *f.nar_size,
      .references = f.references.value_or(std::vector<StorePath>{}),
      .deriver = f.deriver.value_or(std::nullopt),
      .system = std::move(f.system),
      .signatures = SortedUnique(std::move(f.signatures)),
      .ca = std::move(f.ca),
  };
}

std::string NarInfo::Render(std::string_view store_dir) const {
  std::string out = absl::StrCat("StorePath: ", store_path.ToAbsolutePath(store_dir), "\n",
                                 "URL: ", url, "\n", "Compression: ", compression, "\n");
  if (file_hash) absl::StrAppend(&out, "FileHash: ", file_hash->ToNixBase32(), "\n");
  if (file_size) absl::StrAppend(&out, "FileSize: ", *file_size, "\n");
  absl::StrAppend(&out, "NarHash: ", nar_hash.ToNixBase32(), "\n", "NarSize: ", nar_size, "\n");
  std::vector<StorePath> refs = references;
  std::sort(refs.begin(), refs.end());
  absl::StrAppend(
      &out, "References: ",
      absl::StrJoin(refs, " ",
                    [](std::string* o, const StorePath& p) { absl::StrAppend(o, p.BaseName()); }),
      "\n");
  if (deriver) absl::StrAppend(&out, "Deriver: ", deriver->BaseName(), "\n");
  if (system) absl::StrAppend(&out, "System: ", *system, "\n");
  for (const Signature& s : SortedUnique(signatures)) {
    absl::StrAppend(&out, "Sig: ", s.ToString(), "\n");
  }
  if (ca) absl::StrAppend(&out, "CA: ", ca->ToString(), "\n");
  return out;
}

std::string NarInfo::Fingerprint(std::string_view store_dir) const {
  return nix::Fingerprint(store_path, nar_hash, nar_size, references, store_dir);
}

void NarInfo::Sign(const SecretKey& key, std::string_view store_dir) {
  AddOrReplaceSignature(signatures, key.Sign(Fingerprint(store_dir)));
}

size_t NarInfo::CountValidSignatures(std::span<const PublicKey> keys,
                                     std::string_view store_dir) const {
  const std::string fingerprint = Fingerprint(store_dir);
  size_t valid = 0;
  for (const PublicKey& key : keys) {
    for (const Signature& s : signatures) {
      if (key.Verify(fingerprint, s)) {
        ++valid;
        break;
      }
    }
  }
  return valid;
}

}  // namespace castor::nix
