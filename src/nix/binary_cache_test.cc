// The HTTP binary cache server and the cache reader, in process over
// loopback: what the server answers (cache info, signed narinfos, NARs in
// every compression, ranges, HEAD, 404), that a failing render aborts the
// response, uploads (bound by their narinfo, tampered ones refused), slow
// clients, and substituting from the server and from a file:// cache.
#include "nix/binary_cache.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/faulty_services.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "nix/binary_cache_server.h"
#include "nix/castore_nar.h"
#include "nix/compression.h"
#include "nix/nar_import.h"
#include "nix/nar_writer.h"
#include "nix/narinfo.h"
#include "nix/pathinfo/memory_path_info_service.h"

namespace castor::nix {
namespace {

std::shared_ptr<NixStore> MemoryStore(std::shared_ptr<castore::BlobService> blobs = nullptr) {
  return std::make_shared<NixStore>(
      castore::Services{blobs ? blobs : std::make_shared<castore::MemoryBlobService>(),
                        std::make_shared<castore::MemoryDirectoryService>(),
                        std::make_shared<castore::MemoryRootService>()},
      std::make_shared<MemoryPathInfoService>());
}

// A NAR of a small tree with a file of `big` bytes.
std::string TreeNar(std::string_view tag, size_t big = 100000) {
  StringSink out;
  NarWriter w(out);
  EXPECT_TRUE(w.StartDirectory().ok());
  EXPECT_TRUE(w.EntryName("big").ok());
  std::string contents(big, 'x');
  contents += tag;
  EXPECT_TRUE(w.StartFile(contents.size(), false).ok());
  EXPECT_TRUE(w.FileData(contents).ok());
  EXPECT_TRUE(w.EndFile().ok());
  EXPECT_TRUE(w.EntryName("bin").ok());
  EXPECT_TRUE(w.StartFile(5, true).ok());
  EXPECT_TRUE(w.FileData("#!sh\n").ok());
  EXPECT_TRUE(w.EndFile().ok());
  EXPECT_TRUE(w.EntryName("link").ok());
  EXPECT_TRUE(w.Symlink("big").ok());
  EXPECT_TRUE(w.EndDirectory().ok());
  EXPECT_TRUE(w.Finish().ok());
  return out.Take();
}

StorePath Path(std::string_view name) {
  std::string digest = NixHash::Of(HashAlgo::kSha256, name).digest().substr(0, 20);
  return *StorePath::FromDigestAndName(digest, name);
}

// Imports `nar` as `path` into `store`.
PathInfo Add(NixStore& store, const StorePath& path, const std::string& nar,
             std::vector<StorePath> refs = {}) {
  StringSource source(nar);
  auto imported = ImportNar(store.blobs(), store.directories(), source);
  EXPECT_TRUE(imported.ok()) << imported.status();
  auto info = PathInfo::Create({.store_path = path,
                                .node = imported->node,
                                .references = std::move(refs),
                                .nar_size = imported->nar.nar_size,
                                .nar_sha256 = imported->nar.nar_sha256});
  EXPECT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(store.Add(*info).ok());
  return *info;
}

class BinaryCacheServerTest : public ::testing::Test {
 protected:
  void Start(BinaryCacheServerOptions options = {}) {
    key_ = std::make_unique<SecretKey>(*SecretKey::Generate("test-cache-1"));
    options.sign_keys = {*key_};
    auto s = BinaryCacheServer::Start(store_, options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  absl::StatusOr<NarInfo> GetNarInfo(const StorePath& p) {
    auto r = client_->Get(absl::StrCat("/", p.HashPart(), ".narinfo"));
    if (!r || r->status != 200) return absl::NotFoundError("no narinfo");
    return NarInfo::Parse(r->body);
  }

  std::shared_ptr<NixStore> store_ = MemoryStore();
  std::unique_ptr<SecretKey> key_;
  std::unique_ptr<BinaryCacheServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(BinaryCacheServerTest, ServesCacheInfoSignedNarInfosAndNarsInEveryCompression) {
  std::string nar = TreeNar("a");
  PathInfo info = Add(*store_, Path("tree-a"), nar);
  Start({.priority = 30});
  auto ci = client_->Get("/nix-cache-info");
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->status, 200);
  EXPECT_EQ(ci->body, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");

  auto narinfo = GetNarInfo(info.store_path());
  ASSERT_TRUE(narinfo.ok()) << narinfo.status();
  EXPECT_EQ(narinfo->nar_hash, info.nar_sha256());
  EXPECT_EQ(narinfo->compression, "none");
  EXPECT_EQ(narinfo->CountValidSignatures({&key_->public_key(), 1}), 1u);

  auto whole = client_->Get("/" + narinfo->url);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->body, nar);
  EXPECT_EQ(whole->get_header_value("Content-Type"), "application/x-nix-nar");
  for (Compression c : {Compression::kXz, Compression::kZstd, Compression::kBzip2}) {
    SCOPED_TRACE(CompressionName(c));
    auto r = client_->Get(absl::StrCat("/", narinfo->url, ToAbslView(CompressionExtension(c))));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto plain = Decompress(c, r->body);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(*plain, nar);
  }
  auto head = client_->Head("/" + narinfo->url);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(nar.size()));
  EXPECT_TRUE(head->body.empty());
}

TEST_F(BinaryCacheServerTest, UnknownPathsAndStaleNarUrlsAre404) {
  PathInfo info = Add(*store_, Path("tree-a"), TreeNar("a"));
  Start();
  auto r = client_->Get(absl::StrCat("/", Path("other").HashPart(), ".narinfo"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  // The right path, another NAR hash.
  r = client_->Get(absl::StrCat("/nar/", info.store_path().HashPart(), "-",
                                NixHash::Of(HashAlgo::kSha256, "x").DigestNixBase32(), ".nar"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Get("/nothing-here");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(BinaryCacheServerTest, RangesOfAnUncompressedNar) {
  std::string nar = TreeNar("a");
  PathInfo info = Add(*store_, Path("tree-a"), nar);
  Start();
  std::string url = "/" + GetNarInfo(info.store_path())->url;
  auto r = client_->Get(url, {{"Range", "bytes=100-4099"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, nar.substr(100, 4000));
  EXPECT_EQ(r->get_header_value("Content-Range"), absl::StrCat("bytes 100-4099/", nar.size()));
  r = client_->Get(url, {{"Range", absl::StrCat("bytes=", nar.size() - 10, "-")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, nar.substr(nar.size() - 10));
  r = client_->Get(url, {{"Range", "bytes=-7"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, nar.substr(nar.size() - 7));
  r = client_->Get(url, {{"Range", absl::StrCat("bytes=", nar.size(), "-")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 416);
}

TEST_F(BinaryCacheServerTest, RenderFailingMidStreamAbortsTheResponse) {
  auto faults = std::make_shared<castore::testing::FaultInjector>();
  auto inner = std::make_shared<castore::MemoryBlobService>();
  store_ = MemoryStore(castore::testing::FaultyBlobService(inner, faults));
  std::string nar = TreeNar("a");
  PathInfo info = Add(*store_, Path("tree-a"), nar);
  Start();
  std::string url = "/" + GetNarInfo(info.store_path())->url;
  faults->Set({.kind = castore::testing::FaultKind::kCorrupt});
  for (std::string ext : {"", ".zst", ".xz"}) {
    SCOPED_TRACE(ext);
    httplib::Client fresh("127.0.0.1", server_->port());
    auto r = fresh.Get(url + ext);
    // Either the transfer failed, or what came is no complete NAR.
    if (r) {
      EXPECT_NE(r->body, nar);
      if (ext.empty()) {
        EXPECT_LT(r->body.size(), nar.size());
      }
    }
  }
}

TEST_F(BinaryCacheServerTest, UploadedNarBoundByItsNarInfoBecomesAPath) {
  Start({.allow_upload = true});
  std::string nar = TreeNar("up");
  std::string xz = *Compress(Compression::kXz, nar);
  NixHash file_hash = NixHash::Of(HashAlgo::kSha256, xz);
  std::string url = absl::StrCat("nar/", file_hash.DigestNixBase32(), ".nar.xz");
  auto head = client_->Head("/" + url);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 404);
  auto put = client_->Put("/" + url, xz, "application/x-nix-nar");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  head = client_->Head("/" + url);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);

  NarInfo narinfo{.store_path = Path("uploaded"),
                  .url = url,
                  .compression = "xz",
                  .file_hash = file_hash,
                  .file_size = xz.size(),
                  .nar_hash = NixHash::Of(HashAlgo::kSha256, nar),
                  .nar_size = nar.size(),
                  .references = {Path("uploaded")}};
  auto uploader = SecretKey::Generate("uploader-1");
  narinfo.Sign(*uploader);
  put = client_->Put(absl::StrCat("/", narinfo.store_path.HashPart(), ".narinfo"), narinfo.Render(),
                     "text/x-nix-narinfo");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;

  auto added = store_->Get(narinfo.store_path);
  ASSERT_TRUE(added.ok() && added->has_value()) << added.status();
  EXPECT_EQ((*added)->signatures(), narinfo.signatures);
  EXPECT_EQ((*added)->references(), narinfo.references);
  auto root = store_->services().roots->Get(RootName(narinfo.store_path));
  ASSERT_TRUE(root.ok() && root->has_value());
  // Served back: the uploader's signature kept, the cache's added.
  auto served = GetNarInfo(narinfo.store_path);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->signatures.size(), 2u);
  auto r = client_->Get("/" + served->url);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, nar);
}

TEST_F(BinaryCacheServerTest, TamperedUploadsAreRefusedWith4xx) {
  Start({.allow_upload = true});
  std::string nar = TreeNar("t");
  std::string url =
      absl::StrCat("nar/", NixHash::Of(HashAlgo::kSha256, nar).DigestNixBase32(), ".nar");
  ASSERT_EQ(client_->Put("/" + url, nar, "application/x-nix-nar")->status, 200);
  NarInfo narinfo{.store_path = Path("tampered"),
                  .url = url,
                  .compression = "none",
                  .nar_hash = NixHash::Of(HashAlgo::kSha256, nar + "x"),
                  .nar_size = nar.size()};
  auto put = client_->Put(absl::StrCat("/", narinfo.store_path.HashPart(), ".narinfo"),
                          narinfo.Render(), "text/x-nix-narinfo");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 400);
  EXPECT_NE(put->body.find("do not match the uploaded NAR"), std::string::npos) << put->body;
  EXPECT_FALSE(store_->Get(narinfo.store_path)->has_value());

  // A narinfo whose NAR never came.
  narinfo.url = "nar/0000000000000000000000000000000000000000000000000000.nar";
  put = client_->Put(absl::StrCat("/", narinfo.store_path.HashPart(), ".narinfo"), narinfo.Render(),
                     "text/x-nix-narinfo");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 409) << put->body;

  // A NAR that is not one, and one cut short.
  httplib::Client c2("127.0.0.1", server_->port());
  put = c2.Put("/" + url, "not a NAR at all", "application/x-nix-nar");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 400);
  EXPECT_NE(put->body.find("NAR at offset"), std::string::npos) << put->body;
  httplib::Client c3("127.0.0.1", server_->port());
  put = c3.Put("/" + url, nar.substr(0, nar.size() / 2), "application/x-nix-nar");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 400);
}

TEST_F(BinaryCacheServerTest, UploadsAreRefusedUnlessAllowed) {
  Start();
  auto put = client_->Put("/nar/0000000000000000000000000000000000000000000000000000.nar", "x",
                          "application/x-nix-nar");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 403);
  httplib::Client c2("127.0.0.1", server_->port());
  auto post = c2.Post("/anything", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

// A connection that sends half a request and then nothing.
int StallingConnection(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string half = "GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(::write(fd, half.data(), half.size()), static_cast<ssize_t>(half.size()));
  return fd;
}

TEST_F(BinaryCacheServerTest, SlowClientsDoNotBlockOthersAndAreDisconnected) {
  std::string nar = TreeNar("a");
  PathInfo info = Add(*store_, Path("tree-a"), nar);
  Start({.threads = 4, .io_timeout = std::chrono::seconds(2)});
  const std::string url = "/" + GetNarInfo(info.store_path())->url;
  std::vector<int> stalled;
  for (int i = 0; i < 3; ++i) stalled.push_back(StallingConnection(server_->port()));
  // 3 of 4 threads are stuck on stalled clients; 8 clients at once share the
  // last one and are all served.
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", server_->port());
      auto r = c.Get(url);
      if (r && r->status == 200 && r->body == nar) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8);
  // The stalled ones are cut off after the io timeout (here: read returns
  // EOF long before the test's own 30 s bound).
  for (int fd : stalled) {
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    }
    EXPECT_EQ(n, 0) << "the server did not close a stalled connection";
    ::close(fd);
  }
}

class SubstituteTest : public BinaryCacheServerTest {
 protected:
  // B, and A referring to B (and itself), in the served store.
  void AddClosure() {
    b_ = Add(*store_, Path("lib-b"), TreeNar("b"));
    a_ = Add(*store_, Path("app-a"), TreeNar("a"), {Path("lib-b"), Path("app-a")});
  }

  std::string Rendered(NixStore& store, const StorePath& p) {
    auto info = store.Get(p);
    EXPECT_TRUE(info.ok() && info->has_value()) << p.ToAbsolutePath();
    if (!info.ok() || !info->has_value()) return "";
    StringSink out;
    EXPECT_TRUE(RenderNar(store.blobs(), store.directories(), (*info)->node(), out).ok());
    return out.Take();
  }

  std::optional<PathInfo> a_, b_;
};

TEST_F(SubstituteTest, CopiesTheClosureFromTheServerCheckingSignaturesAndHashes) {
  AddClosure();
  Start();
  auto cache = BinaryCache::Open(server_->url());
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto dest = MemoryStore();
  std::vector<std::string> order;
  SubstituteOptions options{.trusted_keys = {key_->public_key()}, .added = [&](const PathInfo& i) {
                              order.push_back(i.store_path().name());
                            }};
  auto stats = Substitute(**cache, *dest, {a_->store_path()}, options);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->paths_added, 2u);
  EXPECT_EQ(order, (std::vector<std::string>{"lib-b", "app-a"}));  // dependencies first
  EXPECT_EQ(Rendered(*dest, a_->store_path()), TreeNar("a"));
  EXPECT_EQ(Rendered(*dest, b_->store_path()), TreeNar("b"));
  auto copied = dest->Get(a_->store_path());
  EXPECT_EQ((*copied)->references(), a_->references());
  EXPECT_EQ((*copied)->signatures().size(), 1u);  // the cache's
  // A second copy finds them present.
  stats = Substitute(**cache, *dest, {a_->store_path()}, options);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->paths_added, 0u);
  EXPECT_EQ(stats->paths_present, 1u);
}

TEST_F(SubstituteTest, UnsignedOrUntrustedPathsAreRefusedUnlessChecksAreOff) {
  AddClosure();
  Start();
  auto cache = BinaryCache::Open(server_->url());
  ASSERT_TRUE(cache.ok());
  auto dest = MemoryStore();
  auto stranger = SecretKey::Generate("test-cache-1");  // the right name, another key
  auto stats =
      Substitute(**cache, *dest, {a_->store_path()}, {.trusted_keys = {stranger->public_key()}});
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kPermissionDenied) << stats.status();
  EXPECT_NE(stats.status().message().find("lacks a valid signature"), std::string::npos);
  EXPECT_FALSE(dest->Get(a_->store_path())->has_value());
  stats = Substitute(**cache, *dest, {a_->store_path()}, {.check_signatures = false});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->paths_added, 2u);
  auto missing = Substitute(**cache, *dest, {Path("absent")}, {.check_signatures = false});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST_F(SubstituteTest, FromAFileCacheCheckingFileAndNarHashes) {
  AddClosure();
  castore::testing::TempDir dir("file-cache");
  std::filesystem::create_directories(dir.path() + "/nar");
  auto write = [&](const std::string& rel, const std::string& data) {
    std::ofstream(dir.path() + "/" + rel, std::ios::binary) << data;
  };
  write("nix-cache-info", "StoreDir: /nix/store\n");
  for (const PathInfo* info : {&*a_, &*b_}) {
    std::string nar = Rendered(*store_, info->store_path());
    std::string xz = *Compress(Compression::kXz, nar);
    NixHash fh = NixHash::Of(HashAlgo::kSha256, xz);
    std::string url = absl::StrCat("nar/", fh.DigestNixBase32(), ".nar.xz");
    write(url, xz);
    NarInfo ni = info->ToNarInfo(url, "xz", fh, xz.size());
    ni.Sign(*SecretKey::Generate("unused"));
    write(absl::StrCat(info->store_path().HashPart(), ".narinfo"), ni.Render());
  }
  auto cache = BinaryCache::Open("file://" + dir.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto dest = MemoryStore();
  auto stats = Substitute(**cache, *dest, {a_->store_path()}, {.check_signatures = false});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(Rendered(*dest, a_->store_path()), TreeNar("a"));

  // The NAR file of B replaced: its FileHash (and NarHash) no longer match.
  auto narinfo = NarInfo::Parse(castore::testing::SlurpFile(
      absl::StrCat(dir.path(), "/", b_->store_path().HashPart(), ".narinfo")));
  ASSERT_TRUE(narinfo.ok());
  write(narinfo->url, *Compress(Compression::kXz, TreeNar("evil")));
  auto fresh = MemoryStore();
  stats = Substitute(**cache, *fresh, {b_->store_path()}, {.check_signatures = false});
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss) << stats.status();
  EXPECT_FALSE(fresh->Get(b_->store_path())->has_value());

  // A narinfo pointing outside the cache.
  narinfo->url = "../../etc/passwd";
  write(absl::StrCat(b_->store_path().HashPart(), ".narinfo"), narinfo->Render());
  stats = Substitute(**cache, *fresh, {b_->store_path()}, {.check_signatures = false});
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
}

}  // namespace
}  // namespace castor::nix
