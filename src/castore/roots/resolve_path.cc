#include "castore/roots/resolve_path.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace castor::castore {

absl::StatusOr<Entry> ResolvePath(RootService& roots, DirectoryService& directories,
                                  std::string_view spec) {
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(ToAbslView(spec), '/', absl::SkipEmpty())) {
    parts.emplace_back(p);
  }
  if (parts.empty()) return absl::InvalidArgumentError("empty root name");
  auto root_name = PathComponent::Create(parts[0]);
  if (!root_name.ok()) return Annotate(root_name.status(), "root");
  ASSIGN_OR_RETURN(std::optional<Entry> root, roots.Get(*root_name));
  if (!root) return absl::NotFoundError(absl::StrCat("no root named ", QuoteName(parts[0])));
  Entry current = *std::move(root);
  std::string walked = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    const auto* d = std::get_if<DirectoryNode>(&current.node);
    if (d == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          QuoteName(walked), " is a ", ToAbslView(NodeKind(current.node)), ", not a directory"));
    }
    ASSIGN_OR_RETURN(std::optional<Directory> dir, directories.Get(d->digest));
    if (!dir) {
      return absl::NotFoundError(absl::StrCat(QuoteName(walked), ": directory ", d->digest.ToB3(),
                                              " is not in the store"));
    }
    const Entry* e = dir->Find(parts[i]);
    walked = absl::StrCat(walked, "/", parts[i]);
    if (e == nullptr)
      return absl::NotFoundError(absl::StrCat(QuoteName(walked), ": no such entry"));
    current = *e;
  }
  return current;
}

}  // namespace castor::castore
