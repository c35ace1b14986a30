// planctl's CPU library GEMM route: D = A . W (+ bias) (+ C) in float32 through OpenBLAS's sgemm,
// called from a Relax module with R.call_dps_packed (planctl/lowering/cpu_library.py writes those calls).
//
// Row-major shapes: A [..., K] (leading dims flattened to M), W [K, N], bias [N], C and D [..., N].
// The work is split by columns of W over TVM's own thread pool (TVMBackendParallelLaunch: the
// threads the rest of the module runs on, TVM_NUM_THREADS), each task calling a single-threaded
// sgemm on its block: no second thread pool competes with TVM's spinning workers for the cores.
// The epilogue is folded into sgemm: D's block is first filled with the bias (and C), then
// sgemm accumulates into it with beta = 1.
//
// OpenBLAS is opened with dlopen at the first call, from the scipy-openblas32 wheel (its symbols carry
// the scipy_ prefix, so it never shares state with numpy's own OpenBLAS): PLANCTL_OPENBLAS, the path
// seen at build time, then the soname. Its own threading is set to 1 thread once, when opened.
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#ifndef PLANCTL_OPENBLAS_BUILD_PATH
#define PLANCTL_OPENBLAS_BUILD_PATH ""
#endif

extern "C" {
// TVM's thread pool (tvm/runtime/c_backend_api.h), exported by libtvm_runtime in every process that
// runs a Relax module
typedef struct {
  void* sync_handle;
  int32_t num_task;
} TVMParallelGroupEnv;
typedef int (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv* penv, void* cdata);
int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void* cdata, int num_task);
}

namespace {

using tvm::ffi::TensorView;

constexpr int kRowMajor = 101;  // CblasRowMajor
constexpr int kNoTrans = 111;   // CblasNoTrans
constexpr int64_t kColumnBlock = 16;  // split N at multiples of 16 columns (two AVX-512 or AVX2 rows)

using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                         float*, int);
using SetThreadsFn = void (*)(int);

struct Library {
  SgemmFn sgemm = nullptr;
  std::string path;
};

const Library& Load() {
  static Library lib;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    const char* env = std::getenv("PLANCTL_OPENBLAS");
    for (const char* name : {env, PLANCTL_OPENBLAS_BUILD_PATH, "libscipy_openblas.so"}) {
      if (name == nullptr || *name == '\0') continue;
      void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        tried += std::string(tried.empty() ? "" : ", ") + name;
        continue;
      }
      lib.sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "scipy_cblas_sgemm"));
      auto set_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "scipy_openblas_set_num_threads"));
      if (lib.sgemm == nullptr || set_threads == nullptr) continue;
      set_threads(1);
      lib.path = name;
      return;
    }
    lib.path = "not found (tried " + tried + ")";
  });
  if (lib.sgemm == nullptr) {
    TVM_FFI_THROW(RuntimeError) << "planctl's BLAS route cannot open OpenBLAS: " << lib.path
                                << "; install the scipy-openblas32 wheel or set PLANCTL_OPENBLAS";
  }
  return lib;
}

struct Problem {
  const float* a;
  const float* w;
  const float* bias;
  const float* c;
  float* d;
  int64_t m, n, k;
  SgemmFn sgemm;
};

