#include "engine/digit_image.h"

// Each format by a well-kept library from the distribution (libpng's simplified API, libjpeg-turbo,
// giflib), BMP and PGM/PPM by hand: stb_image v2.27, used before, wrote past its Huffman tables
// on a hostile JPEG (fuzz/regressions/digit_image/jpeg-dht-over-256-codes). Formats are chosen by
// their first bytes, never by the file's name.
#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

namespace hpsweep {
namespace {

// A decoded image: row-major intensities in [0, 1].
struct Gray {
  int width = 0;
  int height = 0;
  std::vector<float> pixels;
};

// Decoders return these messages without the file's name; DecodeDigitImage prefixes it.
Status Unreadable(const std::string& reason) {
  return InvalidArgument("not a readable image (" + reason +
                         "); use PNG, JPEG, BMP, GIF or binary PGM");
}

// The declared size, checked before anything that size is allocated or decoded. Both at least 1
// and the product at most kMaxDigitImagePixels: each then fits an int.
Status CheckSize(const std::string& format, int64_t w, int64_t h) {
  if (w <= 0 || h <= 0) {
    return Unreadable(format + ": image of " + std::to_string(w) + "x" + std::to_string(h) +
                      " pixels has no pixels");
  }
  if (w > kMaxDigitImagePixels || h > kMaxDigitImagePixels || w * h > kMaxDigitImagePixels) {
    return InvalidArgument("image of " + std::to_string(w) + "x" + std::to_string(h) +
                           " pixels; at most " + std::to_string(kMaxDigitImagePixels) +
                           " pixels are accepted");
  }
  return Status();
}

Gray Blank(int w, int h, float value) {
  Gray g;
  g.width = w;
  g.height = h;
  g.pixels.assign(static_cast<size_t>(w) * h, value);
  return g;
}

// The luma weights stb_image used (ITU-R BT.601, in 1/256ths), so colour images convert as before.
float Luma8(unsigned r, unsigned g, unsigned b) {
  return static_cast<float>((r * 77 + g * 150 + b * 29) >> 8) / 255.0f;
}

bool StartsWith(const std::string& bytes, const char* magic, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0;
}

// ---- PNG: libpng's simplified API (its errors are caught inside libpng, reported in message).

StatusOr<Gray> DecodePng(const std::string& bytes) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  // On failure libpng frees the image's state itself; png_image_free is then a no-op.
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    return Unreadable(std::string("PNG: ") + image.message);
  }
  Status size = CheckSize("PNG", image.width, image.height);
  if (!size.ok()) {
    png_image_free(&image);
    return size;
  }
  // RGBA, then alpha dropped: what stb_image's 1-channel load did (a transparent pixel counts
  // as its colour), and gray through the same luma weights as the other formats.
  image.format = PNG_FORMAT_RGBA;
  const int w = static_cast<int>(image.width), h = static_cast<int>(image.height);
  std::vector<png_byte> rgba(static_cast<size_t>(w) * h * 4);
  if (!png_image_finish_read(&image, nullptr, rgba.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    return Unreadable("PNG: " + message);
  }
  Gray g = Blank(w, h, 0.0f);
  for (size_t i = 0; i < g.pixels.size(); ++i) {
    g.pixels[i] = Luma8(rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]);
  }
  return g;
}

// ---- JPEG: libjpeg-turbo, the classic API. Its errors longjmp back here (never exit()), and
// its warnings, which it otherwise prints and decodes on through (a truncated or corrupt file
// comes out grey), are errors too.

// Progressive files are decoded once per scan; a hostile one can declare thousands of scans.
constexpr int kMaxJpegScans = 256;
// libjpeg's own working memory (progressive coefficients: about 2 bytes a sample at the limit).
constexpr long kMaxJpegMemory = 512L << 20;

// Everything the decoding changes after setjmp lives here, in the caller's frame, so none of it
// is indeterminate after a longjmp (C++ [csetjmp.syn]: only volatile locals of the setjmp
// frame would be safe).
struct JpegJob {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64] = {};
  int width = 0;
  int height = 0;
  Status size;
  std::vector<unsigned char> pixels;
};

