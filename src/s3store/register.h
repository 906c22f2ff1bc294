// Registers the object-storage backends with castore's address registry:
// `s3://BUCKET[/PREFIX]?endpoint=URL&region=R` for blob, directory and root
// services, and for Nix path infos (nix/pathinfo/composition.h). Credentials come from
// the environment or the shared credentials file (s3/credentials.h). Call
// once at start-up, before threads (idempotent).
#pragma once

#include "absl/status/statusor.h"
#include "s3/s3_client.h"

namespace castor::s3store {

void RegisterS3Schemes();

// The client options a store uses: bounded retries, so that a read against
// an endpoint that stopped answering fails (EIO in a mount) instead of
// hanging.
s3::S3ClientOptions StoreClientOptions();

}  // namespace castor::s3store
