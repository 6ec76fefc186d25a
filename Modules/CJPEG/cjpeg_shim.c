// Placeholder; the ImageIO work fills this in.
#include "cjpeg_shim.h"
