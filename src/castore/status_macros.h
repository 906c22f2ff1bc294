// Forwarding header: the status helpers live in base/status.h (which also
// keeps the old names AV and SV for now). It stays only while the S3 and Nix
// branches written against this path are open; it goes once they have merged
// and include base/status.h.
#pragma once

#include "base/status.h"
