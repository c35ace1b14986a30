// planctl's library GEMM route: D = A . W (+ bias) (+ C) through cuBLASLt, called from a Relax
// module with R.call_dps_packed (planctl/lowering/cuda_library.py writes those calls).
//
// Row-major shapes: A [..., K] (leading dims flattened to M), W [K, N], bias [N], C and D [..., N].
// Epilogues: bias, residual (C, beta = 1), and GELU after the bias in cuBLASLt's tanh form
// (CUBLASLT_EPILOGUE_GELU[_BIAS]; only when the plan asks for it).
// dtypes: A and W float16 with C, D and bias float16 or float32, or all float32; always fp32
// accumulation (CUBLAS_COMPUTE_32F: no TF32). The last argument is a uint8 workspace tensor that
// Relax allocates like any output, so nothing is allocated here and CUDA graph capture stays valid.
//
// cuBLASLt is opened with dlopen at the first call: the artifact links no CUDA library, builds on a
// machine without the CUDA toolkit, and finds libcublasLt where the process can (PLANCTL_CUBLASLT,
// the path seen at build time, then the sonames). The declarations below are the subset of
// cublasLt.h (CUDA 12 and 13 share them) that this file uses.
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#ifndef PLANCTL_CUBLASLT_BUILD_PATH
#define PLANCTL_CUBLASLT_BUILD_PATH ""
#endif

