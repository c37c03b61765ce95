// Gzip decompression for layer unpacking (inflate.cc).
#pragma once

#include <napi.h>

namespace berth {

// Adds `Inflater` (a class) and `inflaterAvailable()` to the addon's exports.
void InitInflate(Napi::Env env, Napi::Object exports);

}  // namespace berth
