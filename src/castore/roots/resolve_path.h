// ResolvePath: "ROOT[/PATH]" (a named root, then names of directory entries
// below it) to the node it names, as export, ls and cat take it on the
// command line. Thread-safe when the services are.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "castore/directory/directory_service.h"
#include "castore/node.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

// "ROOT" or "ROOT/a/b": the named root, then directory entries. The returned
// Entry's name is the last component. NotFound names what is missing;
// InvalidArgument for a path through a non-directory or an invalid name.
absl::StatusOr<Entry> ResolvePath(RootService& roots, DirectoryService& directories,
                                  std::string_view spec);

}  // namespace castor::castore
