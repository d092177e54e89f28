// Soft-silhouette rasterizer for the CPU: forward and backward of two per-pixel reductions over
// the faces f near pixel (x, y), where d_f is the signed squared NDC distance from the pixel
// centre to the projected face (negative inside) and only pairs with d_f < blur_radius count
// (PyTorch3D's rule):
//   "product" (PyTorch3D's SoftSilhouetteShader): S[n, y, x] = sum_f logsigmoid(d_f / sigma),
//             alpha = 1 - exp(S);
//   "nearest": D[n, y, x] = min(blur_radius, min_f d_f) and its argmin face (-1: none),
//             alpha = sigmoid(-D / sigma) where D < blur_radius, else 0;
//   "contour": D[n, y, x] = -+ min(blur_radius, squared distance to the nearest contour edge),
//             negative where any face covers the pixel, and that edge (-1: none); contour edges
//             (edges whose faces face opposite ways in the view, or border the mesh) are chosen
//             in torch. alpha = sigmoid(-D / sigma) where |D| < blur_radius, else the coverage.
// The last step of each is done in torch.
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
// "contour": a covered pixel's D is at most -kInsideFloor * radius, so that its alpha stays above
// 0.5 in float32 even on a contour edge (0.002 px at 128 px, sigma 1e-4).
constexpr float kInsideFloor = 1e-6f;

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
inline vi load_int(const int32_t* p) {
  vi v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_int(int32_t* p, vi v) { std::memcpy(p, &v, sizeof v); }
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
  int H, W, bands, stride, threads;  // stride: padded row length W + kLanes
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

// Fills `t` for face f of view n with its pixel box grown by m (NDC); false when the face is
// culled or its box misses rows [row0, row1].
inline bool make_tri(const Problem& p, int64_t n, int64_t f, int row0, int row1, Tri* t, float m) {
  float x[3], y[3];
  for (int k = 0; k < 3; ++k) {
    const int64_t v = n * p.V + p.faces[3 * f + k];
    if (!(p.depth[v] >= 0.0f)) return false;
    x[k] = p.xy[2 * v];
    y[k] = p.xy[2 * v + 1];
  }
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

// Calls visit(f, y, x, chunk) for every chunk of kLanes pixels of the task's rows near a face,
// then face_done(f) after each face that was visited.
template <typename Visit, typename FaceDone>
void for_each_chunk(const Problem& p, int64_t task, int row0, int row1, Visit&& visit, FaceDone&& face_done) {
  const int64_t n = task / p.bands;
  Tri t;
  for (int64_t f = 0; f < p.F; ++f) {
    if (!make_tri(p, n, f, row0, row1, &t, p.margin)) continue;
    for (int y = t.y0; y <= t.y1; ++y) {
      for (int x = t.x0; x <= t.x1; x += kLanes) visit(f, y, x, nearest(p, t, x, y));
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
  Problem p{xy, depth, faces, N, V, F, H, W, bands, W + kLanes, threads, 1.0f / sigma, radius, std::sqrt(radius),
            {}, {}};
  for (int i = 0; i < W + kLanes; ++i) p.xs.push_back(pixel_ndc(i, W));
  for (int i = 0; i < H; ++i) p.ys.push_back(pixel_ndc(i, H));
  return p;
}

// For every (view, row band) task: a padded band buffer from make_buffer(size), then
// reduce(buffer, index in buffer, f, chunk) for every chunk near every face, then
// emit(task, row0, row1, buffer) to copy the band out.
template <typename MakeBuffer, typename Reduce, typename Emit>
void forward_pass(const Problem& p, MakeBuffer&& make_buffer, Reduce&& reduce, Emit&& emit) {
  parallel_for(p.N * p.bands, p.threads, [&](int64_t task) {
    int row0, row1;
    band_rows(p, task, &row0, &row1);
    auto buffer = make_buffer(size_t(row1 - row0 + 1) * p.stride);
    for_each_chunk(
        p, task, row0, row1,
        [&](int64_t f, int y, int x, const Chunk& c) { reduce(buffer, size_t(y - row0) * p.stride + x, f, c); },
        [](int64_t) {});
    emit(task, row0, row1, buffer);
  });
}

// grad_xy (N, V, 2) += sum over visited chunks of weight(task, f, y, x, chunk, upstream gradient)
// times d(signed squared distance)/d(face vertices); weight is d(output)/d(sd) * upstream.
template <typename Weight>
void backward_pass(const Problem& p, const float* grad_image_all, float* grad_xy, Weight&& weight) {
  const int64_t tasks = p.N * p.bands, F = p.F;
  std::vector<float> grad_faces(tasks * F * 6, 0.0f);  // per task: (F, 3 vertices, 2)
  parallel_for(tasks, p.threads, [&](int64_t task) {
    int row0, row1;
    band_rows(p, task, &row0, &row1);
    std::vector<float> grad_rows(size_t(row1 - row0 + 1) * p.stride, 0.0f);
    const float* grad_image = grad_image_all + (task / p.bands) * p.H * p.W;
    for (int y = row0; y <= row1; ++y)
      std::memcpy(grad_rows.data() + (y - row0) * p.stride, grad_image + y * p.W, p.W * 4);
    float* out = grad_faces.data() + task * F * 6;
    vf acc[6] = {};  // d out / d (x0, y0, x1, y1, x2, y2) of the current face, per lane
    for_each_chunk(
        p, task, row0, row1,
        [&](int64_t f, int y, int x, const Chunk& c) {
          // d(d2)/d(edge start, end) = -2 (1 - t, t) (dx, dy); sd = -d2 inside.
          const vf g = load(grad_rows.data() + (y - row0) * p.stride + x);
          const vf w = weight(task, f, y, x, c, g);
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
  parallel_for(p.N, p.threads, [&](int64_t n) {
    for (int band = 0; band < p.bands; ++band) {
      const float* src = grad_faces.data() + (n * p.bands + band) * F * 6;
      for (int64_t f = 0; f < F; ++f) {
        for (int k = 0; k < 3; ++k) {
          float* dst = grad_xy + 2 * (n * p.V + p.faces[3 * f + k]);
          dst[0] += src[6 * f + 2 * k];
          dst[1] += src[6 * f + 2 * k + 1];
        }
      }
    }
  });
}

// Strictly inside the face (all oriented edge functions > 0), for kLanes pixels of a row.
inline vi covers(const Problem& p, const Tri& t, int x, int y) {
  const vf px = load(p.xs.data() + x);
  const float py = p.ys[y];
  return (t.na[0] * px + (t.nb[0] * py + t.nc[0]) > 0.0f) & (t.na[1] * px + (t.nb[1] * py + t.nc[1]) > 0.0f) &
         (t.na[2] * px + (t.nb[2] * py + t.nc[2]) > 0.0f);
}

// A projected contour edge (segment a -> a + e) and its pixel box, grown by the margin and
// clipped to rows [row0, row1]; false when a vertex is culled or the box is empty.
struct Segment {
  float ax, ay, ex, ey, il;
  int x0, x1, y0, y1;
};

inline bool make_segment(const Problem& p, int64_t n, const int64_t* ends, int row0, int row1, Segment* s) {
  const int64_t a = n * p.V + ends[0], b = n * p.V + ends[1];
  if (!(p.depth[a] >= 0.0f) || !(p.depth[b] >= 0.0f)) return false;
  const float xa = p.xy[2 * a], ya = p.xy[2 * a + 1], xb = p.xy[2 * b], yb = p.xy[2 * b + 1];
  pixel_span(std::min(ya, yb) - p.margin, std::max(ya, yb) + p.margin, p.H, &s->y0, &s->y1);
  s->y0 = std::max(s->y0, row0);
  s->y1 = std::min(s->y1, row1);
  pixel_span(std::min(xa, xb) - p.margin, std::max(xa, xb) + p.margin, p.W, &s->x0, &s->x1);
  s->ax = xa;
  s->ay = ya;
  s->ex = xb - xa;
  s->ey = yb - ya;
  s->il = 1.0f / std::max(s->ex * s->ex + s->ey * s->ey, kLengthEps);
  return s->y0 <= s->y1 && s->x0 <= s->x1;
}

// Squared distance from kLanes pixel centres of a row to the segment; t, dx, dy as in Chunk.
struct SegmentChunk {
  vf d2, t, dx, dy;
  vi valid;  // a real pixel of the segment's box
};

inline SegmentChunk segment_distance(const Problem& p, const Segment& s, int x, int y) {
  const vi lane = {0, 1, 2, 3, 4, 5, 6, 7};
  const vf qx = load(p.xs.data() + x) - s.ax;
  const float qy = p.ys[y] - s.ay;
  SegmentChunk c;
  c.t = clamp01((qx * s.ex + qy * s.ey) * s.il);
  c.dx = qx - c.t * s.ex;
  c.dy = qy - c.t * s.ey;
  c.d2 = c.dx * c.dx + c.dy * c.dy;
  c.valid = lane < s.x1 - x + 1;
  return c;
}

}  // namespace

extern "C" {

// "product": log_transmittance S (N, H, W) output.
void soft_raster_forward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                         int64_t F, int H, int W, float sigma, float radius, int threads, float* log_transmittance) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  forward_pass(
      p, [](size_t n) { return std::vector<float>(n, 0.0f); },
      [&](std::vector<float>& rows, size_t i, int64_t, const Chunk& c) {
        store(rows.data() + i, load(rows.data() + i) + (c.keep ? log_sigmoid(c.sd * p.inv_sigma) : vf{}));
      },
      [&](int64_t task, int row0, int row1, const std::vector<float>& rows) {
        float* image = log_transmittance + (task / p.bands) * H * W;
        for (int y = row0; y <= row1; ++y) std::memcpy(image + y * W, rows.data() + (y - row0) * p.stride, W * 4);
      });
}

// "product": grad_log_transmittance (N, H, W); grad_xy (N, V, 2) output, zero-filled by the caller.
void soft_raster_backward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                          int64_t F, int H, int W, float sigma, float radius, int threads,
                          const float* grad_log_transmittance, float* grad_xy) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  // dS/d(sd) = sigmoid(-sd / sigma) / sigma.
  backward_pass(p, grad_log_transmittance, grad_xy, [&](int64_t, int64_t, int, int, const Chunk& c, vf g) {
    return c.keep ? g * sigmoid_neg(c.sd * p.inv_sigma) * p.inv_sigma : vf{};
  });
}

// "nearest": min_sd D (N, H, W) = min(radius, min_f sd_f) and argmin (N, H, W) (-1 where no face
// is within the radius; the first face in index order wins ties) outputs.
void soft_raster_nearest_forward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                                 int64_t F, int H, int W, float sigma, float radius, int threads, float* min_sd,
                                 int32_t* argmin) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  struct Band {
    std::vector<float> d;
    std::vector<int32_t> face;
  };
  forward_pass(
      p, [&](size_t n) { return Band{std::vector<float>(n, radius), std::vector<int32_t>(n, -1)}; },
      [&](Band& band, size_t i, int64_t f, const Chunk& c) {
        const vf current = load(band.d.data() + i);
        const vi better = c.keep & (c.sd < current);
        store(band.d.data() + i, better ? c.sd : current);
        store_int(band.face.data() + i, better ? (vi{} + static_cast<int32_t>(f)) : load_int(band.face.data() + i));
      },
      [&](int64_t task, int row0, int row1, const Band& band) {
        const int64_t offset = (task / p.bands) * H * W;
        for (int y = row0; y <= row1; ++y) {
          std::memcpy(min_sd + offset + y * W, band.d.data() + (y - row0) * p.stride, W * 4);
          std::memcpy(argmin + offset + y * W, band.face.data() + (y - row0) * p.stride, W * 4);
        }
      });
}

// "nearest": argmin from the forward pass, grad_min_sd (N, H, W); grad_xy (N, V, 2) output,
// zero-filled by the caller. Each pixel's gradient goes to its argmin face only.
void soft_raster_nearest_backward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                                  int64_t F, int H, int W, float sigma, float radius, int threads,
                                  const int32_t* argmin, const float* grad_min_sd, float* grad_xy) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  backward_pass(p, grad_min_sd, grad_xy, [&](int64_t task, int64_t f, int y, int x, const Chunk& c, vf g) {
    // Padded lanes past the row end read the next row's argmin; keep masks them.
    const int32_t* a = argmin + (task / p.bands) * H * W + y * W + x;
    vi chosen;
    for (int i = 0; i < kLanes; ++i) chosen[i] = (x + i < W && a[i] == f) ? -1 : 0;
    return (c.keep & chosen) ? g : vf{};
  });
}

