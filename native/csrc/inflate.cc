// Gzip decompression on the calling thread, for layer unpacking (see native/src/inflate.ts).
//
// Node's zlib streams decompress on the thread pool, into a fresh buffer per output chunk, and
// always compute the gzip CRC-32. An unpack worker already runs on a thread of its own, reads
// each chunk before it asks for the next (so one output buffer serves the whole layer), and
// checks the layer's sha256 diffID, which makes the CRC-32 redundant: zlib's inflateValidate()
// turns it off (~0.5 ms per MiB of tar on this machine).
//
// zlib itself is Node's (Node exports it for addons). Its functions are looked up with dlsym
// when the first inflater is made, not linked: a Node built without them still loads this addon,
// and `inflaterAvailable()` says false, so the caller keeps using node:zlib.
//
// Gzip members follow each other as in `cat a.gz b.gz` (RFC 1952 §2.2); after the last one, bytes
// that do not begin another member are ignored, as node:zlib and GNU gzip ignore them.
#include <dlfcn.h>
#include <napi.h>
#include <zlib.h>

#include <cstring>
#include <string>

#include "inflate.h"

namespace berth {
namespace {

struct ZlibApi {
  int (*inflateInit2_)(z_streamp, int, const char*, int) = nullptr;
  int (*inflate)(z_streamp, int) = nullptr;
  int (*inflateEnd)(z_streamp) = nullptr;
  int (*inflateReset)(z_streamp) = nullptr;
  int (*inflateValidate)(z_streamp, int) = nullptr;
  bool ok = false;
};

const ZlibApi& Zlib() {
  static const ZlibApi api = [] {
    ZlibApi a;
    a.inflateInit2_ = reinterpret_cast<decltype(a.inflateInit2_)>(dlsym(RTLD_DEFAULT, "inflateInit2_"));
    a.inflate = reinterpret_cast<decltype(a.inflate)>(dlsym(RTLD_DEFAULT, "inflate"));
    a.inflateEnd = reinterpret_cast<decltype(a.inflateEnd)>(dlsym(RTLD_DEFAULT, "inflateEnd"));
    a.inflateReset = reinterpret_cast<decltype(a.inflateReset)>(dlsym(RTLD_DEFAULT, "inflateReset"));
    a.inflateValidate = reinterpret_cast<decltype(a.inflateValidate)>(dlsym(RTLD_DEFAULT, "inflateValidate"));
    a.ok = a.inflateInit2_ && a.inflate && a.inflateEnd && a.inflateReset && a.inflateValidate;
    return a;
  }();
  return api;
}

// One gzip stream. JS calls run(input, offset, output) until it returns less than output's
// length (the input is used up), reading `consumed` after each call; then end() at the end of
// the source, which throws when the stream stopped inside a member.
class Inflater : public Napi::ObjectWrap<Inflater> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Inflater", {
      InstanceMethod<&Inflater::Run>("run"),
      InstanceMethod<&Inflater::End>("end"),
      InstanceMethod<&Inflater::Close>("close"),
    });
  }

  explicit Inflater(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Inflater>(info) {
    const ZlibApi& z = Zlib();
    if (!z.ok) throw Napi::Error::New(info.Env(), "inflater: zlib is not available in this Node");
    bool check = info.Length() > 0 && info[0].ToBoolean().Value();
    std::memset(&zs_, 0, sizeof zs_);
    // 16 + 15: a gzip wrapper, the largest window.
    if (z.inflateInit2_(&zs_, 16 + 15, ZLIB_VERSION, static_cast<int>(sizeof zs_)) != Z_OK) {
      throw Napi::Error::New(info.Env(), "inflater: zlib could not be initialised");
    }
    live_ = true;
    check_ = check;
    if (!check_) z.inflateValidate(&zs_, 0);
  }

  ~Inflater() override { Release(); }

 private:
  enum class State { kMember, kBetween, kTrailing };

  void Release() {
    if (live_) Zlib().inflateEnd(&zs_);
    live_ = false;
  }

  // run(input: Uint8Array, offset: number, output: Uint8Array) → bytes written to output.
  // The offset reached in input is returned through `consumed` (a property set on this).
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!live_) throw Napi::Error::New(env, "inflater: already closed");
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsTypedArray()) {
      throw Napi::TypeError::New(env, "inflater.run(input, offset, output)");
    }
    Napi::Uint8Array in = info[0].As<Napi::Uint8Array>();
    Napi::Uint8Array out = info[2].As<Napi::Uint8Array>();
    size_t off = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    size_t inLen = in.ByteLength();
    if (off > inLen) throw Napi::RangeError::New(env, "inflater.run: offset past the input");
    const ZlibApi& z = Zlib();
    uint8_t* inData = in.Data();
    size_t produced = 0;
    size_t outLen = out.ByteLength();
    while (produced < outLen) {
      if (state_ == State::kTrailing) { off = inLen; break; }
      if (state_ == State::kBetween) {
        if (off >= inLen) break;
        // Another member must begin with the gzip magic; anything else ends the stream.
        if (inData[off] != 0x1f) { state_ = State::kTrailing; continue; }
        z.inflateReset(&zs_);
        if (!check_) z.inflateValidate(&zs_, 0);
        state_ = State::kMember;
      }
      // With no input left zlib may still hold output (the last call filled the buffer): it
      // flushes that, or answers Z_BUF_ERROR.
      zs_.next_in = inData + off;
      zs_.avail_in = static_cast<uInt>(inLen - off);
      zs_.next_out = out.Data() + produced;
      zs_.avail_out = static_cast<uInt>(outLen - produced);
      int r = z.inflate(&zs_, Z_NO_FLUSH);
      size_t used = (inLen - off) - zs_.avail_in;
      size_t made = (outLen - produced) - zs_.avail_out;
      off += used;
      produced += made;
      if (r == Z_STREAM_END) {
        state_ = State::kBetween;
        continue;
      }
      if (r == Z_BUF_ERROR || (r == Z_OK && used == 0 && made == 0)) break;  // needs more input
      if (r != Z_OK) {
        const char* msg = zs_.msg != nullptr ? zs_.msg : "corrupt data";
        throw Napi::Error::New(env, std::string("gzip: ") + msg);
      }
    }
    Value().Set("consumed", Napi::Number::New(env, static_cast<double>(off)));
    return Napi::Number::New(env, static_cast<double>(produced));
  }

  // end(): the source ended; throws when it ended inside a member (a truncated stream).
  Napi::Value End(const Napi::CallbackInfo& info) {
    bool whole = state_ != State::kMember;
    Release();
    if (!whole) throw Napi::Error::New(info.Env(), "gzip: unexpected end of file");
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  z_stream zs_;
  bool live_ = false;
  bool check_ = true;
  State state_ = State::kMember;
};

}  // namespace

void InitInflate(Napi::Env env, Napi::Object exports) {
  exports.Set("Inflater", Inflater::Define(env));
  exports.Set("inflaterAvailable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), Zlib().ok);
  }, "inflaterAvailable"));
}

}  // namespace berth
