// Digit images from files, converted the way MNIST's were: grayscale, light digit on a dark
// background, the digit's bounding box scaled to fit 20x20 (aspect kept), placed in a 28x28 field
// with its centre of mass at the centre.
//
// PNG (libpng), JPEG (libjpeg-turbo), GIF (giflib; the first image), uncompressed 8/24/32-bit BMP
// and binary PGM/PPM (P5/P6, parsed here), told apart by their first bytes, not the file's name.
// Colour becomes grey by BT.601 luma; alpha is ignored; a GIF's transparent pixels and the screen
// outside its frame are its background colour. Dark-on-light images (a scan of ink on paper) are
// inverted, judged by the border, which is background in a digit image.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_ENGINE_DIGIT_IMAGE_H_
#define HPSWEEP_ENGINE_DIGIT_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

// gray: (height, width) row-major intensities in [0, 1]. Returns 28*28 floats in [0, 1].
// InvalidArgument if the image holds no digit (nothing stands out from the background).
StatusOr<std::vector<float>> MnistStyle(const std::vector<float>& gray, int width, int height);

// Limits on what is decoded: the file's size, and the image's declared width x height, checked
// before anything that size is allocated (4096x4096; a 12-megapixel photo fits).
inline constexpr uint64_t kMaxDigitImageBytes = uint64_t{64} << 20;
inline constexpr int64_t kMaxDigitImagePixels = int64_t{4096} * 4096;

// Decodes an image file's bytes and converts them with MnistStyle. `name` (a path, "upload")
// begins every message. InvalidArgument for unreadable or oversized images.
StatusOr<std::vector<float>> DecodeDigitImage(const std::string& bytes, const std::string& name);

// Reads an image file and decodes it as DecodeDigitImage does. Errors name the file.
StatusOr<std::vector<float>> LoadDigitImage(const std::string& path);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_DIGIT_IMAGE_H_
