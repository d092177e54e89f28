// Soft-silhouette rasterizer for the CPU: forward and backward of
//   S[n, y, x] = sum over faces f near pixel (x, y) of logsigmoid(d_f / sigma)
// where d_f is the signed squared NDC distance from the pixel centre to the projected
// face (negative inside), and only pairs with d_f < blur_radius count (PyTorch3D's rule).
// The silhouette is alpha = 1 - exp(S); that last step is done in torch.
//
// Plain C ABI, loaded with ctypes: no torch headers, so it compiles in about a second.
// Pixels are processed 8 at a time along a row with GCC vector extensions. Work is split
// into (view, row band) tasks run by OpenMP: each task owns its output rows in the forward
// pass and its own per-face gradient buffer in the backward pass, so there are no atomics.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int kLanes = 8;
typedef float vf __attribute__((vector_size(4 * kLanes)));
typedef int32_t vi __attribute__((vector_size(4 * kLanes)));

constexpr float kAreaEps = 1e-8f;  // PyTorch3D's kEpsilon: faces with |2 * area| <= it are skipped
constexpr float kLengthEps = 1e-8f;

inline vf splat(float a) { return vf{} + a; }
inline vf as_float(vi a) {
  vf v;
  std::memcpy(&v, &a, sizeof v);
  return v;
}
inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf clamp01(vf a) { return a < 0.0f ? vf{} : (a > 1.0f ? splat(1.0f) : a); }
inline float sum(vf a) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += a[i];
  return s;
}

