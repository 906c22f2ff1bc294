// Forwarding header: castor::Mutex lives in base/mutex.h. It stays only while
// the S3 and Nix branches written against this path are open; it goes once
// they have merged and include base/mutex.h.
#pragma once

#include "base/mutex.h"
