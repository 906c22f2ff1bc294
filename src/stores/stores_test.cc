#include "stores/stores.h"

#include <cstdlib>
#include <string>

#include "castore/digest.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "rpc/testing.h"

namespace castor::stores {
namespace {

// No test here registers a scheme: opening through stores:: must be enough.

TEST(StoresTest, GrpcAddressesOpenWithoutRegisteringAnything) {
  rpc::testing::LocalDaemon daemon;
  castore::StoreAddresses addrs{daemon.address(), daemon.address(), daemon.address()};
  auto services = stores::OpenServices(addrs);
  ASSERT_TRUE(services.ok()) << services.status();
  // The clients talk to the daemon: a blob put through them is in its backing store.
  auto writer = services->blobs->OpenWrite();
  ASSERT_TRUE(writer.ok()) << writer.status();
  const std::string data = "served through grpc+unix";
  ASSERT_TRUE((*writer)->Write({reinterpret_cast<const uint8_t*>(data.data()), data.size()}).ok());
  auto digest = (*writer)->Close();
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, castore::B3Digest::Of(std::string_view(data)));
  auto has = daemon.backing().blobs->Has(*digest);
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_TRUE(*has);

  auto blobs = stores::OpenBlobService(daemon.address());
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  auto again = (*blobs)->Has(*digest);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again);
}

TEST(StoresTest, EveryBackendsSchemeIsKnown) {
  // s3:// opens (with credentials) without contacting the endpoint; an
  // unknown scheme is refused naming the address.
  ::setenv("AWS_ACCESS_KEY_ID", "test-key", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
  auto s3 = stores::OpenBlobService("s3://bucket/prefix?endpoint=http://127.0.0.1:9");
  EXPECT_TRUE(s3.ok()) << s3.status();
  auto infos = stores::OpenPathInfoService("grpc+unix:///nonexistent/castor.sock");
  EXPECT_TRUE(infos.ok()) << infos.status();
  auto unknown = stores::OpenBlobService("nosuch://x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("nosuch://x"), std::string::npos) << unknown.status();
}

TEST(StoresTest, EmbeddedStoreOpens) {
  castore::testing::TempDir dir("stores");
  auto services = stores::OpenServices(castore::EmbeddedStoreAddresses(dir.path() + "/store"));
  ASSERT_TRUE(services.ok()) << services.status();
  auto infos = stores::OpenPathInfoService("lmdb://" + dir.path() + "/store/meta");
  EXPECT_TRUE(infos.ok()) << infos.status();
}

}  // namespace
}  // namespace castor::stores
