#include "castore/maintenance/verify.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {
namespace {

struct BlobRef {
  std::string root;
  std::string path;
  uint64_t size;
};

class Verifier {
 public:
  Verifier(BlobService& blobs, DirectoryService& directories,
           const std::function<void(const VerifyProblem&)>& report)
      : blobs_(blobs), directories_(directories), report_(report) {}

  void Problem(const std::string& root, const std::string& path, std::string message) {
    ++stats_.problems;
    report_(VerifyProblem{root, path, std::move(message)});
  }

  void VerifyRoot(const Entry& root) {
    ++stats_.roots;
    VisitNode(root.name.str(), "", root.node, 0);
  }

  // Checks every collected blob, in parallel.
  void VerifyBlobs(unsigned threads) {
    std::vector<std::pair<const B3Digest*, std::vector<BlobRef>*>> work;
    work.reserve(blob_refs_.size());
    for (auto& [digest, refs] : blob_refs_) work.emplace_back(&digest, &refs);
    std::vector<std::string> results(work.size());
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> bytes{0};
    auto run = [&] {
      while (true) {
        size_t i = next.fetch_add(1);
        if (i >= work.size()) return;
        results[i] = CheckBlob(*work[i].first, work[i].second->front().size, bytes);
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(run);
    run();
    for (auto& t : pool) t.join();
    stats_.blobs = work.size();
    stats_.blob_bytes = bytes.load();
    for (size_t i = 0; i < work.size(); ++i) {
      for (const BlobRef& ref : *work[i].second) {
        std::string msg = results[i];
        if (msg.empty() && ref.size != work[i].second->front().size) {
          msg = absl::StrCat("blob ", work[i].first->ToB3(), ": referenced with size ", ref.size,
                             " here and ", work[i].second->front().size, " elsewhere");
        }
        if (!msg.empty()) Problem(ref.root, ref.path, msg);
      }
    }
  }

  VerifyStats stats_;

 private:
  // `depth`: levels below the root.
  void VisitNode(const std::string& root, const std::string& path, const Node& node, size_t depth) {
    if (const auto* f = std::get_if<FileNode>(&node)) {
      blob_refs_[f->digest].push_back(BlobRef{root, path, f->size});
    } else if (const auto* d = std::get_if<DirectoryNode>(&node)) {
      VisitDir(root, path, *d, depth);
    }
  }

  void VisitDir(const std::string& root, const std::string& path, const DirectoryNode& node,
                size_t depth) {
    // A subtree shared by several paths is checked once, and its problems
    // reported at the first path (re-walking it could take exponential time
    // on a DAG of shared subtrees).
    if (good_dirs_.contains(node.digest)) return;
    auto dir = directories_.Get(node.digest);
    if (!dir.ok()) {
      Problem(root, path,
              absl::StrCat("directory ", node.digest.ToB3(), ": ", dir.status().message()));
      return;
    }
    if (!dir->has_value()) {
      Problem(root, path, absl::StrCat("directory ", node.digest.ToB3(), " is missing"));
      return;
    }
    const Directory& d = **dir;
    ++stats_.directories;
    if (d.size() != node.size) {
      Problem(root, path,
              absl::StrCat("directory ", node.digest.ToB3(), " has size ", d.size(),
                           ", its parent says ", node.size));
    }
    uint64_t problems_before = stats_.problems;
    if (depth == kMaxTreeDepth && !d.entries().empty()) {
      Problem(root, path,
              absl::StrCat("has entries more than ", kMaxTreeDepth,
                           " levels deep (not checked; export refuses them)"));
    } else {
      for (const Entry& e : d.entries()) {
        VisitNode(root, absl::StrCat(path, "/", e.name.str()), e.node, depth + 1);
      }
    }
    if (stats_.problems == problems_before) {
      good_dirs_.insert(node.digest);
    }
  }

  std::string CheckBlob(const B3Digest& digest, uint64_t size, std::atomic<uint64_t>& bytes) {
    // Hashed whole below: the store need not check it too.
    auto reader = blobs_.OpenReadUnverified(digest);
    if (!reader.ok()) return absl::StrCat("blob ", digest.ToB3(), ": ", reader.status().message());
    if (*reader == nullptr) return absl::StrCat("blob ", digest.ToB3(), " is missing");
    if ((*reader)->size() != size) {
      return absl::StrCat("blob ", digest.ToB3(), " has ", (*reader)->size(),
                          " bytes, the file node says ", size);
    }
    Blake3Hasher hasher;
    thread_local std::vector<uint8_t> buf(1 << 20);
    uint64_t off = 0;
    while (off < size) {
      auto n = (*reader)->ReadAt(off, buf);
      if (!n.ok()) return absl::StrCat("blob ", digest.ToB3(), ": ", n.status().message());
      if (*n == 0) break;
      hasher.Update(std::span<const uint8_t>(buf.data(), *n));
      off += *n;
    }
    bytes += off;
    if (off != size)
      return absl::StrCat("blob ", digest.ToB3(), ": short read, ", off, " of ", size, " bytes");
    B3Digest actual = hasher.Finalize();
    if (actual != digest) {
      return absl::StrCat("blob ", digest.ToB3(), ": stored bytes hash to ", actual.ToB3());
    }
    return "";
  }

  BlobService& blobs_;
  DirectoryService& directories_;
  const std::function<void(const VerifyProblem&)>& report_;
  std::map<B3Digest, std::vector<BlobRef>> blob_refs_;
  absl::flat_hash_set<B3Digest> good_dirs_;
};

}  // namespace

absl::StatusOr<VerifyStats> VerifyStore(BlobService& blobs, DirectoryService& directories,
                                        RootService& roots, const VerifyOptions& options,
                                        const std::function<void(const VerifyProblem&)>& report) {
  Verifier v(blobs, directories, report);
  std::vector<Entry> selected;
  if (options.roots.empty()) {
    RETURN_IF_ERROR(roots.List([&](const Entry& e) {
      selected.push_back(e);
      return absl::OkStatus();
    }));
  } else {
    for (const std::string& name : options.roots) {
      auto pc = PathComponent::Create(name);
      if (!pc.ok()) {
        v.Problem(name, "", std::string(pc.status().message()));
        continue;
      }
      auto e = roots.Get(*pc);
      if (!e.ok()) {
        v.Problem(name, "", std::string(e.status().message()));
      } else if (!e->has_value()) {
        v.Problem(name, "", "no such root");
      } else {
        selected.push_back(**e);
      }
    }
  }
  for (const Entry& e : selected) v.VerifyRoot(e);
  v.VerifyBlobs(options.threads ? options.threads
                                : std::max(1u, std::thread::hardware_concurrency()));
  return v.stats_;
}

}  // namespace castor::castore
