// libpng's simplified png_image_* API (no setjmp needed on the Swift side).
#include <png.h>