// "contour": edges (K, 2) vertex ids of the contour edges of all views, those of view n at
// [edge_offsets[n], edge_offsets[n + 1]); outputs D (N, H, W) and argmin (N, H, W), the index
// (0..K-1) of the nearest contour edge within the radius, or -1.
void soft_raster_contour_forward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                                 int64_t F, int H, int W, float sigma, float radius, int threads,
                                 const int64_t* edge_offsets, const int64_t* edges, float* out_d, int32_t* argmin) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  parallel_for(N * p.bands, threads, [&](int64_t task) {
    const int64_t n = task / p.bands;
    int row0, row1;
    band_rows(p, task, &row0, &row1);
    const size_t size = size_t(row1 - row0 + 1) * p.stride;
    std::vector<int32_t> covered(size, 0), nearest_edge(size, -1);
    std::vector<float> d2(size, radius);
    Tri t;
    for (int64_t f = 0; f < F; ++f) {
      if (!make_tri(p, n, f, row0, row1, &t, 0.0f)) continue;
      for (int y = t.y0; y <= t.y1; ++y) {
        for (int x = t.x0; x <= t.x1; x += kLanes) {
          int32_t* c = covered.data() + (y - row0) * p.stride + x;
          store_int(c, load_int(c) | covers(p, t, x, y));  // lanes past x1 lie outside the face
        }
      }
    }
    Segment s;
    for (int64_t k = edge_offsets[n]; k < edge_offsets[n + 1]; ++k) {
      if (!make_segment(p, n, edges + 2 * k, row0, row1, &s)) continue;
      for (int y = s.y0; y <= s.y1; ++y) {
        for (int x = s.x0; x <= s.x1; x += kLanes) {
          const SegmentChunk c = segment_distance(p, s, x, y);
          const size_t i = size_t(y - row0) * p.stride + x;
          const vf current = load(d2.data() + i);
          const vi better = c.valid & (c.d2 < current);
          store(d2.data() + i, better ? c.d2 : current);
          store_int(nearest_edge.data() + i, better ? (vi{} + static_cast<int32_t>(k)) : load_int(nearest_edge.data() + i));
        }
      }
    }
    const float floor = kInsideFloor * radius;
    for (int y = row0; y <= row1; ++y) {
      const size_t i = size_t(y - row0) * p.stride;
      for (int x = 0; x < W; ++x) {
        out_d[(n * H + y) * W + x] = covered[i + x] ? -std::max(d2[i + x], floor) : d2[i + x];
        argmin[(n * H + y) * W + x] = nearest_edge[i + x];
      }
    }
  });
}

