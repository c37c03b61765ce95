# The native build of @berth/native (node-gyp). Two targets:
#   berth_native  the addon: synchronous, non-forking syscalls behind the Sys interface (C++, node-addon-api)
#   berth-shim    the single-threaded helper that clones, pivots and execs containers (C; its sources
#                 list belongs to the runtime)
{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": [
        "csrc/addon.cc",
        "csrc/resolve.cc"
      ],
      # node-addon-api with C++ exceptions: a failed syscall throws a Napi::Error straight from
      # the helper that saw it, so no call site can forget to check.
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": [ "NAPI_VERSION=8", "_GNU_SOURCE" ],
      "cflags_cc": [ "-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers" ]
    },
    {
      "target_name": "berth-shim",
      "type": "executable",
      "sources": [ "shim/shim.c" ],
      "libraries": [ "-lseccomp" ],
      "cflags": [ "-Wall", "-Wextra" ],
      "cflags_c": [ "-std=gnu11" ]
    }
  ]
}
