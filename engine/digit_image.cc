#include "engine/digit_image.h"

#include <algorithm>
#include <cmath>
#include <fstream>

// Only the formats the header promises: stb's other decoders (TGA, PSD, HDR, PIC) would also
// claim random bytes, and each is more code that hostile input reaches.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#include <stb/stb_image.h>

namespace hpsweep {

StatusOr<std::vector<float>> MnistStyle(const std::vector<float>& in, int w, int h) {
  if (w <= 0 || h <= 0 || in.size() != static_cast<size_t>(w) * h) {
    return InvalidArgument("image has no pixels");
  }
  // Polarity: the border is background. Make the digit light on dark, as MNIST's are.
  double border = 0;
  int n = 0;
  for (int x = 0; x < w; ++x) {
    border += in[x] + in[static_cast<size_t>(h - 1) * w + x];
    n += 2;
  }
  for (int y = 0; y < h; ++y) {
    border += in[static_cast<size_t>(y) * w] + in[static_cast<size_t>(y) * w + w - 1];
    n += 2;
  }
  border /= n;
  std::vector<float> g(in);
  if (border > 0.5) {
    for (float& v : g) v = 1.0f - v;
    border = 1.0 - border;
  }
  // Remove the background level, then stretch the digit to full intensity.
  float peak = 0;
  for (float& v : g) {
    v = std::max(0.0f, v - static_cast<float>(border));
    peak = std::max(peak, v);
  }
  if (peak < 0.1f) return InvalidArgument("no digit found: nothing stands out from the background");
  for (float& v : g) v /= peak;
  // Bounding box of the ink.
  int x0 = w, x1 = -1, y0 = h, y1 = -1;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (g[static_cast<size_t>(y) * w + x] > 0.05f) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
    }
  }
  const int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  // Scale the box to fit 20x20 (area averaging when shrinking, bilinear when growing).
  const double scale = 20.0 / std::max(bw, bh);
  const int tw = std::max(1, static_cast<int>(std::lround(bw * scale)));
  const int th = std::max(1, static_cast<int>(std::lround(bh * scale)));
  std::vector<float> box(static_cast<size_t>(tw) * th, 0.0f);
  for (int ty = 0; ty < th; ++ty) {
    for (int tx = 0; tx < tw; ++tx) {
      // Source area of this target pixel.
      const double sx0 = x0 + tx / scale, sx1 = x0 + (tx + 1) / scale;
      const double sy0 = y0 + ty / scale, sy1 = y0 + (ty + 1) / scale;
      double sum = 0, area = 0;
      // Only the pixels inside the image: for a thin image (28x65299) the area of the one target
      // column runs thousands of pixels past the edge, and visiting them all took minutes.
      const int sy_begin = std::max(0, static_cast<int>(std::floor(sy0)));
      const int sy_end = std::min(h, static_cast<int>(std::ceil(sy1)));
      const int sx_begin = std::max(0, static_cast<int>(std::floor(sx0)));
      const int sx_end = std::min(w, static_cast<int>(std::ceil(sx1)));
      for (int sy = sy_begin; sy < sy_end; ++sy) {
        for (int sx = sx_begin; sx < sx_end; ++sx) {
          const double ox = std::min<double>(sx + 1, sx1) - std::max<double>(sx, sx0);
          const double oy = std::min<double>(sy + 1, sy1) - std::max<double>(sy, sy0);
          if (ox <= 0 || oy <= 0) continue;
          sum += ox * oy * g[static_cast<size_t>(sy) * w + sx];
          area += ox * oy;
        }
      }
      box[static_cast<size_t>(ty) * tw + tx] = area > 0 ? static_cast<float>(sum / area) : 0.0f;
    }
  }
  // Centre of mass of the box at pixel (14, 14) of the 28x28 field, in pixel-index coordinates,
  // as MNIST's digits are (the +0.5 below turns indices into pixel centres).
  double mass = 0, cx = 0, cy = 0;
  for (int y = 0; y < th; ++y) {
    for (int x = 0; x < tw; ++x) {
      const double v = box[static_cast<size_t>(y) * tw + x];
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  cx /= mass;
  cy /= mass;
  const int ox = static_cast<int>(std::lround(14.5 - cx));
  const int oy = static_cast<int>(std::lround(14.5 - cy));
  std::vector<float> out(28 * 28, 0.0f);
  for (int y = 0; y < th; ++y) {
    for (int x = 0; x < tw; ++x) {
      const int X = x + ox, Y = y + oy;
      if (X < 0 || Y < 0 || X >= 28 || Y >= 28) continue;
      out[Y * 28 + X] = std::min(1.0f, box[static_cast<size_t>(y) * tw + x]);
    }
  }
  return out;
}

StatusOr<std::vector<float>> DecodeDigitImage(const std::string& bytes, const std::string& name) {
  if (bytes.size() > kMaxDigitImageBytes) {
    return InvalidArgument(name + ": image file of " + std::to_string(bytes.size()) +
                           " bytes; the limit is " + std::to_string(kMaxDigitImageBytes));
  }
  const auto* buf = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  // The declared size first: a 100-byte file may declare a 30000x30000 image.
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(buf, len, &w, &h, &channels)) {
    return InvalidArgument(name + ": not a readable image (" + stbi_failure_reason() +
                           "); use PNG, JPEG, BMP, GIF or binary PGM");
  }
  if (w <= 0 || h <= 0 || static_cast<int64_t>(w) * h > kMaxDigitImagePixels) {
    return InvalidArgument(name + ": image of " + std::to_string(w) + "x" + std::to_string(h) +
                           " pixels; at most " + std::to_string(kMaxDigitImagePixels) +
                           " pixels are accepted");
  }
  unsigned char* data = stbi_load_from_memory(buf, len, &w, &h, &channels, 1);
  if (data == nullptr) {
    return InvalidArgument(name + ": not a readable image (" + stbi_failure_reason() +
                           "); use PNG, JPEG, BMP, GIF or binary PGM");
  }
  std::vector<float> gray(static_cast<size_t>(w) * h);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = data[i] / 255.0f;
  stbi_image_free(data);
  auto out = MnistStyle(gray, w, h);
  if (!out.ok()) return InvalidArgument(name + ": " + out.status().message());
  return out;
}

StatusOr<std::vector<float>> LoadDigitImage(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open image");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return IoError(path + ": cannot read image");
  if (static_cast<uint64_t>(size) > kMaxDigitImageBytes) {
    return InvalidArgument(path + ": image file of " + std::to_string(size) +
                           " bytes; the limit is " + std::to_string(kMaxDigitImageBytes));
  }
  in.seekg(0);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (!in.read(bytes.data(), size)) return IoError(path + ": cannot read image");
  return DecodeDigitImage(bytes, path);
}

}  // namespace hpsweep
