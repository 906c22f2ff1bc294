#include "nix/path_info.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"
#include "tvix/castore/protos/castore.pb.h"
#include "tvix/store/protos/pathinfo.pb.h"

namespace castor::nix {
namespace {

namespace pb = tvix::store::v1;
using CaHash = pb::NARInfo::CA::Hash;

constexpr std::string_view kDrv = ".drv";

absl::Status Invalid(std::string_view what, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("path info ", ToAbslView(what), ": ", ToAbslView(why)));
}

// The CA enum of tvix for a content address, and back.
struct CaKind {
  CaHash proto;
  ContentAddress::Method method;
  HashAlgo algo;
};
constexpr CaKind kCaKinds[] = {
    {pb::NARInfo::CA::NAR_SHA256, ContentAddress::Method::kNixArchive, HashAlgo::kSha256},
    {pb::NARInfo::CA::NAR_SHA1, ContentAddress::Method::kNixArchive, HashAlgo::kSha1},
    {pb::NARInfo::CA::NAR_SHA512, ContentAddress::Method::kNixArchive, HashAlgo::kSha512},
    {pb::NARInfo::CA::NAR_MD5, ContentAddress::Method::kNixArchive, HashAlgo::kMd5},
    {pb::NARInfo::CA::TEXT_SHA256, ContentAddress::Method::kText, HashAlgo::kSha256},
    {pb::NARInfo::CA::FLAT_SHA1, ContentAddress::Method::kFlat, HashAlgo::kSha1},
    {pb::NARInfo::CA::FLAT_MD5, ContentAddress::Method::kFlat, HashAlgo::kMd5},
    {pb::NARInfo::CA::FLAT_SHA256, ContentAddress::Method::kFlat, HashAlgo::kSha256},
    {pb::NARInfo::CA::FLAT_SHA512, ContentAddress::Method::kFlat, HashAlgo::kSha512},
};

}  // namespace

absl::StatusOr<PathInfo> PathInfo::Create(Fields f) {
  const std::string what = f.store_path.BaseName();
  if (f.nar_size == 0) return Invalid(what, "NAR size is 0 (missing)");
  if (f.nar_sha256.algo() != HashAlgo::kSha256) {
    return Invalid(what, absl::StrCat("NAR hash must be sha256, not ",
                                      ToAbslView(HashAlgoName(f.nar_sha256.algo()))));
  }
  std::set<StorePath> seen;
  for (const StorePath& r : f.references) {
    if (!seen.insert(r).second) {
      return Invalid(what, absl::StrCat("reference ", r.BaseName(), " is listed twice"));
    }
  }
  if (f.deriver) {
    const std::string& name = f.deriver->name();
    if (!name.ends_with(kDrv) ||
        !ValidateStorePathName(std::string_view(name).substr(0, name.size() - kDrv.size())).ok()) {
      return Invalid(what, absl::StrCat("deriver ", f.deriver->BaseName(),
                                        " is not a .drv path with a valid name before .drv"));
    }
  }
  return PathInfo(std::move(f));
}

absl::StatusOr<PathInfo> PathInfo::FromProto(const pb::PathInfo& proto) {
  if (!proto.has_node()) return Invalid("(no node)", "the node is missing");
  auto entry = castore::EntryFromProto(proto.node());
  if (!entry.ok()) return Invalid("(bad node)", ToStdView(entry.status().message()));
  auto store_path = StorePath::FromBaseName(entry->name.str());
  if (!store_path.ok()) {
    return Invalid(castore::QuoteName(entry->name.str()),
                   absl::StrCat("the node's name is not a store path base name: ",
                                store_path.status().message()));
  }
  const std::string what = store_path->BaseName();
  if (!proto.has_narinfo()) return Invalid(what, "narinfo is missing");
  const pb::NARInfo& ni = proto.narinfo();
  if (ni.reference_names_size() != proto.references_size()) {
    return Invalid(what, absl::StrCat(proto.references_size(), " references but ",
                                      ni.reference_names_size(), " reference names"));
  }
  std::vector<StorePath> references;
  for (int i = 0; i < proto.references_size(); ++i) {
    const std::string& digest = proto.references(i);
    if (digest.size() != StorePath::kDigestSize) {
      return Invalid(what, absl::StrCat("reference ", i, " is ", digest.size(), " bytes, not ",
                                        StorePath::kDigestSize));
    }
    auto ref = StorePath::FromBaseName(ni.reference_names(i));
    if (!ref.ok()) {
      return Invalid(what, absl::StrCat("reference name ", i, ": ", ref.status().message()));
    }
    if (ref->digest_bytes() != digest) {
      return Invalid(what,
                     absl::StrCat("reference name ", i, " (", ref->BaseName(),
                                  ") does not match reference digest ", NixBase32Encode(digest)));
    }
    references.push_back(*std::move(ref));
  }
  auto nar_sha256 = NixHash::FromDigest(HashAlgo::kSha256, ni.nar_sha256());
  if (!nar_sha256.ok()) {
    return Invalid(what, absl::StrCat("NAR hash: ", nar_sha256.status().message()));
  }
  std::vector<Signature> signatures;
  for (int i = 0; i < ni.signatures_size(); ++i) {
    auto sig = Signature::Create(ni.signatures(i).name(), ni.signatures(i).data());
    if (!sig.ok()) {
      return Invalid(what, absl::StrCat("signature ", i, ": ", sig.status().message()));
    }
    signatures.push_back(*std::move(sig));
  }
  std::optional<StorePath> deriver;
  if (ni.has_deriver()) {
    auto d = StorePath::FromDigestAndName(ni.deriver().digest(),
                                          absl::StrCat(ni.deriver().name(), ToAbslView(kDrv)));
    if (!d.ok()) return Invalid(what, absl::StrCat("deriver: ", d.status().message()));
    deriver = *std::move(d);
  }
  std::optional<ContentAddress> ca;
  if (ni.has_ca()) {
    const CaKind* kind = nullptr;
    for (const CaKind& k : kCaKinds) {
      if (k.proto == ni.ca().type()) kind = &k;
    }
    if (kind == nullptr) {
      return Invalid(
          what, absl::StrCat("unknown content address type ", static_cast<int>(ni.ca().type())));
    }
    auto hash = NixHash::FromDigest(kind->algo, ni.ca().digest());
    if (!hash.ok())
      return Invalid(what, absl::StrCat("content address: ", hash.status().message()));
    auto c = ContentAddress::Create(kind->method, *std::move(hash));
    if (!c.ok()) return Invalid(what, absl::StrCat("content address: ", c.status().message()));
    ca = *std::move(c);
  }
  return Create(Fields{
      .store_path = *std::move(store_path),
      .node = std::move(entry->node),
      .references = std::move(references),
      .nar_size = ni.nar_size(),
      .nar_sha256 = *std::move(nar_sha256),
      .signatures = std::move(signatures),
      .deriver = std::move(deriver),
      .ca = std::move(ca),
  });
}

