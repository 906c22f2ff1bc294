// What the daemon's closure check costs a root Put (docs/gc.md): for a root
// already in a store, times castore::CheckClosureStored alone and a root Put
// of the same node (under another name) through an in-process daemon on a
// unix socket, against the daemon's store. Not part of ctest.
//
//   castor import --store /var/tmp/s --name share /usr/share
//   build/bench/root_put_bench /var/tmp/s share [ROUNDS]
//
// The first round runs with a cold page cache when the process may drop it
// (root); the others are warm.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "castore/composition.h"
#include "castore/maintenance/closure_check.h"
#include "castore/testing/temp_dir.h"
#include "rpc/channel.h"
#include "rpc/daemon.h"
#include "rpc/grpc_root_service.h"
#include "rpc/register.h"

namespace {

using namespace castor;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool DropCaches() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  f << "3\n";
  return static_cast<bool>(f);
}

int Run(const std::string& store, const std::string& root_name, int rounds) {
  rpc::RegisterGrpcSchemes();
  auto services = castore::OpenServices(castore::EmbeddedStoreAddresses(store));
  if (!services.ok()) {
    std::fprintf(stderr, "%s\n", std::string(services.status().message()).c_str());
    return 1;
  }
  auto name = castore::PathComponent::Create(root_name);
  auto root = name.ok() ? services->roots->Get(*name) : name.status();
  if (!root.ok() || !root->has_value()) {
    std::fprintf(stderr, "no root %s in %s\n", root_name.c_str(), store.c_str());
    return 1;
  }
  castore::testing::TempDir sock_dir("root-put-bench");
  auto daemon = rpc::Daemon::Start(
      *services, {*rpc::ListenAddress::Parse("unix://" + sock_dir.path() + "/s.sock")});
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", std::string(daemon.status().message()).c_str());
    return 1;
  }
  std::string addr = (*daemon)->client_addresses()[0];
  auto channel = rpc::OpenChannel(*castore::ServiceAddress::Parse(addr));
  rpc::GrpcRootService client(*channel, addr);
  castore::Entry copy = **root;
  copy.name = *castore::PathComponent::Create(root_name + "-bench-copy");

  std::printf("round\tcache\tcheck_s\troot_put_s\n");
  for (int r = 0; r < rounds; ++r) {
    const char* cache = r == 0 && DropCaches() ? "cold" : "warm";
    auto t = Clock::now();
    absl::Status check =
        castore::CheckClosureStored(*services->blobs, *services->directories, **root);
    double check_s = Since(t);
    if (r == 0 && std::string(cache) == "cold") DropCaches();
    t = Clock::now();
    absl::Status put = client.Put(copy);
    double put_s = Since(t);
    if (!check.ok() || !put.ok()) {
      std::fprintf(stderr, "check: %s\nput: %s\n", check.ToString().c_str(),
                   put.ToString().c_str());
      return 1;
    }
    std::printf("%d\t%s\t%.3f\t%.3f\n", r, cache, check_s, put_s);
  }
  (void)client.Remove(copy.name);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s STORE ROOT [ROUNDS]\n", argv[0]);
    return 2;
  }
  return Run(argv[1], argv[2], argc > 3 ? std::atoi(argv[3]) : 5);
}