// "contour": the forward's D and argmin, grad_d (N, H, W); grad_xy (N, V, 2) output, zero-filled
// by the caller. Each pixel's gradient goes to the two ends of its nearest contour edge.
void soft_raster_contour_backward(const float* xy, const float* depth, const int64_t* faces, int64_t N, int64_t V,
                                  int64_t F, int H, int W, float sigma, float radius, int threads,
                                  const int64_t* edge_offsets, const int64_t* edges, const float* out_d,
                                  const int32_t* argmin, const float* grad_d, float* grad_xy) {
  const Problem p = make_problem(xy, depth, faces, N, V, F, H, W, sigma, radius, threads);
  const int64_t tasks = N * p.bands, K = edge_offsets[N];
  const float floor = kInsideFloor * radius;
  std::vector<float> grad_edges(size_t(p.bands) * K * 4, 0.0f);  // per band: (K, 2 ends, 2); views own disjoint k
  parallel_for(tasks, threads, [&](int64_t task) {
    const int64_t n = task / p.bands;
    int row0, row1;
    band_rows(p, task, &row0, &row1);
    const size_t size = size_t(row1 - row0 + 1) * p.stride;
    std::vector<float> g_rows(size, 0.0f), sign_rows(size, 0.0f);
    std::vector<int32_t> edge_rows(size, -1);
    for (int y = row0; y <= row1; ++y) {
      const int64_t src = (n * H + y) * W;
      const size_t dst = size_t(y - row0) * p.stride;
      std::memcpy(g_rows.data() + dst, grad_d + src, W * 4);
      std::memcpy(edge_rows.data() + dst, argmin + src, W * 4);
      for (int x = 0; x < W; ++x) {
        sign_rows[dst + x] = out_d[src + x] < 0.0f ? -1.0f : 1.0f;
        if (out_d[src + x] == -floor) g_rows[dst + x] = 0.0f;  // D held at the floor: no gradient
      }
    }
    float* out = grad_edges.data() + size_t(task % p.bands) * K * 4;
    Segment s;
    for (int64_t k = edge_offsets[n]; k < edge_offsets[n + 1]; ++k) {
      if (!make_segment(p, n, edges + 2 * k, row0, row1, &s)) continue;
      vf acc[4] = {};
      for (int y = s.y0; y <= s.y1; ++y) {
        for (int x = s.x0; x <= s.x1; x += kLanes) {
          const SegmentChunk c = segment_distance(p, s, x, y);
          const size_t i = size_t(y - row0) * p.stride + x;
          const vi mine = c.valid & (load_int(edge_rows.data() + i) == static_cast<int32_t>(k));
          // D = sign * d2; d(d2)/d(a) = -2 (1 - t) (dx, dy), d(d2)/d(b) = -2 t (dx, dy).
          const vf w = mine ? -2.0f * load(g_rows.data() + i) * load(sign_rows.data() + i) : vf{};
          const vf wx = w * (mine ? c.dx : vf{}), wy = w * (mine ? c.dy : vf{});
          const vf s1 = 1.0f - c.t;
          acc[0] += s1 * wx;
          acc[1] += s1 * wy;
          acc[2] += c.t * wx;
          acc[3] += c.t * wy;
        }
      }
      for (int j = 0; j < 4; ++j) out[4 * k + j] = sum(acc[j]);
    }
  });
  parallel_for(N, threads, [&](int64_t n) {
    for (int band = 0; band < p.bands; ++band) {
      const float* src = grad_edges.data() + size_t(band) * K * 4;
      for (int64_t k = edge_offsets[n]; k < edge_offsets[n + 1]; ++k) {
        for (int end = 0; end < 2; ++end) {
          float* dst = grad_xy + 2 * (n * V + edges[2 * k + end]);
          dst[0] += src[4 * k + 2 * end];
          dst[1] += src[4 * k + 2 * end + 1];
        }
      }
    }
  });
}

}  // extern "C"