// exp(x) for x <= 0 (below -87 it returns about 1e-38): 2^n * exp(r), |r| <= ln(2) / 2, Taylor to r^7.
inline vf exp_nonpositive(vf x) {
  x = x < -87.0f ? splat(-87.0f) : x;
  const vf n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest
  const vf r = (x - n * 0.693359375f) + n * 2.12194440e-4f;    // x - n ln2 in two parts
  vf p = splat(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const vi scale = (__builtin_convertvector(n, vi) + 127) << 23;
  return p * as_float(scale);
}

// log(1 + e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) in [0, 1/3], series to s^13.
inline vf log1p_unit(vf e) {
  const vf s = e / (2.0f + e);
  const vf s2 = s * s;
  vf p = splat(1.0f / 13.0f);
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

// log(sigmoid(z)) = min(z, 0) - log(1 + exp(-|z|)).
inline vf log_sigmoid(vf z) {
  const vf u = z < 0.0f ? z : -z;
  return (z < 0.0f ? z : vf{}) - log1p_unit(exp_nonpositive(u));
}

// sigmoid(-z) = 1 / (1 + exp(z)).
inline vf sigmoid_neg(vf z) {
  const vf e = exp_nonpositive(z < 0.0f ? z : -z);
  return (z > 0.0f ? e : splat(1.0f)) / (1.0f + e);
}

struct Problem {
  const float* xy;       // (N, V, 2) NDC x, y
  const float* depth;    // (N, V) view z minus znear; a face with any vertex < 0 is culled
  const int64_t* faces;  // (F, 3)
  int64_t N, V, F;
  int H, W, bands, stride;           // stride: padded row length W + kLanes
  float inv_sigma, radius, margin;   // radius = blur_radius (squared NDC), margin = sqrt(radius)
  std::vector<float> xs, ys;         // pixel-centre NDC per column (padded) and per row
};

// A projected face ready for pixel queries.
struct Tri {
  float ax[3], ay[3], ex[3], ey[3], il[3];  // edge k: from vertex k along (ex, ey); il = 1 / |e|^2
  float na[3], nb[3], nc[3];                // oriented edge functions: all > 0 strictly inside
  int x0, x1, y0, y1;                       // inclusive pixel box grown by the margin, clipped to a band
};

// Nearest-edge geometry of one face for kLanes consecutive pixels of a row.
struct Chunk {
  vf sd;             // squared distance, negated inside
  vf t, dx, dy;      // closest point along the nearest edge in [0, 1]; pixel minus closest point
  vi on0, on1, on2;  // nearest edge is edge 0 / 1 / 2
  vi inside, keep;   // keep: a real pixel with sd < radius
};

inline float pixel_ndc(int i, int size) { return 1.0f - (2.0f * i + 1.0f) / size; }

// Pixels whose centre NDC coordinate lies in [lo, hi] (clamped to the image), as [*first, *last].
inline void pixel_span(float lo, float hi, int size, int* first, int* last) {
  const float a = std::ceil((size * (1.0f - hi) - 1.0f) * 0.5f);
  const float b = std::floor((size * (1.0f - lo) - 1.0f) * 0.5f);
  *first = static_cast<int>(std::min(std::max(a, 0.0f), static_cast<float>(size)));
  *last = static_cast<int>(std::min(std::max(b, -1.0f), static_cast<float>(size - 1)));
}

// Fills `t` for face f of view n; false when the face is culled or misses rows [row0, row1].
inline bool make_tri(const Problem& p, int64_t n, int64_t f, int row0, int row1, Tri* t) {
  float x[3], y[3];
  for (int k = 0; k < 3; ++k) {
    const int64_t v = n * p.V + p.faces[3 * f + k];
    if (!(p.depth[v] >= 0.0f)) return false;
    x[k] = p.xy[2 * v];
    y[k] = p.xy[2 * v + 1];
  }
  const float m = p.margin;
  pixel_span(std::min({y[0], y[1], y[2]}) - m, std::max({y[0], y[1], y[2]}) + m, p.H, &t->y0, &t->y1);
  t->y0 = std::max(t->y0, row0);
  t->y1 = std::min(t->y1, row1);
  if (t->y0 > t->y1) return false;
  const float area = (x[2] - x[0]) * (y[1] - y[0]) - (y[2] - y[0]) * (x[1] - x[0]);
  if (!(std::fabs(area) > kAreaEps)) return false;
  const float s = area > 0.0f ? 1.0f : -1.0f;
  for (int k = 0; k < 3; ++k) {
    const int a = k, b = (k + 1) % 3;
    t->ax[k] = x[a];
    t->ay[k] = y[a];
    t->ex[k] = x[b] - x[a];
    t->ey[k] = y[b] - y[a];
    t->il[k] = 1.0f / std::max(t->ex[k] * t->ex[k] + t->ey[k] * t->ey[k], kLengthEps);
    // Edge function of the edge opposite vertex k (a barycentric numerator), times sign(area).
    const int c = (k + 1) % 3, d = (k + 2) % 3;
    t->na[k] = s * (y[d] - y[c]);
    t->nb[k] = -s * (x[d] - x[c]);
    t->nc[k] = s * (y[c] * (x[d] - x[c]) - x[c] * (y[d] - y[c]));
  }
  pixel_span(std::min({x[0], x[1], x[2]}) - m, std::max({x[0], x[1], x[2]}) + m, p.W, &t->x0, &t->x1);
  return t->x0 <= t->x1;
}

inline Chunk nearest(const Problem& p, const Tri& t, int x, int y) {
  const vi lane = {0, 1, 2, 3, 4, 5, 6, 7};
  const vf px = load(p.xs.data() + x);
  const float py = p.ys[y];
  vf d[3], u[3], dx[3], dy[3];
  for (int k = 0; k < 3; ++k) {
    const vf qx = px - t.ax[k];
    const float qy = py - t.ay[k];
    u[k] = clamp01((qx * t.ex[k] + qy * t.ey[k]) * t.il[k]);
    dx[k] = qx - u[k] * t.ex[k];
    dy[k] = qy - u[k] * t.ey[k];
    d[k] = dx[k] * dx[k] + dy[k] * dy[k];
  }
  Chunk c;
  const vi s1 = d[1] < d[0];
  const vf d01 = s1 ? d[1] : d[0];
  const vi s2 = d[2] < d01;
  c.on2 = s2;
  c.on1 = s1 & ~s2;
  c.on0 = ~s1 & ~s2;
  const vf dist = s2 ? d[2] : d01;
  c.t = s2 ? u[2] : (s1 ? u[1] : u[0]);
  c.dx = s2 ? dx[2] : (s1 ? dx[1] : dx[0]);
  c.dy = s2 ? dy[2] : (s1 ? dy[1] : dy[0]);
  c.inside = (t.na[0] * px + (t.nb[0] * py + t.nc[0]) > 0.0f) & (t.na[1] * px + (t.nb[1] * py + t.nc[1]) > 0.0f) &
             (t.na[2] * px + (t.nb[2] * py + t.nc[2]) > 0.0f);
  c.sd = c.inside ? -dist : dist;
  c.keep = (lane < t.x1 - x + 1) & (c.sd < p.radius);
  return c;
}

// Calls visit(y, x, chunk) for every chunk of kLanes pixels of the task's rows near a face,
// then face_done(f) after each face that was visited.
template <typename Visit, typename FaceDone>
void for_each_chunk(const Problem& p, int64_t task, int row0, int row1, Visit&& visit, FaceDone&& face_done) {
  const int64_t n = task / p.bands;
  Tri t;
  for (int64_t f = 0; f < p.F; ++f) {
    if (!make_tri(p, n, f, row0, row1, &t)) continue;
    for (int y = t.y0; y <= t.y1; ++y) {
      for (int x = t.x0; x <= t.x1; x += kLanes) visit(y, x, nearest(p, t, x, y));
    }
    face_done(f);
  }
}

inline void band_rows(const Problem& p, int64_t task, int* row0, int* row1) {
  const int band = static_cast<int>(task % p.bands);
  *row0 = static_cast<int>(int64_t(p.H) * band / p.bands);
  *row1 = static_cast<int>(int64_t(p.H) * (band + 1) / p.bands) - 1;
}

// OpenMP over tasks. Inside a torch process this links to torch's own libgomp (same soname),
// so the kernel runs on torch's intra-op thread team instead of competing with its spinning threads.
template <typename Body>
void parallel_for(int64_t count, int threads, Body&& body) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < count; ++i) body(i);
}