[[noreturn]] void JpegFail(j_common_ptr cinfo) {
  auto* job = static_cast<JpegJob*>(cinfo->client_data);
  (*cinfo->err->format_message)(cinfo, job->message);
  std::longjmp(job->jump, 1);
}

void JpegMessage(j_common_ptr cinfo, int level) {
  if (level < 0) JpegFail(cinfo);  // a warning: corrupt or truncated data
  // level >= 0: trace messages, not shown.
}

void JpegProgress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* job = static_cast<JpegJob*>(cinfo->client_data);
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kMaxJpegScans) {
    std::snprintf(job->message, sizeof job->message, "more than %d scans", kMaxJpegScans);
    std::longjmp(job->jump, 1);
  }
}

// True with job->pixels (or job->size not ok), false with job->message.
bool RunJpeg(JpegJob* job, const std::string& bytes) {
  job->cinfo.err = jpeg_std_error(&job->err);
  job->err.error_exit = JpegFail;
  job->err.emit_message = JpegMessage;
  job->cinfo.client_data = job;  // kept by jpeg_create_decompress
  job->progress.progress_monitor = JpegProgress;
  if (setjmp(job->jump)) {
    jpeg_destroy_decompress(&job->cinfo);
    return false;
  }
  jpeg_create_decompress(&job->cinfo);
  job->cinfo.mem->max_memory_to_use = kMaxJpegMemory;
  job->cinfo.progress = &job->progress;
  jpeg_mem_src(&job->cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&job->cinfo, TRUE);
  job->width = static_cast<int>(std::min<JDIMENSION>(job->cinfo.image_width, 1 << 30));
  job->height = static_cast<int>(std::min<JDIMENSION>(job->cinfo.image_height, 1 << 30));
  job->size = CheckSize("JPEG", job->width, job->height);
  if (!job->size.ok()) {
    jpeg_destroy_decompress(&job->cinfo);
    return true;
  }
  job->cinfo.out_color_space = JCS_GRAYSCALE;
  jpeg_start_decompress(&job->cinfo);
  if (job->cinfo.output_components != 1 ||
      job->cinfo.output_width != static_cast<JDIMENSION>(job->width) ||
      job->cinfo.output_height != static_cast<JDIMENSION>(job->height)) {
    std::snprintf(job->message, sizeof job->message, "unexpected output shape");
    jpeg_destroy_decompress(&job->cinfo);
    return false;
  }
  job->pixels.resize(static_cast<size_t>(job->width) * job->height);
  while (job->cinfo.output_scanline < job->cinfo.output_height) {
    JSAMPROW row =
        job->pixels.data() + static_cast<size_t>(job->cinfo.output_scanline) * job->width;
    jpeg_read_scanlines(&job->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&job->cinfo);  // to the end marker: a cut file warns here
  jpeg_destroy_decompress(&job->cinfo);
  return true;
}

StatusOr<Gray> DecodeJpeg(const std::string& bytes) {
  auto job = std::make_unique<JpegJob>();
  if (!RunJpeg(job.get(), bytes)) return Unreadable(std::string("JPEG: ") + job->message);
  if (!job->size.ok()) return job->size;
  Gray g = Blank(job->width, job->height, 0.0f);
  for (size_t i = 0; i < g.pixels.size(); ++i) g.pixels[i] = job->pixels[i] / 255.0f;
  return g;
}

// ---- GIF: giflib, record by record, the first image only. Not DGifSlurp: it decodes every frame
// of the file, allocating each as its descriptor says before this code could check the size.

struct GifSource {
  const unsigned char* data;
  size_t size;
  size_t pos;
};

int GifRead(GifFileType* gif, GifByteType* buf, int n) {
  auto* src = static_cast<GifSource*>(gif->UserData);
  if (n <= 0) return 0;
  const size_t k = std::min(static_cast<size_t>(n), src->size - src->pos);
  if (k > 0) std::memcpy(buf, src->data + src->pos, k);
  src->pos += k;
  return static_cast<int>(k);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

std::string GifReason(int error) {
  const char* text = GifErrorString(error);
  return std::string("GIF: ") + (text != nullptr ? text : "error " + std::to_string(error));
}

StatusOr<Gray> DecodeGif(const std::string& bytes) {
  GifSource src{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&src, GifRead, &error));
  if (gif == nullptr) return Unreadable(GifReason(error));
  const int sw = gif->SWidth, sh = gif->SHeight;
  Status size = CheckSize("GIF", sw, sh);
  if (!size.ok()) return size;
  int transparent = -1;  // from the graphic control extension before the image
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) return Unreadable(GifReason(gif->Error));
    if (type == TERMINATE_RECORD_TYPE) return Unreadable("GIF: no image in the file");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;  // block[0] is its length, the bytes follow
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) {
        return Unreadable(GifReason(gif->Error));
      }
      if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4) {
        transparent = (block[1] & 1) ? block[4] : -1;
      }
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) {
          return Unreadable(GifReason(gif->Error));
        }
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) return Unreadable("GIF: unexpected record");
    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) return Unreadable(GifReason(gif->Error));
    const GifImageDesc& desc = gif->Image;
    const int fw = desc.Width, fh = desc.Height, fx = desc.Left, fy = desc.Top;
    size = CheckSize("GIF frame", fw, fh);
    if (!size.ok()) return size;
    const ColorMapObject* map = desc.ColorMap != nullptr ? desc.ColorMap : gif->SColorMap;
    if (map == nullptr || map->Colors == nullptr || map->ColorCount <= 0) {
      return Unreadable("GIF: the image has no colour map");
    }
    // What is not drawn (outside the frame, transparent) is the background colour when the
    // screen names one (index > 0, as stb_image did), else black.
    float background = 0.0f;
    const ColorMapObject* screen = gif->SColorMap;
    if (screen != nullptr && screen->Colors != nullptr && gif->SBackGroundColor > 0 &&
        gif->SBackGroundColor < screen->ColorCount) {
      const GifColorType& c = screen->Colors[gif->SBackGroundColor];
      background = Luma8(c.Red, c.Green, c.Blue);
    }
    float lut[256];
    for (int i = 0; i < 256; ++i) {
      if (i < map->ColorCount) {
        const GifColorType& c = map->Colors[i];
        lut[i] = Luma8(c.Red, c.Green, c.Blue);
      } else {
        lut[i] = 0.0f;  // an index past the map: black
      }
    }
    if (transparent >= 0 && transparent < 256) lut[transparent] = background;
    Gray g = Blank(sw, sh, background);
    std::vector<GifPixelType> line(static_cast<size_t>(fw));
    // Interlaced rows come in four passes: every 8th from 0, every 8th from 4, 4th from 2, 2nd
    // from 1.
    static constexpr int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
    const int passes = desc.Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; ++pass) {
      const int start = desc.Interlace ? kStart[pass] : 0, step = desc.Interlace ? kStep[pass] : 1;
      for (int y = start; y < fh; y += step) {
        if (DGifGetLine(gif.get(), line.data(), fw) == GIF_ERROR) {
          return Unreadable(GifReason(gif->Error));
        }
        // A frame may lie partly or wholly outside the screen: only its part inside is drawn.
        const int64_t row = int64_t{fy} + y;
        if (row >= sh) continue;
        float* out = g.pixels.data() + static_cast<size_t>(row) * sw;
        for (int x = 0; x < fw && int64_t{fx} + x < sw; ++x) out[fx + x] = lut[line[x]];
      }
    }
    return g;
  }
}

