// libpcsclite as Swift sees it, plus what Swift cannot import from its macros.
// Every helper carries the `onecard_pcsc_` prefix.
#ifndef ONECARD_CPCSCLITE_SHIM_H
#define ONECARD_CPCSCLITE_SHIM_H
#include <PCSC/winscard.h>
#include <PCSC/reader.h>
#include <PCSC/pcsclite.h>
#endif