int RunBlock(int task_id, TVMParallelGroupEnv* env, void* data) {
  const Problem& p = *static_cast<const Problem*>(data);
  int64_t blocks = (p.n + kColumnBlock - 1) / kColumnBlock;
  int64_t tasks = std::max<int64_t>(env->num_task, 1);
  int64_t first = blocks * task_id / tasks * kColumnBlock;
  int64_t last = std::min(p.n, blocks * (task_id + 1) / tasks * kColumnBlock);
  if (first >= last) return 0;
  int64_t width = last - first;
  float beta = 0.0f;
  if (p.bias != nullptr || p.c != nullptr) {
    for (int64_t row = 0; row < p.m; ++row) {
      float* out = p.d + row * p.n + first;
      const float* res = p.c != nullptr ? p.c + row * p.n + first : nullptr;
      for (int64_t j = 0; j < width; ++j) {
        out[j] = (p.bias != nullptr ? p.bias[first + j] : 0.0f) + (res != nullptr ? res[j] : 0.0f);
      }
    }
    beta = 1.0f;
  }
  p.sgemm(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(p.m), static_cast<int>(width), static_cast<int>(p.k),
          1.0f, p.a, static_cast<int>(p.k), p.w + first, static_cast<int>(p.n), beta, p.d + first,
          static_cast<int>(p.n));
  return 0;
}

void CheckFloat32(const TensorView& t, const char* name) {
  if (t.dtype().code != kDLFloat || t.dtype().bits != 32 || t.dtype().lanes != 1) {
    TVM_FFI_THROW(TypeError) << "BLAS route: " << name << " must be float32";
  }
  if (!t.IsContiguous() || t.device().device_type != kDLCPU) {
    TVM_FFI_THROW(ValueError) << "BLAS route: " << name << " must be a contiguous CPU tensor";
  }
}

void Gemm(TensorView a, TensorView w, const TensorView* bias, const TensorView* c, TensorView d) {
  for (auto [t, name] : {std::pair{&a, "A"}, {&w, "W"}, {&d, "D"}}) CheckFloat32(*t, name);
  if (w.ndim() != 2) TVM_FFI_THROW(ValueError) << "BLAS route: W must be 2-D [K, N]";
  int64_t k = w.size(0), n = w.size(1);
  int64_t m = k > 0 ? a.numel() / k : 0;
  if (a.size(a.ndim() - 1) != k || d.numel() != m * n) {
    TVM_FFI_THROW(ValueError) << "BLAS route: shapes do not agree (M=" << m << " K=" << k << " N=" << n << ")";
  }
  if (bias != nullptr) {
    CheckFloat32(*bias, "bias");
    if (bias->numel() != n) TVM_FFI_THROW(ValueError) << "BLAS route: bias must have N elements";
  }
  if (c != nullptr) {
    CheckFloat32(*c, "C");
    if (c->numel() != m * n) TVM_FFI_THROW(ValueError) << "BLAS route: C must have D's shape";
  }
  Problem p{static_cast<const float*>(a.data_ptr()), static_cast<const float*>(w.data_ptr()),
            bias != nullptr ? static_cast<const float*>(bias->data_ptr()) : nullptr,
            c != nullptr ? static_cast<const float*>(c->data_ptr()) : nullptr, static_cast<float*>(d.data_ptr()),
            m, n, k, Load().sgemm};
  if (TVMBackendParallelLaunch(RunBlock, &p, 0) != 0) TVM_FFI_THROW(RuntimeError) << "BLAS route: parallel launch failed";
}

void GemmPlain(TensorView a, TensorView w, TensorView d) { Gemm(a, w, nullptr, nullptr, d); }
void GemmBias(TensorView a, TensorView w, TensorView bias, TensorView d) { Gemm(a, w, &bias, nullptr, d); }
void GemmResidual(TensorView a, TensorView w, TensorView c, TensorView d) { Gemm(a, w, nullptr, &c, d); }
void GemmBiasResidual(TensorView a, TensorView w, TensorView bias, TensorView c, TensorView d) {
  Gemm(a, w, &bias, &c, d);
}
// Where OpenBLAS was opened from (opening it if needed): for the report.
tvm::ffi::String LibraryPath() {
  try {
    return Load().path;
  } catch (...) {
    return "not found";
  }
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_blas_gemm, GemmPlain);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_blas_gemm_bias, GemmBias);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_blas_gemm_residual, GemmResidual);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_blas_gemm_bias_residual, GemmBiasResidual);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_blas_library_path, LibraryPath);
