// The module is its header's one inline function; SwiftPM wants a source file in a C target.
#include "CPrefetch.h"