absl::StatusOr<PathInfo> PathInfo::Decode(std::string_view bytes) {
  pb::PathInfo proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("path info: ", bytes.size(), " bytes that are not a PathInfo message"));
  }
  return FromProto(proto);
}

pb::PathInfo PathInfo::ToProto() const {
  pb::PathInfo proto;
  const std::string base_name = f_.store_path.BaseName();
  *proto.mutable_node() =
      castore::EntryToProto(castore::Entry{*castore::PathComponent::Create(base_name), f_.node});
  pb::NARInfo* ni = proto.mutable_narinfo();
  for (const StorePath& r : f_.references) {
    proto.add_references(std::string(r.digest_bytes()));
    ni->add_reference_names(r.BaseName());
  }
  ni->set_nar_size(f_.nar_size);
  ni->set_nar_sha256(f_.nar_sha256.digest());
  for (const Signature& s : f_.signatures) {
    pb::NARInfo::Signature* ps = ni->add_signatures();
    ps->set_name(s.key_name());
    ps->set_data(std::string(s.bytes_view()));
  }
  if (f_.deriver) {
    const std::string& name = f_.deriver->name();
    ni->mutable_deriver()->set_name(name.substr(0, name.size() - kDrv.size()));
    ni->mutable_deriver()->set_digest(std::string(f_.deriver->digest_bytes()));
  }
  if (f_.ca) {
    for (const CaKind& k : kCaKinds) {
      if (k.method == f_.ca->method() && k.algo == f_.ca->hash().algo()) {
        ni->mutable_ca()->set_type(k.proto);
      }
    }
    ni->mutable_ca()->set_digest(f_.ca->hash().digest());
  }
  return proto;
}

std::string PathInfo::Encode() const { return ToProto().SerializeAsString(); }

absl::StatusOr<PathInfo> PathInfo::FromNarInfo(const NarInfo& narinfo, castore::Node node) {
  return Create(Fields{
      .store_path = narinfo.store_path,
      .node = std::move(node),
      .references = narinfo.references,
      .nar_size = narinfo.nar_size,
      .nar_sha256 = narinfo.nar_hash,
      .signatures = narinfo.signatures,
      .deriver = narinfo.deriver,
      .ca = narinfo.ca,
  });
}

NarInfo PathInfo::ToNarInfo(std::string url, std::string compression,
                            std::optional<NixHash> file_hash,
                            std::optional<uint64_t> file_size) const {
  return NarInfo{
      .store_path = f_.store_path,
      .url = std::move(url),
      .compression = std::move(compression),
      .file_hash = std::move(file_hash),
      .file_size = file_size,
      .nar_hash = f_.nar_sha256,
      .nar_size = f_.nar_size,
      .references = f_.references,
      .deriver = f_.deriver,
      .system = std::nullopt,
      .signatures = f_.signatures,
      .ca = f_.ca,
  };
}

std::string PathInfo::Fingerprint(std::string_view store_dir) const {
  return nix::Fingerprint(f_.store_path, f_.nar_sha256, f_.nar_size, f_.references, store_dir);
}

PathInfo PathInfo::WithSignature(const SecretKey& key, std::string_view store_dir) const {
  PathInfo out = *this;
  AddOrReplaceSignature(out.f_.signatures, key.Sign(Fingerprint(store_dir)));
  return out;
}

}  // namespace castor::nix