namespace {

using tvm::ffi::TensorView;

// ---- the subset of cublasLt.h used here (values checked against CUDA 13.1's header)
using Status = int;
using Handle = void*;
using MatmulDesc = void*;
using Layout = void*;
using Preference = void*;
struct Algo { uint64_t data[8]; };
struct Heuristic { Algo algo; size_t workspace_size; Status state; float waves_count; int reserved[4]; };
constexpr int kComputeF32 = 68;        // CUBLAS_COMPUTE_32F
constexpr int kDataF32 = 0;            // CUDA_R_32F
constexpr int kDataF16 = 2;            // CUDA_R_16F
constexpr int kDescTransA = 3;         // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;         // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kDescEpilogue = 7;       // CUBLASLT_MATMUL_DESC_EPILOGUE
constexpr int kDescBiasPointer = 8;    // CUBLASLT_MATMUL_DESC_BIAS_POINTER
constexpr int kDescBiasDataType = 26;  // CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE
constexpr uint32_t kEpilogueDefault = 1;  // CUBLASLT_EPILOGUE_DEFAULT
constexpr uint32_t kEpilogueBias = 4;     // CUBLASLT_EPILOGUE_BIAS
constexpr uint32_t kEpilogueGelu = 32;    // CUBLASLT_EPILOGUE_GELU
constexpr uint32_t kEpilogueGeluBias = 36;  // CUBLASLT_EPILOGUE_GELU_BIAS
constexpr int kPrefMaxWorkspace = 1;      // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kOpN = 0;                   // CUBLAS_OP_N

struct Api {
  Status (*create)(Handle*);
  Status (*desc_create)(MatmulDesc*, int, int);
  Status (*desc_set)(MatmulDesc, int, const void*, size_t);
  Status (*layout_create)(Layout*, int, uint64_t, uint64_t, int64_t);
  Status (*pref_create)(Preference*);
  Status (*pref_set)(Preference, int, const void*, size_t);
  Status (*heuristic)(Handle, MatmulDesc, Layout, Layout, Layout, Layout, Preference, int, Heuristic*, int*);
  Status (*matmul)(Handle, MatmulDesc, const void*, const void*, Layout, const void*, Layout, const void*,
                   const void*, Layout, void*, Layout, const Algo*, void*, size_t, void*);
  std::string path;
};

template <typename F>
void Resolve(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (*out == nullptr) TVM_FFI_THROW(RuntimeError) << "cuBLASLt at " << name << ": symbol missing";
}

const Api& Load() {
  static Api api = [] {
    Api a{};
    const char* env = std::getenv("PLANCTL_CUBLASLT");
    const char* candidates[] = {env ? env : "", PLANCTL_CUBLASLT_BUILD_PATH, "libcublasLt.so.13",
                                "libcublasLt.so.12", "libcublasLt.so"};
    void* lib = nullptr;
    for (const char* c : candidates) {
      if (c[0] != '\0' && (lib = dlopen(c, RTLD_NOW | RTLD_GLOBAL)) != nullptr) {
        a.path = c;
        break;
      }
    }
    if (lib == nullptr) {
      TVM_FFI_THROW(RuntimeError) << "planctl's cuBLASLt route cannot open libcublasLt (tried "
                                  << "PLANCTL_CUBLASLT, '" << PLANCTL_CUBLASLT_BUILD_PATH
                                  << "', libcublasLt.so.13/.12): set PLANCTL_CUBLASLT to its path";
    }
    Resolve(lib, "cublasLtCreate", &a.create);
    Resolve(lib, "cublasLtMatmulDescCreate", &a.desc_create);
    Resolve(lib, "cublasLtMatmulDescSetAttribute", &a.desc_set);
    Resolve(lib, "cublasLtMatrixLayoutCreate", &a.layout_create);
    Resolve(lib, "cublasLtMatmulPreferenceCreate", &a.pref_create);
    Resolve(lib, "cublasLtMatmulPreferenceSetAttribute", &a.pref_set);
    Resolve(lib, "cublasLtMatmulAlgoGetHeuristic", &a.heuristic);
    Resolve(lib, "cublasLtMatmul", &a.matmul);
    return a;
  }();
  return api;
}

void Check(Status s, const char* what) {
  if (s != 0) TVM_FFI_THROW(RuntimeError) << "cuBLASLt " << what << " failed with status " << s;
}

int DataType(const DLDataType& t, const char* arg) {
  if (t.code == kDLFloat && t.bits == 16 && t.lanes == 1) return kDataF16;
  if (t.code == kDLFloat && t.bits == 32 && t.lanes == 1) return kDataF32;
  TVM_FFI_THROW(TypeError) << "cuBLASLt route: " << arg << " must be float16 or float32";
  return -1;
}

// One descriptor set, heuristic choice and handle per problem; made once, reused by every call.
struct Plan {
  MatmulDesc desc;
  Layout a, b, c, d;
  Algo algo;
  size_t workspace;
};

using Key = std::tuple<int, int, int, int64_t, int64_t, int64_t, bool, bool, size_t, bool>;

Handle HandleFor(int device) {
  static std::mutex mu;
  static std::map<int, Handle> handles;
  std::lock_guard<std::mutex> lock(mu);
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  Handle h = nullptr;
  Check(Load().create(&h), "create");
  handles[device] = h;
  return h;
}

const Plan& PlanFor(Handle handle, const Key& key) {
  static std::mutex mu;
  static std::map<Key, Plan> plans;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  const Api& api = Load();
  auto [ab, cd, bias_type, m, n, k, has_bias, has_c, ws, gelu] = key;
  Plan p{};
  Check(api.desc_create(&p.desc, kComputeF32, kDataF32), "MatmulDescCreate");
  int op = kOpN;
  Check(api.desc_set(p.desc, kDescTransA, &op, sizeof(op)), "TRANSA");
  Check(api.desc_set(p.desc, kDescTransB, &op, sizeof(op)), "TRANSB");
  uint32_t epilogue = gelu ? (has_bias ? kEpilogueGeluBias : kEpilogueGelu) : (has_bias ? kEpilogueBias : kEpilogueDefault);
  Check(api.desc_set(p.desc, kDescEpilogue, &epilogue, sizeof(epilogue)), "EPILOGUE");
  if (has_bias) Check(api.desc_set(p.desc, kDescBiasDataType, &bias_type, sizeof(bias_type)), "BIAS_DATA_TYPE");
  // column-major view of the row-major problem: D^T [N, M] = W^T [N, K] . A^T [K, M]
  Check(api.layout_create(&p.a, ab, n, k, n), "layout W");
  Check(api.layout_create(&p.b, ab, k, m, k), "layout A");
  Check(api.layout_create(&p.c, cd, n, m, n), "layout C");
  Check(api.layout_create(&p.d, cd, n, m, n), "layout D");
  Preference pref = nullptr;
  Check(api.pref_create(&pref), "PreferenceCreate");
  Check(api.pref_set(pref, kPrefMaxWorkspace, &ws, sizeof(ws)), "PREF_MAX_WORKSPACE_BYTES");
  Heuristic result{};
  int found = 0;
  Check(api.heuristic(handle, p.desc, p.a, p.b, p.c, p.d, pref, 1, &result, &found), "AlgoGetHeuristic");
  if (found == 0) {
    TVM_FFI_THROW(RuntimeError) << "cuBLASLt has no algorithm for M=" << m << " N=" << n << " K=" << k;
  }
  p.algo = result.algo;
  p.workspace = result.workspace_size;
  return plans.emplace(key, p).first->second;
}

int64_t Rows(const TensorView& t) { return t.numel() / t.size(t.ndim() - 1); }

void Gemm(TensorView a, TensorView w, const TensorView* bias, const TensorView* c, TensorView d,
          TensorView workspace, bool gelu = false) {
  if (w.ndim() != 2) TVM_FFI_THROW(ValueError) << "cuBLASLt route: W must be 2-D [K, N]";
  int64_t k = w.size(0), n = w.size(1), m = Rows(a);
  if (a.size(a.ndim() - 1) != k || d.size(d.ndim() - 1) != n || Rows(d) != m) {
    TVM_FFI_THROW(ValueError) << "cuBLASLt route: shapes do not agree (M=" << m << " K=" << k << " N=" << n << ")";
  }
  for (const TensorView* t : {&a, &w, &d}) {
    if (!t->IsContiguous() || t->device().device_type != kDLCUDA) {
      TVM_FFI_THROW(ValueError) << "cuBLASLt route: operands must be contiguous CUDA tensors";
    }
  }
  int ab = DataType(a.dtype(), "A");
  if (DataType(w.dtype(), "W") != ab) TVM_FFI_THROW(TypeError) << "cuBLASLt route: A and W dtypes differ";
  int cd = DataType(d.dtype(), "D");
  if (ab == kDataF32 && cd != kDataF32) TVM_FFI_THROW(TypeError) << "cuBLASLt route: fp32 A needs fp32 D";
  if (c != nullptr && (DataType(c->dtype(), "C") != cd || c->numel() != d.numel())) {
    TVM_FFI_THROW(TypeError) << "cuBLASLt route: C must have D's dtype and shape";
  }
  int bias_type = bias != nullptr ? DataType(bias->dtype(), "bias") : cd;
  if (bias != nullptr && bias->numel() != n) TVM_FFI_THROW(ValueError) << "cuBLASLt route: bias must have N elements";
  int device = d.device().device_id;
  size_t ws = static_cast<size_t>(workspace.numel());
  Handle handle = HandleFor(device);
  const Plan& plan = PlanFor(handle, Key{ab, cd, bias_type, m, n, k, bias != nullptr, c != nullptr, ws, gelu});
  if (bias != nullptr) {
    // the descriptor is shared by every call of this problem; calls run on one stream in order
    const void* ptr = bias->data_ptr();
    Check(Load().desc_set(plan.desc, kDescBiasPointer, &ptr, sizeof(ptr)), "BIAS_POINTER");
  }
  float alpha = 1.0f, beta = c != nullptr ? 1.0f : 0.0f;
  void* stream = TVMFFIEnvGetStream(kDLCUDA, device);
  const void* c_ptr = c != nullptr ? c->data_ptr() : d.data_ptr();
  Check(Load().matmul(handle, plan.desc, &alpha, w.data_ptr(), plan.a, a.data_ptr(), plan.b, &beta, c_ptr,
                      plan.c, d.data_ptr(), plan.d, &plan.algo, workspace.data_ptr(), ws, stream),
        "Matmul");
}

void GemmPlain(TensorView a, TensorView w, TensorView d, TensorView ws) { Gemm(a, w, nullptr, nullptr, d, ws); }
void GemmBias(TensorView a, TensorView w, TensorView bias, TensorView d, TensorView ws) {
  Gemm(a, w, &bias, nullptr, d, ws);
}
void GemmResidual(TensorView a, TensorView w, TensorView c, TensorView d, TensorView ws) {
  Gemm(a, w, nullptr, &c, d, ws);
}
void GemmBiasResidual(TensorView a, TensorView w, TensorView bias, TensorView c, TensorView d, TensorView ws) {
  Gemm(a, w, &bias, &c, d, ws);
}
void GemmBiasGelu(TensorView a, TensorView w, TensorView bias, TensorView d, TensorView ws) {
  Gemm(a, w, &bias, nullptr, d, ws, true);
}
// Where libcublasLt was opened from ("" before the first GEMM): for the report.
tvm::ffi::String LibraryPath() { return Load().path; }

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_cublaslt_gemm, GemmPlain);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_cublaslt_gemm_bias, GemmBias);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_cublaslt_gemm_residual, GemmResidual);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_cublaslt_gemm_bias_residual, GemmBiasResidual);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_cublaslt_gemm_bias_gelu, GemmBiasGelu);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(planctl_cublaslt_library_path, LibraryPath);
