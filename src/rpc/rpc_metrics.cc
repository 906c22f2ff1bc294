#include "rpc/rpc_metrics.h"

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "base/metrics.h"
#include "base/mutex.h"
#include "google/protobuf/descriptor.h"

namespace castor::rpc {
namespace {

using Clock = std::chrono::steady_clock;
using grpc::experimental::InterceptionHookPoints;

constexpr std::string_view kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::string_view CodeName(grpc::StatusCode code) {
  auto i = static_cast<size_t>(code);
  return i < std::size(kCodeNames) ? kCodeNames[i] : "UNKNOWN";
}

// "/pkg.Service/Method" when that method is castor's own, "other" otherwise.
std::string MethodLabel(std::string_view method) {
  if (method.size() < 4 || method.front() != '/') return "other";
  size_t slash = method.find('/', 1);
  if (slash == std::string_view::npos) return "other";
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(method.substr(1, slash - 1)));
  if (service == nullptr ||
      service->FindMethodByName(std::string(method.substr(slash + 1))) == nullptr) {
    return "other";
  }
  return std::string(method);
}

// One side's (server or client) metrics per method label, looked up once
// per method name and cached (at most kMaxNames names; calls to further
// names, which only a client making names up can send, count as "other").
class MethodMetrics {
 public:
  struct PerMethod {
    std::string label;
    metrics::Counter* started;
    metrics::Histogram* seconds;
  };

  MethodMetrics(std::string_view side, std::string_view what)
      : started_(metrics::Registry::Default().AddCounterFamily(
            "castor_grpc_" + std::string(side) + "_started_total",
            "gRPC calls started " + std::string(what) + ", by method.", {"method"})),
        handled_(metrics::Registry::Default().AddCounterFamily(
            "castor_grpc_" + std::string(side) + "_handled_total",
            "gRPC calls completed " + std::string(what) + ", by method and status code.",
            {"method", "code"})),
        seconds_(metrics::Registry::Default().AddHistogramFamily(
            "castor_grpc_" + std::string(side) + "_handling_seconds",
            "Duration of gRPC calls " + std::string(what) + ", by method.", {"method"},
            metrics::LatencyBuckets())),
        other_{"other", &started_.WithLabels({"other"}), &seconds_.WithLabels({"other"})} {}

  const PerMethod& For(const char* method) {
    std::string_view name = method == nullptr ? std::string_view() : std::string_view(method);
    {
      MutexLock lock(&mu_);
      auto it = cache_.find(name);
      if (it != cache_.end()) return *it->second;
    }
    auto made = std::make_unique<PerMethod>();
    made->label = MethodLabel(name);
    made->started = &started_.WithLabels({made->label});
    made->seconds = &seconds_.WithLabels({made->label});
    MutexLock lock(&mu_);
    // Made-up names beyond the bound are not remembered: they are "other".
    if (cache_.size() >= kMaxNames) return other_;
    auto [it, inserted] = cache_.emplace(std::string(name), std::move(made));
    return *it->second;
  }

  void Handled(const PerMethod& m, grpc::StatusCode code, Clock::time_point start) {
    handled_.WithLabels({m.label, std::string(CodeName(code))}).Inc();
    m.seconds->Observe(metrics::SecondsSince(start));
  }

 private:
  static constexpr size_t kMaxNames = 256;
  metrics::CounterFamily& started_;
  metrics::CounterFamily& handled_;
  metrics::HistogramFamily& seconds_;
  Mutex mu_;
  std::map<std::string, std::unique_ptr<PerMethod>, std::less<>> cache_ ABSL_GUARDED_BY(mu_);
  const PerMethod other_;
};

MethodMetrics& ServerMetrics() {
  static MethodMetrics* m = new MethodMetrics("server", "by the daemon");
  return *m;
}

MethodMetrics& ClientMetrics() {
  static MethodMetrics* m = new MethodMetrics("client", "by castor to a remote store");
  return *m;
}

class ServerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit ServerInterceptor(grpc::experimental::ServerRpcInfo* info)
      : start_(Clock::now()), method_(ServerMetrics().For(info->method())) {
    method_.started->Inc();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      ServerMetrics().Handled(method_, methods->GetSendStatus().error_code(), start_);
    }
    methods->Proceed();
  }

 private:
  const Clock::time_point start_;
  const MethodMetrics::PerMethod& method_;
};

class ServerFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // gRPC's own health service runs on the callback API, whose calls move
    // between gRPC's threads through its (uninstrumented) completion queue:
    // not intercepted, so no code of ours runs on those threads (TSan saw
    // an interceptor there race with gRPC's setup of the call). Health
    // checks are not castor's work; they are not counted.
    if (std::string_view(info->method()).starts_with("/grpc.health.v1.Health/")) return nullptr;
    return new ServerInterceptor(info);  // gRPC owns interceptors
  }
};

class ClientInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit ClientInterceptor(grpc::experimental::ClientRpcInfo* info)
      : start_(Clock::now()), method_(ClientMetrics().For(info->method())) {
    method_.started->Inc();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      ClientMetrics().Handled(method_, status ? status->error_code() : grpc::StatusCode::UNKNOWN,
                              start_);
    }
    methods->Proceed();
  }

 private:
  const Clock::time_point start_;
  const MethodMetrics::PerMethod& method_;
};

class ClientFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new ClientInterceptor(info);
  }
};

}  // namespace

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ServerMetricsInterceptors() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
  v.push_back(std::make_unique<ServerFactory>());
  return v;
}

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ClientMetricsInterceptors() {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> v;
  v.push_back(std::make_unique<ClientFactory>());
  return v;
}

}  // namespace castor::rpc
