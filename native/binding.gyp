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
        "csrc/inflate.cc",
        "csrc/resolve.cc"
      ],
      # node-addon-api with C++ exceptions: a failed syscall throws a Napi::Error straight from
      # the helper that saw it, so no call site can forget to check. Its headers are included
      # directly rather than through its .gyp targets: gyp would write those targets' makefiles
      # into node_modules/, where any `npm install` may prune them and break the next build.
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE" ],
      "cflags!": [ "-fno-exceptions" ],
      "cflags_cc!": [ "-fno-exceptions" ],
      "cflags_cc": [ "-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers" ]
    },
    {
      "target_name": "berth-shim",
      "type": "executable",
      "sources": [ "shim/shim.c" ],
      "libraries": [ "-lseccomp" ],
      # Static: the shim stays on as each container's monitor; without shared libc and
      # libseccomp mappings its idle RSS is ~750 KiB instead of ~1.3 MiB, and it execs faster.
      "ldflags": [ "-static" ],
      "cflags": [ "-Wall", "-Wextra" ],
      "cflags_c": [ "-std=gnu11" ]
    }
  ]
}