Problem make_problem(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V, int64_t F,
                     int H, int W, float sigma, float radius, int threads) {
  const int bands = static_cast<int>(std::max<int64_t>(1, (threads + N - 1) / N));
  Problem p{xy, depth, faces, N, V, F, H, W, bands, W + kLanes, 1.0f / sigma, radius, std::sqrt(radius), {}, {}};
  for (int i = 0; i < W + kLanes; ++i) p.xs.push_back(pixel_ndc(i, W));
  for (int i = 0; i < H; ++i) p.ys.push_back(pixel_ndc(i, H));
  return p;
}

}  // namespace

extern "C" {

// log_transmittance: (N, H, W) output.
void soft_raster_forward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                         int64_t F, int H, int W, float sigma, float radius, int threads, float* log_transmittance) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  parallel_for(N * p.bands, threads, [&](int64_t task) {
    int row0, row1;
    band_rows(p, task, &row0, &row1);
    std::vector<float> rows(size_t(row1 - row0 + 1) * p.stride, 0.0f);  // padded rows of this band
    for_each_chunk(
        p, task, row0, row1,
        [&](int y, int x, const Chunk& c) {
          float* out = rows.data() + (y - row0) * p.stride + x;
          store(out, load(out) + (c.keep ? log_sigmoid(c.sd * p.inv_sigma) : vf{}));
        },
        [](int64_t) {});
    float* image = log_transmittance + (task / p.bands) * H * W;
    for (int y = row0; y <= row1; ++y) std::memcpy(image + y * W, rows.data() + (y - row0) * p.stride, W * 4);
  });
}

// grad_log_transmittance: (N, H, W); grad_xy: (N, V, 2) output, zero-filled by the caller.
void soft_raster_backward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                          int64_t F, int H, int W, float sigma, float radius, int threads,
                          const float* grad_log_transmittance, float* grad_xy) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  const int64_t tasks = N * p.bands;
  std::vector<float> grad_faces(tasks * F * 6, 0.0f);  // per task: (F, 3 vertices, 2)
  parallel_for(tasks, threads, [&](int64_t task) {
    int row0, row1;
    band_rows(p, task, &row0, &row1);
    std::vector<float> grad_rows(size_t(row1 - row0 + 1) * p.stride, 0.0f);
    const float* grad_image = grad_log_transmittance + (task / p.bands) * H * W;
    for (int y = row0; y <= row1; ++y) std::memcpy(grad_rows.data() + (y - row0) * p.stride, grad_image + y * W, W * 4);
    float* out = grad_faces.data() + task * F * 6;
    vf acc[6] = {};  // d S / d (x0, y0, x1, y1, x2, y2) of the current face, per lane
    for_each_chunk(
        p, task, row0, row1,
        [&](int y, int x, const Chunk& c) {
          // dS/d(sd) = sigmoid(-sd / sigma) / sigma; d(d2)/d(edge start, end) = -2 (1 - t, t) (dx, dy).
          const vf g = load(grad_rows.data() + (y - row0) * p.stride + x);
          const vf w = c.keep ? g * sigmoid_neg(c.sd * p.inv_sigma) * p.inv_sigma : vf{};
          const vf scale = c.inside ? 2.0f * w : -2.0f * w;
          const vf dx = c.keep ? c.dx : vf{}, dy = c.keep ? c.dy : vf{};  // masked lanes may hold junk
          const vf s = 1.0f - c.t;
          const vf coef[3] = {c.on0 ? s : (c.on2 ? c.t : vf{}), c.on1 ? s : (c.on0 ? c.t : vf{}),
                              c.on2 ? s : (c.on1 ? c.t : vf{})};
          for (int k = 0; k < 3; ++k) {
            acc[2 * k] += scale * coef[k] * dx;
            acc[2 * k + 1] += scale * coef[k] * dy;
          }
        },
        [&](int64_t f) {
          for (int i = 0; i < 6; ++i) {
            out[6 * f + i] = sum(acc[i]);
            acc[i] = vf{};
          }
        });
  });
  parallel_for(N, threads, [&](int64_t n) {
    for (int band = 0; band < p.bands; ++band) {
      const float* src = grad_faces.data() + (n * p.bands + band) * F * 6;
      for (int64_t f = 0; f < F; ++f) {
        for (int k = 0; k < 3; ++k) {
          float* dst = grad_xy + 2 * (n * V + faces[3 * f + k]);
          dst[0] += src[6 * f + 2 * k];
          dst[1] += src[6 * f + 2 * k + 1];
        }
      }
    }
  });
}

}  // extern "C"
