// The dashboard's page, script and style (http/assets/), compiled into the binary by
// http/embed.cmake: nothing is read from disk or the network at run time.
//
// Thread-safety: the strings are built once (function-local statics) and never change.
#ifndef HPSWEEP_HTTP_ASSETS_H_
#define HPSWEEP_HTTP_ASSETS_H_

#include <string>

namespace hpsweep {

const std::string& AssetIndexHtml();  // http/assets/index.html
const std::string& AssetAppJs();      // http/assets/app.js
const std::string& AssetAppCss();     // http/assets/app.css

}  // namespace hpsweep

#endif  // HPSWEEP_HTTP_ASSETS_H_
