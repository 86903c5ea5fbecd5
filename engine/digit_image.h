// Digit images from files, converted the way MNIST's were: grayscale, light digit on a dark
// background, the digit's bounding box scaled to fit 20x20 (aspect kept), placed in a 28x28 field
// with its centre of mass at the centre.
//
// Any size of PNG, JPEG, BMP, GIF or binary PGM/PPM (stb_image); dark-on-light images (a scan of
// ink on paper) are inverted, judged by the border, which is background in a digit image.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_ENGINE_DIGIT_IMAGE_H_
#define HPSWEEP_ENGINE_DIGIT_IMAGE_H_

#include <string>
#include <vector>

#include "engine/status.h"

namespace hpsweep {

// gray: (height, width) row-major intensities in [0, 1]. Returns 28*28 floats in [0, 1].
// InvalidArgument if the image holds no digit (nothing stands out from the background).
StatusOr<std::vector<float>> MnistStyle(const std::vector<float>& gray, int width, int height);

// Reads an image file and converts it with MnistStyle. Errors name the file.
StatusOr<std::vector<float>> LoadDigitImage(const std::string& path);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_DIGIT_IMAGE_H_