// ---- BMP by hand: uncompressed 8 (palette), 24 and 32 bits, bottom-up or top-down.

uint32_t U16(const unsigned char* p) { return p[0] | (p[1] << 8); }
uint32_t U32(const unsigned char* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

StatusOr<Gray> DecodeBmp(const std::string& bytes) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t n = bytes.size();
  if (n < 18) return Unreadable("BMP: file of " + std::to_string(n) + " bytes is cut short");
  const uint64_t offset = U32(b + 10), header = U32(b + 14);
  int64_t w = 0, h = 0;
  uint32_t planes = 0, bpp = 0, compression = 0, colors = 0;
  uint64_t entry = 4;  // bytes per palette entry
  if (header == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries
    if (n < 26) return Unreadable("BMP: header cut short");
    w = U16(b + 18);
    h = U16(b + 20);
    planes = U16(b + 22);
    bpp = U16(b + 24);
    entry = 3;
  } else if (header == 40 || header == 52 || header == 56 || header == 108 || header == 124) {
    if (n < 14 + header) return Unreadable("BMP: header cut short");
    w = static_cast<int32_t>(U32(b + 18));
    h = static_cast<int32_t>(U32(b + 22));
    planes = U16(b + 26);
    bpp = U16(b + 28);
    compression = U32(b + 30);
    colors = U32(b + 46);
  } else {
    return Unreadable("BMP: header of " + std::to_string(header) + " bytes is not supported");
  }
  if (planes != 1) return Unreadable("BMP: " + std::to_string(planes) + " planes; must be 1");
  if (bpp != 8 && bpp != 24 && bpp != 32) {
    return Unreadable("BMP: " + std::to_string(bpp) +
                      " bits per pixel; only 8, 24 and 32 are supported");
  }
  // BI_RGB, or BI_BITFIELDS with the usual masks (how 32-bit files are often written).
  const bool standard_masks = compression == 3 && bpp == 32 && n >= 66 &&
                              U32(b + 54) == 0x00FF0000u && U32(b + 58) == 0x0000FF00u &&
                              U32(b + 62) == 0x000000FFu;
  if (compression != 0 && !standard_masks) {
    return Unreadable("BMP: compression " + std::to_string(compression) +
                      " (RLE or other) is not supported; save it uncompressed");
  }
  const bool top_down = h < 0;  // -2^31 is refused by CheckSize as too large
  if (top_down) h = -h;
  Status size = CheckSize("BMP", w, h);
  if (!size.ok()) return size;
  const uint64_t stride = (static_cast<uint64_t>(w) * bpp + 31) / 32 * 4;
  const uint64_t need = stride * static_cast<uint64_t>(h);
  if (offset > n || n - offset < need) {
    return Unreadable("BMP: " + std::to_string(need) + " bytes of pixels declared at offset " +
                      std::to_string(offset) + ", but the file has " + std::to_string(n) +
                      " bytes");
  }
  float lut[256] = {};  // an index past the palette: black
  if (bpp == 8) {
    const uint64_t count = colors == 0 ? 256 : colors;
    if (count > 256) {
      return Unreadable("BMP: " + std::to_string(count) + " palette colours; at most 256");
    }
    const uint64_t start = 14 + header;
    if (start + count * entry > n) return Unreadable("BMP: palette cut short");
    for (uint64_t i = 0; i < count; ++i) {
      const unsigned char* c = b + start + i * entry;  // blue, green, red
      lut[i] = Luma8(c[2], c[1], c[0]);
    }
  }
  Gray g = Blank(static_cast<int>(w), static_cast<int>(h), 0.0f);
  const uint64_t bytes_per_pixel = bpp / 8;
  for (int64_t y = 0; y < h; ++y) {
    const unsigned char* row =
        b + offset + stride * static_cast<uint64_t>(top_down ? y : h - 1 - y);
    float* out = g.pixels.data() + static_cast<size_t>(y) * w;
    for (int64_t x = 0; x < w; ++x) {
      const unsigned char* p = row + x * bytes_per_pixel;
      out[x] = bpp == 8 ? lut[p[0]] : Luma8(p[2], p[1], p[0]);  // BGR(A); alpha ignored
    }
  }
  return g;
}

// ---- Binary PGM (P5) and PPM (P6) by hand; maxval 1..65535 (two bytes a sample above 255).

// Skips whitespace and comments (# to the end of the line), then reads a decimal number of at most
// 9 digits. False if there is none.
bool PnmNumber(const std::string& s, size_t* pos, int64_t* value) {
  size_t i = *pos;
  while (i < s.size()) {
    if (s[i] == '#') {
      while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
    } else if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\v' ||
               s[i] == '\f') {
      ++i;
    } else {
      break;
    }
  }
  int64_t v = 0;
  int digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (++digits > 9) return false;
    v = v * 10 + (s[i] - '0');
    ++i;
  }
  if (digits == 0) return false;
  *pos = i;
  *value = v;
  return true;
}

StatusOr<Gray> DecodePnm(const std::string& bytes) {
  const bool color = bytes[1] == '6';
  const std::string format = color ? "PPM" : "PGM";
  size_t pos = 2;
  int64_t w = 0, h = 0, maxval = 0;
  if (bytes.size() < 3 || !std::isspace(static_cast<unsigned char>(bytes[2])) ||
      !PnmNumber(bytes, &pos, &w) || !PnmNumber(bytes, &pos, &h) ||
      !PnmNumber(bytes, &pos, &maxval)) {
    return Unreadable(format + ": header cut short or malformed (P5/P6, width, height, maxval)");
  }
  Status size = CheckSize(format, w, h);
  if (!size.ok()) return size;
  if (maxval < 1 || maxval > 65535) {
    return Unreadable(format + ": maxval " + std::to_string(maxval) + "; must be 1..65535");
  }
  // Exactly one whitespace byte ends the header.
  if (pos >= bytes.size() || !std::isspace(static_cast<unsigned char>(bytes[pos]))) {
    return Unreadable(format + ": no whitespace after maxval");
  }
  ++pos;
  const uint64_t channels = color ? 3 : 1, sample = maxval > 255 ? 2 : 1;
  const uint64_t need = static_cast<uint64_t>(w) * static_cast<uint64_t>(h) * channels * sample;
  if (bytes.size() - pos < need) {
    return Unreadable(format + ": " + std::to_string(need) + " bytes of pixels expected, " +
                      std::to_string(bytes.size() - pos) + " present");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + pos;
  // Divided, not multiplied by 1/maxval: exactly v/255 for 8 bits, as the other formats give.
  const float max = static_cast<float>(maxval);
  auto next = [&]() {
    const unsigned v = sample == 2 ? (p[0] << 8 | p[1]) : p[0];
    p += sample;
    return std::min(1.0f, static_cast<float>(v) / max);  // samples above maxval: full
  };
  Gray g = Blank(static_cast<int>(w), static_cast<int>(h), 0.0f);
  for (float& v : g.pixels) {
    if (color) {
      const float r = next(), gr = next(), bl = next();
      v = (77.0f * r + 150.0f * gr + 29.0f * bl) / 256.0f;
    } else {
      v = next();
    }
  }
  return g;
}

StatusOr<Gray> Decode(const std::string& bytes) {
  if (StartsWith(bytes, "\x89PNG\r\n\x1a\n", 8)) return DecodePng(bytes);
  if (StartsWith(bytes, "\xff\xd8\xff", 3)) return DecodeJpeg(bytes);
  if (StartsWith(bytes, "GIF87a", 6) || StartsWith(bytes, "GIF89a", 6)) return DecodeGif(bytes);
  if (StartsWith(bytes, "BM", 2)) return DecodeBmp(bytes);
  if (StartsWith(bytes, "P5", 2) || StartsWith(bytes, "P6", 2)) return DecodePnm(bytes);
  return Unreadable("unknown format: the file does not begin as PNG, JPEG, GIF, BMP or PGM/PPM do");
}

}  // namespace

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
  auto gray = Decode(bytes);
  if (!gray.ok()) return InvalidArgument(name + ": " + gray.status().message());
  auto out = MnistStyle(gray->pixels, gray->width, gray->height);
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
